/* train_decoder.h - private to src/train: the LoRA trainer of the decoder LLM rerankers (Gemma, Qwen2/3,
 * Llama, layerwise MiniCPM). Frozen fp32 base weights (bound as the inference binds them), LoRA A/B on the
 * target projections and, for the layerwise model with train_heads, its per-layer heads as the trainable
 * table. train_decoder.c opens and describes it, train_decoder_pass.c runs forward/backward,
 * train_decoder_save.c writes the PEFT adapter and the merged model. */
#ifndef RR_TRAIN_TRAIN_DECODER_H
#define RR_TRAIN_TRAIN_DECODER_H

#include <stdint.h>

#include "arch/decoder.h"
#include "base/threadpool.h"
#include "io/weights.h"
#include "train/lora.h"
#include "train/trainer.h"

/* Frozen tensors of one block (fp32 views into rr_weights); NULL when the architecture has none. */
typedef struct rr_dt_layer {
    const float *ln1, *ln2, *q_norm, *k_norm;
    const float *w[RR_LORA_N_MODULES];    /* q, k, v, o, gate, up, down projection weights [out,in] */
    const float *bias[RR_LORA_N_MODULES]; /* q/k/v (Qwen2, attention_bias) and o (attention_bias) */
} rr_dt_layer;

typedef struct rr_dec_trainer {
    rr_trainer base; /* base.impl points back here */
    char dir[4096];
    char arch[128];
    const rr_decoder_spec *spec; /* the architecture's spec, as scoring reads it (c.row->spec) */
    rr_model_config c;           /* config.json, parsed as scoring parses it (arch/config.h) */
    rr_weights *weights;
    rr_dec_outer o;                            /* embeddings, final norm, output head: bound as scoring binds them */
    rr_dt_layer *layers;
    int yes_id; /* tokenizer('Yes', add_special_tokens=False)['input_ids'][-1] (not layerwise) */
    /* LoRA */
    bool target[RR_LORA_N_MODULES];
    int rank;
    double alpha, dropout;
    bool train_heads;
    char targets_text[512]; /* the targets as given, for messages */
    size_t *lora_param;   /* [n_layers * RR_LORA_N_MODULES]: table index of lora_A (lora_B follows), or SIZE_MAX */
    size_t head_param;    /* table index of the first trained head (train_heads) */
    unsigned long long seed;
    rr_pool *pool;
    double recompute_bytes; /* activations above this are recomputed layer by layer in the backward */
} rr_dec_trainer;

/* (out, in) of projection m (RR_LORA_Q ... RR_LORA_DOWN). */
void rr_dt_module_dims(const rr_dec_trainer *d, int m, int *out, int *in);

/* Heads the layerwise model reads (layers start_layer..n_layers), 1 for the others. */
int rr_dt_n_outputs(const rr_dec_trainer *d);

/* One pass over a packed batch. scores (may be NULL) gets rr_dt_n_outputs() logits per sequence, [seq][layer].
 * With group_size > 0 the loss is computed (*loss) and, when backward, scale * d loss / d w is ADDED to
 * d->base.grad. train turns on LoRA dropout with masks from sample_seed. (train_decoder_pass.c) */
rerank_status rr_dt_pass(rr_dec_trainer *d, const rr_batch *b, size_t group_size, const float *teacher, bool backward,
                         bool train, unsigned long long sample_seed, float scale, float *scores, rr_train_loss *loss,
                         rerank_error *err);

/* The save op (train_decoder_save.c). */
rerank_status rr_dt_save(const rr_trainer *t, const char *src_dir, const char *out_dir, bool merge, rerank_error *err);

/* Loads a PEFT adapter directory's adapter_model.safetensors into t's table (same names and shapes: the same
 * targets, rank and heads; F32, BF16 or F16). (train_decoder_adapter.c) */
rerank_status rr_decoder_trainer_load_adapter(rr_trainer *t, const char *adapter_dir, rerank_error *err);
/* --lora-init: `in` resolved against adapter_config.json of in->init for a base of `architecture` (rank 0,
 * alpha 0, targets NULL = the adapter's; another value is an error naming both; heads trained when it saved
 * them); out->targets points into targets[size]. (train_decoder_adapter.c) */
rerank_status rr_decoder_lora_init_opts(const char *architecture, const rr_lora_opts *in, rr_lora_opts *out,
                                        char *targets, size_t size, rerank_error *err);
/* The adapter's lora_A/B (and saved heads, else the base's) as t's initial values. */
rerank_status rr_decoder_trainer_init_from(rr_trainer *t, const char *adapter_dir, rerank_error *err);
/* Merges a PEFT LoRA adapter directory into its base model (base_dir, or adapter_config.json's
 * base_model_name_or_path when NULL): out_dir then holds the adapter and out_dir/merged_model, as the save op
 * with merge writes them. */
rerank_status rr_decoder_merge_adapter(const char *adapter_dir, const char *base_dir, const char *out_dir,
                                       rerank_error *err);

/* fp32 to bfloat16 / IEEE half, round to nearest even (NaN stays NaN): the merged checkpoint's dtypes. */
uint16_t rr_dt_to_bf16(float f);
uint16_t rr_dt_to_f16(float f);

/* For tests: the scores of batch b in eval mode (no dropout), rr_dt_n_outputs() per sequence, and the id
 * the non-layerwise models score. */
rerank_status rr_decoder_trainer_scores(rr_trainer *t, const rr_batch *b, float *scores, rerank_error *err);
int rr_decoder_trainer_yes_id(const rr_trainer *t);
/* Gradient checkpointing above `bytes` of activations (default 2 GiB; 0 = always, INFINITY = never). */
void rr_decoder_trainer_set_recompute(rr_trainer *t, double bytes);

#endif
