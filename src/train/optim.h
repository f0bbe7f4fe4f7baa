/* optim.h - the optimizer of the training loop over a flat parameter table (rr_train_param): AdamW with
 * decoupled weight decay (torch.optim.AdamW), global gradient-norm clipping (clip_grad_norm_) and the
 * linear warm-up/decay schedule of Hugging Face's get_linear_schedule_with_warmup. The moments live here,
 * owned by the loop, not by the model. */
#ifndef RR_TRAIN_OPTIM_H
#define RR_TRAIN_OPTIM_H

#include <stddef.h>

#include "train/train.h"

typedef struct rr_adamw {
    size_t n;      /* floats */
    float *m, *v;  /* first and second moments */
    long step;     /* updates taken */
} rr_adamw;

rerank_status rr_adamw_init(rr_adamw *s, size_t n_floats, rerank_error *err);
void rr_adamw_free(rr_adamw *s);

/* Checks the hyper-parameters: lr, eps, weight_decay >= 0, betas in [0, 1). */
rerank_status rr_adamw_check(const rr_train_adamw_opts *o, rerank_error *err);

/* The passes below run on pool (NULL = the caller only) in fixed chunks: results do not depend on the
 * thread count. */
typedef struct rr_pool rr_pool;

/* One AdamW update of w from g with moments m, v at update number `step` (1-based, for the bias
 * correction). Parameters with no_decay are not decayed unless o->decay_all. */
void rr_adamw_apply(rr_pool *pool, const rr_train_param *params, size_t n_params, float *w, const float *g, float *m,
                    float *v, long step, const rr_train_adamw_opts *o);

/* rr_adamw_apply with the state in s (s->step is incremented first). */
void rr_adamw_step(rr_pool *pool, rr_adamw *s, const rr_train_param *params, size_t n_params, float *w,
                   const float *g, const rr_train_adamw_opts *o);

/* Global L2 norm of g[0..n); with max_norm > 0 scales g by min(1, max_norm / (norm + 1e-6)). Returns the
 * norm before clipping. */
double rr_clip_grad_norm(rr_pool *pool, float *g, size_t n, double max_norm);

/* The learning rate of optimizer step `step` (0-based) of `total`, with `warmup` warm-up steps:
 * lr * step / warmup during warm-up, then lr * (total - step) / (total - warmup), never below 0. */
double rr_lr_at(double lr, long step, long warmup, long total);

/* Warm-up steps for a ratio: ceil(ratio * total), as the Trainer's get_warmup_steps. */
long rr_warmup_steps(double ratio, long total);

#endif
