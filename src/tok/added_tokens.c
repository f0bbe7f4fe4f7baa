/* added_tokens.c - splitting text on added tokens as HF's AddedVocabulary::find_matches does: leftmost-longest
 * matches (the Aho-Corasick LeftmostLongest semantics), then single_word / lstrip / rstrip adjustments. Raw
 * tokens are matched before normalization, `normalized` ones on each normalized piece. */
#include <stdlib.h>
#include <string.h>

#include "tok/tok_internal.h"

rerank_status rr_tok_added_finish(rr_tok_added *a) {
    for (int set = 0; set < 2; set++) {
        uint32_t count[257] = {0};
        for (size_t i = 0; i < a->n; i++)
            if (a->tok[i].normalized == (set == 1) && a->tok[i].len > 0) count[(unsigned char)a->tok[i].content[0]]++;
        a->bucket_start[set][0] = 0;
        for (int b = 0; b < 256; b++) a->bucket_start[set][b + 1] = a->bucket_start[set][b] + count[b];
        free(a->bucket_idx[set]);
        a->bucket_idx[set] = malloc((a->bucket_start[set][256] + 1) * sizeof(uint32_t));
        if (!a->bucket_idx[set]) return RERANK_ERR_NOMEM;
        uint32_t fill[256];
        memcpy(fill, a->bucket_start[set], sizeof fill);
        /* token order is kept inside a bucket: among equal patterns the first one wins */
        for (size_t i = 0; i < a->n; i++)
            if (a->tok[i].normalized == (set == 1) && a->tok[i].len > 0)
                a->bucket_idx[set][fill[(unsigned char)a->tok[i].content[0]]++] = (uint32_t)i;
    }
    return RERANK_OK;
}

void rr_tok_added_free(rr_tok_added *a) {
    for (size_t i = 0; i < a->n; i++) free(a->tok[i].content);
    free(a->tok);
    free(a->bucket_idx[0]);
    free(a->bucket_idx[1]);
    rr_tok_strtab_free(&a->by_content);
    memset(a, 0, sizeof *a);
}

static rerank_status push(rr_tok_split **out, size_t *n, size_t *cap, size_t off, size_t len, int32_t id) {
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        if (nc > SIZE_MAX / sizeof **out) return RERANK_ERR_NOMEM;
        rr_tok_split *s = realloc(*out, nc * sizeof *s);
        if (!s) return RERANK_ERR_NOMEM;
        *out = s;
        *cap = nc;
    }
    (*out)[(*n)++] = (rr_tok_split){off, len, id};
    return RERANK_OK;
}

rerank_status rr_tok_added_split(const rr_tok_added *a, bool normalized, bool split_special, const char *s,
                                 size_t len, rr_tok_split **out, size_t *n, size_t *cap) {
    int set = normalized ? 1 : 0;
    *n = 0;
    size_t start_offset = 0, i = 0;
    bool any = a->bucket_idx[set] && a->bucket_start[set][256] > 0;
    while (any && i < len) {
        unsigned char b = (unsigned char)s[i];
        const rr_tok_added_token *best = NULL;
        for (uint32_t k = a->bucket_start[set][b]; k < a->bucket_start[set][b + 1]; k++) {
            const rr_tok_added_token *t = &a->tok[a->bucket_idx[set][k]];
            if (t->len <= len - i && memcmp(s + i, t->content, t->len) == 0 && (!best || t->len > best->len)) best = t;
        }
        if (!best) {
            i++;
            continue;
        }
        size_t start = i, stop = i + best->len;
        i = stop; /* the matcher resumes after the match even when the match is then discarded */
        if (split_special && best->special) continue;
        if (best->single_word) {
            int32_t c;
            bool start_space = start == 0 || !(rr_tok_prev_cp(s, start, &c), rr_tok_is_word_char(c));
            bool stop_space = stop == len || !(rr_tok_next_cp(s, len, stop, &c), rr_tok_is_word_char(c));
            if (!start_space || !stop_space) continue;
        }
        if (best->lstrip) {
            size_t ns = start;
            int32_t c;
            while (ns > 0) {
                size_t p = rr_tok_prev_cp(s, ns, &c);
                if (!rr_tok_is_whitespace(c)) break;
                ns = p;
            }
            start = ns > start_offset ? ns : start_offset;
        }
        if (best->rstrip) {
            int32_t c;
            while (stop < len) {
                size_t l = rr_tok_next_cp(s, len, stop, &c);
                if (!rr_tok_is_whitespace(c)) break;
                stop += l;
            }
        }
        if (start_offset < start && push(out, n, cap, start_offset, start - start_offset, -1)) return RERANK_ERR_NOMEM;
        if (push(out, n, cap, start, stop - start, best->id)) return RERANK_ERR_NOMEM;
        start_offset = stop;
    }
    if (start_offset < len && push(out, n, cap, start_offset, len - start_offset, -1)) return RERANK_ERR_NOMEM;
    return RERANK_OK;
}
