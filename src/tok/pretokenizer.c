/* pretokenizer.c - tokenizer.json pre-tokenizers (Metaspace, BertPreTokenizer, Whitespace, WhitespaceSplit;
 * Sequence is flattened): each step maps the current word list to a new one, as HF's PreTokenizedString
 * does, dropping empty words. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/json.h"
#include "base/utf8.h"
#include "tok/tok_internal.h"

rerank_status rr_tok_words_push(rr_tok_words *w, size_t off, size_t len, bool at_start) {
    if (len == 0) return RERANK_OK;
    if (w->n == w->cap) {
        size_t nc = w->cap ? w->cap * 2 : 32;
        if (nc > SIZE_MAX / sizeof *w->spans) return RERANK_ERR_NOMEM;
        rr_tok_span *s = realloc(w->spans, nc * sizeof *s);
        if (!s) return RERANK_ERR_NOMEM;
        w->spans = s;
        w->cap = nc;
    }
    w->spans[w->n++] = (rr_tok_span){off, len, at_start};
    return RERANK_OK;
}

void rr_tok_words_free(rr_tok_words *w) {
    rr_bytes_free(&w->text);
    free(w->spans);
    memset(w, 0, sizeof *w);
}

static rerank_status parse_one(const json_t *j, const char *path, int depth, rr_tok_pretok **list, size_t *n,
                               rerank_error *err) {
    if (!json_is_object(j)) return rr_fail(err, RERANK_ERR_FORMAT, "%s must be an object", path);
    const char *type;
    rerank_status st = rr_json_get_str(j, "type", true, NULL, &type, NULL, path, err);
    if (st) return st;
    rr_tok_pretok p;
    memset(&p, 0, sizeof p);
    if (!strcmp(type, "Sequence")) {
        const json_t *arr = json_object_get(j, "pretokenizers");
        if (!json_is_array(arr)) return rr_fail(err, RERANK_ERR_FORMAT, "%s.pretokenizers must be an array", path);
        if (depth > 8) return rr_fail(err, RERANK_ERR_FORMAT, "%s: Sequence nested too deeply", path);
        for (size_t i = 0; i < json_array_size(arr); i++) {
            char sub[256];
            snprintf(sub, sizeof sub, "%s.pretokenizers[%zu]", path, i);
            if ((st = parse_one(json_array_get(arr, i), sub, depth + 1, list, n, err))) return st;
        }
        return RERANK_OK;
    } else if (!strcmp(type, "Metaspace")) {
        p.kind = RR_PRE_METASPACE;
        const char *rep, *scheme;
        size_t rlen;
        bool add_prefix;
        int32_t cp;
        if ((st = rr_json_get_str(j, "replacement", false, "\xE2\x96\x81", &rep, &rlen, path, err)) ||
            (st = rr_json_get_bool(j, "split", false, true, &p.split, path, err)) ||
            (st = rr_json_get_bool(j, "add_prefix_space", false, true, &add_prefix, path, err)) ||
            (st = rr_json_get_str(j, "prepend_scheme", false, NULL, &scheme, NULL, path, err)))
            return st;
        if (rlen == 0 || rr_utf8_decode((const unsigned char *)rep, rlen, &cp) != rlen)
            return rr_fail(err, RERANK_ERR_FORMAT, "%s.replacement must be one character", path);
        memcpy(p.replacement, rep, rlen);
        p.replacement_len = rlen;
        /* older files carry only add_prefix_space */
        p.prepend = add_prefix ? RR_PREPEND_ALWAYS : RR_PREPEND_NEVER;
        if (scheme) {
            if (!strcmp(scheme, "always")) p.prepend = RR_PREPEND_ALWAYS;
            else if (!strcmp(scheme, "first")) p.prepend = RR_PREPEND_FIRST;
            else if (!strcmp(scheme, "never")) p.prepend = RR_PREPEND_NEVER;
            else return rr_fail(err, RERANK_ERR_FORMAT, "%s.prepend_scheme '%s' is not always/first/never", path, scheme);
        }
    } else if (!strcmp(type, "BertPreTokenizer")) {
        p.kind = RR_PRE_BERT;
    } else if (!strcmp(type, "Whitespace")) {
        p.kind = RR_PRE_WHITESPACE;
    } else if (!strcmp(type, "WhitespaceSplit")) {
        p.kind = RR_PRE_WHITESPACE_SPLIT;
    } else {
        return rr_fail(err, RERANK_ERR_UNSUPPORTED, "%s.type '%s' is not supported", path, type);
    }
    if (*n >= 256) return rr_fail(err, RERANK_ERR_FORMAT, "%s: more than 256 pre-tokenizer steps", path);
    rr_tok_pretok *l = realloc(*list, (*n + 1) * sizeof *l);
    if (!l) return rr_fail(err, RERANK_ERR_NOMEM, "%s: out of memory", path);
    l[(*n)++] = p;
    *list = l;
    return RERANK_OK;
}

rerank_status rr_tok_pretok_parse(const json_t *j, const char *path, rr_tok_pretok **list, size_t *n,
                                  rerank_error *err) {
    return parse_one(j, path, 0, list, n, err);
}

static bool is_bert_punct(int32_t c) {
    return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126) ||
           rr_tok_is_punct(c);
}

/* Appends the words of one input word w (text s) to out, whose text buffer already holds s. */
static rerank_status metaspace(const rr_tok_pretok *p, const char *s, size_t len, bool at_start, rr_tok_words *out) {
    size_t base = out->text.n;
    bool prepend = p->prepend == RR_PREPEND_ALWAYS || (p->prepend == RR_PREPEND_FIRST && at_start);
    /* HF replaces spaces first, then prepends only if the text does not already start with the replacement */
    if (prepend && ((len > 0 && s[0] == ' ') ||
                    (len >= p->replacement_len && memcmp(s, p->replacement, p->replacement_len) == 0)))
        prepend = false;
    if (prepend && rr_bytes_append(&out->text, p->replacement, p->replacement_len)) return RERANK_ERR_NOMEM;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == ' ' ? rr_bytes_append(&out->text, p->replacement, p->replacement_len)
                        : rr_bytes_append(&out->text, s + i, 1))
            return RERANK_ERR_NOMEM;
    }
    size_t end = out->text.n;
    if (!p->split) return rr_tok_words_push(out, base, end - base, at_start);
    /* split before every replacement char (MergedWithNext) */
    size_t start = base;
    for (size_t i = base; i < end;) {
        if (i > start && end - i >= p->replacement_len && memcmp(out->text.data + i, p->replacement, p->replacement_len) == 0) {
            if (rr_tok_words_push(out, start, i - start, at_start && start == base)) return RERANK_ERR_NOMEM;
            start = i;
        }
        int32_t c;
        i += rr_tok_next_cp(out->text.data, end, i, &c);
    }
    return rr_tok_words_push(out, start, end - start, at_start && start == base);
}

static rerank_status split_chars(const rr_tok_pretok *p, size_t base, size_t len, bool at_start, rr_tok_words *out) {
    const char *s = out->text.data + base;
    size_t start = 0;
    bool first = at_start;
#define EMIT(a, b)                                                                           \
    do {                                                                                     \
        if ((b) > (a)) {                                                                     \
            if (rr_tok_words_push(out, base + (a), (b) - (a), first && (a) == 0)) return RERANK_ERR_NOMEM; \
        }                                                                                    \
    } while (0)
    if (p->kind == RR_PRE_WHITESPACE) {
        /* \w+|[^\w\s]+ : runs of word chars, runs of other non-space chars */
        int cls = 0; /* 0 space, 1 word, 2 other */
        for (size_t i = 0; i < len;) {
            int32_t c;
            size_t l = rr_tok_next_cp(s, len, i, &c);
            int k = rr_tok_is_word_char(c) ? 1 : rr_tok_is_whitespace(c) ? 0 : 2;
            if (k != cls) {
                if (cls) EMIT(start, i);
                start = i;
                cls = k;
            }
            i += l;
        }
        if (cls) EMIT(start, len);
        return RERANK_OK;
    }
    for (size_t i = 0; i < len;) {
        int32_t c;
        size_t l = rr_tok_next_cp(s, len, i, &c);
        if (rr_tok_is_whitespace(c)) {
            EMIT(start, i);
            start = i + l;
        } else if (p->kind == RR_PRE_BERT && is_bert_punct(c)) {
            EMIT(start, i);
            EMIT(i, i + l);
            start = i + l;
        }
        i += l;
    }
    EMIT(start, len);
#undef EMIT
    return RERANK_OK;
}

rerank_status rr_tok_pretokenize(const rr_tok_pretok *list, size_t n, const char *s, size_t len, bool at_start,
                                 rr_tok_words *out, rr_tok_words *tmp) {
    out->n = 0;
    out->text.n = 0;
    if (rr_bytes_append(&out->text, s, len) || rr_tok_words_push(out, 0, len, at_start)) return RERANK_ERR_NOMEM;
    for (size_t k = 0; k < n; k++) {
        tmp->n = 0;
        tmp->text.n = 0;
        const rr_tok_pretok *p = &list[k];
        for (size_t w = 0; w < out->n; w++) {
            rr_tok_span sp = out->spans[w];
            if (p->kind == RR_PRE_METASPACE) {
                if (metaspace(p, out->text.data + sp.off, sp.len, sp.at_start, tmp)) return RERANK_ERR_NOMEM;
            } else {
                size_t base = tmp->text.n;
                if (rr_bytes_append(&tmp->text, out->text.data + sp.off, sp.len) ||
                    split_chars(p, base, sp.len, sp.at_start, tmp))
                    return RERANK_ERR_NOMEM;
            }
        }
        rr_tok_words t = *out;
        *out = *tmp;
        *tmp = t;
    }
    return RERANK_OK;
}
