/* ref_decoder.c - scalar reference kernels used by the decoder LLMs (Gemma, Qwen, MiniCPM, Llama): RMSNorm,
 * rotate-half RoPE, SiLU / tanh-GELU, element-wise helpers. Float operations follow transformers' order so
 * fp32 results agree to rounding. */
#include <math.h>

#include "kernels/kernels.h"

void rr_rmsnorm_fwd(float *y, const float *x, const float *w, float w_offset, int n, int dim, float eps) {
    for (int r = 0; r < n; r++) {
        const float *xr = x + (size_t)r * (size_t)dim;
        float *yr = y + (size_t)r * (size_t)dim;
        double sq = 0.0;
        for (int i = 0; i < dim; i++) sq += (double)xr[i] * xr[i];
        float var = (float)(sq / dim);
        float rstd = 1.0f / sqrtf(var + eps);
        for (int i = 0; i < dim; i++) yr[i] = (xr[i] * rstd) * (w[i] + w_offset);
    }
}

void rr_rope_table(float *cos_t, float *sin_t, int n_pos, int head_dim, float theta) {
    int half = head_dim / 2;
    for (int i = 0; i < half; i++) {
        float inv_freq = 1.0f / powf(theta, (float)(2 * i) / (float)head_dim);
        for (int p = 0; p < n_pos; p++) {
            float a = (float)p * inv_freq;
            cos_t[(size_t)p * (size_t)half + (size_t)i] = cosf(a);
            sin_t[(size_t)p * (size_t)half + (size_t)i] = sinf(a);
        }
    }
}

void rr_rope_fwd(float *x, const float *cos_t, const float *sin_t, int n_tokens, int n_heads, int head_dim, int ld) {
    int half = head_dim / 2;
    for (int t = 0; t < n_tokens; t++) {
        const float *c = cos_t + (size_t)t * (size_t)half, *s = sin_t + (size_t)t * (size_t)half;
        for (int h = 0; h < n_heads; h++) {
            float *v = x + (size_t)t * (size_t)ld + (size_t)h * (size_t)head_dim;
            for (int i = 0; i < half; i++) {
                float a = v[i], b = v[i + half];
                v[i] = a * c[i] + (-b) * s[i];
                v[i + half] = b * c[i] + a * s[i];
            }
        }
    }
}

void rr_silu_fwd(float *y, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = x[i] / (1.0f + expf(-x[i]));
}

void rr_gelu_tanh_fwd(float *y, const float *x, size_t n) {
    const float beta = (float)(M_SQRT2 * M_2_SQRTPI * 0.5), kappa = 0.044715f;
    for (size_t i = 0; i < n; i++) {
        float v = x[i], inner = beta * (v + kappa * (v * v * v));
        y[i] = 0.5f * v * (1.0f + tanhf(inner));
    }
}

void rr_mul_fwd(float *y, const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = a[i] * b[i];
}

void rr_scale_fwd(float *y, const float *x, float s, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = x[i] * s;
}

float rr_dot_fwd(const float *a, const float *b, size_t n) {
    float s = 0.0f;
    for (size_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}
