/* inputs.h - turning text pairs into model input sequences, per reranker recipe:
 *   cross-encoder  FlagReranker: <s> q </s></s> p </s> (pair_input.h)
 *   flag-llm       FlagLLMReranker / LayerWiseFlagLLMReranker: <bos>A: q\nB: p\n{prompt}, "Yes" logit
 *   qwen3          Qwen3-Reranker: chat frame around <Instruct>/<Query>/<Document>, P(yes) over {yes, no}
 * Model-level constants (prompt ids, yes/no ids) are tokenized once at load; per-call ones (a user prompt,
 * cutoff layers) once per call. */
#ifndef RR_SCORE_INPUTS_H
#define RR_SCORE_INPUTS_H

#include "base/vec.h"
#include "score/llm_input.h"
#include "score/pair_input.h"

struct rerank_model;
struct rerank_score_params;

typedef enum rr_recipe {
    RR_RECIPE_CROSS_ENCODER = 0,
    RR_RECIPE_FLAG_LLM,
    RR_RECIPE_QWEN3,
} rr_recipe;

enum { RR_MAX_CUTOFF_LAYERS = 256 };

/* Constants of a loaded model's recipe. */
typedef struct rr_recipe_consts {
    rr_recipe recipe;
    bool add_bos; /* flag-llm: prepend bos (bos != pad, or always for the layerwise model) */
    int32_t bos;
    int32_t score_tokens[2]; /* flag-llm: {"Yes"}; qwen3: {"no", "yes"} */
    size_t n_score_tokens;
    rr_i32vec sep, default_prompt, prefix, suffix; /* flag-llm: "\n", the prompt; qwen3: chat frame */
} rr_recipe_consts;

/* Per-call state: resolved limits, the prompt in force, the cutoff layers. */
typedef struct rr_call {
    rr_pair_limits lim;
    const int32_t *prompt; /* flag-llm: default_prompt or prompt_buf */
    size_t n_prompt;
    int layers[RR_MAX_CUTOFF_LAYERS]; /* layerwise: ascending */
    size_t n_layers;                  /* 0 = the model's default (last layer) */
    size_t n_out;                     /* scores per pair */
} rr_call;

/* Reusable buffers for building inputs. */
typedef struct rr_input_scratch {
    rr_i32vec q, p, prompt_buf;
    rr_bytes text;
} rr_input_scratch;

void rr_input_scratch_free(rr_input_scratch *sc);

/* Fills model->recipe from the architecture (or params->recipe) and tokenizes the constants. */
rerank_status rr_recipe_prepare(struct rerank_model *model, const char *recipe_name, rerank_error *err);
void rr_recipe_free(rr_recipe_consts *c);

/* Resolves the params of one call against the model. */
rerank_status rr_call_begin(const struct rerank_model *model, const struct rerank_score_params *params,
                            rr_input_scratch *sc, rr_call *call, rerank_error *err);

/* Appends the input sequence(s) of pair `index` to tokens/types and the end offset of each to `ends` (one
 * sequence, or several MaxP windows for a chunked cross-encoder pair). Errors name the pair and field. */
rerank_status rr_inputs_add_pair(const struct rerank_model *model, const struct rerank_score_params *params,
                                 const rr_call *call, const rerank_pair *pair, size_t index, rr_input_scratch *sc,
                                 rr_i32vec *tokens, rr_i32vec *types, rr_i32vec *ends, rerank_error *err);

#endif
