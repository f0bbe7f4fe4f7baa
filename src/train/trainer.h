/* trainer.h - one interface for every trainable reranker, so the training loop (data, schedule, gradient
 * accumulation, clipping, AdamW, checkpoints, data parallelism) is written once: full fine-tuning of the
 * encoders (train_encoder.c) and LoRA on the decoder LLM rerankers (train_decoder.c) sit behind it.
 *
 * The loop sees only a flat table of trainable parameters (rr_train_param, train.h) with fp32 weights `w`
 * and gradients `grad` in one layout; it never knows which architecture it drives. */
#ifndef RR_TRAIN_TRAINER_H
#define RR_TRAIN_TRAINER_H

#include <stdbool.h>
#include <stddef.h>

#include "arch/model.h"
#include "rerank.h"
#include "train/train.h"

typedef struct rr_trainer rr_trainer;

/* LoRA settings (decoder rerankers; ignored by encoders, which are fully fine-tuned). */
typedef struct rr_lora_opts {
    int rank;            /* r; default 64 (FlagEmbedding) */
    double alpha;        /* scaling = alpha / rank; default 16 */
    double dropout;      /* on the LoRA input, training only; default 0.1 */
    const char *targets; /* comma-separated module names, default "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj" */
    bool train_heads;    /* layerwise: train the per-layer heads too (FlagEmbedding's lora_extra_parameters) */
    const char *init;    /* a PEFT adapter directory to start from (--lora-init), or NULL. Then rank 0, alpha 0 and
                          * targets NULL take adapter_config.json's r, lora_alpha and target_modules, other values
                          * must equal them; its lora_A/B and saved heads are the initial values, and heads are
                          * trained when it has them */
} rr_lora_opts;

typedef struct rr_trainer_opts {
    rr_lora_opts lora;
    unsigned long long seed; /* LoRA init and dropout masks */
    bool dropout;            /* train-mode dropout from config.json (hidden/attention probs); off = exact steps */
    int threads;             /* threads of the training step; <= 0 = one per core (LoRA trainer) */
} rr_trainer_opts;

/* One micro-batch: n_groups * group_size sequences, group-major, the positive at index 0 of each group. */
typedef struct rr_train_micro {
    rr_batch batch;          /* packed token ids (+ type ids for encoders); decoders score at the last token */
    size_t group_size;
    const float *teacher;    /* [batch.n_seqs] teacher scores, or NULL (no distillation) */
    unsigned long long sample_seed; /* dropout stream of the optimizer step (the same on every rank) */
    size_t seq0;             /* the micro-batch's first sequence within the step's global batch: encoder dropout
                              * masks are keyed by (sample_seed, seq0 + i), so any split of a global batch over
                              * processes and micro-batches draws the same masks */
} rr_train_micro;

typedef struct rr_trainer_ops {
    /* Forward and backward of one micro-batch: ADDS scale * d loss / d w to t->grad (the loop zeroes grad
     * before the first micro-batch of an optimizer step), fills *loss (unscaled) and, when logits is not
     * NULL, the batch.n_seqs scores. */
    rerank_status (*accumulate)(rr_trainer *t, const rr_train_micro *mb, float scale, rr_train_loss *loss,
                                float *logits, rerank_error *err);
    /* Writes a model directory that `rerank score` and transformers' from_pretrained load: config.json,
     * model.safetensors (or, for LoRA, adapter_model.safetensors + adapter_config.json, plus a merged full
     * model under out_dir/merged_model when merge is set) and the tokenizer files copied from src_dir. */
    rerank_status (*save)(const rr_trainer *t, const char *src_dir, const char *out_dir, bool merge,
                          rerank_error *err);
    void (*free)(rr_trainer *t);
} rr_trainer_ops;

struct rr_trainer {
    const rr_trainer_ops *ops;
    rerank_model_kind kind;  /* which tokenization recipe the data needs (encoder pair / LLM prompt layout) */
    rr_train_param *params;  /* the trainable parameters only */
    size_t n_params, n_floats;
    float *w;                /* [n_floats] fp32 master weights of the trainable parameters */
    float *grad;             /* [n_floats] */
    void *impl;
};

/* Opens the model directory `dir` for training: encoders (XLM-R, BERT sequence classification) fully, the
 * decoder rerankers (Gemma / Qwen / layerwise MiniCPM) with LoRA adapters. */
rerank_status rr_trainer_open(const char *dir, const rr_trainer_opts *opts, rr_trainer **out, rerank_error *err);
void rr_trainer_free(rr_trainer *t);

/* The checks every trainer makes of a packed batch: ids and offsets; groups of group_size (>= 2) when grouped or
 * group_size is set (0 without grouped: a scoring pass); sequences of 1..max_len tokens; ids in [0, c->vocab) and
 * type ids, when given, in [0, c->type_vocab) (decoders: 0 only). *n_tokens = all tokens (at most INT32_MAX),
 * *longest = the longest sequence. */
rerank_status rr_train_check_batch(const rr_batch *b, size_t group_size, bool grouped, const rr_model_config *c,
                                   int max_len, size_t *n_tokens, size_t *longest, rerank_error *err);

/* The two implementations rr_trainer_open picks between by config.json's architecture. */
rerank_status rr_encoder_trainer_open(const char *dir, const rr_trainer_opts *opts, rr_trainer **out,
                                      rerank_error *err); /* train_encoder_trainer.c */
rerank_status rr_decoder_trainer_open(const char *dir, const rr_trainer_opts *opts, rr_trainer **out,
                                      rerank_error *err); /* train_decoder.c */

#endif
