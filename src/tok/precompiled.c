/* precompiled.c - sentencepiece's precompiled_charsmap normalizer as HF applies it (spm_precompiled):
 * blob = u32 trie byte size, darts-clone double-array trie, NUL-separated replacement strings. Text is
 * rewritten per extended grapheme cluster: a cluster under 6 bytes is looked up whole, else (or when it has
 * no entry) each of its characters is. */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "base/error.h"
#include "base/utf8.h"
#include "tok/tok_internal.h"

struct rr_tok_precompiled {
    uint32_t *trie;
    size_t n_units;
    char *norm;
    size_t norm_len;
};

static int b64_value(unsigned char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Standard alphabet, padding required as Rust's STANDARD engine does. */
static rerank_status b64_decode(const char *s, size_t n, unsigned char **out, size_t *out_len, rerank_error *err) {
    if (n % 4) return rr_fail(err, RERANK_ERR_FORMAT, "precompiled_charsmap: base64 length %zu is not a multiple of 4", n);
    unsigned char *buf = malloc(n / 4 * 3 + 1);
    if (!buf) return rr_fail(err, RERANK_ERR_NOMEM, "precompiled_charsmap: out of memory");
    size_t o = 0;
    for (size_t i = 0; i < n; i += 4) {
        int v[4], pad = 0;
        for (int k = 0; k < 4; k++) {
            unsigned char c = (unsigned char)s[i + k];
            if (c == '=' && i + 4 == n && k >= 2) {
                v[k] = 0;
                pad++;
                continue;
            }
            v[k] = b64_value(c);
            if (v[k] < 0 || pad) {
                free(buf);
                return rr_fail(err, RERANK_ERR_FORMAT, "precompiled_charsmap: invalid base64 at character %zu", i + k);
            }
        }
        uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        buf[o++] = (unsigned char)(w >> 16);
        if (pad < 2) buf[o++] = (unsigned char)(w >> 8);
        if (pad < 1) buf[o++] = (unsigned char)w;
    }
    *out = buf;
    *out_len = o;
    return RERANK_OK;
}

rerank_status rr_tok_precompiled_new(const char *b64, size_t len, rr_tok_precompiled **out, rerank_error *err) {
    unsigned char *blob = NULL;
    size_t n = 0;
    *out = NULL;
    rerank_status st = b64_decode(b64, len, &blob, &n, err);
    if (st) return st;
    if (n < 4) {
        free(blob);
        return rr_fail(err, RERANK_ERR_FORMAT, "precompiled_charsmap: %zu bytes, too short for the trie size", n);
    }
    uint32_t trie_bytes = (uint32_t)blob[0] | (uint32_t)blob[1] << 8 | (uint32_t)blob[2] << 16 | (uint32_t)blob[3] << 24;
    size_t units = trie_bytes / 4;
    if (units == 0 || units > (n - 4) / 4) {
        free(blob);
        return rr_fail(err, RERANK_ERR_FORMAT, "precompiled_charsmap: trie of %u bytes does not fit in %zu bytes",
                       trie_bytes, n - 4);
    }
    rr_tok_precompiled *pc = calloc(1, sizeof *pc);
    if (!pc || !(pc->trie = malloc(units * sizeof(uint32_t)))) {
        free(pc);
        free(blob);
        return rr_fail(err, RERANK_ERR_NOMEM, "precompiled_charsmap: out of memory");
    }
    for (size_t i = 0; i < units; i++) {
        const unsigned char *p = blob + 4 + 4 * i;
        pc->trie[i] = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    }
    pc->n_units = units;
    size_t rest = 4 + units * 4;
    pc->norm_len = n - rest;
    pc->norm = malloc(pc->norm_len + 1);
    if (!pc->norm) {
        rr_tok_precompiled_free(pc);
        free(blob);
        return rr_fail(err, RERANK_ERR_NOMEM, "precompiled_charsmap: out of memory");
    }
    memcpy(pc->norm, blob + rest, pc->norm_len);
    pc->norm[pc->norm_len] = 0;
    free(blob);
    size_t bad;
    if (!rr_utf8_valid(pc->norm, pc->norm_len, &bad)) {
        rr_tok_precompiled_free(pc);
        return rr_fail(err, RERANK_ERR_FORMAT, "precompiled_charsmap: replacement strings are not UTF-8 (byte %zu)", bad);
    }
    *out = pc;
    return RERANK_OK;
}

void rr_tok_precompiled_free(rr_tok_precompiled *pc) {
    if (!pc) return;
    free(pc->trie);
    free(pc->norm);
    free(pc);
}

static inline size_t unit_offset(uint32_t u) { return (size_t)((u >> 10) << ((u & (1u << 9)) >> 6)); }

/* darts-clone common prefix search, keeping only the first (shortest) hit: that is the one spm_precompiled
 * uses, even when it covers only part of the key. Returns the replacement or NULL. */
static const char *lookup(const rr_tok_precompiled *pc, const char *key, size_t len, size_t *out_len) {
    size_t pos = 0;
    uint32_t unit = pc->trie[0];
    pos ^= unit_offset(unit);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)key[i];
        if (c == 0) break;
        pos ^= c;
        if (pos >= pc->n_units) return NULL; /* a malformed trie; HF would panic here */
        unit = pc->trie[pos];
        if ((unit & ((1u << 31) | 0xFFu)) != c) return NULL;
        pos ^= unit_offset(unit);
        if ((unit >> 8) & 1) {
            if (pos >= pc->n_units) return NULL;
            size_t v = pc->trie[pos] & ((1u << 31) - 1);
            if (v >= pc->norm_len) return NULL;
            size_t e = v;
            while (e < pc->norm_len && pc->norm[e]) e++;
            /* an index into the middle of a character would make Rust panic; treat it as no entry */
            if (!rr_utf8_valid(pc->norm + v, e - v, NULL)) return NULL;
            *out_len = e - v;
            return pc->norm + v;
        }
    }
    return NULL;
}

rerank_status rr_tok_precompiled_apply(const rr_tok_precompiled *pc, const char *in, size_t len, rr_bytes *out) {
    size_t i = 0;
    while (i < len) {
        /* find the end of the grapheme cluster starting at i */
        int32_t prev, cp;
        utf8proc_int32_t state = 0;
        size_t j = i + rr_tok_next_cp(in, len, i, &prev);
        while (j < len) {
            size_t l = rr_tok_next_cp(in, len, j, &cp);
            if (utf8proc_grapheme_break_stateful(prev, cp, &state)) break;
            prev = cp;
            j += l;
        }
        const char *rep;
        size_t rl = 0;
        if (j - i < 6 && (rep = lookup(pc, in + i, j - i, &rl)) != NULL) {
            if (rr_bytes_append(out, rep, rl)) return RERANK_ERR_NOMEM;
        } else {
            for (size_t k = i; k < j;) {
                size_t l = rr_tok_next_cp(in, len, k, &cp);
                rep = lookup(pc, in + k, l, &rl);
                if (rep ? rr_bytes_append(out, rep, rl) : rr_bytes_append(out, in + k, l)) return RERANK_ERR_NOMEM;
                k += l;
            }
        }
        i = j;
    }
    return RERANK_OK;
}
