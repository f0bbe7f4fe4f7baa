/* eval.h - ranking metrics of `rerank eval` (flagembedding-spec.md §4) for one query with binary relevance. */
#ifndef RR_TRAIN_EVAL_H
#define RR_TRAIN_EVAL_H

#include <stdbool.h>
#include <stddef.h>

typedef struct rr_rank_metrics {
    double mrr10;  /* 1 / rank of the first relevant passage within the top 10, else 0 */
    double ndcg10; /* DCG@10 / ideal DCG@10, gains 1 / log2(rank + 1) */
    double map;    /* average precision over all relevant passages (the whole list) */
} rr_rank_metrics;

/* Ranks n passages by score, highest first; equal scores put irrelevant passages first, so ties earn no
 * credit. With no relevant passage every metric is 0. */
void rr_rank_metrics_compute(const float *scores, const bool *relevant, size_t n, rr_rank_metrics *m);

#endif
