/* strmap.c - see strmap.h. FNV-1a hashing, linear probing, the table doubled at half load. */
#include "eval/strmap.h"

#include <stdlib.h>
#include <string.h>

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h ^ (h >> 31);
}

static rerank_status rehash(rr_strmap *m, size_t cap) {
    uint32_t *slots = calloc(cap, sizeof *slots);
    if (!slots) return RERANK_ERR_NOMEM;
    free(m->slots);
    m->slots = slots;
    m->mask = cap - 1;
    for (size_t i = 0; i < m->n; i++) {
        size_t h = (size_t)hash_bytes(m->entries[i].key, m->entries[i].len) & m->mask;
        while (m->slots[h]) h = (h + 1) & m->mask;
        m->slots[h] = (uint32_t)(i + 1);
    }
    return RERANK_OK;
}

const rr_strmap_entry *rr_strmap_get(const rr_strmap *m, const char *key, size_t len) {
    if (!m->slots) return NULL;
    for (size_t h = (size_t)hash_bytes(key, len) & m->mask; m->slots[h]; h = (h + 1) & m->mask) {
        const rr_strmap_entry *e = &m->entries[m->slots[h] - 1];
        if (e->len == len && !memcmp(e->key, key, len)) return e;
    }
    return NULL;
}

rerank_status rr_strmap_put(rr_strmap *m, const char *key, size_t len, size_t value, size_t *index, int *added) {
    const rr_strmap_entry *e = rr_strmap_get(m, key, len);
    if (e) {
        *index = (size_t)(e - m->entries);
        *added = 0;
        return RERANK_OK;
    }
    if (m->n >= UINT32_MAX - 1) return RERANK_ERR_NOMEM;
    if (m->n == m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 64;
        rr_strmap_entry *p = realloc(m->entries, nc * sizeof *p);
        if (!p) return RERANK_ERR_NOMEM;
        m->entries = p;
        m->cap = nc;
    }
    if (!m->slots || (m->n + 1) * 2 > m->mask + 1) {
        size_t cap = m->slots ? (m->mask + 1) * 2 : 128;
        while ((m->n + 1) * 2 > cap) cap *= 2;
        rerank_status st = rehash(m, cap);
        if (st) return st;
    }
    m->entries[m->n] = (rr_strmap_entry){key, len, value};
    size_t h = (size_t)hash_bytes(key, len) & m->mask;
    while (m->slots[h]) h = (h + 1) & m->mask;
    m->slots[h] = (uint32_t)(m->n + 1);
    *index = m->n++;
    *added = 1;
    return RERANK_OK;
}

void rr_strmap_free(rr_strmap *m) {
    if (!m) return;
    free(m->entries);
    free(m->slots);
    memset(m, 0, sizeof *m);
}
