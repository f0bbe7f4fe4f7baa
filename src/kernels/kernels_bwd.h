/* kernels_bwd.h - backward (vector-Jacobian) kernels of the forward kernels in kernels.h, for training.
 * Conventions: gradient arguments start with `d`; every gradient output ACCUMULATES (+=) into its buffer
 * (the caller zeroes it first), so residual branches and shared weights need no extra adds. */
#ifndef RR_KERNELS_KERNELS_BWD_H
#define RR_KERNELS_KERNELS_BWD_H

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

#endif
