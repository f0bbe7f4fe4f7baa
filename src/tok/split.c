/* split.c - the Split and ByteLevel pre-tokenizers of HF tokenizers: matches of a literal or a PCRE2 regex
 * (UTF + UCP, with \s rewritten to Oniguruma's set) turned into words by a SplitDelimiterBehavior, and the
 * GPT-2 byte -> printable-character mapping. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "tok/tok_internal.h"

struct rr_tok_pcre {
    pcre2_code *code;
    pcre2_match_context *mctx;
};

/* Oniguruma's (and Unicode's White_Space) \s: PCRE2's UCP \s also takes U+180E. */
#define WS_SET "\\t-\\r\\x{20}\\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}\\x{205f}\\x{3000}"

static rerank_status translate(const char *pat, size_t len, rr_bytes *out) {
    bool in_class = false;
    for (size_t i = 0; i < len; i++) {
        char c = pat[i];
        rerank_status st = RERANK_OK;
        if (c == '\\' && i + 1 < len) {
            char d = pat[++i];
            if (d == 's')
                st = rr_bytes_append(out, in_class ? WS_SET : "[" WS_SET "]", strlen(WS_SET) + (in_class ? 0 : 2));
            else if (d == 'S' && !in_class)
                st = rr_bytes_append(out, "[^" WS_SET "]", strlen(WS_SET) + 3);
            else
                st = rr_bytes_append(out, pat + i - 1, 2);
        } else {
            if (c == '[' && !in_class) {
                in_class = true;
                st = rr_bytes_append(out, pat + i, 1);
                /* a ']' right after '[' or '[^' is a literal */
                if (!st && i + 1 < len && pat[i + 1] == '^') st = rr_bytes_append(out, pat + ++i, 1);
                if (!st && i + 1 < len && pat[i + 1] == ']') st = rr_bytes_append(out, pat + ++i, 1);
            } else {
                if (c == ']' && in_class) in_class = false;
                st = rr_bytes_append(out, pat + i, 1);
            }
        }
        if (st) return st;
    }
    return RERANK_OK;
}

rerank_status rr_tok_pcre_compile(const char *pat, size_t len, rr_tok_pcre **out, rerank_error *err) {
    *out = NULL;
    rr_bytes t = {0};
    if (translate(pat, len, &t)) {
        rr_bytes_free(&t);
        return rr_fail(err, RERANK_ERR_NOMEM, "out of memory");
    }
    int code;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)(t.data ? t.data : ""), t.n, PCRE2_UTF | PCRE2_UCP, &code, &off, NULL);
    rr_bytes_free(&t);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        return rr_fail(err, RERANK_ERR_UNSUPPORTED, "regex '%.80s' does not compile: %s", pat, (const char *)msg);
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* optional: the interpreter runs where JIT is unavailable */
    rr_tok_pcre *p = calloc(1, sizeof *p);
    if (!p || !(p->mctx = pcre2_match_context_create(NULL))) {
        free(p);
        pcre2_code_free(re);
        return rr_fail(err, RERANK_ERR_NOMEM, "out of memory");
    }
    /* a hostile pattern must not hang the encoder */
    pcre2_set_match_limit(p->mctx, 10000000);
    pcre2_set_depth_limit(p->mctx, 100000);
    p->code = re;
    *out = p;
    return RERANK_OK;
}

void rr_tok_pcre_free(rr_tok_pcre *re) {
    if (!re) return;
    pcre2_code_free(re->code);
    pcre2_match_context_free(re->mctx);
    free(re);
}

typedef struct {
    size_t a, b;
    bool m;
} piece;

typedef struct {
    piece *p;
    size_t n, cap;
} pieces;

static rerank_status add(pieces *ps, size_t a, size_t b, bool m) {
    if (ps->n == ps->cap) {
        size_t nc = ps->cap ? ps->cap * 2 : 16;
        piece *q = realloc(ps->p, nc * sizeof *q);
        if (!q) return RERANK_ERR_NOMEM;
        ps->p = q;
        ps->cap = nc;
    }
    ps->p[ps->n++] = (piece){a, b, m};
    return RERANK_OK;
}

/* HF find_matches: alternating non-match / match pieces covering s (empty s: one empty non-match). */
static rerank_status find_matches(const rr_tok_pretok *p, const char *s, size_t len, pieces *ps, rerank_error *err) {
    size_t prev = 0;
    if (p->literal) {
        if (p->literal_len == 0) return add(ps, 0, len, false);
        for (size_t i = 0; i + p->literal_len <= len;) {
            const char *m = memmem(s + i, len - i, p->literal, p->literal_len);
            if (!m) break;
            size_t at = (size_t)(m - s);
            if (at != prev && add(ps, prev, at, false)) return RERANK_ERR_NOMEM;
            if (add(ps, at, at + p->literal_len, true)) return RERANK_ERR_NOMEM;
            i = prev = at + p->literal_len;
        }
    } else {
        pcre2_match_data *md = pcre2_match_data_create_from_pattern(p->re->code, NULL);
        if (!md) return rr_fail(err, RERANK_ERR_NOMEM, "pre_tokenizer: out of memory");
        size_t start = 0;
        bool have_last = false;
        size_t last_end = 0;
        while (start <= len) {
            int rc = pcre2_match(p->re->code, (PCRE2_SPTR)s, len, start, PCRE2_NO_UTF_CHECK, md, p->re->mctx);
            if (rc == PCRE2_ERROR_NOMATCH) break;
            if (rc < 0) {
                pcre2_match_data_free(md);
                if (rc == PCRE2_ERROR_NOMEMORY) return rr_fail(err, RERANK_ERR_NOMEM, "pre_tokenizer: out of memory");
                return rr_fail(err, RERANK_ERR_INPUT, "pre_tokenizer: the Split regex failed on this text (PCRE2 error %d)", rc);
            }
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
            size_t a = ov[0], b = ov[1];
            if (a == b) {
                /* an empty match: advance one character; skip it where the previous match ended (Rust/Onig) */
                size_t nx = a + 1;
                while (nx < len && ((unsigned char)s[nx] & 0xC0) == 0x80) nx++;
                start = nx;
                if (have_last && a == last_end) continue;
            } else {
                start = b;
            }
            if (a != prev && add(ps, prev, a, false)) goto nomem;
            if (add(ps, a, b, true)) goto nomem;
            prev = b;
            have_last = true;
            last_end = b;
            continue;
        nomem:
            pcre2_match_data_free(md);
            return rr_fail(err, RERANK_ERR_NOMEM, "pre_tokenizer: out of memory");
        }
        pcre2_match_data_free(md);
    }
    if (prev != len && add(ps, prev, len, false)) return RERANK_ERR_NOMEM;
    if (ps->n == 0 && add(ps, 0, 0, false)) return RERANK_ERR_NOMEM;
    return RERANK_OK;
}

/* Applies the delimiter behaviour in place (HF SplitDelimiterBehavior). */
static void apply_behavior(rr_tok_split_behavior bh, pieces *ps) {
    size_t w = 0;
    bool prev_m = false;
    switch (bh) {
    case RR_SPLIT_REMOVED:
        for (size_t i = 0; i < ps->n; i++)
            if (!ps->p[i].m) ps->p[w++] = ps->p[i];
        ps->n = w;
        return;
    case RR_SPLIT_ISOLATED:
        return;
    case RR_SPLIT_MERGED_WITH_PREVIOUS:
        for (size_t i = 0; i < ps->n; i++) {
            piece c = ps->p[i];
            if (c.m && !prev_m && w > 0) ps->p[w - 1].b = c.b;
            else ps->p[w++] = c;
            prev_m = c.m;
        }
        ps->n = w;
        return;
    case RR_SPLIT_MERGED_WITH_NEXT: /* the mirror image: walk from the end */
        w = ps->n;
        for (size_t i = ps->n; i-- > 0;) {
            piece c = ps->p[i];
            if (c.m && !prev_m && w < ps->n) ps->p[w].a = c.a;
            else ps->p[--w] = c;
            prev_m = c.m;
        }
        memmove(ps->p, ps->p + w, (ps->n - w) * sizeof *ps->p);
        ps->n -= w;
        return;
    case RR_SPLIT_CONTIGUOUS:
        for (size_t i = 0; i < ps->n; i++) {
            piece c = ps->p[i];
            if (c.m == prev_m && w > 0) ps->p[w - 1].b = c.b;
            else ps->p[w++] = c;
            prev_m = c.m;
        }
        ps->n = w;
        return;
    }
}

rerank_status rr_tok_split_word(const rr_tok_pretok *p, const char *s, size_t len, bool at_start, rr_tok_words *out,
                                rerank_error *err) {
    pieces ps = {0};
    rerank_status st = find_matches(p, s, len, &ps, err);
    if (st) {
        free(ps.p);
        return st == RERANK_ERR_NOMEM ? rr_fail(err, st, "pre_tokenizer: out of memory") : st;
    }
    if (p->invert)
        for (size_t i = 0; i < ps.n; i++) ps.p[i].m = !ps.p[i].m;
    apply_behavior(p->behavior, &ps);
    size_t base = out->text.n;
    if (rr_bytes_append(&out->text, s, len)) st = RERANK_ERR_NOMEM;
    for (size_t i = 0; i < ps.n && !st; i++)
        st = rr_tok_words_push(out, base + ps.p[i].a, ps.p[i].b - ps.p[i].a, at_start && ps.p[i].a == 0);
    free(ps.p);
    return st ? rr_fail(err, st, "pre_tokenizer: out of memory") : RERANK_OK;
}

/* GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves, the others for U+0100 + k. */
static const char *byte_char(unsigned b, size_t *n) {
    static char tab[256][3];
    static size_t lens[256];
    static int init; /* benign: every thread writes the same bytes */
    if (!init) {
        unsigned k = 0;
        for (unsigned x = 0; x < 256; x++) {
            bool keep = (x >= 33 && x <= 126) || (x >= 161 && x <= 172) || x >= 174;
            unsigned cp = keep ? x : 256 + k++;
            if (cp < 0x80) {
                tab[x][0] = (char)cp;
                lens[x] = 1;
            } else {
                tab[x][0] = (char)(0xC0 | cp >> 6);
                tab[x][1] = (char)(0x80 | (cp & 0x3F));
                lens[x] = 2;
            }
        }
        init = 1;
    }
    *n = lens[b];
    return tab[b];
}

void rr_tok_bytelevel_init(void) {
    size_t n;
    (void)byte_char(0, &n);
}

rerank_status rr_tok_bytelevel_word(const rr_tok_pretok *p, const char *s, size_t len, bool at_start,
                                    rr_tok_words *out, rerank_error *err) {
    rr_bytes pre = {0};
    if (p->add_prefix_space && (len == 0 || s[0] != ' ')) {
        if (rr_bytes_append(&pre, " ", 1) || rr_bytes_append(&pre, s, len)) {
            rr_bytes_free(&pre);
            return rr_fail(err, RERANK_ERR_NOMEM, "pre_tokenizer: out of memory");
        }
        s = pre.data;
        len = pre.n;
    }
    pieces ps = {0};
    rerank_status st = RERANK_OK;
    if (p->re) {
        rr_tok_pretok iso = *p;
        iso.literal = NULL;
        st = find_matches(&iso, s, len, &ps, err);
    } else {
        st = add(&ps, 0, len, false);
    }
    for (size_t i = 0; i < ps.n && !st; i++) {
        size_t base = out->text.n;
        for (size_t k = ps.p[i].a; k < ps.p[i].b && !st; k++) {
            size_t n;
            const char *c = byte_char((unsigned char)s[k], &n);
            st = rr_bytes_append(&out->text, c, n);
        }
        if (!st) st = rr_tok_words_push(out, base, out->text.n - base, at_start && ps.p[i].a == 0);
    }
    free(ps.p);
    rr_bytes_free(&pre);
    if (st == RERANK_ERR_NOMEM) return rr_fail(err, st, "pre_tokenizer: out of memory");
    return st;
}
