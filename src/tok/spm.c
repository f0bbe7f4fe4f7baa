/* spm.c - SentencePiece tokenizer.model (protobuf ModelProto) for BPE models: a minimal wire-format reader
 * (pieces, trainer_spec, normalizer_spec) and SentencePiece BPE encoding (user-defined pieces matched whole,
 * then repeatedly merge the adjacent pair whose concatenation is the highest-scoring piece, leftmost first),
 * with byte fallback. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "tok/tok_internal.h"

/* ---- protobuf wire format ---- */

typedef struct {
    const uint8_t *p, *end, *base;
} pb;

static bool pb_varint(pb *r, uint64_t *v) {
    uint64_t x = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end) return false;
        uint8_t b = *r->p++;
        x |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return true;
        }
    }
    return false;
}

typedef struct {
    uint32_t field;
    int wt;
    uint64_t v;          /* varint, fixed32 and fixed64 values */
    const uint8_t *data; /* length-delimited payload */
    size_t len;
} pb_field;

static bool pb_next(pb *r, pb_field *f) {
    uint64_t key;
    if (!pb_varint(r, &key) || key >> 3 == 0 || key >> 3 > UINT32_MAX) return false;
    f->field = (uint32_t)(key >> 3);
    f->wt = (int)(key & 7);
    f->data = NULL;
    f->len = 0;
    switch (f->wt) {
    case 0:
        return pb_varint(r, &f->v);
    case 1:
    case 5: {
        size_t n = f->wt == 1 ? 8 : 4;
        if ((size_t)(r->end - r->p) < n) return false;
        f->v = 0;
        for (size_t i = 0; i < n; i++) f->v |= (uint64_t)r->p[i] << (8 * i);
        r->p += n;
        return true;
    }
    case 2: {
        uint64_t n;
        if (!pb_varint(r, &n) || n > (uint64_t)(r->end - r->p)) return false;
        f->data = r->p;
        f->len = (size_t)n;
        r->p += n;
        return true;
    }
    default:
        return false; /* groups (3, 4) are not used by sentencepiece */
    }
}

/* ---- the model ---- */

typedef struct {
    rr_tok_strtab tab; /* piece -> id (a later duplicate wins) */
    uint8_t *type;     /* per id: 1 normal, 2 unknown, 3 control, 4 user defined, 5 unused, 6 byte */
    uint32_t *rank;    /* per id: rank of the score among mergeable pieces (equal scores, equal rank) */
    float *score;
    uint32_t *entry; /* per id: its strtab entry (shared by duplicate pieces) */
    size_t n, cap;
    size_t max_user; /* longest user-defined piece (matched up to 64 bytes), 0 if none */
    int32_t byte_id[256];
    rr_tok_spm_info info;
} spm;

static bool mergeable(const spm *m, int32_t id) { return id >= 0 && (m->type[id] == 1 || m->type[id] == 4); }

static void spm_free(void *p) {
    spm *m = p;
    if (!m) return;
    rr_tok_strtab_free(&m->tab);
    free(m->type);
    free(m->rank);
    free(m->score);
    free(m->entry);
    free(m);
}

typedef struct {
    const spm *m;
    const char *s;
} pair_ctx;

static bool spm_pair(const void *ctx, const rr_tok_sym *a, const rr_tok_sym *b, uint32_t *rank, int32_t *id) {
    const pair_ctx *c = ctx;
    int32_t pid = rr_tok_strtab_get(&c->m->tab, c->s + a->off, (size_t)a->len + b->len);
    if (!mergeable(c->m, pid)) return false;
    *rank = c->m->rank[pid];
    *id = pid;
    return true;
}

/* BPE over one stretch of text without user-defined pieces. */
static rerank_status encode_bpe(const spm *m, const char *s, size_t n, const uint8_t *banned, rr_i32vec *out) {
    if (n == 0) return RERANK_OK;
    rr_tok_sym stack[64], *sy = n <= 64 ? stack : malloc(n * sizeof *sy);
    if (!sy) return RERANK_ERR_NOMEM;
    size_t k = 0;
    for (size_t i = 0; i < n; k++) {
        int32_t cp;
        size_t cl = rr_tok_next_cp(s, n, i, &cp);
        int32_t id = rr_tok_strtab_get(&m->tab, s + i, cl);
        if (!mergeable(m, id) || (banned && banned[id])) id = -1;
        sy[k] = (rr_tok_sym){id, (uint32_t)i, (uint32_t)cl, (int32_t)k - 1, -1};
        if (k) sy[k - 1].next = (int32_t)k;
        i += cl;
    }
    pair_ctx ctx = {m, s};
    rerank_status st = rr_tok_bpe_merge(sy, k, spm_pair, &ctx, banned);
    bool last_unk = false;
    for (int32_t i = k ? 0 : -1; i >= 0 && !st; i = sy[i].next) {
        rr_tok_sym y = sy[i];
        if (y.id >= 0) {
            st = rr_i32vec_push(out, y.id);
            last_unk = false;
            continue;
        }
        bool done = m->info.byte_fallback;
        for (uint32_t b = 0; b < y.len && done; b++) {
            int32_t bid = m->byte_id[(unsigned char)s[y.off + b]];
            done = bid >= 0 && !(banned && banned[bid]);
        }
        for (uint32_t b = 0; b < y.len && done && !st; b++) st = rr_i32vec_push(out, m->byte_id[(unsigned char)s[y.off + b]]);
        if (done) {
            last_unk = false;
            continue;
        }
        if (m->info.unk_id < 0) {
            st = RERANK_ERR_INPUT;
            break;
        }
        if (!last_unk) st = rr_i32vec_push(out, m->info.unk_id); /* consecutive unknowns fuse (HF fuse_unk) */
        last_unk = true;
    }
    if (sy != stack) free(sy);
    return st;
}

/* Longest user-defined piece at s[0..n), or -1 (SentencePiece matches them atomically before BPE). */
static int32_t user_defined_at(const spm *m, const char *s, size_t n, size_t *len, const uint8_t *banned) {
    for (size_t l = n < m->max_user ? n : m->max_user; l > 0; l--) {
        int32_t id = rr_tok_strtab_get(&m->tab, s, l);
        if (id >= 0 && m->type[id] == 4 && !(banned && banned[id])) {
            *len = l;
            return id;
        }
    }
    return -1;
}

static rerank_status spm_encode(const void *model, const char *s, size_t n, const uint8_t *banned, rr_i32vec *out,
                                rerank_error *err) {
    const spm *m = model;
    if (n > UINT32_MAX / 4) return rr_fail(err, RERANK_ERR_INPUT, "spm: word too long");
    rerank_status st = RERANK_OK;
    size_t seg = 0;
    for (size_t i = 0; i < n && m->max_user && !st;) {
        size_t l;
        int32_t id = user_defined_at(m, s + i, n - i, &l, banned);
        if (id < 0) {
            i++;
            while (i < n && ((unsigned char)s[i] & 0xC0) == 0x80) i++;
            continue;
        }
        st = encode_bpe(m, s + seg, i - seg, banned, out);
        if (!st) st = rr_i32vec_push(out, id);
        i += l;
        seg = i;
    }
    if (!st) st = encode_bpe(m, s + seg, n - seg, banned, out);
    if (st == RERANK_ERR_INPUT) return rr_fail(err, st, "spm: a character is not in the vocabulary and there is no unk_id");
    if (st) return rr_fail(err, st, "spm: out of memory");
    return RERANK_OK;
}

static int32_t spm_token_id(const void *model, const char *s, size_t len) {
    return rr_tok_strtab_get(&((const spm *)model)->tab, s, len);
}

static size_t spm_vocab_size(const void *model) { return ((const spm *)model)->n; }

static const rr_tok_model_ops spm_ops = {"SentencePieceBPE", spm_encode, spm_token_id, spm_vocab_size, spm_free};

/* ---- loading ---- */

static int cmp_score_desc(const void *a, const void *b, void *ctx) {
    const float *sc = ctx;
    float x = sc[*(const uint32_t *)a], y = sc[*(const uint32_t *)b];
    return (x < y) - (x > y);
}

static rerank_status bad(rerank_error *err, const char *name, const pb *r, const char *what) {
    return rr_fail(err, RERANK_ERR_FORMAT, "%s: malformed or truncated protobuf at byte %zu (%s)", name,
                   (size_t)(r->p - r->base), what);
}

static rerank_status parse_piece(spm *m, const pb_field *f, const uint8_t *base, const char *name, rerank_error *err) {
    pb r = {f->data, f->data + f->len, base};
    const uint8_t *piece = NULL;
    size_t plen = 0;
    float score = 0;
    uint64_t type = 1;
    pb_field g;
    while (r.p < r.end) {
        if (!pb_next(&r, &g)) return bad(err, name, &r, "pieces");
        if (g.field == 1 && g.wt == 2) {
            piece = g.data;
            plen = g.len;
        } else if (g.field == 2 && g.wt == 5) {
            uint32_t u = (uint32_t)g.v;
            memcpy(&score, &u, sizeof score);
        } else if (g.field == 3 && g.wt == 0) {
            type = g.v;
        }
    }
    if (!piece) return rr_fail(err, RERANK_ERR_FORMAT, "%s: pieces[%zu] has no piece string", name, m->n);
    if (type < 1 || type > 6) return rr_fail(err, RERANK_ERR_FORMAT, "%s: pieces[%zu].type %llu is unknown", name, m->n,
                                             (unsigned long long)type);
    if (m->n >= INT32_MAX - 1) return rr_fail(err, RERANK_ERR_FORMAT, "%s: too many pieces", name);
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 1024;
        uint8_t *t = realloc(m->type, cap);
        if (t) m->type = t;
        float *sc = realloc(m->score, cap * sizeof *sc);
        if (sc) m->score = sc;
        uint32_t *en = realloc(m->entry, cap * sizeof *en);
        if (en) m->entry = en;
        if (!t || !sc || !en) return rr_fail(err, RERANK_ERR_NOMEM, "%s: out of memory", name);
        m->cap = cap;
    }
    m->type[m->n] = (uint8_t)type;
    m->score[m->n] = score == score ? score : -1e30f; /* NaN would break the ordering */
    if (rr_tok_strtab_put(&m->tab, (const char *)piece, plen, (int32_t)m->n))
        return rr_fail(err, RERANK_ERR_NOMEM, "%s: out of memory", name);
    m->entry[m->n] = (uint32_t)rr_tok_strtab_find(&m->tab, (const char *)piece, plen);
    m->n++;
    return RERANK_OK;
}

static rerank_status parse_sub(spm *m, const pb_field *f, const uint8_t *base, bool trainer, const char *name,
                               rerank_error *err) {
    pb r = {f->data, f->data + f->len, base};
    pb_field g;
    while (r.p < r.end) {
        if (!pb_next(&r, &g)) return bad(err, name, &r, trainer ? "trainer_spec" : "normalizer_spec");
        if (trainer && g.wt == 0) {
            int32_t v = (int32_t)(uint32_t)g.v; /* int32 fields: negative values are sign-extended varints */
            if (g.field == 3) m->info.model_type = v;
            else if (g.field == 35) m->info.byte_fallback = g.v != 0;
            else if (g.field == 40) m->info.unk_id = v;
            else if (g.field == 41) m->info.bos_id = v;
            else if (g.field == 42) m->info.eos_id = v;
            else if (g.field == 43) m->info.pad_id = v;
        } else if (!trainer) {
            if (g.field == 1 && g.wt == 2) {
                size_t n = g.len < sizeof m->info.normalizer_name - 1 ? g.len : sizeof m->info.normalizer_name - 1;
                memcpy(m->info.normalizer_name, g.data, n);
                m->info.normalizer_name[n] = 0;
            } else if (g.field == 3 && g.wt == 0) {
                m->info.add_dummy_prefix = g.v != 0;
            } else if (g.field == 4 && g.wt == 0) {
                m->info.remove_extra_whitespaces = g.v != 0;
            }
        }
    }
    return RERANK_OK;
}

rerank_status rr_tok_spm_load(const uint8_t *buf, size_t len, const char *name, void **model,
                              const rr_tok_model_ops **ops, const rr_tok_spm_info **info, rerank_error *err) {
    spm *m = calloc(1, sizeof *m);
    if (!m) return rr_fail(err, RERANK_ERR_NOMEM, "%s: out of memory", name);
    /* sentencepiece's defaults */
    m->info = (rr_tok_spm_info){.model_type = 1, .unk_id = 0, .bos_id = 1, .eos_id = 2, .pad_id = -1,
                                .add_dummy_prefix = true, .remove_extra_whitespaces = true};
    rerank_status st = RERANK_OK;
    if (rr_tok_strtab_init(&m->tab, len / 16 + 16)) {
        st = rr_fail(err, RERANK_ERR_NOMEM, "%s: out of memory", name);
        goto fail;
    }
    pb r = {buf, buf + len, buf};
    pb_field f;
    while (r.p < r.end && !st) {
        if (!pb_next(&r, &f)) {
            st = bad(err, name, &r, "ModelProto");
            break;
        }
        if (f.field == 1 && f.wt == 2) st = parse_piece(m, &f, buf, name, err);
        else if ((f.field == 2 || f.field == 3) && f.wt == 2) st = parse_sub(m, &f, buf, f.field == 2, name, err);
    }
    if (st) goto fail;
    if (m->n == 0) {
        st = rr_fail(err, RERANK_ERR_FORMAT, "%s: no pieces", name);
        goto fail;
    }
    if (m->info.model_type != 2) {
        st = rr_fail(err, RERANK_ERR_UNSUPPORTED, "%s: trainer_spec.model_type %d is not supported (only BPE = 2)", name,
                     m->info.model_type);
        goto fail;
    }
    int32_t *ids[] = {&m->info.unk_id, &m->info.bos_id, &m->info.eos_id, &m->info.pad_id};
    for (size_t i = 0; i < 4; i++)
        if (*ids[i] < -1 || *ids[i] >= (int32_t)m->n) {
            st = rr_fail(err, RERANK_ERR_FORMAT, "%s: trainer_spec %s %d is outside the %zu pieces", name,
                         (const char *[]){"unk_id", "bos_id", "eos_id", "pad_id"}[i], *ids[i], m->n);
            goto fail;
        }
    for (int b = 0; b < 256; b++) {
        char nm[8];
        snprintf(nm, sizeof nm, "<0x%02X>", b);
        m->byte_id[b] = rr_tok_strtab_get(&m->tab, nm, 6);
    }
    for (size_t i = 0; i < m->n; i++) {
        size_t l = m->tab.len[m->entry[i]];
        if (m->type[i] == 4 && l > m->max_user) m->max_user = l < 64 ? l : 64;
    }
    /* ranks: pieces by descending score, equal scores sharing a rank, so the heap breaks ties leftmost */
    uint32_t *order = malloc(m->n * sizeof *order);
    m->rank = malloc(m->n * sizeof *m->rank);
    if (!order || !m->rank) {
        free(order);
        st = rr_fail(err, RERANK_ERR_NOMEM, "%s: out of memory", name);
        goto fail;
    }
    for (size_t i = 0; i < m->n; i++) order[i] = (uint32_t)i;
    qsort_r(order, m->n, sizeof *order, cmp_score_desc, m->score);
    uint32_t rk = 0;
    for (size_t i = 0; i < m->n; i++) {
        if (i && m->score[order[i]] != m->score[order[i - 1]]) rk++;
        m->rank[order[i]] = rk;
    }
    free(order);
    *model = m;
    *ops = &spm_ops;
    *info = &m->info;
    return RERANK_OK;
fail:
    spm_free(m);
    return st;
}

size_t rr_tok_spm_n_pieces(const void *model) { return ((const spm *)model)->n; }

const char *rr_tok_spm_piece(const void *model, size_t id, size_t *len, int *type) {
    const spm *m = model;
    *type = m->type[id];
    *len = m->tab.len[m->entry[id]];
    return rr_tok_strtab_key(&m->tab, m->entry[id]);
}
