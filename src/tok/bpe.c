/* bpe.c - the BPE model of HF tokenizers (vocab + ranked merges, byte_fallback, unk fusing, ignore_merges,
 * continuing_subword_prefix / end_of_word_suffix), and the rank-ordered merge engine it shares with the
 * SentencePiece BPE model (spm.c): a binary heap of candidate pairs, so a long word is O(n log n). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/json.h"
#include "tok/tok_internal.h"

/* The most merges a BPE model may list. */
#define RR_TOK_MAX_MERGES (1u << 22)

/* ---- the merge engine ---- */

typedef struct {
    uint32_t rank, pos;
    int32_t id;
} heap_ent;

static inline bool ent_less(heap_ent a, heap_ent b) { return a.rank != b.rank ? a.rank < b.rank : a.pos < b.pos; }

static void heap_push(heap_ent *h, size_t *n, heap_ent e) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!ent_less(e, h[p])) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = e;
}

static heap_ent heap_pop(heap_ent *h, size_t *n) {
    heap_ent top = h[0], last = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && ent_less(h[c + 1], h[c])) c++;
        if (!ent_less(h[c], last)) break;
        h[i] = h[c];
        i = c;
    }
    if (*n) h[i] = last;
    return top;
}

static bool try_pair(const rr_tok_sym *syms, size_t a, rr_tok_pair_fn fn, const void *ctx, const uint8_t *banned,
                     heap_ent *e) {
    int32_t b = syms[a].next;
    if (b < 0) return false;
    uint32_t rank;
    int32_t id;
    if (!fn(ctx, &syms[a], &syms[b], &rank, &id)) return false;
    if (banned && banned[id]) return false;
    *e = (heap_ent){rank, (uint32_t)a, id};
    return true;
}

rerank_status rr_tok_bpe_merge(rr_tok_sym *syms, size_t n, rr_tok_pair_fn fn, const void *ctx, const uint8_t *banned) {
    if (n < 2) return RERANK_OK;
    if (n > UINT32_MAX / 4 || n > SIZE_MAX / 3 / sizeof(heap_ent)) return RERANK_ERR_NOMEM;
    heap_ent stack[192];
    /* every merge removes a symbol and pushes at most 2 entries: n - 1 + 2 (n - 1) in all */
    size_t cap = 3 * n;
    heap_ent *h = cap <= sizeof stack / sizeof stack[0] ? stack : malloc(cap * sizeof *h);
    if (!h) return RERANK_ERR_NOMEM;
    size_t hn = 0;
    heap_ent e;
    for (size_t i = 0; i + 1 < n; i++)
        if (try_pair(syms, i, fn, ctx, banned, &e)) heap_push(h, &hn, e);
    while (hn) {
        heap_ent top = heap_pop(h, &hn);
        rr_tok_sym *l = &syms[top.pos];
        if (l->len == 0 || l->next < 0) continue;
        /* an entry is stale when its left symbol changed since it was pushed */
        if (!try_pair(syms, top.pos, fn, ctx, banned, &e) || e.id != top.id || e.rank != top.rank) continue;
        rr_tok_sym *r = &syms[l->next];
        l->id = top.id;
        l->len += r->len;
        l->next = r->next;
        r->len = 0;
        if (l->next >= 0) syms[l->next].prev = (int32_t)top.pos;
        if (l->prev >= 0 && try_pair(syms, (size_t)l->prev, fn, ctx, banned, &e)) heap_push(h, &hn, e);
        if (try_pair(syms, top.pos, fn, ctx, banned, &e)) heap_push(h, &hn, e);
    }
    if (h != stack) free(h);
    return RERANK_OK;
}

/* ---- the HF BPE model ---- */

typedef struct {
    uint64_t key; /* (a + 1) << 32 | b; 0 = empty */
    uint32_t rank;
    int32_t id;
} pair_slot;

typedef struct {
    rr_tok_strtab vocab;
    size_t n_ids;
    pair_slot *pairs;
    size_t pair_mask;
    int32_t unk_id; /* -1: no unk_token; -2: unk_token names no vocabulary entry (an error when needed) */
    bool fuse_unk, byte_fallback, ignore_merges;
    char prefix[64], suffix[64];
    size_t prefix_len, suffix_len;
    int32_t byte_id[256]; /* <0xNN> ids, -1 where absent */
} bpe;

static inline size_t pair_hash(uint64_t k, size_t mask) { /* splitmix64's finalizer */
    k = (k ^ (k >> 30)) * 0xBF58476D1CE4E5B9ull;
    k = (k ^ (k >> 27)) * 0x94D049BB133111EBull;
    return (size_t)(k ^ (k >> 31)) & mask;
}

static bool bpe_pair(const void *ctx, const rr_tok_sym *a, const rr_tok_sym *b, uint32_t *rank, int32_t *id) {
    const bpe *m = ctx;
    if (a->id < 0 || b->id < 0) return false;
    uint64_t k = ((uint64_t)(uint32_t)a->id + 1) << 32 | (uint32_t)b->id;
    for (size_t h = pair_hash(k, m->pair_mask);; h = (h + 1) & m->pair_mask) {
        const pair_slot *s = &m->pairs[h];
        if (!s->key) return false;
        if (s->key == k) {
            *rank = s->rank;
            *id = s->id;
            return true;
        }
    }
}

static void pair_put(bpe *m, int32_t a, int32_t b, uint32_t rank, int32_t id) {
    uint64_t k = ((uint64_t)(uint32_t)a + 1) << 32 | (uint32_t)b;
    size_t h = pair_hash(k, m->pair_mask);
    while (m->pairs[h].key && m->pairs[h].key != k) h = (h + 1) & m->pair_mask;
    m->pairs[h] = (pair_slot){k, rank, id}; /* a later duplicate wins, as HF's HashMap collect */
}

static void bpe_free(void *p) {
    bpe *m = p;
    if (!m) return;
    rr_tok_strtab_free(&m->vocab);
    free(m->pairs);
    free(m);
}

typedef struct {
    rr_tok_sym *s;
    size_t n, cap;
    rr_tok_sym stack[64];
} sym_list;

static rerank_status sym_push(sym_list *l, int32_t id, size_t off, size_t len) {
    if (l->n == l->cap) {
        size_t nc = l->cap * 2;
        if (nc > UINT32_MAX / 4 || off > UINT32_MAX || len > UINT32_MAX) return RERANK_ERR_NOMEM;
        rr_tok_sym *s = l->s == l->stack ? malloc(nc * sizeof *s) : realloc(l->s, nc * sizeof *s);
        if (!s) return RERANK_ERR_NOMEM;
        if (l->s == l->stack) memcpy(s, l->stack, l->n * sizeof *s);
        l->s = s;
        l->cap = nc;
    }
    l->s[l->n] = (rr_tok_sym){id, (uint32_t)off, (uint32_t)len, (int32_t)l->n - 1, -1};
    if (l->n) l->s[l->n - 1].next = (int32_t)l->n;
    l->n++;
    return RERANK_OK;
}

static rerank_status bpe_encode(const void *model, const char *s, size_t n, const uint8_t *banned, rr_i32vec *out,
                                rerank_error *err) {
    const bpe *m = model;
    if (n == 0) return RERANK_OK;
    if (n > UINT32_MAX / 4) return rr_fail(err, RERANK_ERR_INPUT, "bpe: word too long");
    if (m->ignore_merges) {
        int32_t id = rr_tok_strtab_get(&m->vocab, s, n);
        if (id >= 0 && !(banned && banned[id])) {
            if (rr_i32vec_push(out, id)) return rr_fail(err, RERANK_ERR_NOMEM, "bpe: out of memory");
            return RERANK_OK;
        }
    }
    sym_list l;
    l.s = l.stack;
    l.n = 0;
    l.cap = sizeof l.stack / sizeof l.stack[0];
    rerank_status st = RERANK_OK;
    bool unk_pending = false;
    size_t unk_off = 0, unk_len = 0;
    char buf[64 + 4 + 64];
    for (size_t i = 0; i < n && !st;) {
        int32_t cp;
        size_t cl = rr_tok_next_cp(s, n, i, &cp);
        size_t bl = 0;
        if (i > 0 && m->prefix_len) {
            memcpy(buf, m->prefix, m->prefix_len);
            bl = m->prefix_len;
        }
        memcpy(buf + bl, s + i, cl);
        bl += cl;
        if (i + cl == n && m->suffix_len) {
            memcpy(buf + bl, m->suffix, m->suffix_len);
            bl += m->suffix_len;
        }
        int32_t id = rr_tok_strtab_get(&m->vocab, buf, bl);
        if (id >= 0 && !(banned && banned[id])) {
            if (unk_pending) {
                st = sym_push(&l, m->unk_id, unk_off, unk_len);
                unk_pending = false;
            }
            if (!st) st = sym_push(&l, id, i, cl);
        } else {
            bool done = false;
            if (m->byte_fallback) {
                done = true;
                for (size_t k = 0; k < bl && done; k++) {
                    int32_t b = m->byte_id[(unsigned char)buf[k]];
                    done = b >= 0 && !(banned && banned[b]);
                }
                /* as HF: the bytes go in, a pending unk stays pending */
                for (size_t k = 0; k < bl && done && !st; k++) st = sym_push(&l, m->byte_id[(unsigned char)buf[k]], i, 1);
            }
            if (!done && m->unk_id == -2) {
                st = rr_fail(err, RERANK_ERR_INPUT, "bpe: unk_token is not in the vocabulary");
                goto out;
            }
            if (!done && m->unk_id >= 0) {
                if (unk_pending && m->fuse_unk) {
                    unk_len += cl;
                } else {
                    if (unk_pending) st = sym_push(&l, m->unk_id, unk_off, unk_len);
                    unk_pending = true;
                    unk_off = i;
                    unk_len = cl;
                }
            } /* no unk_token: HF drops the character */
        }
        i += cl;
    }
    if (!st && unk_pending) st = sym_push(&l, m->unk_id, unk_off, unk_len);
    if (!st) st = rr_tok_bpe_merge(l.s, l.n, bpe_pair, m, banned);
    for (int32_t k = l.n ? 0 : -1; k >= 0 && !st; k = l.s[k].next) st = rr_i32vec_push(out, l.s[k].id);
    if (st) st = rr_fail(err, st, "bpe: out of memory");
out:
    if (l.s != l.stack) free(l.s);
    return st;
}

static int32_t bpe_token_id(const void *model, const char *s, size_t len) {
    return rr_tok_strtab_get(&((const bpe *)model)->vocab, s, len);
}

static size_t bpe_vocab_size(const void *model) { return ((const bpe *)model)->n_ids; }

static const rr_tok_model_ops bpe_ops = {"BPE", bpe_encode, bpe_token_id, bpe_vocab_size, bpe_free};

static rerank_status get_affix(const json_t *j, const char *key, const char *path, char *dst, size_t *len,
                               rerank_error *err) {
    const char *v;
    size_t n;
    rerank_status st = rr_json_get_str(j, key, false, "", &v, &n, path, err);
    if (st) return st;
    if (n >= 64) return rr_fail(err, RERANK_ERR_UNSUPPORTED, "%s.%s is longer than 63 bytes", path, key);
    memcpy(dst, v, n);
    *len = n;
    return RERANK_OK;
}

/* One merge as its two tokens: "a b" (split at the first space) or ["a", "b"]. */
static bool merge_parts(const json_t *e, const char **a, size_t *al, const char **b, size_t *bl) {
    if (json_is_string(e)) {
        const char *s = json_string_value(e);
        size_t n = json_string_length(e);
        const char *sp = memchr(s, ' ', n);
        if (!sp) return false;
        *a = s;
        *al = (size_t)(sp - s);
        *b = sp + 1;
        *bl = n - *al - 1;
        return true;
    }
    if (json_is_array(e) && json_array_size(e) == 2 && json_is_string(json_array_get(e, 0)) &&
        json_is_string(json_array_get(e, 1))) {
        *a = json_string_value(json_array_get(e, 0));
        *al = json_string_length(json_array_get(e, 0));
        *b = json_string_value(json_array_get(e, 1));
        *bl = json_string_length(json_array_get(e, 1));
        return true;
    }
    return false;
}

static rerank_status load_merges(bpe *m, const json_t *merges, const char *path, rerank_error *err) {
    size_t nm = merges ? json_array_size(merges) : 0;
    if (nm > RR_TOK_MAX_MERGES) /* real tokenizers have < 1M; a hostile file must not make us build a huge table */
        return rr_fail(err, RERANK_ERR_FORMAT, "%s.merges has %zu entries, more than the %u allowed", path, nm,
                       (unsigned)RR_TOK_MAX_MERGES);
    size_t cap = 16;
    while (cap / 2 < nm) cap *= 2;
    if (!(m->pairs = calloc(cap, sizeof *m->pairs))) return rr_fail(err, RERANK_ERR_NOMEM, "%s: out of memory", path);
    m->pair_mask = cap - 1;
    rr_bytes cat = {0};
    rerank_status st = RERANK_OK;
    for (size_t i = 0; i < nm && !st; i++) {
        const char *a, *b;
        size_t al, bl;
        if (!merge_parts(json_array_get(merges, i), &a, &al, &b, &bl)) {
            st = rr_fail(err, RERANK_ERR_FORMAT, "%s.merges[%zu] must be \"a b\" or [\"a\", \"b\"]", path, i);
            break;
        }
        int32_t ia = rr_tok_strtab_get(&m->vocab, a, al), ib = rr_tok_strtab_get(&m->vocab, b, bl);
        if (ia < 0 || ib < 0) {
            st = rr_fail(err, RERANK_ERR_FORMAT, "%s.merges[%zu]: '%.*s' is not in the vocabulary", path, i,
                         (int)(ia < 0 ? (al > 64 ? 64 : al) : (bl > 64 ? 64 : bl)), ia < 0 ? a : b);
            break;
        }
        if (bl < m->prefix_len) {
            st = rr_fail(err, RERANK_ERR_FORMAT, "%s.merges[%zu]: '%.*s' is shorter than continuing_subword_prefix",
                         path, i, (int)(bl > 64 ? 64 : bl), b);
            break;
        }
        cat.n = 0;
        if (rr_bytes_append(&cat, a, al) || rr_bytes_append(&cat, b + m->prefix_len, bl - m->prefix_len)) {
            st = rr_fail(err, RERANK_ERR_NOMEM, "%s: out of memory", path);
            break;
        }
        int32_t id = rr_tok_strtab_get(&m->vocab, cat.data, cat.n);
        if (id < 0) {
            st = rr_fail(err, RERANK_ERR_FORMAT, "%s.merges[%zu]: the merged token '%.*s' is not in the vocabulary", path,
                         i, (int)(cat.n > 64 ? 64 : cat.n), cat.data);
            break;
        }
        pair_put(m, ia, ib, (uint32_t)i, id);
    }
    rr_bytes_free(&cat);
    return st;
}

rerank_status rr_tok_bpe_load(const json_t *j, const char *path, void **model, const rr_tok_model_ops **ops,
                              rerank_error *err) {
    const json_t *vocab = json_object_get(j, "vocab"), *merges = json_object_get(j, "merges");
    const json_t *dropout = json_object_get(j, "dropout");
    if (!json_is_object(vocab)) return rr_fail(err, RERANK_ERR_FORMAT, "%s.vocab must be an object", path);
    if (merges && !json_is_null(merges) && !json_is_array(merges))
        return rr_fail(err, RERANK_ERR_FORMAT, "%s.merges must be an array", path);
    if (dropout && !json_is_null(dropout)) {
        if (!json_is_number(dropout)) return rr_fail(err, RERANK_ERR_FORMAT, "%s.dropout must be a number", path);
        if (json_number_value(dropout) != 0.0)
            return rr_fail(err, RERANK_ERR_UNSUPPORTED, "%s.dropout %g is not supported (only null or 0)", path,
                           json_number_value(dropout));
    }
    bpe *m = calloc(1, sizeof *m);
    if (!m) return rr_fail(err, RERANK_ERR_NOMEM, "%s: out of memory", path);
    const char *unk;
    rerank_status st;
    if ((st = rr_json_get_str(j, "unk_token", false, NULL, &unk, NULL, path, err)) ||
        (st = rr_json_get_bool(j, "fuse_unk", false, false, &m->fuse_unk, path, err)) ||
        (st = rr_json_get_bool(j, "byte_fallback", false, false, &m->byte_fallback, path, err)) ||
        (st = rr_json_get_bool(j, "ignore_merges", false, false, &m->ignore_merges, path, err)) ||
        (st = get_affix(j, "continuing_subword_prefix", path, m->prefix, &m->prefix_len, err)) ||
        (st = get_affix(j, "end_of_word_suffix", path, m->suffix, &m->suffix_len, err)))
        goto fail;
    if (rr_tok_strtab_init(&m->vocab, json_object_size(vocab))) {
        st = rr_fail(err, RERANK_ERR_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)vocab, key, v) {
        json_int_t id = json_is_integer(v) ? json_integer_value(v) : -1;
        if (id < 0 || id >= INT32_MAX) {
            st = rr_fail(err, RERANK_ERR_FORMAT, "%s.vocab['%.64s'] must be an id in [0, 2^31 - 1)", path, key);
            goto fail;
        }
        if (rr_tok_strtab_put(&m->vocab, key, strlen(key), (int32_t)id)) {
            st = rr_fail(err, RERANK_ERR_NOMEM, "%s: out of memory", path);
            goto fail;
        }
        if ((size_t)id + 1 > m->n_ids) m->n_ids = (size_t)id + 1;
    }
    m->unk_id = unk ? rr_tok_strtab_get(&m->vocab, unk, strlen(unk)) : -1;
    if (unk && m->unk_id < 0) m->unk_id = -2;
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        m->byte_id[b] = rr_tok_strtab_get(&m->vocab, name, 6);
    }
    if ((st = load_merges(m, json_is_array(merges) ? merges : NULL, path, err))) goto fail;
    *model = m;
    *ops = &bpe_ops;
    return RERANK_OK;
fail:
    bpe_free(m);
    return st;
}
