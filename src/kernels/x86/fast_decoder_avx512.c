/* fast_decoder_avx512.c - AVX-512 row operations of the decoder fast paths (see fast_decoder_impl.h):
 * RMSNorm, RoPE, SiLU / tanh-GELU gating, scaled adds, and the attention pieces (score block from packed K^T
 * panels, softmax row, P·V over value rows). Element-wise steps keep the reference's operation order
 * (no fused multiply-adds) so they round like it; only sums are reassociated. */
#include <immintrin.h>
#include <math.h>

#include "kernels/x86/x86.h"
#include "kernels/x86/simd_avx512.h"

static inline __mmask16 tail16(size_t left) { return left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1); }

static float hsum(__m512 v) { return _mm512_reduce_add_ps(v); }

static void rmsnorm(float *y, const float *x, const float *w, float off, int dim, float eps) {
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    int i = 0;
    for (; i + 32 <= dim; i += 32) {
        __m512 u = _mm512_loadu_ps(x + i), v = _mm512_loadu_ps(x + i + 16);
        a0 = _mm512_fmadd_ps(u, u, a0);
        a1 = _mm512_fmadd_ps(v, v, a1);
    }
    for (; i < dim; i += 16) {
        __m512 u = _mm512_maskz_loadu_ps(tail16((size_t)(dim - i)), x + i);
        a0 = _mm512_fmadd_ps(u, u, a0);
    }
    float rstd = 1.0f / sqrtf(hsum(_mm512_add_ps(a0, a1)) / (float)dim + eps);
    __m512 vr = _mm512_set1_ps(rstd), vo = _mm512_set1_ps(off);
    for (i = 0; i < dim; i += 16) {
        __mmask16 m = tail16((size_t)(dim - i));
        __m512 xn = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), vr);
        _mm512_mask_storeu_ps(y + i, m, _mm512_mul_ps(xn, _mm512_add_ps(_mm512_maskz_loadu_ps(m, w + i), vo)));
    }
}

static void rope(float *x, const float *c, const float *s, int n_heads, int hd) {
    int half = hd / 2;
    for (int h = 0; h < n_heads; h++, x += hd)
        for (int i = 0; i < half; i += 16) {
            __mmask16 m = tail16((size_t)(half - i));
            __m512 a = _mm512_maskz_loadu_ps(m, x + i), b = _mm512_maskz_loadu_ps(m, x + i + half);
            __m512 vc = _mm512_maskz_loadu_ps(m, c + i), vs = _mm512_maskz_loadu_ps(m, s + i);
            _mm512_mask_storeu_ps(x + i, m, _mm512_sub_ps(_mm512_mul_ps(a, vc), _mm512_mul_ps(b, vs)));
            _mm512_mask_storeu_ps(x + i + half, m, _mm512_add_ps(_mm512_mul_ps(b, vc), _mm512_mul_ps(a, vs)));
        }
}

/* SiLU: v / (1 + e^-v). tanh-GELU: 0.5 v (1 + tanh(z)) = v / (1 + e^(-2z)), z = sqrt(2/pi) (v + 0.044715 v^3). */
static void glu(float *y, const float *g, const float *u, size_t n, rr_glu act) {
    const __m512 one = _mm512_set1_ps(1.0f), beta2 = _mm512_set1_ps((float)(-2.0 * M_SQRT2 * M_2_SQRTPI * 0.5)),
                 kappa = _mm512_set1_ps(0.044715f);
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 m = tail16(n - i);
        __m512 v = _mm512_maskz_loadu_ps(m, g + i), arg;
        if (act == RR_GLU_SILU)
            arg = _mm512_sub_ps(_mm512_setzero_ps(), v);
        else
            arg = _mm512_mul_ps(beta2, _mm512_add_ps(v, _mm512_mul_ps(kappa, _mm512_mul_ps(_mm512_mul_ps(v, v), v))));
        __m512 a = _mm512_div_ps(v, _mm512_add_ps(one, exp16(arg)));
        _mm512_mask_storeu_ps(y + i, m, _mm512_mul_ps(a, _mm512_maskz_loadu_ps(m, u + i)));
    }
}

static void add_scaled(float *y, const float *a, const float *b, float s, size_t n) {
    __m512 vs = _mm512_set1_ps(s);
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 m = tail16(n - i);
        __m512 t = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, b + i), vs);
        _mm512_mask_storeu_ps(y + i, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, a + i), t));
    }
}

/* mr query rows x np (1 or 2) 16-key panels; mr and np are constants after inlining, so the accumulators stay
 * in registers. Two panels halve the broadcasts of q per multiply-add. */
static inline __attribute__((always_inline)) void score_tile(int mr, int np, float *S, int lds, const float *q,
                                                             int ldq, const float *pk, int hd) {
    __m512 acc[8][2];
    size_t pstride = (size_t)hd * RR_KT_NR;
    for (int r = 0; r < mr; r++)
        for (int c = 0; c < np; c++) acc[r][c] = _mm512_setzero_ps();
    for (int e = 0; e < hd; e++) {
        __m512 kv[2];
        for (int c = 0; c < np; c++) kv[c] = _mm512_load_ps(pk + c * pstride + (size_t)e * RR_KT_NR);
        for (int r = 0; r < mr; r++) {
            __m512 qv = _mm512_set1_ps(q[(size_t)r * (size_t)ldq + (size_t)e]);
            for (int c = 0; c < np; c++) acc[r][c] = _mm512_fmadd_ps(qv, kv[c], acc[r][c]);
        }
    }
    for (int r = 0; r < mr; r++)
        for (int c = 0; c < np; c++) _mm512_storeu_ps(S + (size_t)r * (size_t)lds + 16 * c, acc[r][c]);
}

#define SCORE_ROWS(np)                                                                                        \
    switch (mr) {                                                                                             \
    case 8: score_tile(8, np, Sp, lds, qr, ldq, pk, hd); break;                                              \
    case 7: score_tile(7, np, Sp, lds, qr, ldq, pk, hd); break;                                              \
    case 6: score_tile(6, np, Sp, lds, qr, ldq, pk, hd); break;                                              \
    case 5: score_tile(5, np, Sp, lds, qr, ldq, pk, hd); break;                                              \
    case 4: score_tile(4, np, Sp, lds, qr, ldq, pk, hd); break;                                              \
    case 3: score_tile(3, np, Sp, lds, qr, ldq, pk, hd); break;                                              \
    case 2: score_tile(2, np, Sp, lds, qr, ldq, pk, hd); break;                                              \
    default: score_tile(1, np, Sp, lds, qr, ldq, pk, hd); break;                                             \
    }

static void scores(float *S, int lds, const float *q, int ldq, int m, const float *kt, int hd, int n_panels) {
    for (int r0 = 0; r0 < m; r0 += 8) {
        int mr = m - r0 < 8 ? m - r0 : 8;
        const float *qr = q + (size_t)r0 * (size_t)ldq;
        float *Sr = S + (size_t)r0 * (size_t)lds;
        for (int p = 0; p < n_panels; p += 2) {
            const float *pk = kt + (size_t)p * (size_t)hd * RR_KT_NR;
            float *Sp = Sr + (size_t)p * RR_KT_NR;
            if (p + 1 < n_panels) {
                SCORE_ROWS(2)
            } else {
                SCORE_ROWS(1)
            }
        }
    }
}
#undef SCORE_ROWS

static void softmax(float *x, int n, float scale) {
    __m512 mx = _mm512_set1_ps(-INFINITY);
    for (int i = 0; i < n; i += 16)
        mx = _mm512_mask_max_ps(mx, tail16((size_t)(n - i)), mx, _mm512_maskz_loadu_ps(tail16((size_t)(n - i)), x + i));
    __m512 vm = _mm512_set1_ps(_mm512_reduce_max_ps(mx)), vs = _mm512_set1_ps(scale), sum = _mm512_setzero_ps();
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = tail16((size_t)(n - i));
        __m512 e = exp16(_mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), vm), vs));
        e = _mm512_maskz_mov_ps(m, e);
        sum = _mm512_add_ps(sum, e);
        _mm512_mask_storeu_ps(x + i, m, e);
    }
    __m512 inv = _mm512_set1_ps(1.0f / hsum(sum));
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = tail16((size_t)(n - i));
        _mm512_mask_storeu_ps(x + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), inv));
    }
}

/* mr rows x nv vectors (up to 32 columns, masks m[nv]) of out = P V; mr and nv are constants after inlining.
 * Eight rows per tile: each value vector loaded serves eight multiply-adds (the value rows come from L2). */
static inline __attribute__((always_inline)) void pv_tile(int mr, int nv, float *out, int ldo, const float *P, int ldp,
                                                          const float *v, int ldv, int nk, const __mmask16 *m,
                                                          bool accumulate) {
    __m512 acc[8][2];
    for (int r = 0; r < mr; r++)
        for (int c = 0; c < nv; c++)
            acc[r][c] = accumulate ? _mm512_maskz_loadu_ps(m[c], out + (size_t)r * (size_t)ldo + 16 * c) : _mm512_setzero_ps();
    for (int j = 0; j < nk; j++) {
        const float *vj = v + (size_t)j * (size_t)ldv;
        __m512 vv[2];
        for (int c = 0; c < nv; c++) vv[c] = _mm512_maskz_loadu_ps(m[c], vj + 16 * c);
        for (int r = 0; r < mr; r++) {
            __m512 p = _mm512_set1_ps(P[(size_t)r * (size_t)ldp + (size_t)j]);
            for (int c = 0; c < nv; c++) acc[r][c] = _mm512_fmadd_ps(p, vv[c], acc[r][c]);
        }
    }
    for (int r = 0; r < mr; r++)
        for (int c = 0; c < nv; c++) _mm512_mask_storeu_ps(out + (size_t)r * (size_t)ldo + 16 * c, m[c], acc[r][c]);
}

#define PV_ROWS(nv)                                                                                           \
    switch (mr) {                                                                                             \
    case 8: pv_tile(8, nv, o, ldo, Pr, ldp, v + e0, ldv, nk, mk, accumulate); break;                         \
    case 7: pv_tile(7, nv, o, ldo, Pr, ldp, v + e0, ldv, nk, mk, accumulate); break;                         \
    case 6: pv_tile(6, nv, o, ldo, Pr, ldp, v + e0, ldv, nk, mk, accumulate); break;                         \
    case 5: pv_tile(5, nv, o, ldo, Pr, ldp, v + e0, ldv, nk, mk, accumulate); break;                         \
    case 4: pv_tile(4, nv, o, ldo, Pr, ldp, v + e0, ldv, nk, mk, accumulate); break;                         \
    case 3: pv_tile(3, nv, o, ldo, Pr, ldp, v + e0, ldv, nk, mk, accumulate); break;                         \
    case 2: pv_tile(2, nv, o, ldo, Pr, ldp, v + e0, ldv, nk, mk, accumulate); break;                         \
    default: pv_tile(1, nv, o, ldo, Pr, ldp, v + e0, ldv, nk, mk, accumulate); break;                        \
    }

static void pv(float *out, int ldo, const float *P, int ldp, int m, const float *v, int ldv, int nk, int hd,
               bool accumulate) {
    for (int e0 = 0; e0 < hd; e0 += 32) {
        __mmask16 mk[2];
        int nv = hd - e0 > 16 ? 2 : 1;
        for (int c = 0; c < 2; c++) mk[c] = c < nv ? tail16((size_t)(hd - e0 - 16 * c)) : 0;
        for (int r0 = 0; r0 < m; r0 += 8) {
            int mr = m - r0 < 8 ? m - r0 : 8;
            float *o = out + (size_t)r0 * (size_t)ldo + e0;
            const float *Pr = P + (size_t)r0 * (size_t)ldp;
            if (nv == 2) {
                PV_ROWS(2)
            } else {
                PV_ROWS(1)
            }
        }
    }
}
#undef PV_ROWS

/* 16 key rows -> a K^T panel, 16 columns at a time by a 16x16 in-register transpose: unpack floats then
 * doubles within 128-bit lanes (b[4k+m], lane L: rows 4k..4k+3 at column 4L+m), then gather the lanes. */
static void pack_panel(float *kt, const float *const *rows, int hd) {
    for (int e0 = 0; e0 < hd; e0 += 16) {
        __mmask16 m = tail16((size_t)(hd - e0));
        __m512 r[16], a[16], b[16];
        for (int j = 0; j < 16; j++) r[j] = rows[j] ? _mm512_maskz_loadu_ps(m, rows[j] + e0) : _mm512_setzero_ps();
        for (int k = 0; k < 8; k++) {
            a[2 * k] = _mm512_unpacklo_ps(r[2 * k], r[2 * k + 1]);
            a[2 * k + 1] = _mm512_unpackhi_ps(r[2 * k], r[2 * k + 1]);
        }
        for (int k = 0; k < 4; k++) {
            __m512d x0 = _mm512_castps_pd(a[4 * k]), x1 = _mm512_castps_pd(a[4 * k + 1]);
            __m512d x2 = _mm512_castps_pd(a[4 * k + 2]), x3 = _mm512_castps_pd(a[4 * k + 3]);
            b[4 * k] = _mm512_castpd_ps(_mm512_unpacklo_pd(x0, x2));
            b[4 * k + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(x0, x2));
            b[4 * k + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(x1, x3));
            b[4 * k + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(x1, x3));
        }
        int n = hd - e0 < 16 ? hd - e0 : 16;
        for (int mm = 0; mm < 4; mm++) {
            __m512 c0 = _mm512_shuffle_f32x4(b[mm], b[4 + mm], 0x44), c1 = _mm512_shuffle_f32x4(b[mm], b[4 + mm], 0xEE);
            __m512 c2 = _mm512_shuffle_f32x4(b[8 + mm], b[12 + mm], 0x44);
            __m512 c3 = _mm512_shuffle_f32x4(b[8 + mm], b[12 + mm], 0xEE);
            __m512 out[4] = {_mm512_shuffle_f32x4(c0, c2, 0x88), _mm512_shuffle_f32x4(c0, c2, 0xDD),
                             _mm512_shuffle_f32x4(c1, c3, 0x88), _mm512_shuffle_f32x4(c1, c3, 0xDD)};
            for (int L = 0; L < 4; L++)
                if (4 * L + mm < n) _mm512_store_ps(kt + (size_t)(e0 + 4 * L + mm) * RR_KT_NR, out[L]);
        }
    }
}

const rr_dec_ops rr_dec_ops_avx512 = {rmsnorm, rope, glu, add_scaled, pack_panel, scores, softmax, pv};
