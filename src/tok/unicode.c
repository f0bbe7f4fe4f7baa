/* unicode.c - character classes with the meaning Rust gives them (HF tokenizers is Rust), on top of
 * utf8proc's category tables. */
#include <utf8proc.h>

#include "base/utf8.h"
#include "tok/tok_internal.h"

bool rr_tok_is_whitespace(int32_t c) {
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

bool rr_tok_is_alnum(int32_t c) {
    if (c < 0x80) return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT: case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NO:
        return true;
    default:
        return false;
    }
}

bool rr_tok_is_word_char(int32_t c) {
    if (c < 0x80) return c == '_' || rr_tok_is_alnum(c);
    if (c == 0x200C || c == 0x200D) return true;
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT: case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME: case UTF8PROC_CATEGORY_PC:
        return true;
    default:
        return false;
    }
}

bool rr_tok_is_punct(int32_t c) {
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_PC: case UTF8PROC_CATEGORY_PD: case UTF8PROC_CATEGORY_PS: case UTF8PROC_CATEGORY_PE:
    case UTF8PROC_CATEGORY_PI: case UTF8PROC_CATEGORY_PF: case UTF8PROC_CATEGORY_PO:
        return true;
    default:
        return false;
    }
}

size_t rr_tok_next_cp(const char *s, size_t n, size_t i, int32_t *cp) {
    size_t l = rr_utf8_decode((const unsigned char *)s + i, n - i, cp);
    if (l == 0) { /* callers validate first; never loop forever if one does not */
        *cp = 0xFFFD;
        return 1;
    }
    return l;
}

size_t rr_tok_prev_cp(const char *s, size_t i, int32_t *cp) {
    size_t j = i - 1;
    while (j > 0 && i - j < 4 && ((unsigned char)s[j] & 0xC0) == 0x80) j--;
    rr_tok_next_cp(s, i, j, cp);
    return j;
}

rerank_status rr_tok_push_cp(rr_bytes *b, int32_t cp) {
    char buf[4];
    return rr_bytes_append(b, buf, rr_utf8_encode(cp, buf));
}
