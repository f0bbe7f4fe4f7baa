/* regex.c - the few regular expressions tokenizer.json Replace normalizers use (" {2,}", "\s+", ...): a
 * sequence of single-character atoms with greedy quantifiers, matched leftmost-first like Rust's regex.
 * Backtracking is memoised per (atom, position), so matching is linear in atoms x text. */
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/utf8.h"
#include "tok/tok_internal.h"

enum { AT_LIT, AT_ANY, AT_SPACE, AT_NSPACE, AT_DIGIT, AT_NDIGIT, AT_WORD, AT_NWORD };

typedef struct {
    int kind;
    int32_t cp;
    size_t min, max; /* max SIZE_MAX = unbounded */
} atom;

#define MAX_ATOMS 32
#define MAX_REPEAT 100000

struct rr_tok_regex {
    atom a[MAX_ATOMS];
    size_t n;
};

static bool atom_matches(const atom *a, int32_t c) {
    switch (a->kind) {
    case AT_LIT: return c == a->cp;
    case AT_ANY: return c != '\n';
    case AT_SPACE: return rr_tok_is_whitespace(c);
    case AT_NSPACE: return !rr_tok_is_whitespace(c);
    case AT_DIGIT: return c >= '0' && c <= '9'; /* Unicode Nd in Rust; ASCII is what the files use */
    case AT_NDIGIT: return !(c >= '0' && c <= '9');
    case AT_WORD: return rr_tok_is_word_char(c);
    default: return !rr_tok_is_word_char(c);
    }
}

static bool parse_num(const char *p, size_t len, size_t *i, size_t *v) {
    size_t s = *i, x = 0;
    while (*i < len && p[*i] >= '0' && p[*i] <= '9') {
        x = x * 10 + (size_t)(p[*i] - '0');
        if (x > MAX_REPEAT) return false;
        (*i)++;
    }
    *v = x;
    return *i > s;
}

rerank_status rr_tok_regex_compile(const char *p, size_t len, rr_tok_regex **out, rerank_error *err) {
    *out = NULL;
    rr_tok_regex *re = calloc(1, sizeof *re);
    if (!re) return rr_fail(err, RERANK_ERR_NOMEM, "regex: out of memory");
    bool can_be_empty = true;
    size_t i = 0;
    while (i < len) {
        if (re->n == MAX_ATOMS) goto unsupported;
        atom *a = &re->a[re->n++];
        int32_t c;
        size_t l = rr_utf8_decode((const unsigned char *)p + i, len - i, &c);
        if (!l) goto unsupported;
        if (strchr("()[]|^$*+?{}", c) && c < 0x80) goto unsupported;
        i += l;
        a->kind = AT_LIT;
        a->cp = c;
        if (c == '.') a->kind = AT_ANY;
        if (c == '\\') {
            if (i >= len) goto unsupported;
            c = (unsigned char)p[i++];
            switch (c) {
            case 's': a->kind = AT_SPACE; break;
            case 'S': a->kind = AT_NSPACE; break;
            case 'd': a->kind = AT_DIGIT; break;
            case 'D': a->kind = AT_NDIGIT; break;
            case 'w': a->kind = AT_WORD; break;
            case 'W': a->kind = AT_NWORD; break;
            case 'n': a->cp = '\n'; break;
            case 't': a->cp = '\t'; break;
            case 'r': a->cp = '\r'; break;
            default:
                if (c >= 0x80 || !strchr(".\\()[]|^$*+?{}-/ ", c)) goto unsupported;
                a->cp = c;
            }
        }
        a->min = a->max = 1;
        if (i < len) {
            char q = p[i];
            if (q == '?' || q == '*' || q == '+') {
                a->min = q == '+';
                a->max = q == '?' ? 1 : SIZE_MAX;
                i++;
            } else if (q == '{') {
                i++;
                if (!parse_num(p, len, &i, &a->min)) goto unsupported;
                a->max = a->min;
                if (i < len && p[i] == ',') {
                    i++;
                    a->max = SIZE_MAX;
                    if (i < len && p[i] != '}' && (!parse_num(p, len, &i, &a->max) || a->max < a->min)) goto unsupported;
                }
                if (i >= len || p[i] != '}') goto unsupported;
                i++;
            }
            if (i < len && (p[i] == '?' || p[i] == '*' || p[i] == '+' || p[i] == '{')) goto unsupported; /* lazy etc. */
        }
        if (a->min > 0) can_be_empty = false;
    }
    if (can_be_empty) {
        free(re);
        return rr_fail(err, RERANK_ERR_UNSUPPORTED, "regex '%.*s' can match the empty string", (int)(len > 64 ? 64 : len), p);
    }
    *out = re;
    return RERANK_OK;
unsupported:
    free(re);
    return rr_fail(err, RERANK_ERR_UNSUPPORTED, "regex '%.*s' is not supported (only single-character atoms with quantifiers)",
                   (int)(len > 64 ? 64 : len), p);
}

void rr_tok_regex_free(rr_tok_regex *re) { free(re); }

/* Does atoms[k..] match at s[i..]? Greedy with backtracking one character at a time; `failed` memoises the
 * (k, i) pairs known to fail, which do not depend on where the overall match started. */
static bool match_at(const rr_tok_regex *re, size_t k, const char *s, size_t n, size_t i, unsigned char *failed,
                     size_t *end) {
    if (k == re->n) {
        *end = i;
        return true;
    }
    if (failed[k * (n + 1) + i]) return false;
    const atom *a = &re->a[k];
    size_t cnt = 0, pos = i;
    while (cnt < a->max && pos < n) {
        int32_t c;
        size_t l = rr_tok_next_cp(s, n, pos, &c);
        if (!atom_matches(a, c)) break;
        pos += l;
        cnt++;
    }
    for (;;) {
        if (cnt < a->min) break;
        if (match_at(re, k + 1, s, n, pos, failed, end)) return true;
        if (cnt == 0) break;
        int32_t c;
        pos = rr_tok_prev_cp(s, pos, &c);
        cnt--;
    }
    failed[k * (n + 1) + i] = 1;
    return false;
}

rerank_status rr_tok_regex_replace(const rr_tok_regex *re, const char *s, size_t n, const char *rep, size_t rep_len,
                                   rr_bytes *out) {
    if (n == SIZE_MAX || re->n > SIZE_MAX / (n + 1)) return RERANK_ERR_NOMEM;
    unsigned char *failed = calloc(re->n * (n + 1), 1);
    if (!failed) return RERANK_ERR_NOMEM;
    size_t last = 0, i = 0, me;
    rerank_status st = RERANK_OK;
    while (i < n && !st) {
        if (match_at(re, 0, s, n, i, failed, &me)) {
            if (rr_bytes_append(out, s + last, i - last) || rr_bytes_append(out, rep, rep_len)) st = RERANK_ERR_NOMEM;
            last = i = me; /* patterns never match empty, so this advances */
        } else {
            int32_t c;
            i += rr_tok_next_cp(s, n, i, &c);
        }
    }
    if (!st && rr_bytes_append(out, s + last, n - last)) st = RERANK_ERR_NOMEM;
    free(failed);
    return st;
}
