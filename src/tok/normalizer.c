/* normalizer.c - tokenizer.json normalizers (Sequence is flattened into a step list): BertNormalizer,
 * Precompiled, Strip, Replace, NFC/NFD/NFKC/NFKD, Lowercase, Prepend, StripAccents, with HF semantics. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "base/error.h"
#include "base/json.h"
#include "tok/tok_internal.h"

static rerank_status push_step(rr_tok_normalizer **list, size_t *n, rr_tok_normalizer s, rerank_error *err) {
    if (*n >= 1024) return rr_fail(err, RERANK_ERR_FORMAT, "more than 1024 normalizer steps");
    rr_tok_normalizer *l = realloc(*list, (*n + 1) * sizeof **list);
    if (!l) return rr_fail(err, RERANK_ERR_NOMEM, "out of memory");
    l[(*n)++] = s;
    *list = l;
    return RERANK_OK;
}

static void step_free(rr_tok_normalizer *s) {
    free(s->pattern);
    free(s->content);
    rr_tok_regex_free(s->regex);
    rr_tok_precompiled_free(s->pc);
}

static char *dup_bytes(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}

static rerank_status parse_one(const json_t *j, const char *path, int depth, rr_tok_normalizer **list, size_t *n,
                               rerank_error *err) {
    if (!json_is_object(j)) return rr_fail(err, RERANK_ERR_FORMAT, "%s must be an object", path);
    const char *type;
    rerank_status st = rr_json_get_str(j, "type", true, NULL, &type, NULL, path, err);
    if (st) return st;
    rr_tok_normalizer s;
    memset(&s, 0, sizeof s);
    char sub[256];
    if (!strcmp(type, "Sequence")) {
        const json_t *arr = json_object_get(j, "normalizers");
        if (!json_is_array(arr)) return rr_fail(err, RERANK_ERR_FORMAT, "%s.normalizers must be an array", path);
        if (depth > 8) return rr_fail(err, RERANK_ERR_FORMAT, "%s: Sequence nested too deeply", path);
        for (size_t i = 0; i < json_array_size(arr); i++) {
            snprintf(sub, sizeof sub, "%s.normalizers[%zu]", path, i);
            if ((st = parse_one(json_array_get(arr, i), sub, depth + 1, list, n, err))) return st;
        }
        return RERANK_OK;
    } else if (!strcmp(type, "BertNormalizer")) {
        s.kind = RR_NORM_BERT;
        bool sa;
        if ((st = rr_json_get_bool(j, "clean_text", false, true, &s.clean_text, path, err)) ||
            (st = rr_json_get_bool(j, "handle_chinese_chars", false, true, &s.chinese_chars, path, err)) ||
            (st = rr_json_get_bool(j, "lowercase", false, true, &s.lowercase, path, err)) ||
            (st = rr_json_get_bool(j, "strip_accents", false, s.lowercase, &sa, path, err)))
            return st;
        s.strip_accents = sa; /* null follows lowercase, as in HF */
    } else if (!strcmp(type, "Precompiled")) {
        s.kind = RR_NORM_PRECOMPILED;
        const char *b64;
        size_t len;
        if ((st = rr_json_get_str(j, "precompiled_charsmap", true, NULL, &b64, &len, path, err))) return st;
        if ((st = rr_tok_precompiled_new(b64, len, &s.pc, err))) {
            rr_error_prefix(err, "%s", path);
            return st;
        }
    } else if (!strcmp(type, "Strip")) {
        s.kind = RR_NORM_STRIP;
        if ((st = rr_json_get_bool(j, "strip_left", false, true, &s.left, path, err)) ||
            (st = rr_json_get_bool(j, "strip_right", false, true, &s.right, path, err)))
            return st;
    } else if (!strcmp(type, "Replace")) {
        s.kind = RR_NORM_REPLACE;
        const json_t *pat = json_object_get(j, "pattern");
        const char *content, *p = NULL;
        size_t clen, plen = 0;
        if ((st = rr_json_get_str(j, "content", true, NULL, &content, &clen, path, err))) return st;
        snprintf(sub, sizeof sub, "%s.pattern", path);
        bool is_regex = false;
        if (json_is_object(pat) && json_is_string(json_object_get(pat, "String"))) {
            p = json_string_value(json_object_get(pat, "String"));
            plen = json_string_length(json_object_get(pat, "String"));
        } else if (json_is_object(pat) && json_is_string(json_object_get(pat, "Regex"))) {
            p = json_string_value(json_object_get(pat, "Regex"));
            plen = json_string_length(json_object_get(pat, "Regex"));
            is_regex = true;
        } else {
            return rr_fail(err, RERANK_ERR_FORMAT, "%s must be {\"String\": ...} or {\"Regex\": ...}", sub);
        }
        if (plen == 0) return rr_fail(err, RERANK_ERR_UNSUPPORTED, "%s is empty", sub);
        if (is_regex && (st = rr_tok_regex_compile(p, plen, &s.regex, err))) {
            rr_error_prefix(err, "%s", sub);
            return st;
        }
        s.pattern = dup_bytes(p, plen);
        s.pattern_len = plen;
        s.content = dup_bytes(content, clen);
        s.content_len = clen;
        if (!s.pattern || !s.content) {
            step_free(&s);
            return rr_fail(err, RERANK_ERR_NOMEM, "%s: out of memory", path);
        }
    } else if (!strcmp(type, "Prepend")) {
        s.kind = RR_NORM_PREPEND;
        const char *p;
        size_t plen;
        if ((st = rr_json_get_str(j, "prepend", true, NULL, &p, &plen, path, err))) return st;
        if (!(s.content = dup_bytes(p, plen))) return rr_fail(err, RERANK_ERR_NOMEM, "%s: out of memory", path);
        s.content_len = plen;
    } else if (!strcmp(type, "NFC")) {
        s.kind = RR_NORM_NFC;
    } else if (!strcmp(type, "NFD")) {
        s.kind = RR_NORM_NFD;
    } else if (!strcmp(type, "NFKC")) {
        s.kind = RR_NORM_NFKC;
    } else if (!strcmp(type, "NFKD")) {
        s.kind = RR_NORM_NFKD;
    } else if (!strcmp(type, "Lowercase")) {
        s.kind = RR_NORM_LOWERCASE;
    } else if (!strcmp(type, "StripAccents")) {
        s.kind = RR_NORM_STRIP_ACCENTS;
    } else {
        return rr_fail(err, RERANK_ERR_UNSUPPORTED, "%s.type '%s' is not supported", path, type);
    }
    if ((st = push_step(list, n, s, err))) step_free(&s);
    return st;
}

rerank_status rr_tok_normalizer_parse(const json_t *j, const char *path, rr_tok_normalizer **list, size_t *n,
                                      rerank_error *err) {
    return parse_one(j, path, 0, list, n, err);
}

void rr_tok_normalizers_free(rr_tok_normalizer *list, size_t n) {
    for (size_t i = 0; i < n; i++) step_free(&list[i]);
    free(list);
}

static bool is_chinese(int32_t c) {
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
           (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

/* Rust char::to_lowercase: one code point except U+0130, the only multi-code-point mapping. */
static rerank_status push_lower(rr_bytes *out, int32_t c) {
    if (c == 0x130) return rr_bytes_append(out, "i\xCC\x87", 3);
    return rr_tok_push_cp(out, utf8proc_tolower(c));
}

static rerank_status unicode_form(const char *in, size_t len, int opts, rr_bytes *out) {
    utf8proc_uint8_t *dst = NULL;
    utf8proc_ssize_t r = utf8proc_map((const utf8proc_uint8_t *)in, (utf8proc_ssize_t)len, &dst,
                                      (utf8proc_option_t)(UTF8PROC_STABLE | opts));
    if (r < 0) {
        free(dst);
        return RERANK_ERR_NOMEM; /* input is valid UTF-8, so only allocation can fail */
    }
    rerank_status st = rr_bytes_append(out, dst, (size_t)r);
    free(dst);
    return st;
}

static rerank_status bert(const rr_tok_normalizer *s, const char *in, size_t len, rr_bytes *out, rr_bytes *tmp) {
    rr_bytes *a = out, *b = tmp;
    a->n = 0;
    for (size_t i = 0; i < len;) {
        int32_t c;
        i += rr_tok_next_cp(in, len, i, &c);
        if (s->clean_text) {
            if (c == 0 || c == 0xFFFD) continue;
            if (c != '\t' && c != '\n' && c != '\r') {
                utf8proc_category_t cat = utf8proc_category(c);
                if (cat == UTF8PROC_CATEGORY_CC || cat == UTF8PROC_CATEGORY_CF || cat == UTF8PROC_CATEGORY_CN ||
                    cat == UTF8PROC_CATEGORY_CO || cat == UTF8PROC_CATEGORY_CS)
                    continue;
            }
            if (rr_tok_is_whitespace(c)) c = ' ';
        }
        rerank_status st;
        if (s->chinese_chars && is_chinese(c))
            st = rr_bytes_append(a, " ", 1) || rr_tok_push_cp(a, c) || rr_bytes_append(a, " ", 1) ? RERANK_ERR_NOMEM : 0;
        else
            st = rr_tok_push_cp(a, c);
        if (st) return st;
    }
    if (s->strip_accents) {
        b->n = 0;
        if (unicode_form(a->data ? a->data : "", a->n, UTF8PROC_DECOMPOSE, b)) return RERANK_ERR_NOMEM;
        a->n = 0;
        for (size_t i = 0; i < b->n;) {
            int32_t c;
            i += rr_tok_next_cp(b->data, b->n, i, &c);
            if (utf8proc_category(c) == UTF8PROC_CATEGORY_MN) continue;
            if (rr_tok_push_cp(a, c)) return RERANK_ERR_NOMEM;
        }
    }
    if (s->lowercase) {
        b->n = 0;
        for (size_t i = 0; i < a->n;) {
            int32_t c;
            i += rr_tok_next_cp(a->data, a->n, i, &c);
            if (push_lower(b, c)) return RERANK_ERR_NOMEM;
        }
        a->n = 0;
        if (rr_bytes_append(a, b->data ? b->data : "", b->n)) return RERANK_ERR_NOMEM;
    }
    return RERANK_OK;
}

static rerank_status apply_step(const rr_tok_normalizer *s, const char *in, size_t len, rr_bytes *out, rr_bytes *tmp) {
    switch (s->kind) {
    case RR_NORM_BERT:
        return bert(s, in, len, out, tmp);
    case RR_NORM_PRECOMPILED:
        return rr_tok_precompiled_apply(s->pc, in, len, out);
    case RR_NORM_STRIP: {
        size_t b = 0, e = len;
        int32_t c;
        if (s->left)
            while (b < e) {
                size_t l = rr_tok_next_cp(in, len, b, &c);
                if (!rr_tok_is_whitespace(c)) break;
                b += l;
            }
        if (s->right)
            while (e > b) {
                size_t p = rr_tok_prev_cp(in, e, &c);
                if (!rr_tok_is_whitespace(c)) break;
                e = p;
            }
        return rr_bytes_append(out, in + b, e - b);
    }
    case RR_NORM_REPLACE:
        if (s->regex) return rr_tok_regex_replace(s->regex, in, len, s->content, s->content_len, out);
        for (size_t i = 0, last = 0;;) {
            const char *m = i + s->pattern_len <= len ? memmem(in + i, len - i, s->pattern, s->pattern_len) : NULL;
            if (!m) return rr_bytes_append(out, in + last, len - last);
            size_t at = (size_t)(m - in);
            if (rr_bytes_append(out, in + last, at - last) || rr_bytes_append(out, s->content, s->content_len))
                return RERANK_ERR_NOMEM;
            i = last = at + s->pattern_len;
        }
    case RR_NORM_NFC:
        return unicode_form(in, len, UTF8PROC_COMPOSE, out);
    case RR_NORM_NFD:
        return unicode_form(in, len, UTF8PROC_DECOMPOSE, out);
    case RR_NORM_NFKC:
        return unicode_form(in, len, UTF8PROC_COMPOSE | UTF8PROC_COMPAT, out);
    case RR_NORM_NFKD:
        return unicode_form(in, len, UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT, out);
    case RR_NORM_LOWERCASE:
        for (size_t i = 0; i < len;) {
            int32_t c;
            i += rr_tok_next_cp(in, len, i, &c);
            if (push_lower(out, c)) return RERANK_ERR_NOMEM;
        }
        return RERANK_OK;
    case RR_NORM_PREPEND:
        if (len == 0) return RERANK_OK;
        if (rr_bytes_append(out, s->content, s->content_len)) return RERANK_ERR_NOMEM;
        return rr_bytes_append(out, in, len);
    case RR_NORM_STRIP_ACCENTS:
        for (size_t i = 0; i < len;) {
            int32_t c;
            size_t l = rr_tok_next_cp(in, len, i, &c);
            utf8proc_category_t cat = utf8proc_category(c);
            if (cat != UTF8PROC_CATEGORY_MN && cat != UTF8PROC_CATEGORY_MC && cat != UTF8PROC_CATEGORY_ME &&
                rr_bytes_append(out, in + i, l))
                return RERANK_ERR_NOMEM;
            i += l;
        }
        return RERANK_OK;
    }
    return RERANK_ERR_INTERNAL;
}

rerank_status rr_tok_normalize(const rr_tok_normalizer *list, size_t n, const char *in, size_t len, rr_bytes *out,
                               rerank_error *err) {
    out->n = 0;
    if (rr_bytes_append(out, in, len)) return rr_fail(err, RERANK_ERR_NOMEM, "normalizer: out of memory");
    rr_bytes next = {0}, scratch = {0};
    rerank_status st = RERANK_OK;
    for (size_t i = 0; i < n && !st; i++) {
        next.n = 0;
        if (rr_bytes_reserve(&next, 0)) {
            st = RERANK_ERR_NOMEM;
            break;
        }
        st = apply_step(&list[i], out->data, out->n, &next, &scratch);
        if (!st) {
            rr_bytes t = *out;
            *out = next;
            next = t;
        }
    }
    rr_bytes_free(&next);
    rr_bytes_free(&scratch);
    if (!st && rr_bytes_reserve(out, 0)) st = RERANK_ERR_NOMEM;
    if (st) return rr_fail(err, st, "normalizer: out of memory");
    out->data[out->n] = 0;
    return RERANK_OK;
}
