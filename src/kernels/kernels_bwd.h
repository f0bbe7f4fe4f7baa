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

#endif
