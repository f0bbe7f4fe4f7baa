/* model.h - the network behind a reranker: hyper-parameters from config.json, weights from safetensors,
 * and a forward pass from token ids to one score per sequence. Knows nothing about text.
 *
 * Inputs are packed without padding: the tokens of all sequences of a batch are concatenated and
 * `offsets` marks where each sequence starts, so matrix products run over real tokens only and attention
 * runs per sequence. */
#ifndef RR_ARCH_MODEL_H
#define RR_ARCH_MODEL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "rerank.h"

typedef struct rr_model rr_model;
typedef struct rr_workspace rr_workspace;
typedef struct rr_prefix rr_prefix; /* keys/values of a shared prompt prefix (see rr_model_prefix_forward) */

typedef struct rr_batch {
    const int32_t *ids;      /* offsets[n_seqs] token ids of all sequences, concatenated */
    const int32_t *type_ids; /* token type ids, same length; NULL means all 0 */
    const size_t *offsets;   /* n_seqs + 1 entries: sequence i is tokens [offsets[i], offsets[i+1]) */
    size_t n_seqs;
    /* Decoder LLMs only (encoders ignore the fields below; zero-initialise them). A decoder scores each
     * sequence at its last token: the final hidden state there (after the final norm) is dotted with
     * chosen rows of the output embedding, never the full vocabulary unless all_vocab is set. */
    const int32_t *score_tokens; /* RERANK_KIND_LLM / _QWEN3: vocabulary ids to read, e.g. {"Yes"} or {"no","yes"} */
    size_t n_score_tokens;
    bool all_vocab;              /* instead of score_tokens, all vocab_size logits (tests, greedy decoding) */
    const int *layers;           /* RERANK_KIND_LAYERWISE: cutoff layers, strictly ascending, each in
                                  * [start_layer, n_layers]; NULL = the last layer. Layers above the
                                  * highest cutoff are not run. */
    size_t n_layers;
    /* Decoder LLMs: when set, every sequence continues this prefix (from rr_model_prefix_forward on the same
     * model): its tokens take positions prefix_len, prefix_len+1, ..., attend to all prefix tokens and
     * causally to their own, and score as if the prefix tokens were prepended to each. NULL = none.
     * Encoders reject a prefix (RERANK_ERR_INVALID_ARGUMENT). */
    const rr_prefix *prefix;
} rr_batch;

/* Static facts about a loaded model. */
typedef struct rr_model_desc {
    rerank_model_kind kind;
    const char *architecture; /* config.json architectures[0] */
    int n_layers, hidden_size, vocab_size, type_vocab_size;
    int max_tokens; /* longest sequence the position table allows (XLM-R: max_position_embeddings - pad - 1) */
    int pad_token_id;
    /* Decoder LLMs (-1 when config.json has no such id; 0 for encoders): */
    int bos_token_id, eos_token_id;
    int start_layer; /* RERANK_KIND_LAYERWISE: lowest cutoff layer with a head; 0 for other kinds */
    bool converted;  /* config.json has "rerank_packed": dense weights stored bf16/int8-packed (rerank convert) */
} rr_model_desc;

/* Builds the model from a parsed config.json (`config`, borrowed) and the safetensors weights of `dir`.
 * Every tensor the architecture needs is checked for presence, dtype and shape; errors name the file,
 * tensor and both shapes. */
rerank_status rr_model_load(const char *dir, const json_t *config, rerank_dtype dtype, rr_model **out,
                            rerank_error *err);
/* rr_model_load with the PEFT LoRA adapter directory `adapter` (NULL = none) applied before the weights are
 * bound and converted to dtype (arch/adapter.h); a converted model takes none (RERANK_ERR_UNSUPPORTED). */
rerank_status rr_model_load_adapted(const char *dir, const json_t *config, rerank_dtype dtype, const char *adapter,
                                    rr_model **out, rerank_error *err);
void rr_model_free(rr_model *model);

/* Writes `model`, loaded from src_dir (config: its parsed config.json) with dtype bf16 or int8, as a converted
 * model directory out_dir (created; must be absent or empty) whose dense weights load without conversion
 * (arch/packed.h has the format). */
rerank_status rr_model_save_converted(rr_model *model, const json_t *config, const char *src_dir, const char *out_dir,
                                      rerank_error *err);

/* Checks config.json alone (architecture and hyper-parameters, no weights) and fills *desc (may be NULL);
 * desc->architecture then points to static storage. The same checks rr_model_load makes first. */
rerank_status rr_model_check_config(const json_t *config, rr_model_desc *desc, rerank_error *err);
const rr_model_desc *rr_model_describe(const rr_model *model);

/* Scratch memory for forward passes; grows to the largest batch seen and is reused. One per thread. */
rr_workspace *rr_workspace_new(void);
void rr_workspace_free(rr_workspace *ws);
/* Threads of the forward passes run with ws: n_threads <= 0 means one per core. The workers are created here
 * (once, and again only when the count changes) and live until rr_workspace_free. If threads cannot be
 * created the passes run in the caller alone. */
void rr_workspace_set_threads(rr_workspace *ws, int n_threads);

/* Runs the batch and writes rr_model_n_outputs() raw scores (logits) per sequence to out, [seq][output]
 * order. Token ids and type ids are range-checked; a sequence longer than max_tokens is RERANK_ERR_INPUT. */
rerank_status rr_model_forward(const rr_model *model, const rr_batch *batch, rr_workspace *ws, float *out,
                               rerank_error *err);

/* ---- shared prompt prefixes (decoder LLMs) ----
 * The tokens before the passage are the same for every passage of a query. rr_model_prefix_forward runs
 * them once and keeps, per layer, their keys and values after RoPE (2 * n_layers * n * n_kv_heads *
 * head_dim floats, at most RR_PREFIX_MAX_BYTES); batches then pass only each passage's own tokens with
 * rr_batch.prefix set. Scores equal those of the full sequences up to float rounding. */
#define RR_PREFIX_MAX_BYTES ((size_t)1 << 30)

/* The longest prefix the memory bound allows (also at most max_tokens - 1); 0 for encoders. */
size_t rr_model_prefix_max_tokens(const rr_model *model);

/* Runs the n tokens `ids` (n >= 1) as the start of a sequence through layers 1..n_layers (0 = all; the
 * layerwise model needs up to the highest cutoff layer a batch will request) and stores their keys and
 * values in *prefix, allocating it when *prefix is NULL and reusing its memory otherwise. On failure
 * *prefix stays allocated but holds no prefix (a batch using it is rejected). Encoders:
 * RERANK_ERR_INVALID_ARGUMENT (bidirectional attention has no reusable prefix). */
rerank_status rr_model_prefix_forward(const rr_model *model, const int32_t *ids, size_t n, int n_layers,
                                      rr_workspace *ws, rr_prefix **prefix, rerank_error *err);

/* Tokens held by a prefix (0 when it holds none). */
size_t rr_prefix_len(const rr_prefix *prefix);
void rr_prefix_free(rr_prefix *prefix);

/* Floats rr_model_forward writes per sequence: 1 for cross-encoders; for RERANK_KIND_LAYERWISE one per
 * cutoff layer (1 when batch->layers is NULL); for other decoders vocab_size with all_vocab, else
 * n_score_tokens. */
size_t rr_model_n_outputs(const rr_model *model, const rr_batch *batch);

#endif
