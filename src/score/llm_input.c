/* llm_input.c - FlagLLMReranker / LayerWiseFlagLLMReranker and Qwen3-Reranker input layouts. */
#include "score/llm_input.h"

rerank_status rr_llm_build(const rr_llm_frame *f, const rr_pair_limits *lim, const int32_t *q, size_t n_q,
                           const int32_t *p, size_t n_p, rr_i32vec *ids) {
    if (n_q > lim->query_max_length) n_q = lim->query_max_length;
    if (n_p > lim->max_length) n_p = lim->max_length;
    size_t n_first = (f->add_bos ? 1 : 0) + n_q;
    size_t n_second = f->n_sep + n_p;
    size_t budget = lim->max_length + f->n_sep + f->n_prompt;
    if (n_first + n_second > budget) {
        size_t remove = n_first + n_second - budget;
        if (n_second > remove) n_second -= remove; /* else transformers logs an error and cuts nothing */
    }
    /* second = (sep + p)[:n_second] */
    size_t sep_kept = n_second < f->n_sep ? n_second : f->n_sep;
    if ((f->add_bos && rr_i32vec_push(ids, f->bos)) || rr_i32vec_append(ids, q, n_q) ||
        rr_i32vec_append(ids, f->sep, sep_kept) || rr_i32vec_append(ids, p, n_second - sep_kept) ||
        rr_i32vec_append(ids, f->sep, f->n_sep) || rr_i32vec_append(ids, f->prompt, f->n_prompt))
        return RERANK_ERR_NOMEM;
    return RERANK_OK;
}

rerank_status rr_qwen3_build(const int32_t *prefix, size_t n_prefix, const int32_t *body, size_t n_body,
                             const int32_t *suffix, size_t n_suffix, size_t max_length, rr_i32vec *ids) {
    size_t room = max_length > n_prefix + n_suffix ? max_length - n_prefix - n_suffix : 0;
    if (n_body > room) n_body = room;
    if (rr_i32vec_append(ids, prefix, n_prefix) || rr_i32vec_append(ids, body, n_body) ||
        rr_i32vec_append(ids, suffix, n_suffix))
        return RERANK_ERR_NOMEM;
    return RERANK_OK;
}
