/* fast_decoder_neon.c - ARM64 Advanced SIMD row operations of the decoder fast paths: the structure and rounding
 * order of fast_decoder_avx2.c in 4-float vectors (a 16-key panel is four of them; tails through small buffers). */
#include <arm_neon.h>
#include <math.h>

#include "kernels/arm64/arm64.h"
#include "kernels/arm64/simd_neon.h"

static inline int left4(size_t left) { return left >= 4 ? 4 : (int)left; }

static void rmsnorm(float *y, const float *x, const float *w, float off, int dim, float eps) {
    float32x4_t a0 = vdupq_n_f32(0.0f), a1 = vdupq_n_f32(0.0f);
    int i = 0;
    for (; i + 8 <= dim; i += 8) {
        float32x4_t u = vld1q_f32(x + i), v = vld1q_f32(x + i + 4);
        a0 = vfmaq_f32(a0, u, u);
        a1 = vfmaq_f32(a1, v, v);
    }
    for (; i < dim; i += 4) {
        float32x4_t u = rr_load_n(x + i, dim - i);
        a0 = vfmaq_f32(a0, u, u);
    }
    float rstd = 1.0f / sqrtf(vaddvq_f32(vaddq_f32(a0, a1)) / (float)dim + eps);
    float32x4_t vo = vdupq_n_f32(off);
    for (i = 0; i < dim; i += 4) {
        int n = left4((size_t)(dim - i));
        float32x4_t xn = vmulq_n_f32(rr_load_n(x + i, n), rstd);
        rr_store_n(y + i, vmulq_f32(xn, vaddq_f32(rr_load_n(w + i, n), vo)), n);
    }
}

static void rope(float *x, const float *c, const float *s, int n_heads, int hd) {
    int half = hd / 2;
    for (int h = 0; h < n_heads; h++, x += hd)
        for (int i = 0; i < half; i += 4) {
            int n = left4((size_t)(half - i));
            float32x4_t a = rr_load_n(x + i, n), b = rr_load_n(x + i + half, n);
            float32x4_t vc = rr_load_n(c + i, n), vs = rr_load_n(s + i, n);
            rr_store_n(x + i, vsubq_f32(vmulq_f32(a, vc), vmulq_f32(b, vs)), n);
            rr_store_n(x + i + half, vaddq_f32(vmulq_f32(b, vc), vmulq_f32(a, vs)), n);
        }
}

static void glu(float *y, const float *g, const float *u, size_t n, rr_glu act) {
    const float32x4_t one = vdupq_n_f32(1.0f), beta2 = vdupq_n_f32((float)(-2.0 * M_SQRT2 * M_2_SQRTPI * 0.5)),
                      kappa = vdupq_n_f32(0.044715f);
    for (size_t i = 0; i < n; i += 4) {
        int m = left4(n - i);
        float32x4_t v = rr_load_n(g + i, m), arg;
        if (act == RR_GLU_SILU) arg = vnegq_f32(v);
        else arg = vmulq_f32(beta2, vaddq_f32(v, vmulq_f32(kappa, vmulq_f32(vmulq_f32(v, v), v))));
        float32x4_t a = vdivq_f32(v, vaddq_f32(one, rr_exp4(arg)));
        rr_store_n(y + i, vmulq_f32(a, rr_load_n(u + i, m)), m);
    }
}

static void add_scaled(float *y, const float *a, const float *b, float s, size_t n) {
    for (size_t i = 0; i < n; i += 4) {
        int m = left4(n - i);
        rr_store_n(y + i, vaddq_f32(rr_load_n(a + i, m), vmulq_n_f32(rr_load_n(b + i, m), s)), m);
    }
}

/* mr <= 6 query rows x one 16-key panel: 4 vectors a row */
static inline __attribute__((always_inline)) void score_tile(int mr, float *S, int lds, const float *q, int ldq,
                                                             const float *pk, int hd) {
    float32x4_t acc[6][4];
    for (int r = 0; r < mr; r++) acc[r][0] = acc[r][1] = acc[r][2] = acc[r][3] = vdupq_n_f32(0.0f);
    for (int e = 0; e < hd; e++) {
        const float *k = pk + (size_t)e * RR_KT_NR;
        float32x4_t k0 = vld1q_f32(k), k1 = vld1q_f32(k + 4), k2 = vld1q_f32(k + 8), k3 = vld1q_f32(k + 12);
        for (int r = 0; r < mr; r++) {
            float32x4_t qv = vdupq_n_f32(q[(size_t)r * (size_t)ldq + (size_t)e]);
            acc[r][0] = vfmaq_f32(acc[r][0], qv, k0);
            acc[r][1] = vfmaq_f32(acc[r][1], qv, k1);
            acc[r][2] = vfmaq_f32(acc[r][2], qv, k2);
            acc[r][3] = vfmaq_f32(acc[r][3], qv, k3);
        }
    }
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < 4; v++) vst1q_f32(S + (size_t)r * (size_t)lds + 4 * v, acc[r][v]);
}

static void scores(float *S, int lds, const float *q, int ldq, int m, const float *kt, int hd, int n_panels) {
    for (int r0 = 0; r0 < m; r0 += 6) {
        int mr = m - r0 < 6 ? m - r0 : 6;
        const float *qr = q + (size_t)r0 * (size_t)ldq;
        float *Sr = S + (size_t)r0 * (size_t)lds;
        for (int p = 0; p < n_panels; p++) {
            const float *pk = kt + (size_t)p * (size_t)hd * RR_KT_NR;
            float *Sp = Sr + (size_t)p * RR_KT_NR;
            switch (mr) {
            case 6: score_tile(6, Sp, lds, qr, ldq, pk, hd); break;
            case 5: score_tile(5, Sp, lds, qr, ldq, pk, hd); break;
            case 4: score_tile(4, Sp, lds, qr, ldq, pk, hd); break;
            case 3: score_tile(3, Sp, lds, qr, ldq, pk, hd); break;
            case 2: score_tile(2, Sp, lds, qr, ldq, pk, hd); break;
            default: score_tile(1, Sp, lds, qr, ldq, pk, hd); break;
            }
        }
    }
}

static void softmax(float *x, int n, float scale) {
    float32x4_t mx = vdupq_n_f32(-INFINITY);
    for (int i = 0; i + 4 <= n; i += 4) mx = vmaxq_f32(mx, vld1q_f32(x + i));
    float m = vmaxvq_f32(mx);
    for (int i = n / 4 * 4; i < n; i++) m = x[i] > m ? x[i] : m;
    float32x4_t vm = vdupq_n_f32(m), vs = vdupq_n_f32(scale), sum = vdupq_n_f32(0.0f);
    for (int i = 0; i < n; i += 4) {
        int k = left4((size_t)(n - i));
        float32x4_t e = rr_exp4(vmulq_f32(vsubq_f32(rr_load_n(x + i, k), vm), vs));
        if (k < 4) { /* the lanes past n must not add to the sum */
            float b[4];
            vst1q_f32(b, e);
            for (int j = k; j < 4; j++) b[j] = 0.0f;
            e = vld1q_f32(b);
        }
        sum = vaddq_f32(sum, e);
        rr_store_n(x + i, e, k);
    }
    float32x4_t inv = vdupq_n_f32(1.0f / vaddvq_f32(sum));
    for (int i = 0; i < n; i += 4) {
        int k = left4((size_t)(n - i));
        rr_store_n(x + i, vmulq_f32(rr_load_n(x + i, k), inv), k);
    }
}

/* mr <= 4 rows x nv <= 4 vectors (n[c] floats each, the last one maybe partial) of out = P V. */
static inline __attribute__((always_inline)) void pv_tile(int mr, float *out, int ldo, const float *P, int ldp,
                                                          const float *v, int ldv, int nk, const int *n,
                                                          bool accumulate) {
    float32x4_t acc[4][4];
    for (int r = 0; r < mr; r++)
        for (int c = 0; c < 4; c++)
            acc[r][c] = accumulate && n[c] ? rr_load_n(out + (size_t)r * (size_t)ldo + 4 * c, n[c]) : vdupq_n_f32(0.0f);
    bool full = n[3] == 4;
    for (int j = 0; j < nk; j++) {
        const float *vj = v + (size_t)j * (size_t)ldv;
        float32x4_t w[4];
        for (int c = 0; c < 4; c++) w[c] = full ? vld1q_f32(vj + 4 * c) : n[c] ? rr_load_n(vj + 4 * c, n[c]) : vdupq_n_f32(0.0f);
        for (int r = 0; r < mr; r++) {
            float32x4_t p = vdupq_n_f32(P[(size_t)r * (size_t)ldp + (size_t)j]);
            for (int c = 0; c < 4; c++) acc[r][c] = vfmaq_f32(acc[r][c], p, w[c]);
        }
    }
    for (int r = 0; r < mr; r++)
        for (int c = 0; c < 4; c++)
            if (n[c]) rr_store_n(out + (size_t)r * (size_t)ldo + 4 * c, acc[r][c], n[c]);
}

static void pv(float *out, int ldo, const float *P, int ldp, int m, const float *v, int ldv, int nk, int hd,
               bool accumulate) {
    for (int e0 = 0; e0 < hd; e0 += 16) {
        int n[4];
        for (int c = 0; c < 4; c++) {
            int left = hd - e0 - 4 * c;
            n[c] = left <= 0 ? 0 : left4((size_t)left);
        }
        for (int r0 = 0; r0 < m; r0 += 4) {
            int mr = m - r0 < 4 ? m - r0 : 4;
            float *o = out + (size_t)r0 * (size_t)ldo + e0;
            const float *Pr = P + (size_t)r0 * (size_t)ldp;
            switch (mr) {
            case 4: pv_tile(4, o, ldo, Pr, ldp, v + e0, ldv, nk, n, accumulate); break;
            case 3: pv_tile(3, o, ldo, Pr, ldp, v + e0, ldv, nk, n, accumulate); break;
            case 2: pv_tile(2, o, ldo, Pr, ldp, v + e0, ldv, nk, n, accumulate); break;
            default: pv_tile(1, o, ldo, Pr, ldp, v + e0, ldv, nk, n, accumulate); break;
            }
        }
    }
}

static void pack_panel(float *kt, const float *const *rows, int hd) {
    for (int j = 0; j < RR_KT_NR; j++)
        for (int e = 0; e < hd; e++) kt[e * RR_KT_NR + j] = rows[j] ? rows[j][e] : 0.0f;
}

const rr_dec_ops rr_dec_ops_neon = {rmsnorm, rope, glu, add_scaled, pack_panel, scores, softmax, pv};
