/* ref_decoder_bwd.c - scalar reference backward kernels of the decoder LLM forward kernels in ref_decoder.c
 * (RMSNorm with a weight offset, rotate-half RoPE, SiLU, tanh GELU, scaling). Reductions run in double; every
 * gradient output accumulates (kernels_bwd.h). Causal grouped-query attention is rr_attention_bwd (ref_bwd.c). */
#include <math.h>
#include <stddef.h>

#include "kernels/kernels_bwd.h"

void rr_rmsnorm_bwd(float *dx, float *dw, const float *dy, const float *x, const float *w, float w_offset, int n,
                    int dim, float eps) {
    for (int r = 0; r < n; r++) {
        const float *xr = x + (size_t)r * (size_t)dim, *dyr = dy + (size_t)r * (size_t)dim;
        float *dxr = dx + (size_t)r * (size_t)dim;
        double sq = 0.0, dot = 0.0;
        for (int i = 0; i < dim; i++) sq += (double)xr[i] * xr[i];
        /* the forward rounds the variance to float before adding eps */
        double rstd = 1.0 / sqrt((double)(float)(sq / dim) + (double)eps);
        for (int i = 0; i < dim; i++) {
            double g = (double)dyr[i] * ((double)w[i] + w_offset);
            dot += g * xr[i];
            if (dw) dw[i] += (float)((double)dyr[i] * xr[i] * rstd);
        }
        /* y = x * rstd * g; d rstd / d x_j = -x_j rstd^3 / dim */
        double c = dot * rstd * rstd * rstd / dim;
        for (int i = 0; i < dim; i++) {
            double g = (double)dyr[i] * ((double)w[i] + w_offset);
            dxr[i] += (float)(g * rstd - xr[i] * c);
        }
    }
}

void rr_rope_bwd(float *dx, const float *cos_t, const float *sin_t, int n_tokens, int n_heads, int head_dim, int ld) {
    int half = head_dim / 2;
    for (int t = 0; t < n_tokens; t++) {
        const float *c = cos_t + (size_t)t * (size_t)half, *s = sin_t + (size_t)t * (size_t)half;
        for (int h = 0; h < n_heads; h++) {
            float *v = dx + (size_t)t * (size_t)ld + (size_t)h * (size_t)head_dim;
            for (int i = 0; i < half; i++) {
                float da = v[i], db = v[i + half];
                v[i] = da * c[i] + db * s[i];
                v[i + half] = db * c[i] - da * s[i];
            }
        }
    }
}

void rr_silu_bwd(float *dx, const float *dy, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++) {
        double v = x[i], s = 1.0 / (1.0 + exp(-v));
        dx[i] += (float)(dy[i] * s * (1.0 + v * (1.0 - s)));
    }
}

void rr_gelu_tanh_bwd(float *dx, const float *dy, const float *x, size_t n) {
    const double beta = M_SQRT2 * M_2_SQRTPI * 0.5, kappa = 0.044715;
    for (size_t i = 0; i < n; i++) {
        double v = x[i], t = tanh(beta * (v + kappa * v * v * v));
        double d = 0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * beta * (1.0 + 3.0 * kappa * v * v);
        dx[i] += (float)(dy[i] * d);
    }
}

void rr_scale_bwd(float *dx, const float *dy, float s, size_t n) {
    for (size_t i = 0; i < n; i++) dx[i] += s * dy[i];
}
