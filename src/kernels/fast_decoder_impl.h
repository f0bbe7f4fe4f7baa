/* fast_decoder_impl.h - private to src/kernels: the per-instruction-set row operations behind the decoder
 * fast paths (fast_decoder.c drives them over a pool; an instruction set provides SIMD ones through rr_isa_ops.dec). */
#ifndef RR_KERNELS_FAST_DECODER_IMPL_H
#define RR_KERNELS_FAST_DECODER_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include "kernels/kernels.h"

/* Keys per packed K^T panel: panel p holds keys [16p, 16p+16) as kt[p*hd*16 + e*16 + j] (zeros past the last). */
enum { RR_KT_NR = 16 };

struct rr_dec_ops {
    /* one row: y = x * rsqrt(mean(x^2) + eps) * (w + off); y may be x */
    void (*rmsnorm)(float *y, const float *x, const float *w, float off, int dim, float eps);
    /* one token's n_heads heads of head_dim (consecutive), rotate-half with cos/sin c, s [head_dim/2] */
    void (*rope)(float *x, const float *c, const float *s, int n_heads, int head_dim);
    /* y = act(g) * u, act SiLU or tanh-GELU (RR_GLU_GELU uses the scalar path) */
    void (*glu)(float *y, const float *g, const float *u, size_t n, rr_glu act);
    /* y = a + b * s, the product rounded first */
    void (*add_scaled)(float *y, const float *a, const float *b, float s, size_t n);
    /* one K^T panel: kt[e * 16 + j] = rows[j][e] for e < hd (zeros where rows[j] is NULL) */
    void (*pack_panel)(float *kt, const float *const *rows, int hd);
    /* S[r, 0 .. 16*n_panels) = q[r] . k for r < m, keys from packed K^T panels (kt 64-byte aligned) */
    void (*scores)(float *S, int lds, const float *q, int ldq, int m, const float *kt, int hd, int n_panels);
    /* in place: x[i] = exp(scale * (x[i] - max)) / sum over i < n */
    void (*softmax)(float *x, int n, float scale);
    /* out[r, 0..hd) (+)= sum_{j < nk} P[r, j] * v[j * ldv + 0..hd) for r < m; accumulate adds to out */
    void (*pv)(float *out, int ldo, const float *P, int ldp, int m, const float *v, int ldv, int nk, int hd,
               bool accumulate);
};
typedef struct rr_dec_ops rr_dec_ops;

extern const rr_dec_ops rr_dec_ops_c; /* the portable ones (fast_decoder.c) */

#endif
