/* score.h - helpers shared by the scoring entry points (rerank_score, rerank_tokenize). */
#ifndef RR_SCORE_SCORE_H
#define RR_SCORE_SCORE_H

#include "score/internal.h"
#include "score/pair_input.h"

/* Resolves params against the model: max_length clamped to the model's max_tokens, query budget default
 * max_length*3/4. Rejects budgets too small to hold the special tokens. */
rerank_status rr_score_limits(const rerank_model *model, const rerank_score_params *params, rr_pair_limits *lim,
                              rerank_error *err);

#endif
