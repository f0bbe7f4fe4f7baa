/* pair_input.h - FlagReranker's input assembly for cross-encoders: truncate the query, then the passage
 * ("only_second"), then apply the tokenizer's pair template. Pure functions on token ids. */
#ifndef RR_SCORE_PAIR_INPUT_H
#define RR_SCORE_PAIR_INPUT_H

#include <stddef.h>
#include <stdint.h>
#include "base/vec.h"
#include "tok/tokenizer.h"

/* Token budgets of one pair after FlagEmbedding's defaults are applied. */
typedef struct rr_pair_limits {
    size_t max_length;       /* whole pair, special tokens included */
    size_t query_max_length; /* query tokens before the pair is assembled */
} rr_pair_limits;

/* How many passage tokens fit beside a query of n_query tokens (after the query cut), or 0 when none do.
 * This is the window size used for MaxP chunking. */
size_t rr_pair_passage_room(const rr_tokenizer *tok, const rr_pair_limits *lim, size_t n_query);

/* Appends the model input of (query, passage) to ids/type_ids exactly as FlagEmbedding >= 1.3 builds it:
 * q = query[:query_max_length]; p = passage[:max_length];
 * prepare_for_model(q, p, truncation='only_second', max_length): when the pair is too long and the passage
 * has more tokens than must go, its tail is cut; otherwise (HF logs an error) nothing is cut. */
rerank_status rr_pair_build(const rr_tokenizer *tok, const rr_pair_limits *lim, const int32_t *query, size_t n_query,
                            const int32_t *passage, size_t n_passage, rr_i32vec *ids, rr_i32vec *type_ids);

#endif
