/* internal.h - what the public handles hold: a model is the network plus its tokenizer; a session is a
 * workspace plus reusable buffers for one thread. */
#ifndef RR_SCORE_INTERNAL_H
#define RR_SCORE_INTERNAL_H

#include <jansson.h>
#include "arch/model.h"
#include "base/vec.h"
#include "rerank.h"
#include "score/inputs.h"
#include "tok/tokenizer.h"

struct rerank_model {
    rr_model *net;
    rr_tokenizer *tok;
    json_t *config; /* parsed config.json; owns the architecture string */
    char *dir;
    rr_recipe_consts recipe; /* how pairs become model inputs and logits become scores */
};

/* One sequence to run: a pair, or one window of a chunked pair. */
typedef struct rr_seq {
    size_t pair;   /* index of the pair it scores */
    size_t offset; /* first token in the session's token buffer */
    size_t len;
} rr_seq;

typedef struct rr_sort_key {
    size_t len, seq;
} rr_sort_key;

struct rerank_session {
    const rerank_model *model;
    rr_workspace *ws;
    rerank_score_stats stats;
    /* buffers reused across calls */
    rr_input_scratch scratch;
    rr_i32vec tokens, types, ends, batch_ids, batch_types;
    rr_seq *seqs;
    size_t n_seqs, cap_seqs;
    rr_sort_key *order; /* sequences, longest first */
    size_t *offsets;
    float *logits;     /* n_out per sequence */
    float *out_buf;    /* one batch's forward outputs */
    size_t cap_order, cap_logits, cap_out_buf;
};

#endif
