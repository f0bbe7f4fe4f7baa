/* lora.h - private to src/train: LoRA adapters on Linear modules (PEFT semantics):
 * y = x W^T + b + (alpha / r) * dropout(x) A^T B^T with A [r,in] (kaiming-uniform, a = sqrt(5)) and
 * B [out,r] (zero), so a fresh adapter leaves the model unchanged. */
#ifndef RR_TRAIN_LORA_H
#define RR_TRAIN_LORA_H

#include <stdbool.h>
#include <stddef.h>

#include "kernels/kernels.h"
#include "rerank.h"

/* The projections of a decoder block LoRA may target, in PEFT's module names. */
enum { RR_LORA_Q, RR_LORA_K, RR_LORA_V, RR_LORA_O, RR_LORA_GATE, RR_LORA_UP, RR_LORA_DOWN, RR_LORA_N_MODULES };

extern const char *const rr_lora_module_names[RR_LORA_N_MODULES]; /* "q_proj", ... */
extern const char *const rr_lora_module_paths[RR_LORA_N_MODULES]; /* "self_attn.q_proj", ... */

/* Parses a comma-separated target list (spaces allowed, NULL/empty = all seven) into on[]. Unknown names
 * are RERANK_ERR_INVALID_ARGUMENT naming them and the supported ones. */
rerank_status rr_lora_parse_targets(const char *targets, bool on[RR_LORA_N_MODULES], rerank_error *err);

/* A [r,in] ~ U(-1/sqrt(in), 1/sqrt(in)) (torch's kaiming_uniform_(a=sqrt(5)) bound), a pure function of
 * (seed, stream). */
void rr_lora_init_a(float *a, int r, int in, unsigned long long seed, unsigned long long stream);

/* One adapted Linear in a pass: the frozen weight and the adapter's tensors (a/b NULL = not adapted). */
typedef struct rr_lora_linear {
    const float *w, *bias; /* W [out,in], b [out] or NULL (frozen) */
    const float *a, *b;    /* A [r,in], B [out,r], or NULL */
    float *da, *db;        /* gradients (accumulated) */
    int in, out, r;
    float scale;           /* alpha / r */
    float p;               /* dropout probability of the LoRA input (0 = none) */
    unsigned long long mask_seed; /* the dropout mask is a pure function of this and the element index */
} rr_lora_linear;

/* y[n,out] = x W^T + b + scale * dropout(x) A^T B^T; u [n,r] keeps dropout(x) A^T for the backward.
 * scratch: n * (in + r) floats (the dropped-out input, and in the backward d u). */
void rr_lora_fwd(rr_pool *pool, const rr_lora_linear *l, float *y, const float *x, float *u, float *scratch, int n);
/* dx[n,in] += dy W + the adapter's path (dx may be NULL); da += , db += . */
void rr_lora_bwd(rr_pool *pool, const rr_lora_linear *l, float *dx, const float *dy, const float *x, const float *u,
                 float *scratch, int n);

#endif
