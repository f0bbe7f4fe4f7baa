/* tok_internal.h - the tokenizer pipeline as data: normalizer and pre-tokenizer step lists, a model behind a
 * small vtable, added tokens and the pair template. Shared by the files of src/tok only. */
#ifndef RR_TOK_INTERNAL_H
#define RR_TOK_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/vec.h"
#include "rerank.h"

/* ---- strings -> ids: one arena plus an open-addressing hash (no per-token allocation) ---- */
typedef struct rr_tok_strtab {
    rr_bytes arena;
    uint32_t *off, *len; /* per entry */
    int32_t *val;        /* per entry */
    size_t n, cap;
    uint32_t *slots; /* entry index + 1, 0 = empty */
    size_t mask;     /* slots count - 1 */
} rr_tok_strtab;

rerank_status rr_tok_strtab_init(rr_tok_strtab *t, size_t expected);
/* Inserts key -> val, or overwrites the value of an existing key (HF maps keep the last duplicate). */
rerank_status rr_tok_strtab_put(rr_tok_strtab *t, const char *key, size_t len, int32_t val);
/* Entry index of key, or -1. */
long rr_tok_strtab_find(const rr_tok_strtab *t, const char *key, size_t len);
int32_t rr_tok_strtab_get(const rr_tok_strtab *t, const char *key, size_t len); /* value or -1 */
static inline const char *rr_tok_strtab_key(const rr_tok_strtab *t, size_t i) { return t->arena.data + t->off[i]; }
void rr_tok_strtab_free(rr_tok_strtab *t);

/* ---- Unicode helpers (Rust char semantics, which HF uses) ---- */
bool rr_tok_is_whitespace(int32_t c);  /* White_Space property (Rust char::is_whitespace, regex \s) */
bool rr_tok_is_alnum(int32_t c);       /* Rust char::is_alphanumeric (approximated by categories) */
bool rr_tok_is_word_char(int32_t c);   /* regex \w */
bool rr_tok_is_punct(int32_t c);       /* Unicode P* */
/* Decodes the code point at s[i] of a string already known to be valid UTF-8; returns its length. */
size_t rr_tok_next_cp(const char *s, size_t n, size_t i, int32_t *cp);
/* Start of the code point that ends at s[i] (i > 0). */
size_t rr_tok_prev_cp(const char *s, size_t i, int32_t *cp);
rerank_status rr_tok_push_cp(rr_bytes *b, int32_t cp);

/* ---- normalizers ---- */
typedef enum {
    RR_NORM_PRECOMPILED,
    RR_NORM_STRIP,
    RR_NORM_REPLACE,
    RR_NORM_NFC,
    RR_NORM_NFD,
    RR_NORM_NFKC,
    RR_NORM_NFKD,
    RR_NORM_LOWERCASE,
    RR_NORM_PREPEND,
    RR_NORM_BERT,
    RR_NORM_STRIP_ACCENTS,
} rr_tok_norm_kind;

typedef struct rr_tok_precompiled rr_tok_precompiled;
typedef struct rr_tok_regex rr_tok_regex;

typedef struct rr_tok_normalizer {
    rr_tok_norm_kind kind;
    bool left, right;                                          /* Strip */
    bool clean_text, chinese_chars, strip_accents, lowercase;  /* BertNormalizer */
    char *pattern, *content;                                   /* Replace (literal pattern), Prepend (content) */
    size_t pattern_len, content_len;
    rr_tok_regex *regex;                                       /* Replace with a Regex pattern */
    rr_tok_precompiled *pc;                                    /* Precompiled */
} rr_tok_normalizer;

/* Parses one normalizer object (a Sequence is flattened) and appends its steps to *list. `path` is the JSON
 * path used in errors. */
rerank_status rr_tok_normalizer_parse(const json_t *j, const char *path, rr_tok_normalizer **list, size_t *n,
                                      rerank_error *err);
void rr_tok_normalizers_free(rr_tok_normalizer *list, size_t n);
/* Runs the steps over in[0..len) into out (cleared first). */
rerank_status rr_tok_normalize(const rr_tok_normalizer *list, size_t n, const char *in, size_t len, rr_bytes *out,
                               rerank_error *err);

/* Precompiled charsmap (sentencepiece nmt_nfkc etc.), from the base64 text of tokenizer.json. */
rerank_status rr_tok_precompiled_new(const char *b64, size_t len, rr_tok_precompiled **out, rerank_error *err);
void rr_tok_precompiled_free(rr_tok_precompiled *pc);
rerank_status rr_tok_precompiled_apply(const rr_tok_precompiled *pc, const char *in, size_t len, rr_bytes *out);

/* The small regex subset of Replace patterns: atoms (literal, '.', \s \S \d \D \w \W, escaped char) each with
 * an optional greedy quantifier ? * + {m} {m,} {m,n}. Anything else is RERANK_ERR_UNSUPPORTED. */
rerank_status rr_tok_regex_compile(const char *pat, size_t len, rr_tok_regex **out, rerank_error *err);
void rr_tok_regex_free(rr_tok_regex *re);
/* Appends s[0..n) to out with every leftmost-first, non-overlapping match replaced by rep. */
rerank_status rr_tok_regex_replace(const rr_tok_regex *re, const char *s, size_t n, const char *rep, size_t rep_len,
                                   rr_bytes *out);

/* ---- pre-tokenizers: they cut a normalized string into words ---- */
typedef enum { RR_PRE_METASPACE, RR_PRE_BERT, RR_PRE_WHITESPACE, RR_PRE_WHITESPACE_SPLIT } rr_tok_pre_kind;
typedef enum { RR_PREPEND_ALWAYS, RR_PREPEND_FIRST, RR_PREPEND_NEVER } rr_tok_prepend_scheme;

typedef struct rr_tok_pretok {
    rr_tok_pre_kind kind;
    char replacement[8]; /* Metaspace: UTF-8 of the replacement char */
    size_t replacement_len;
    rr_tok_prepend_scheme prepend;
    bool split;
} rr_tok_pretok;

/* Words: spans into `text`. at_start marks a span that begins at original offset 0 (Metaspace "first"). */
typedef struct rr_tok_span {
    size_t off, len;
    bool at_start;
} rr_tok_span;

typedef struct rr_tok_words {
    rr_bytes text;
    rr_tok_span *spans;
    size_t n, cap;
} rr_tok_words;

rerank_status rr_tok_words_push(rr_tok_words *w, size_t off, size_t len, bool at_start);
void rr_tok_words_free(rr_tok_words *w);

rerank_status rr_tok_pretok_parse(const json_t *j, const char *path, rr_tok_pretok **list, size_t *n,
                                  rerank_error *err);
/* Splits s[0..len) into words (appended to *out after clearing it); tmp is scratch of the same kind. */
rerank_status rr_tok_pretokenize(const rr_tok_pretok *list, size_t n, const char *s, size_t len, bool at_start,
                                 rr_tok_words *out, rr_tok_words *tmp);

/* ---- models ---- */
typedef struct rr_tok_model_ops {
    const char *name;
    /* Appends the ids of one pre-tokenized word. `banned` (NULL = none) flags ids the model must not emit
     * (special tokens when user text is plain text; a Unigram vocabulary holds "<s>" as a piece). */
    rerank_status (*encode)(const void *model, const char *s, size_t len, const uint8_t *banned, rr_i32vec *out,
                            rerank_error *err);
    int32_t (*token_id)(const void *model, const char *s, size_t len);
    size_t (*vocab_size)(const void *model); /* max id + 1 */
    void (*free)(void *model);
} rr_tok_model_ops;

typedef rerank_status (*rr_tok_model_loader)(const json_t *j, const char *path, void **model,
                                             const rr_tok_model_ops **ops, rerank_error *err);
rerank_status rr_tok_unigram_load(const json_t *j, const char *path, void **model, const rr_tok_model_ops **ops,
                                  rerank_error *err);
rerank_status rr_tok_wordpiece_load(const json_t *j, const char *path, void **model, const rr_tok_model_ops **ops,
                                    rerank_error *err);
/* WordPiece from a vocab.txt buffer (one token a line, id = line number). */
rerank_status rr_tok_wordpiece_from_vocab_txt(const char *buf, size_t len, const char *name, void **model,
                                              const rr_tok_model_ops **ops, rerank_error *err);

/* ---- added tokens ---- */
typedef struct rr_tok_added_token {
    char *content; /* pattern to match: the content, normalized when `normalized` */
    size_t len;
    int32_t id;
    bool single_word, lstrip, rstrip, normalized, special;
} rr_tok_added_token;

typedef struct rr_tok_added {
    rr_tok_added_token *tok;
    size_t n;
    rr_tok_strtab by_content; /* raw content -> id, for token_id() */
    /* per first byte: indices of tokens (for each of the raw and normalized sets) */
    uint32_t *bucket_idx[2];
    uint32_t bucket_start[2][257];
} rr_tok_added;

/* A piece of text after added-token splitting: an added token (id >= 0) or text to encode (id = -1). */
typedef struct rr_tok_split {
    size_t off, len;
    int32_t id;
} rr_tok_split;

rerank_status rr_tok_added_finish(rr_tok_added *a); /* builds the match buckets */
void rr_tok_added_free(rr_tok_added *a);
/* HF find_matches over s[0..len) with the normalized (true) or raw (false) token set. */
rerank_status rr_tok_added_split(const rr_tok_added *a, bool normalized, bool split_special, const char *s,
                                 size_t len, rr_tok_split **out, size_t *n, size_t *cap);

/* ---- post-processor ---- */
typedef struct rr_tok_tpl_piece {
    int seq;          /* -1: special tokens, 0: sequence A, 1: sequence B */
    int32_t *ids;     /* special token ids */
    size_t n_ids;
    int32_t type_id;
} rr_tok_tpl_piece;

typedef struct rr_tok_template {
    rr_tok_tpl_piece *single, *pair;
    size_t n_single, n_pair;
} rr_tok_template;

/* TemplateProcessing, RobertaProcessing or BertProcessing (j may be JSON null: no special tokens). */
rerank_status rr_tok_template_parse(const json_t *j, const char *path, rr_tok_template *t, rerank_error *err);
/* [CLS] A [SEP] (B [SEP], type 1) from two ids. */
rerank_status rr_tok_template_bert(rr_tok_template *t, int32_t cls, int32_t sep);
void rr_tok_template_free(rr_tok_template *t);
size_t rr_tok_template_n_special(const rr_tok_template *t, bool pair);
rerank_status rr_tok_template_apply(const rr_tok_template *t, const int32_t *a, size_t na, const int32_t *b,
                                    size_t nb, rr_i32vec *ids, rr_i32vec *type_ids);

#endif
