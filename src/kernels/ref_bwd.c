/* ref_bwd.c - scalar reference backward kernels (kernels_bwd.h): the gradients of the forward kernels in
 * ref.c, written for clarity; reductions over rows run in double. All gradient outputs accumulate. */
#include <math.h>
#include <stdlib.h>

#include "kernels/kernels_bwd.h"

void rr_matmul_bwd(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w, int n, int in,
                   int out) {
    size_t ni = (size_t)in, no = (size_t)out;
    if (dx)
        for (int r = 0; r < n; r++) {
            const float *dyr = dy + (size_t)r * no;
            float *dxr = dx + (size_t)r * ni;
            for (int o = 0; o < out; o++) {
                float g = dyr[o];
                if (g == 0.0f) continue;
                const float *wo = w + (size_t)o * ni;
                for (size_t k = 0; k < ni; k++) dxr[k] += g * wo[k];
            }
        }
    if (dw)
        for (int o = 0; o < out; o++) {
            float *dwo = dw + (size_t)o * ni;
            for (size_t k = 0; k < ni; k++) {
                double s = 0.0;
                for (int r = 0; r < n; r++) s += (double)dy[(size_t)r * no + (size_t)o] * x[(size_t)r * ni + k];
                dwo[k] += (float)s;
            }
        }
    if (db)
        for (int o = 0; o < out; o++) {
            double s = 0.0;
            for (int r = 0; r < n; r++) s += dy[(size_t)r * no + (size_t)o];
            db[o] += (float)s;
        }
}

void rr_layernorm_bwd(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w, int n,
                      int dim, float eps) {
    for (int r = 0; r < n; r++) {
        const float *xr = x + (size_t)r * (size_t)dim, *dyr = dy + (size_t)r * (size_t)dim;
        float *dxr = dx + (size_t)r * (size_t)dim;
        double sum = 0.0, sq = 0.0;
        for (int i = 0; i < dim; i++) sum += xr[i];
        double mean = sum / dim;
        for (int i = 0; i < dim; i++) sq += (xr[i] - mean) * (xr[i] - mean);
        double rstd = 1.0 / sqrt(sq / dim + (double)eps), m1 = 0.0, m2 = 0.0;
        for (int i = 0; i < dim; i++) {
            double xhat = (xr[i] - mean) * rstd, g = (double)dyr[i] * w[i];
            m1 += g;
            m2 += g * xhat;
            if (dw) dw[i] += (float)(dyr[i] * xhat);
            if (db) db[i] += dyr[i];
        }
        m1 /= dim;
        m2 /= dim;
        for (int i = 0; i < dim; i++) {
            double xhat = (xr[i] - mean) * rstd, g = (double)dyr[i] * w[i];
            dxr[i] += (float)(rstd * (g - m1 - xhat * m2));
        }
    }
}

void rr_gelu_bwd(float *dx, const float *dy, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++) {
        double v = x[i], cdf = 0.5 * (1.0 + erf(v * M_SQRT1_2)), pdf = exp(-0.5 * v * v) * 0.5 * M_2_SQRTPI * M_SQRT1_2;
        dx[i] += (float)(dy[i] * (cdf + v * pdf));
    }
}

void rr_tanh_bwd(float *dx, const float *dy, const float *y, size_t n) {
    for (size_t i = 0; i < n; i++) dx[i] += dy[i] * (1.0f - y[i] * y[i]);
}

void rr_softmax_bwd(float *dx, const float *dy, const float *y, int n_rows, int n) {
    for (int r = 0; r < n_rows; r++) {
        const float *yr = y + (size_t)r * (size_t)n, *dyr = dy + (size_t)r * (size_t)n;
        float *dxr = dx + (size_t)r * (size_t)n;
        double s = 0.0;
        for (int i = 0; i < n; i++) s += (double)dyr[i] * yr[i];
        for (int i = 0; i < n; i++) dxr[i] += (float)(yr[i] * (dyr[i] - s));
    }
}

size_t rr_attention_bwd_scratch(int n_tokens) { return 3 * (size_t)(n_tokens > 0 ? n_tokens : 0); }

void rr_attention_bwd(float *dq, float *dk, float *dv, const float *dout, const float *q, const float *k,
                      const float *v, float *scratch, const rr_attn_shape *s) {
    int T = s->n_tokens, hd = s->head_dim, group = s->n_heads / s->n_kv_heads;
    float *p = scratch, *dp = scratch + T, *ds = scratch + 2 * (size_t)T;
    float scale = sqrtf((float)hd);
    for (int h = 0; h < s->n_heads; h++) {
        size_t qo = (size_t)h * (size_t)hd, kvo = (size_t)(h / group) * (size_t)hd;
        for (int i = 0; i < T; i++) {
            const float *qi = q + (size_t)i * (size_t)s->ld_q + qo, *doi = dout + (size_t)i * (size_t)s->ld_out + qo;
            int nj = s->causal ? i + 1 : T;
            /* Recompute this query's probabilities exactly as the forward does. */
            for (int j = 0; j < nj; j++) {
                const float *kj = k + (size_t)j * (size_t)s->ld_kv + kvo;
                float d = 0.0f;
                for (int e = 0; e < hd; e++) d += qi[e] * kj[e];
                p[j] = d / scale;
            }
            rr_softmax_fwd(p, 1, nj);
            for (int j = 0; j < nj; j++) {
                const float *vj = v + (size_t)j * (size_t)s->ld_kv + kvo;
                float *dvj = dv + (size_t)j * (size_t)s->ld_kv + kvo;
                float d = 0.0f;
                for (int e = 0; e < hd; e++) {
                    d += doi[e] * vj[e];
                    dvj[e] += p[j] * doi[e];
                }
                dp[j] = d;
                ds[j] = 0.0f;
            }
            rr_softmax_bwd(ds, dp, p, 1, nj);
            float *dqi = dq + (size_t)i * (size_t)s->ld_q + qo;
            for (int j = 0; j < nj; j++) {
                float g = ds[j] / scale;
                const float *kj = k + (size_t)j * (size_t)s->ld_kv + kvo;
                float *dkj = dk + (size_t)j * (size_t)s->ld_kv + kvo;
                for (int e = 0; e < hd; e++) {
                    dqi[e] += g * kj[e];
                    dkj[e] += g * qi[e];
                }
            }
        }
    }
}

void rr_embedding_bwd(float *dtable, const float *dy, const int32_t *ids, int n, int dim) {
    for (int i = 0; i < n; i++) {
        float *row = dtable + (size_t)ids[i] * (size_t)dim;
        const float *g = dy + (size_t)i * (size_t)dim;
        for (int d = 0; d < dim; d++) row[d] += g[d];
    }
}
