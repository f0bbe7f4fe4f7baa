/* kernels.h - the math of the models as pure functions on float arrays plus shapes. No model knowledge:
 * callers pass pointers, sizes and strides. Matrices are row-major; weights use PyTorch Linear layout
 * W[out,in]. Outputs may not alias inputs unless a function says so. */
#ifndef RR_KERNELS_KERNELS_H
#define RR_KERNELS_KERNELS_H

#include <stdbool.h>
#include <stddef.h>

/* y[n,out] = x[n,in] · W[out,in]^T + b[out]   (b may be NULL) */
void rr_matmul_fwd(float *y, const float *x, const float *w, const float *b, int n, int in, int out);

/* y[n,dim] = (x - mean) / sqrt(var + eps) * w + b, statistics per row (biased variance). y may be x. */
void rr_layernorm_fwd(float *y, const float *x, const float *w, const float *b, int n, int dim, float eps);

/* y[i] = a[i] + b[i], i < n. y may be a or b. */
void rr_add_fwd(float *y, const float *a, const float *b, size_t n);

/* y[i] = x[i] * 0.5 * (1 + erf(x[i] / sqrt(2)))   (exact GELU, PyTorch's default). y may be x. */
void rr_gelu_fwd(float *y, const float *x, size_t n);

/* y[i] = tanh(x[i]). y may be x. */
void rr_tanh_fwd(float *y, const float *x, size_t n);

/* In place, per row: x[r,:] = exp(x[r,:] - max) / sum. x is [n_rows, n]. */
void rr_softmax_fwd(float *x, int n_rows, int n);

/* Shapes of one sequence's attention. Heads are consecutive head_dim slices of a row; with
 * n_kv_heads < n_heads, query head h reads key/value head h / (n_heads / n_kv_heads). */
typedef struct rr_attn_shape {
    int n_tokens, n_heads, n_kv_heads, head_dim;
    int ld_q, ld_kv, ld_out; /* row strides (floats) of q, of k and v, of out */
    bool causal;             /* token i sees tokens 0..i only */
} rr_attn_shape;

/* out[t, h*hd:(h+1)*hd] = softmax_j(q[t,h]·k[j,kvh] / sqrt(hd)) · v[j,kvh] for one sequence.
 * scores is scratch of n_tokens floats. */
void rr_attention_fwd(float *out, const float *q, const float *k, const float *v, float *scores,
                      const rr_attn_shape *s);

#endif
