/* fast_decoder_avx2.c - AVX2 + FMA row operations of the decoder fast paths; the same structure and
 * rounding order as fast_decoder_avx512.c with 8-float vectors (a 16-key panel is two of them). */
#include <immintrin.h>
#include <math.h>

#include "kernels/x86/x86.h"
#include "kernels/x86/simd_avx2.h"

static inline __m256i tail8(size_t left) {
    int n = left >= 8 ? 8 : (int)left;
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

static float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static float hmax(__m256 v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static void rmsnorm(float *y, const float *x, const float *w, float off, int dim, float eps) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 16 <= dim; i += 16) {
        __m256 u = _mm256_loadu_ps(x + i), v = _mm256_loadu_ps(x + i + 8);
        a0 = _mm256_fmadd_ps(u, u, a0);
        a1 = _mm256_fmadd_ps(v, v, a1);
    }
    for (; i < dim; i += 8) {
        __m256 u = _mm256_maskload_ps(x + i, tail8((size_t)(dim - i)));
        a0 = _mm256_fmadd_ps(u, u, a0);
    }
    float rstd = 1.0f / sqrtf(hsum(_mm256_add_ps(a0, a1)) / (float)dim + eps);
    __m256 vr = _mm256_set1_ps(rstd), vo = _mm256_set1_ps(off);
    for (i = 0; i < dim; i += 8) {
        __m256i m = tail8((size_t)(dim - i));
        __m256 xn = _mm256_mul_ps(_mm256_maskload_ps(x + i, m), vr);
        _mm256_maskstore_ps(y + i, m, _mm256_mul_ps(xn, _mm256_add_ps(_mm256_maskload_ps(w + i, m), vo)));
    }
}

static void rope(float *x, const float *c, const float *s, int n_heads, int hd) {
    int half = hd / 2;
    for (int h = 0; h < n_heads; h++, x += hd)
        for (int i = 0; i < half; i += 8) {
            __m256i m = tail8((size_t)(half - i));
            __m256 a = _mm256_maskload_ps(x + i, m), b = _mm256_maskload_ps(x + i + half, m);
            __m256 vc = _mm256_maskload_ps(c + i, m), vs = _mm256_maskload_ps(s + i, m);
            _mm256_maskstore_ps(x + i, m, _mm256_sub_ps(_mm256_mul_ps(a, vc), _mm256_mul_ps(b, vs)));
            _mm256_maskstore_ps(x + i + half, m, _mm256_add_ps(_mm256_mul_ps(b, vc), _mm256_mul_ps(a, vs)));
        }
}

static void glu(float *y, const float *g, const float *u, size_t n, rr_glu act) {
    const __m256 one = _mm256_set1_ps(1.0f), beta2 = _mm256_set1_ps((float)(-2.0 * M_SQRT2 * M_2_SQRTPI * 0.5)),
                 kappa = _mm256_set1_ps(0.044715f);
    for (size_t i = 0; i < n; i += 8) {
        __m256i m = tail8(n - i);
        __m256 v = _mm256_maskload_ps(g + i, m), arg;
        if (act == RR_GLU_SILU)
            arg = _mm256_sub_ps(_mm256_setzero_ps(), v);
        else
            arg = _mm256_mul_ps(beta2, _mm256_add_ps(v, _mm256_mul_ps(kappa, _mm256_mul_ps(_mm256_mul_ps(v, v), v))));
        __m256 a = _mm256_div_ps(v, _mm256_add_ps(one, exp8(arg)));
        _mm256_maskstore_ps(y + i, m, _mm256_mul_ps(a, _mm256_maskload_ps(u + i, m)));
    }
}

static void add_scaled(float *y, const float *a, const float *b, float s, size_t n) {
    __m256 vs = _mm256_set1_ps(s);
    for (size_t i = 0; i < n; i += 8) {
        __m256i m = tail8(n - i);
        __m256 t = _mm256_mul_ps(_mm256_maskload_ps(b + i, m), vs);
        _mm256_maskstore_ps(y + i, m, _mm256_add_ps(_mm256_maskload_ps(a + i, m), t));
    }
}

static inline __attribute__((always_inline)) void score_tile(int mr, float *S, int lds, const float *q, int ldq,
                                                             const float *pk, int hd) {
    __m256 acc[6][2];
    for (int r = 0; r < mr; r++) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
    for (int e = 0; e < hd; e++) {
        __m256 k0 = _mm256_load_ps(pk + (size_t)e * RR_KT_NR), k1 = _mm256_load_ps(pk + (size_t)e * RR_KT_NR + 8);
        for (int r = 0; r < mr; r++) {
            __m256 qv = _mm256_broadcast_ss(q + (size_t)r * (size_t)ldq + (size_t)e);
            acc[r][0] = _mm256_fmadd_ps(qv, k0, acc[r][0]);
            acc[r][1] = _mm256_fmadd_ps(qv, k1, acc[r][1]);
        }
    }
    for (int r = 0; r < mr; r++) {
        _mm256_storeu_ps(S + (size_t)r * (size_t)lds, acc[r][0]);
        _mm256_storeu_ps(S + (size_t)r * (size_t)lds + 8, acc[r][1]);
    }
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
    __m256 mx = _mm256_set1_ps(-INFINITY);
    for (int i = 0; i < n; i += 8) {
        __m256i m = tail8((size_t)(n - i));
        __m256 v = _mm256_blendv_ps(_mm256_set1_ps(-INFINITY), _mm256_maskload_ps(x + i, m), _mm256_castsi256_ps(m));
        mx = _mm256_max_ps(mx, v);
    }
    __m256 vm = _mm256_set1_ps(hmax(mx)), vs = _mm256_set1_ps(scale), sum = _mm256_setzero_ps();
    for (int i = 0; i < n; i += 8) {
        __m256i m = tail8((size_t)(n - i));
        __m256 e = exp8(_mm256_mul_ps(_mm256_sub_ps(_mm256_maskload_ps(x + i, m), vm), vs));
        e = _mm256_and_ps(e, _mm256_castsi256_ps(m));
        sum = _mm256_add_ps(sum, e);
        _mm256_maskstore_ps(x + i, m, e);
    }
    __m256 inv = _mm256_set1_ps(1.0f / hsum(sum));
    for (int i = 0; i < n; i += 8) {
        __m256i m = tail8((size_t)(n - i));
        _mm256_maskstore_ps(x + i, m, _mm256_mul_ps(_mm256_maskload_ps(x + i, m), inv));
    }
}

/* mr rows x up to 16 columns (2 vectors, masks m[2]) of out = P V. */
static inline __attribute__((always_inline)) void pv_tile(int mr, float *out, int ldo, const float *P, int ldp,
                                                          const float *v, int ldv, int nk, const __m256i *m,
                                                          bool accumulate) {
    __m256 acc[4][2];
    for (int r = 0; r < mr; r++)
        for (int c = 0; c < 2; c++)
            acc[r][c] = accumulate ? _mm256_maskload_ps(out + (size_t)r * (size_t)ldo + 8 * c, m[c]) : _mm256_setzero_ps();
    for (int j = 0; j < nk; j++) {
        const float *vj = v + (size_t)j * (size_t)ldv;
        __m256 v0 = _mm256_maskload_ps(vj, m[0]), v1 = _mm256_maskload_ps(vj + 8, m[1]);
        for (int r = 0; r < mr; r++) {
            __m256 p = _mm256_broadcast_ss(P + (size_t)r * (size_t)ldp + (size_t)j);
            acc[r][0] = _mm256_fmadd_ps(p, v0, acc[r][0]);
            acc[r][1] = _mm256_fmadd_ps(p, v1, acc[r][1]);
        }
    }
    for (int r = 0; r < mr; r++)
        for (int c = 0; c < 2; c++) _mm256_maskstore_ps(out + (size_t)r * (size_t)ldo + 8 * c, m[c], acc[r][c]);
}

static void pv(float *out, int ldo, const float *P, int ldp, int m, const float *v, int ldv, int nk, int hd,
               bool accumulate) {
    for (int e0 = 0; e0 < hd; e0 += 16) {
        __m256i mk[2] = {tail8((size_t)(hd - e0)), e0 + 8 < hd ? tail8((size_t)(hd - e0 - 8)) : _mm256_setzero_si256()};
        for (int r0 = 0; r0 < m; r0 += 4) {
            int mr = m - r0 < 4 ? m - r0 : 4;
            float *o = out + (size_t)r0 * (size_t)ldo + e0;
            const float *Pr = P + (size_t)r0 * (size_t)ldp;
            switch (mr) {
            case 4: pv_tile(4, o, ldo, Pr, ldp, v + e0, ldv, nk, mk, accumulate); break;
            case 3: pv_tile(3, o, ldo, Pr, ldp, v + e0, ldv, nk, mk, accumulate); break;
            case 2: pv_tile(2, o, ldo, Pr, ldp, v + e0, ldv, nk, mk, accumulate); break;
            default: pv_tile(1, o, ldo, Pr, ldp, v + e0, ldv, nk, mk, accumulate); break;
            }
        }
    }
}

static void pack_panel(float *kt, const float *const *rows, int hd) {
    for (int j = 0; j < RR_KT_NR; j++)
        for (int e = 0; e < hd; e++) kt[e * RR_KT_NR + j] = rows[j] ? rows[j][e] : 0.0f;
}

const rr_dec_ops rr_dec_ops_avx2 = {rmsnorm, rope, glu, add_scaled, pack_panel, scores, softmax, pv};
