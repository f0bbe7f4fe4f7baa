/* train.h - fine-tuning of encoder cross-encoders (XLM-R / BERT sequence classification), FlagEmbedding
 * style: an exact training step (forward keeping activations, group-wise CE [+ KD] loss, backward to every
 * parameter) and AdamW on fp32 master weights. One table (rr_train_param) lays out weights and gradients. */
#ifndef RR_TRAIN_TRAIN_H
#define RR_TRAIN_TRAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arch/arch.h"
#include "arch/model.h"
#include "rerank.h"

/* One parameter tensor: its safetensors name and shape, and where it lives in every per-parameter buffer
 * (weights, gradients, AdamW moments all share this layout). */
typedef struct rr_train_param {
    char name[128];
    int n_dims;       /* 1 or 2 */
    int64_t shape[2];
    size_t offset;    /* floats from the start of a buffer */
    size_t size;      /* floats */
    bool no_decay;    /* a bias or LayerNorm parameter (FlagEmbedding's trainer does not decay these) */
} rr_train_param;

typedef struct rr_train_model {
    const rr_encoder_spec *spec; /* the architecture's spec, as scoring reads it (d.row->spec) */
    rr_model_config d;           /* config.json, parsed as scoring parses it (arch/config.h) */
    rr_train_param *params; /* n_params entries in a fixed order (see train_model.c) */
    size_t n_params, n_floats;
    float *w;        /* [n_floats] fp32 master weights */
    float *grad;     /* [n_floats] gradients of the last rr_train_step */
    float *m, *v;    /* [n_floats] AdamW moments (allocated at the first rr_train_adamw) */
    long step;       /* AdamW steps taken */
    /* Train-mode dropout with probabilities d.p_hidden / d.p_attn, as transformers' train(): off by default
     * so rr_train_step is the exact (eval-mode) step the goldens check. The masks are a pure function of
     * dropout_seed and (sequence, token, element), so a micro-batch gives the same masks on any rank. */
    bool dropout;
    unsigned long long dropout_seed;
    /* Index of the batch's first sequence in a larger batch it was cut from (0 if none): sequence s draws the
     * masks of sequence dropout_seq0 + s, so shards of a global batch (processes, micro-batches) given the
     * same seed and their offsets draw exactly the global batch's masks. */
    size_t dropout_seq0;
    /* Threads of the pass (set before the first step): 0 = one per online core, divided among the processes
     * of an mpirun job on this machine. The pool is created at the first rr_train_step. Results do not depend
     * on the thread count. */
    int n_threads;
    struct rr_pool *pool;
    /* Run the scalar reference kernels instead of the fast ones (tests, the benchmark's baseline). */
    bool reference;
    float *work;      /* the pass's activations, kept between steps (fresh pages each step cost page faults) */
    size_t work_cap;  /* floats */
} rr_train_model;

/* Loads config.json and the weights of `dir` (an architecture whose table row trains RR_TRAIN_FULL: the encoder
 * cross-encoders, one label) into fp32 master weights. */
rerank_status rr_train_model_load(const char *dir, rr_train_model **out, rerank_error *err);
void rr_train_model_free(rr_train_model *m);

/* The parameter called `name`, or NULL. */
const rr_train_param *rr_train_find(const rr_train_model *m, const char *name);

/* The loss of one step. */
typedef struct rr_train_loss {
    double loss;    /* ce + kd */
    double ce;      /* mean over groups of cross-entropy with target 0 (the positive comes first) */
    double kd;      /* -mean_g sum_i log_softmax(student)[g,i] * softmax(teacher)[g,i]; 0 without teacher */
} rr_train_loss;

/* Group-wise loss on logits [n_groups * group_size] (group-major, positive at index 0 of each group), with
 * optional teacher scores of the same layout (NULL = CE only). dlogits (may be NULL) receives d loss /
 * d logits (overwritten). */
rerank_status rr_train_group_loss(const float *logits, const float *teacher, size_t n_groups, size_t group_size,
                                  float *dlogits, rr_train_loss *loss, rerank_error *err);

/* One training step without the update: forward over the packed batch (train mode; dropout as m->dropout), the loss
 * of rr_train_group_loss (batch->n_seqs = n_groups * group_size), and m->grad = d loss / d parameters
 * (overwritten). logits (may be NULL) receives the n_seqs logits. */
rerank_status rr_train_step(rr_train_model *m, const rr_batch *batch, size_t group_size, const float *teacher,
                            float *logits, rr_train_loss *loss, rerank_error *err);

/* Global L2 norm of m->grad; with max_norm > 0, scales the gradients by min(1, max_norm / (norm + 1e-6))
 * (torch.nn.utils.clip_grad_norm_). Returns the norm before clipping. */
double rr_train_clip_grad_norm(rr_train_model *m, double max_norm);

typedef struct rr_train_adamw_opts {
    double lr, beta1, beta2, eps, weight_decay;
    bool decay_all; /* true: decay every parameter (torch.optim.AdamW on one group); false: not the
                     * no_decay ones (FlagEmbedding / HF Trainer) */
} rr_train_adamw_opts;

/* One AdamW step (decoupled weight decay, bias-corrected moments, as torch.optim.AdamW) on m->w from
 * m->grad. */
rerank_status rr_train_adamw(rr_train_model *m, const rr_train_adamw_opts *o, rerank_error *err);

#endif
