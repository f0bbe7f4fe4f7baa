/* wordpiece.c - the WordPiece model of HF tokenizers: greedy longest-match-first with the continuing
 * subword prefix ("##"); a word longer than max_input_chars_per_word, or with any unmatched rest, is one
 * unk. Loads from tokenizer.json or from a plain vocab.txt. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/json.h"
#include "base/utf8.h"
#include "tok/tok_internal.h"

typedef struct {
    rr_tok_strtab tab;
    char *unk, *prefix;
    size_t unk_len, prefix_len;
    size_t max_chars;
    size_t n_ids; /* max id + 1 */
} wordpiece;

static void wp_free(void *m) {
    wordpiece *w = m;
    if (!w) return;
    rr_tok_strtab_free(&w->tab);
    free(w->unk);
    free(w->prefix);
    free(w);
}

static rerank_status push_unk(const wordpiece *w, rr_i32vec *out, rerank_error *err) {
    int32_t id = rr_tok_strtab_get(&w->tab, w->unk, w->unk_len);
    if (id < 0) return rr_fail(err, RERANK_ERR_FORMAT, "wordpiece: unk token '%s' is not in the vocabulary", w->unk);
    if (rr_i32vec_push(out, id)) return rr_fail(err, RERANK_ERR_NOMEM, "wordpiece: out of memory");
    return RERANK_OK;
}

/* `banned` is not needed: BertPreTokenizer splits "[CLS]" into "[", "cls", "]" before WordPiece sees it. */
static rerank_status wp_encode(const void *model, const char *s, size_t n, const uint8_t *banned, rr_i32vec *out,
                               rerank_error *err) {
    const wordpiece *w = model;
    size_t chars = 0;
    for (size_t i = 0; i < n; i++) chars += ((unsigned char)s[i] & 0xC0) != 0x80;
    if (chars > w->max_chars) return push_unk(w, out, err);
    if (n > SIZE_MAX - w->prefix_len - 1) return rr_fail(err, RERANK_ERR_NOMEM, "wordpiece: word too long");
    char *buf = malloc(w->prefix_len + n + 1);
    if (!buf) return rr_fail(err, RERANK_ERR_NOMEM, "wordpiece: out of memory");
    memcpy(buf, w->prefix, w->prefix_len);
    size_t n0 = out->n, start = 0;
    while (start < n) {
        size_t end = n;
        int32_t id = -1;
        while (start < end) {
            if (start == 0) {
                id = rr_tok_strtab_get(&w->tab, s, end);
            } else {
                memcpy(buf + w->prefix_len, s + start, end - start);
                id = rr_tok_strtab_get(&w->tab, buf, w->prefix_len + end - start);
            }
            if (id >= 0) break;
            int32_t cp;
            end = rr_tok_prev_cp(s, end, &cp);
            if (end < start) end = start;
        }
        if (id < 0) {
            free(buf);
            out->n = n0;
            return push_unk(w, out, err);
        }
        if (rr_i32vec_push(out, id)) {
            free(buf);
            return rr_fail(err, RERANK_ERR_NOMEM, "wordpiece: out of memory");
        }
        start = end;
    }
    free(buf);
    return RERANK_OK;
}

static int32_t wp_token_id(const void *model, const char *s, size_t len) {
    return rr_tok_strtab_get(&((const wordpiece *)model)->tab, s, len);
}

static size_t wp_vocab_size(const void *model) { return ((const wordpiece *)model)->n_ids; }

static const rr_tok_model_ops wp_ops = {"WordPiece", wp_encode, wp_token_id, wp_vocab_size, wp_free};

static rerank_status set_str(char **dst, size_t *dlen, const char *s, size_t n) {
    free(*dst);
    *dst = malloc(n + 1);
    if (!*dst) return RERANK_ERR_NOMEM;
    memcpy(*dst, s, n);
    (*dst)[n] = 0;
    *dlen = n;
    return RERANK_OK;
}

rerank_status rr_tok_wordpiece_load(const json_t *j, const char *path, void **model, const rr_tok_model_ops **ops,
                                    rerank_error *err) {
    const json_t *vocab = json_object_get(j, "vocab");
    if (!json_is_object(vocab)) return rr_fail(err, RERANK_ERR_FORMAT, "%s.vocab must be an object", path);
    wordpiece *w = calloc(1, sizeof *w);
    if (!w) return rr_fail(err, RERANK_ERR_NOMEM, "%s: out of memory", path);
    const char *unk, *prefix;
    size_t unk_len, prefix_len;
    long long max_chars;
    rerank_status st;
    if ((st = rr_json_get_str(j, "unk_token", false, "[UNK]", &unk, &unk_len, path, err)) ||
        (st = rr_json_get_str(j, "continuing_subword_prefix", false, "##", &prefix, &prefix_len, path, err)) ||
        (st = rr_json_get_int(j, "max_input_chars_per_word", false, 100, &max_chars, path, err)))
        goto fail;
    if (max_chars < 0) {
        st = rr_fail(err, RERANK_ERR_FORMAT, "%s.max_input_chars_per_word must not be negative", path);
        goto fail;
    }
    w->max_chars = (size_t)max_chars;
    if (set_str(&w->unk, &w->unk_len, unk, unk_len) || set_str(&w->prefix, &w->prefix_len, prefix, prefix_len) ||
        rr_tok_strtab_init(&w->tab, json_object_size(vocab))) {
        st = rr_fail(err, RERANK_ERR_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)vocab, key, v) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= INT32_MAX) {
            st = rr_fail(err, RERANK_ERR_FORMAT, "%s.vocab['%.64s'] must be an id (integer >= 0)", path, key);
            goto fail;
        }
        int32_t id = (int32_t)json_integer_value(v);
        if (rr_tok_strtab_put(&w->tab, key, strlen(key), id)) {
            st = rr_fail(err, RERANK_ERR_NOMEM, "%s: out of memory", path);
            goto fail;
        }
        if ((size_t)id + 1 > w->n_ids) w->n_ids = (size_t)id + 1;
    }
    *model = w;
    *ops = &wp_ops;
    return RERANK_OK;
fail:
    wp_free(w);
    return st;
}

rerank_status rr_tok_wordpiece_from_vocab_txt(const char *buf, size_t len, const char *name, void **model,
                                              const rr_tok_model_ops **ops, rerank_error *err) {
    size_t bad;
    if (!rr_utf8_valid(buf, len, &bad)) return rr_fail(err, RERANK_ERR_FORMAT, "%s: invalid UTF-8 at byte %zu", name, bad);
    wordpiece *w = calloc(1, sizeof *w);
    if (!w || set_str(&w->unk, &w->unk_len, "[UNK]", 5) || set_str(&w->prefix, &w->prefix_len, "##", 2) ||
        rr_tok_strtab_init(&w->tab, len / 8 + 16)) {
        wp_free(w);
        return rr_fail(err, RERANK_ERR_NOMEM, "%s: out of memory", name);
    }
    w->max_chars = 100;
    size_t id = 0;
    for (size_t i = 0; i < len;) {
        const char *nl = memchr(buf + i, '\n', len - i);
        size_t e = nl ? (size_t)(nl - buf) : len;
        size_t te = e;
        /* transformers' load_vocab strips the line end (rstrip("\n")); tolerate CRLF files too */
        if (te > i && buf[te - 1] == '\r') te--;
        if (id >= INT32_MAX) {
            wp_free(w);
            return rr_fail(err, RERANK_ERR_FORMAT, "%s: too many lines", name);
        }
        if (rr_tok_strtab_put(&w->tab, buf + i, te - i, (int32_t)id)) {
            wp_free(w);
            return rr_fail(err, RERANK_ERR_NOMEM, "%s: out of memory", name);
        }
        id++;
        i = e + 1;
    }
    if (id == 0) {
        wp_free(w);
        return rr_fail(err, RERANK_ERR_FORMAT, "%s: empty vocabulary", name);
    }
    w->n_ids = id;
    *model = w;
    *ops = &wp_ops;
    return RERANK_OK;
}
