/* data.h - FlagEmbedding reranker training data (flagembedding-spec.md §3.1-3.4): JSONL rows
 * {"query", "pos", "neg"[, "prompt"][, "query_prompt", "passage_prompt"][, "pos_scores", "neg_scores"]}, every bad line found before training;
 * seeded group sampling (one positive at index 0, train_group_size - 1 negatives without replacement); and
 * the token layout of one (query, passage) sequence for encoders and for the LLM rerankers. */
#ifndef RR_TRAIN_DATA_H
#define RR_TRAIN_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/vec.h"
#include "rerank.h"
#include "tok/tokenizer.h"

/* One row; the texts borrow from the parsed line, owned by the rr_train_data. */
typedef struct rr_train_row {
    const char *query;
    size_t query_len;
    const char **pos, **neg;
    size_t *pos_len, *neg_len;
    size_t n_pos, n_neg;
    double *pos_scores, *neg_scores; /* teacher scores, NULL when the row has none */
    const char *prompt;              /* LLM prompt, NULL when absent */
    size_t prompt_len;
    const char *query_prompt, *passage_prompt; /* LLM: replace the "A: " / "B: " instructions; NULL = default */
    size_t file;                     /* index into rr_train_data.files */
    long line;                       /* 1-based line number in that file */
} rr_train_row;

enum { RR_TRAIN_MAX_BAD_KEPT = 100 }; /* messages kept; every bad line is counted */

typedef struct rr_train_data {
    rr_train_row *rows;
    size_t n_rows;
    void **owners;   /* [n_rows] the parsed line of each row */
    char **bad;      /* the first RR_TRAIN_MAX_BAD_KEPT messages "file:line: ...", one per bad line */
    size_t n_bad;    /* bad lines in all (skipped with skip_bad) */
    char **files;    /* [n_files] paths read */
    size_t n_files;
} rr_train_data;

typedef struct rr_train_data_opts {
    bool need_scores; /* knowledge distillation: pos_scores/neg_scores required */
    bool skip_bad;    /* train on the good rows instead of failing */
} rr_train_data_opts;

/* Reads a .json/.jsonl file (one object per line) or every .json/.jsonl file of a directory, in name order.
 * With bad lines and without skip_bad it returns RERANK_ERR_INPUT (err: the first bad line and the count)
 * and still sets *out, so the caller can list data->bad; with skip_bad the bad lines are left out. No rows
 * at all is RERANK_ERR_INPUT. */
rerank_status rr_train_data_load(const char *path, const rr_train_data_opts *o, rr_train_data **out,
                                 rerank_error *err);
void rr_train_data_free(rr_train_data *d);

/* ---- sampling: stateless, a pure function of (seed, what), so any process and a resumed run agree ---- */
uint64_t rr_train_hash(uint64_t a, uint64_t b);

/* perm[0..n) = the order of the rows in epoch `epoch` (a seeded shuffle, as the Trainer's RandomSampler). */
void rr_train_epoch_order(size_t n, uint64_t seed, uint64_t epoch, size_t *perm);

/* A group of row r (§3.3): *pos = a random positive; neg[0..group_size-1) = negatives drawn without
 * replacement from neg, or from neg repeated ceil((group_size-1)/n_neg) times when there are too few.
 * scratch holds at least n_neg + group_size entries. */
void rr_train_pick_group(const rr_train_row *r, size_t group_size, uint64_t seed, size_t *pos, size_t *neg,
                         size_t *scratch);

/* ---- tokenization (§3.4) ---- */
typedef struct rr_train_tok {
    rr_tokenizer *tok;
    bool llm;               /* decoder layout <bos>A: q\nB: p\n{prompt} instead of the encoder pair */
    size_t query_max_len, passage_max_len;
    size_t max_tokens;      /* the longest sequence the model takes (config.json) */
    bool add_bos;           /* llm: bos exists and differs from pad (the layerwise model: always) */
    int32_t bos;
    rr_i32vec sep, default_prompt, q, p, prompt, text; /* constants and scratch */
} rr_train_tok;

/* Loads the tokenizer of model `dir`; `kind` picks the layout (and for decoders the bos rule). */
rerank_status rr_train_tok_open(const char *dir, rerank_model_kind kind, size_t query_max_len,
                                size_t passage_max_len, rr_train_tok **out, rerank_error *err);
void rr_train_tok_free(rr_train_tok *t);

/* Appends the training input of (row's query, passage) to ids/types (types may be NULL). LLM rows use the
 * row's prompt or the default one. Errors (e.g. text the tokenizer rejects) are prefixed by the caller. */
rerank_status rr_train_tok_pair(rr_train_tok *t, const rr_train_row *r, const char *passage, size_t passage_len,
                                rr_i32vec *ids, rr_i32vec *types, rerank_error *err);

/* The pure layouts, on token ids (no special tokens in q / p):
 * encoder: q[:qml + pml/4], p[:pml + qml/2], then prepare_for_model(q, p, only_second, qml + pml) with the
 * tokenizer's pair template; */
rerank_status rr_train_encoder_layout(const rr_tokenizer *tok, size_t qml, size_t pml, const int32_t *q, size_t nq,
                                      const int32_t *p, size_t np, rr_i32vec *ids, rr_i32vec *types);
/* LLM: q, p cut as above; first = [bos] + q, second = sep + p cut by only_second to
 * qml + pml - len(prompt) - len(sep) in all, then + sep + prompt (FlagEmbedding's LLM training dataset). */
rerank_status rr_train_llm_layout(bool add_bos, int32_t bos, const int32_t *sep, size_t n_sep, const int32_t *prompt,
                                  size_t n_prompt, size_t qml, size_t pml, const int32_t *q, size_t nq,
                                  const int32_t *p, size_t np, rr_i32vec *ids);

#endif
