/* eval.h - ranking metrics of `rerank eval --model --data` and of `rerank train --eval-data`
 * (flagembedding-spec.md §4): each training-format row's pos + neg passages ranked by a model, with binary
 * relevance; and the check that a fine-tuned model has not collapsed to one score. */
#ifndef RR_TRAIN_EVAL_H
#define RR_TRAIN_EVAL_H

#include <stdbool.h>
#include <stddef.h>

#include "rerank.h"
#include "train/data.h"

typedef struct rr_rank_metrics {
    double mrr10;  /* 1 / rank of the first relevant passage within the top 10, else 0 */
    double ndcg10; /* DCG@10 / ideal DCG@10, gains 1 / log2(rank + 1) */
    double map;    /* average precision over all relevant passages (the whole list) */
} rr_rank_metrics;

/* Ranks n passages by score, highest first; equal scores put irrelevant passages first, so ties earn no
 * credit. With no relevant passage every metric is 0. */
void rr_rank_metrics_compute(const float *scores, const bool *relevant, size_t n, rr_rank_metrics *m);

/* The averages over a set of rows, and how many rows scored every passage the same. */
typedef struct rr_rows_metrics {
    rr_rank_metrics mean;
    size_t n_rows;
    size_t n_collapsed;      /* rows whose scores are all equal (within 1e-6 relative): a collapsed model */
    double collapsed_value;  /* the score of the first such row */
} rr_rows_metrics;

/* Scores each row's pos + neg passages with the session (params as given, n_out scores a pair as
 * rerank_score_n_outputs says, the last one ranks; the row's "prompt" replaces params->prompt for LLM
 * rerankers) and averages the metrics. Errors name the row's file and line. */
rerank_status rr_eval_rows(rerank_session *session, const rerank_score_params *params, size_t n_out,
                           const rr_train_data *data, rr_rows_metrics *out, rerank_error *err);

#endif
