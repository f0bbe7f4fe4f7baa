/* llm_input.h - input assembly of the decoder rerankers (flagembedding-spec.md §1.3-1.4, Qwen3-Reranker
 * model card): pure functions on token ids. */
#ifndef RR_SCORE_LLM_INPUT_H
#define RR_SCORE_LLM_INPUT_H

#include <stdbool.h>
#include "score/pair_input.h"

/* FlagLLMReranker's default prompt (also used in training). */
#define RR_LLM_DEFAULT_PROMPT                                                                              \
    "Given a query A and a passage B, determine whether the passage contains an answer to the query by "   \
    "providing a prediction of either 'Yes' or 'No'."
#define RR_LLM_QUERY_INSTRUCTION "A: "
#define RR_LLM_PASSAGE_INSTRUCTION "B: "
#define RR_LLM_SEP "\n"

/* Qwen3-Reranker (model card): the chat frame around "<Instruct>: ...\n<Query>: ...\n<Document>: ...". */
#define RR_QWEN3_DEFAULT_INSTRUCTION "Given a web search query, retrieve relevant passages that answer the query"
#define RR_QWEN3_PREFIX                                                                                    \
    "<|im_start|>system\nJudge whether the Document meets the requirements based on the Query and the "     \
    "Instruct provided. Note that the answer can only be \"yes\" or \"no\".<|im_end|>\n<|im_start|>user\n"
#define RR_QWEN3_SUFFIX "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"

/* The per-call constant token runs of FlagLLMReranker's layout <bos>A: q\nB: p\n{prompt}. */
typedef struct rr_llm_frame {
    bool add_bos; /* Gemma: bos != pad; layerwise: always */
    int32_t bos;
    const int32_t *sep;
    size_t n_sep;
    const int32_t *prompt;
    size_t n_prompt;
} rr_llm_frame;

/* Appends FlagLLMReranker's input for q = ids("A: "+query)[:query_max_length] and
 * p = ids("B: "+passage)[:max_length]: first = [bos]+q, second = sep+p cut by prepare_for_model(only_second)
 * to max_length + len(sep) + len(prompt) (the spec's double-counted budget), then sep and prompt. */
rerank_status rr_llm_build(const rr_llm_frame *f, const rr_pair_limits *lim, const int32_t *q, size_t n_q,
                           const int32_t *p, size_t n_p, rr_i32vec *ids);

/* Appends the Qwen3-Reranker input: prefix + body[:max_length - len(prefix) - len(suffix)] + suffix. */
rerank_status rr_qwen3_build(const int32_t *prefix, size_t n_prefix, const int32_t *body, size_t n_body,
                             const int32_t *suffix, size_t n_suffix, size_t max_length, rr_i32vec *ids);

#endif
