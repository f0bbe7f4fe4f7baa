/* ref.c - scalar reference kernels: the definition of every kernel, and the fallback when no SIMD variant
 * applies. Written for clarity first; the matmul is register- and cache-blocked. */
#include <math.h>

#include "kernels/kernels.h"

/* y[n,out] = x[n,in] · W[out,in]^T + b. Blocks: 4 rows of x × 4 rows of W per inner loop (16 running dot
 * products), output columns in panels of 64 W rows so a panel stays in cache while all x rows pass. */
void rr_matmul_fwd(float *y, const float *x, const float *w, const float *b, int n, int in, int out) {
    enum { RB = 4, CB = 4, PANEL = 64 };
    size_t ni = (size_t)in, no = (size_t)out;
    for (int o0 = 0; o0 < out; o0 += PANEL) {
        int o1 = o0 + PANEL < out ? o0 + PANEL : out;
        for (int r0 = 0; r0 < n; r0 += RB) {
            int nr = n - r0 < RB ? n - r0 : RB;
            for (int c0 = o0; c0 < o1; c0 += CB) {
                int nc = o1 - c0 < CB ? o1 - c0 : CB;
                float acc[RB][CB] = {{0}};
                if (nr == RB && nc == CB) {
                    const float *x0 = x + (size_t)r0 * ni, *w0 = w + (size_t)c0 * ni;
                    for (size_t k = 0; k < ni; k++) {
                        float xv[RB] = {x0[k], x0[ni + k], x0[2 * ni + k], x0[3 * ni + k]};
                        float wv[CB] = {w0[k], w0[ni + k], w0[2 * ni + k], w0[3 * ni + k]};
                        for (int r = 0; r < RB; r++)
                            for (int c = 0; c < CB; c++) acc[r][c] += xv[r] * wv[c];
                    }
                } else {
                    for (int r = 0; r < nr; r++)
                        for (int c = 0; c < nc; c++) {
                            const float *xr = x + (size_t)(r0 + r) * ni, *wr = w + (size_t)(c0 + c) * ni;
                            float s = 0.0f;
                            for (size_t k = 0; k < ni; k++) s += xr[k] * wr[k];
                            acc[r][c] = s;
                        }
                }
                for (int r = 0; r < nr; r++)
                    for (int c = 0; c < nc; c++)
                        y[(size_t)(r0 + r) * no + (size_t)(c0 + c)] = acc[r][c] + (b ? b[c0 + c] : 0.0f);
            }
        }
    }
}

void rr_layernorm_fwd(float *y, const float *x, const float *w, const float *b, int n, int dim, float eps) {
    for (int r = 0; r < n; r++) {
        const float *xr = x + (size_t)r * (size_t)dim;
        float *yr = y + (size_t)r * (size_t)dim;
        double sum = 0.0, sq = 0.0;
        for (int i = 0; i < dim; i++) sum += xr[i];
        double mean = sum / dim;
        for (int i = 0; i < dim; i++) sq += (xr[i] - mean) * (xr[i] - mean);
        float m = (float)mean, rstd = (float)(1.0 / sqrt(sq / dim + (double)eps));
        for (int i = 0; i < dim; i++) yr[i] = (xr[i] - m) * rstd * w[i] + b[i];
    }
}

void rr_add_fwd(float *y, const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = a[i] + b[i];
}

void rr_gelu_fwd(float *y, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = x[i] * 0.5f * (1.0f + erff(x[i] * (float)M_SQRT1_2));
}

void rr_tanh_fwd(float *y, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = tanhf(x[i]);
}

void rr_softmax_fwd(float *x, int n_rows, int n) {
    for (int r = 0; r < n_rows; r++) {
        float *row = x + (size_t)r * (size_t)n;
        float mx = -INFINITY, sum = 0.0f;
        for (int i = 0; i < n; i++) mx = row[i] > mx ? row[i] : mx;
        for (int i = 0; i < n; i++) {
            row[i] = expf(row[i] - mx);
            sum += row[i];
        }
        float inv = 1.0f / sum;
        for (int i = 0; i < n; i++) row[i] *= inv;
    }
}

void rr_attention_fwd(float *out, const float *q, const float *k, const float *v, float *scores,
                      const rr_attn_shape *s) {
    int T = s->n_tokens, hd = s->head_dim, group = s->n_heads / s->n_kv_heads;
    float scale = sqrtf((float)hd);
    for (int h = 0; h < s->n_heads; h++) {
        size_t qo = (size_t)h * (size_t)hd, kvo = (size_t)(h / group) * (size_t)hd;
        for (int i = 0; i < T; i++) {
            const float *qi = q + (size_t)i * (size_t)s->ld_q + qo;
            int nj = s->causal ? i + 1 : T;
            for (int j = 0; j < nj; j++) {
                const float *kj = k + (size_t)j * (size_t)s->ld_kv + kvo;
                float d = 0.0f;
                for (int e = 0; e < hd; e++) d += qi[e] * kj[e];
                scores[j] = d / scale;
            }
            rr_softmax_fwd(scores, 1, nj);
            float *oi = out + (size_t)i * (size_t)s->ld_out + qo;
            for (int e = 0; e < hd; e++) oi[e] = 0.0f;
            for (int j = 0; j < nj; j++) {
                const float *vj = v + (size_t)j * (size_t)s->ld_kv + kvo;
                float p = scores[j];
                for (int e = 0; e < hd; e++) oi[e] += p * vj[e];
            }
        }
    }
}
