/* kernels_bwd.h - backward (vector-Jacobian) kernels of the forward kernels in kernels.h, for training.
 * Conventions: gradient arguments start with `d`; every gradient output ACCUMULATES (+=) into its buffer
 * (the caller zeroes it first), so residual branches and shared weights need no extra adds. */
#ifndef RR_KERNELS_KERNELS_BWD_H
#define RR_KERNELS_KERNELS_BWD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels/kernels.h"

/* Backward of rr_matmul_fwd (y[n,out] = x[n,in]·W[out,in]^T + b):
 * dx[n,in] += dy·W, dw[out,in] += dy^T·x, db[out] += sum_rows dy. dx, dw, db may each be NULL. */
void rr_matmul_bwd(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w, int n, int in,
                   int out);

/* Backward of rr_layernorm_fwd on the forward input x (statistics recomputed as the forward does):
 * dx[n,dim] +=, dw[dim] +=, db[dim] +=. dx may not alias dy. dw, db may be NULL. */
void rr_layernorm_bwd(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w, int n,
                      int dim, float eps);

/* Backward of rr_gelu_fwd (erf GELU) on its input x: dx[i] += dy[i] * (Phi(x) + x * phi(x)). */
void rr_gelu_bwd(float *dx, const float *dy, const float *x, size_t n);

/* Backward of rr_tanh_fwd on its OUTPUT y = tanh(x): dx[i] += dy[i] * (1 - y[i]^2). */
void rr_tanh_bwd(float *dx, const float *dy, const float *y, size_t n);

/* Backward of rr_softmax_fwd per row on its OUTPUT y [n_rows, n]: dx += y * (dy - sum(dy * y)). */
void rr_softmax_bwd(float *dx, const float *dy, const float *y, int n_rows, int n);

/* Scratch floats rr_attention_bwd needs for a sequence of n_tokens tokens. */
size_t rr_attention_bwd_scratch(int n_tokens);
/* Backward of rr_attention_fwd for one sequence (same shape s; the attention probabilities are recomputed
 * from q and k): dq += dout-path, dk, dv +=. dq has row stride ld_q, dk and dv ld_kv, dout ld_out. */
void rr_attention_bwd(float *dq, float *dk, float *dv, const float *dout, const float *q, const float *k,
                      const float *v, float *scratch, const rr_attn_shape *s);

/* Backward of an embedding lookup y[i,:] = table[ids[i],:]: dtable[ids[i],:] += dy[i,:] for i < n. */
void rr_embedding_bwd(float *dtable, const float *dy, const int32_t *ids, int n, int dim);

/* ---- decoder LLM backward kernels (ref_decoder_bwd.c) ---- */

/* Backward of rr_rmsnorm_fwd on its input x (statistics recomputed as the forward does):
 * dx[n,dim] += , dw[dim] += dy * x * rstd (the gradient of w, which w_offset does not change; may be NULL).
 * dx may not alias dy or x. */
void rr_rmsnorm_bwd(float *dx, float *dw, const float *dy, const float *x, const float *w, float w_offset, int n,
                    int dim, float eps);

/* Backward of rr_rope_fwd, in place on dx [n_tokens, n_heads*head_dim] (row stride ld): the rotation is
 * orthogonal, so its gradient is the rotation by the opposite angle. */
void rr_rope_bwd(float *dx, const float *cos_t, const float *sin_t, int n_tokens, int n_heads, int head_dim, int ld);

/* Backward of rr_silu_fwd on its input x: dx[i] += dy[i] * s * (1 + x * (1 - s)), s = sigmoid(x). */
void rr_silu_bwd(float *dx, const float *dy, const float *x, size_t n);

/* Backward of rr_gelu_tanh_fwd on its input x. */
void rr_gelu_tanh_bwd(float *dx, const float *dy, const float *x, size_t n);

/* Backward of rr_scale_fwd (embedding and residual scalings): dx[i] += s * dy[i]. */
void rr_scale_bwd(float *dx, const float *dy, float s, size_t n);

/* ---- fast training paths (fast_bwd.c): the same math through rr_sgemm and row/column loops the compiler
 * vectorises, threaded over an rr_pool (NULL = the caller only). Results do not depend on the pool's size. */

/* rr_matmul_fwd, plus an optional residual: y[n,out] = x·W^T + b (+ res). b, res may be NULL; y may be res. */
void rr_dense_fwd(rr_pool *pool, float *y, const float *x, const float *w, const float *b, const float *res, int n,
                  int in, int out);
/* rr_matmul_bwd: dx += dy·W, dw += dy^T·x, db += column sums of dy (in double). dx, dw, db may be NULL. */
void rr_dense_bwd(rr_pool *pool, float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                  int n, int in, int out);

/* Scratch floats rr_layernorm_bwd_fast needs for rows of dim floats. */
size_t rr_layernorm_bwd_fast_scratch(int dim);
/* rr_layernorm_bwd, threaded over rows (dw, db summed in fixed blocks of rows, then in order). */
void rr_layernorm_bwd_fast(rr_pool *pool, float *scratch, float *dx, float *dw, float *db, const float *dy,
                           const float *x, const float *w, int n, int dim, float eps);

/* rr_gelu_bwd, threaded. */
void rr_gelu_bwd_fast(rr_pool *pool, float *dx, const float *dy, const float *x, size_t n);

/* Train-mode dropout, inverted: each element is kept with probability 1 - p and then scaled by 1 / (1 - p).
 * The mask is a pure function of a key and (token, element), a counter-based hash, so any thread, process
 * or re-computation draws the same one. Keys name one sequence at one dropout site: */
uint64_t rr_dropout_key(unsigned long long seed, unsigned site, size_t seq);
static inline uint64_t rr_dropout_mix(uint64_t z) { /* SplitMix64's finaliser */
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
/* Whether (token, element) is kept: a 24-bit uniform draw against p. */
static inline bool rr_dropout_keep(uint64_t key, uint32_t token, uint32_t element, float p) {
    uint64_t h = rr_dropout_mix(key ^ (((uint64_t)token << 32) | element));
    return (float)(h >> 40) >= p * 16777216.0f;
}
/* In place on one sequence's rows x[n_tokens, dim] (row stride ld): x *= keep / (1 - p). Dropout is linear,
 * so the same call with the same key is its backward. */
void rr_dropout_rows(float *x, int n_tokens, int dim, int ld, uint64_t key, float p);

/* Where one dropout draws its masks: sequence i of a call uses rr_dropout_key(seed, site, seq0 + i), so a
 * batch cut out of a larger one (seq0 = its first sequence there) draws that batch's masks. */
typedef struct rr_dropout_at {
    float p;
    unsigned long long seed;
    unsigned site;
    size_t seq0;
} rr_dropout_at;

/* Attention for training over a packed batch (sequence i is rows [offsets[i], offsets[i+1])), threaded over
 * (sequence, head), through rr_sgemm. Bidirectional only (s->causal must be false; s->n_tokens is ignored).
 * With drop (NULL or p == 0: none) the probabilities go through dropout: token = query, element = head *
 * n_tokens + key position. The backward recomputes the probabilities (and masks) rather than storing them. */
size_t rr_attention_train_scratch(int n_threads, int longest);
void rr_attention_train_fwd(rr_pool *pool, float *scratch, float *out, const float *q, const float *k,
                            const float *v, const size_t *offsets, size_t n_seqs, const rr_attn_shape *s,
                            const rr_dropout_at *drop);
/* dq, dk, dv += the gradients given dout. */
void rr_attention_train_bwd(rr_pool *pool, float *scratch, float *dq, float *dk, float *dv, const float *dout,
                            const float *q, const float *k, const float *v, const size_t *offsets, size_t n_seqs,
                            const rr_attn_shape *s, const rr_dropout_at *drop);

#endif
