/* unigram.c - the Unigram model of HF tokenizers: Viterbi over all vocabulary pieces that start at each
 * character, ties kept by the first candidate (strict >), unknown characters scored min_score - 10 and
 * consecutive unknowns fused into one <unk>, optional <0xNN> byte fallback. Prefix search runs on the
 * pieces sorted bytewise (an implicit trie: narrowing a range one byte at a time), built once at load. */
#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/json.h"
#include "tok/tok_internal.h"

typedef struct {
    rr_tok_strtab tab; /* piece -> id (last duplicate wins, as HF's HashMap) */
    double *score;     /* per id */
    size_t n_ids;
    uint32_t *sorted; /* strtab entries sorted bytewise */
    int32_t unk_id;   /* -1 if none */
    bool byte_fallback;
    double unk_score;
} unigram;

static void unigram_free(void *m) {
    unigram *u = m;
    if (!u) return;
    rr_tok_strtab_free(&u->tab);
    free(u->score);
    free(u->sorted);
    free(u);
}

typedef struct {
    const char *p;
    uint32_t len, idx;
} sort_key;

static int cmp_key(const void *a, const void *b) {
    const sort_key *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->p, y->p, n);
    if (c) return c;
    return (x->len > y->len) - (x->len < y->len);
}

static inline unsigned char key_byte(const unigram *u, uint32_t e, size_t i) {
    return (unsigned char)u->tab.arena.data[u->tab.off[e] + i];
}

typedef struct {
    size_t starts;
    double score;
    int32_t id;
    bool set;
} node;

static rerank_status unigram_encode(const void *model, const char *s, size_t n, const uint8_t *banned, rr_i32vec *out,
                                    rerank_error *err) {
    const unigram *u = model;
    if (n == 0) return RERANK_OK;
    if (n >= SIZE_MAX / sizeof(node)) return rr_fail(err, RERANK_ERR_NOMEM, "unigram: text too long");
    node *best = calloc(n + 1, sizeof *best);
    if (!best) return rr_fail(err, RERANK_ERR_NOMEM, "unigram: out of memory");
    best[0].set = true;
    size_t pos = 0;
    while (pos < n) {
        int32_t cp;
        size_t mblen = rr_tok_next_cp(s, n, pos, &cp);
        double here = best[pos].score;
        bool single = false;
        size_t lo = 0, hi = u->tab.n;
        for (size_t L = 1; pos + L <= n && lo < hi; L++) {
            /* within [lo, hi) all keys share s[pos..pos+L-1); the one of length L-1, if any, sorts first */
            if (u->tab.len[u->sorted[lo]] == L - 1) lo++;
            unsigned char c = (unsigned char)s[pos + L - 1];
            size_t a = lo, b = hi;
            while (a < b) {
                size_t mid = a + (b - a) / 2;
                if (key_byte(u, u->sorted[mid], L - 1) < c) a = mid + 1;
                else b = mid;
            }
            lo = a;
            b = hi;
            while (a < b) {
                size_t mid = a + (b - a) / 2;
                if (key_byte(u, u->sorted[mid], L - 1) <= c) a = mid + 1;
                else b = mid;
            }
            hi = a;
            if (lo >= hi) break;
            if (u->tab.len[u->sorted[lo]] != L) continue;
            int32_t id = u->tab.val[u->sorted[lo]];
            if (banned && banned[id]) continue;
            double cand = u->score[id] + here;
            node *t = &best[pos + L];
            if (!t->set || cand > t->score) {
                t->set = true;
                t->score = cand;
                t->starts = pos;
                t->id = id;
            }
            if (L == mblen) single = true;
        }
        if (!single) {
            node *t = &best[pos + mblen];
            double cand = u->unk_score + here;
            if (u->unk_id < 0) {
                free(best);
                return rr_fail(err, RERANK_ERR_INPUT, "unigram: no piece for the character at byte %zu and no unk_id", pos);
            }
            if (!t->set || cand > t->score) {
                t->set = true;
                t->score = cand;
                t->starts = pos;
                t->id = u->unk_id;
            }
        }
        pos += mblen;
    }
    /* backtrack: collect [start, end) pieces, fusing runs of unk, then map back to ids */
    size_t cnt = 0;
    for (size_t e = n; e > 0; e = best[e].starts) cnt++;
    size_t *cut = malloc((cnt + 1) * sizeof *cut);
    if (!cut) {
        free(best);
        return rr_fail(err, RERANK_ERR_NOMEM, "unigram: out of memory");
    }
    size_t k = cnt;
    cut[k] = n;
    for (size_t e = n; e > 0; e = best[e].starts) cut[--k] = best[e].starts;
    rerank_status st = RERANK_OK;
    for (size_t i = 0; i < cnt && !st;) {
        size_t a = cut[i], b = cut[i + 1];
        int32_t id = best[b].id;
        size_t j = i + 1;
        if (id == u->unk_id)
            while (j < cnt && best[cut[j + 1]].id == u->unk_id) b = cut[++j];
        int32_t tid = rr_tok_strtab_get(&u->tab, s + a, b - a);
        if (tid >= 0) {
            st = rr_i32vec_push(out, tid);
        } else {
            bool done = false;
            if (u->byte_fallback) {
                size_t start_n = out->n;
                done = true;
                for (size_t x = a; x < b && !st; x++) {
                    char name[8];
                    snprintf(name, sizeof name, "<0x%02X>", (unsigned char)s[x]);
                    int32_t bid = rr_tok_strtab_get(&u->tab, name, 6);
                    if (bid < 0) {
                        done = false;
                        out->n = start_n;
                        break;
                    }
                    st = rr_i32vec_push(out, bid);
                }
            }
            if (!done && !st) st = rr_i32vec_push(out, u->unk_id);
        }
        i = j;
    }
    free(cut);
    free(best);
    if (st) return rr_fail(err, st, "unigram: out of memory");
    return RERANK_OK;
}

static int32_t unigram_token_id(const void *model, const char *s, size_t len) {
    return rr_tok_strtab_get(&((const unigram *)model)->tab, s, len);
}

static size_t unigram_vocab_size(const void *model) { return ((const unigram *)model)->n_ids; }

static const rr_tok_model_ops unigram_ops = {"Unigram", unigram_encode, unigram_token_id, unigram_vocab_size,
                                             unigram_free};

rerank_status rr_tok_unigram_load(const json_t *j, const char *path, void **model, const rr_tok_model_ops **ops,
                                  rerank_error *err) {
    const json_t *vocab = json_object_get(j, "vocab");
    if (!json_is_array(vocab)) return rr_fail(err, RERANK_ERR_FORMAT, "%s.vocab must be an array", path);
    size_t n = json_array_size(vocab);
    if (n == 0) return rr_fail(err, RERANK_ERR_FORMAT, "%s.vocab is empty", path);
    if (n > INT32_MAX) return rr_fail(err, RERANK_ERR_FORMAT, "%s.vocab has too many entries", path);
    long long unk;
    unigram *u = calloc(1, sizeof *u);
    if (!u) return rr_fail(err, RERANK_ERR_NOMEM, "%s: out of memory", path);
    rerank_status st;
    if ((st = rr_json_get_int(j, "unk_id", false, -1, &unk, path, err)) ||
        (st = rr_json_get_bool(j, "byte_fallback", false, false, &u->byte_fallback, path, err)))
        goto fail;
    if (unk < -1 || unk >= (long long)n) {
        st = rr_fail(err, RERANK_ERR_FORMAT, "%s.unk_id %lld is outside the vocabulary of %zu", path, unk, n);
        goto fail;
    }
    u->unk_id = (int32_t)unk;
    u->n_ids = n;
    if (!(u->score = malloc(n * sizeof *u->score)) || rr_tok_strtab_init(&u->tab, n)) {
        st = rr_fail(err, RERANK_ERR_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    double min_score = DBL_MAX;
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(vocab, i);
        const json_t *piece = json_array_get(e, 0), *sc = json_array_get(e, 1);
        if (!json_is_array(e) || json_array_size(e) != 2 || !json_is_string(piece) || !json_is_number(sc)) {
            st = rr_fail(err, RERANK_ERR_FORMAT, "%s.vocab[%zu] must be [piece, score]", path, i);
            goto fail;
        }
        u->score[i] = json_number_value(sc);
        if (u->score[i] < min_score) min_score = u->score[i];
        if (rr_tok_strtab_put(&u->tab, json_string_value(piece), json_string_length(piece), (int32_t)i)) {
            st = rr_fail(err, RERANK_ERR_NOMEM, "%s: out of memory", path);
            goto fail;
        }
    }
    u->unk_score = min_score - 10.0;
    sort_key *keys = malloc(u->tab.n * sizeof *keys);
    u->sorted = malloc(u->tab.n * sizeof *u->sorted);
    if (!keys || !u->sorted) {
        free(keys);
        st = rr_fail(err, RERANK_ERR_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    for (size_t i = 0; i < u->tab.n; i++) keys[i] = (sort_key){rr_tok_strtab_key(&u->tab, i), u->tab.len[i], (uint32_t)i};
    qsort(keys, u->tab.n, sizeof *keys, cmp_key);
    for (size_t i = 0; i < u->tab.n; i++) u->sorted[i] = keys[i].idx;
    free(keys);
    *model = u;
    *ops = &unigram_ops;
    return RERANK_OK;
fail:
    unigram_free(u);
    return st;
}
