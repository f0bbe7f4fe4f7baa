/* strtab.c - string -> id table for vocabularies of up to millions of entries: keys live in one arena, the
 * index is open addressing, so loading a 250k-piece vocabulary does no per-token allocation. */
#include <stdlib.h>
#include <string.h>

#include "tok/tok_internal.h"

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h ^ (h >> 29);
}

static rerank_status alloc_slots(rr_tok_strtab *t, size_t want_entries) {
    size_t cap = 16;
    while (cap / 2 < want_entries) {
        if (cap > SIZE_MAX / 4 / sizeof(uint32_t)) return RERANK_ERR_NOMEM;
        cap *= 2;
    }
    uint32_t *s = calloc(cap, sizeof *s);
    if (!s) return RERANK_ERR_NOMEM;
    free(t->slots);
    t->slots = s;
    t->mask = cap - 1;
    for (size_t i = 0; i < t->n; i++) {
        size_t h = (size_t)hash_bytes(rr_tok_strtab_key(t, i), t->len[i]) & t->mask;
        while (t->slots[h]) h = (h + 1) & t->mask;
        t->slots[h] = (uint32_t)(i + 1);
    }
    return RERANK_OK;
}

rerank_status rr_tok_strtab_init(rr_tok_strtab *t, size_t expected) {
    memset(t, 0, sizeof *t);
    return alloc_slots(t, expected);
}

long rr_tok_strtab_find(const rr_tok_strtab *t, const char *key, size_t len) {
    if (!t->slots) return -1;
    size_t h = (size_t)hash_bytes(key, len) & t->mask;
    for (;;) {
        uint32_t e = t->slots[h];
        if (!e) return -1;
        e--;
        if (t->len[e] == len && memcmp(rr_tok_strtab_key(t, e), key, len) == 0) return (long)e;
        h = (h + 1) & t->mask;
    }
}

int32_t rr_tok_strtab_get(const rr_tok_strtab *t, const char *key, size_t len) {
    long e = rr_tok_strtab_find(t, key, len);
    return e < 0 ? -1 : t->val[e];
}

rerank_status rr_tok_strtab_put(rr_tok_strtab *t, const char *key, size_t len, int32_t val) {
    long e = rr_tok_strtab_find(t, key, len);
    if (e >= 0) {
        t->val[e] = val;
        return RERANK_OK;
    }
    if (len > UINT32_MAX || t->arena.n > UINT32_MAX - len - 1 || t->n >= UINT32_MAX - 1) return RERANK_ERR_NOMEM;
    if (t->n == t->cap) {
        size_t nc = t->cap ? t->cap * 2 : 256;
        if (nc > SIZE_MAX / sizeof(uint32_t)) return RERANK_ERR_NOMEM;
        uint32_t *o = realloc(t->off, nc * sizeof *o);
        if (!o) return RERANK_ERR_NOMEM;
        t->off = o;
        uint32_t *l = realloc(t->len, nc * sizeof *l);
        if (!l) return RERANK_ERR_NOMEM;
        t->len = l;
        int32_t *v = realloc(t->val, nc * sizeof *v);
        if (!v) return RERANK_ERR_NOMEM;
        t->val = v;
        t->cap = nc;
    }
    if ((t->n + 1) > (t->mask + 1) / 2 && alloc_slots(t, (t->n + 1) * 2)) return RERANK_ERR_NOMEM;
    size_t off = t->arena.n;
    /* keys are NUL-separated so each can be read as a C string in messages */
    if (rr_bytes_append(&t->arena, key, len) || rr_bytes_append(&t->arena, "", 1)) return RERANK_ERR_NOMEM;
    size_t i = t->n++;
    t->off[i] = (uint32_t)off;
    t->len[i] = (uint32_t)len;
    t->val[i] = val;
    size_t h = (size_t)hash_bytes(key, len) & t->mask;
    while (t->slots[h]) h = (h + 1) & t->mask;
    t->slots[h] = (uint32_t)(i + 1);
    return RERANK_OK;
}

void rr_tok_strtab_free(rr_tok_strtab *t) {
    rr_bytes_free(&t->arena);
    free(t->off);
    free(t->len);
    free(t->val);
    free(t->slots);
    memset(t, 0, sizeof *t);
}
