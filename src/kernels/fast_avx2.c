/* fast_avx2.c - AVX2+FMA packed-GEMM micro-kernel (6 x 16 fp32 tile, 12 ymm accumulators) with the fused
 * bias/GELU/residual epilogue, and a vectorised softmax row. Same structure as fast_avx512.c. */
#include <immintrin.h>
#include <math.h>

#include "kernels/fast_impl.h"
#include "kernels/simd_avx2.h"

enum { NR = 16, MR = 6 };

/* x * Phi(x) from erfc as in fast_avx512.c. */
static inline __m256 gelu8(__m256 x) {
    __m256 ax = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x);
    __m256 z = _mm256_mul_ps(ax, _mm256_set1_ps((float)M_SQRT1_2));
    __m256 t = _mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_fmadd_ps(z, _mm256_set1_ps(0.5f), _mm256_set1_ps(1.0f)));
    static const float c[] = {0.17087277f, -0.82215223f, 1.48851587f, -1.13520398f, 0.27886807f,
                              -0.18628806f, 0.09678418f, 0.37409196f, 1.00002368f, -1.26551223f};
    __m256 p = _mm256_set1_ps(c[0]);
    for (int i = 1; i < 10; i++) p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(c[i]));
    __m256 half_erfc = _mm256_mul_ps(_mm256_mul_ps(t, exp8(_mm256_fnmadd_ps(z, z, p))), _mm256_set1_ps(0.5f));
    __m256 pos = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_GE_OQ);
    __m256 phi = _mm256_blendv_ps(half_erfc, _mm256_sub_ps(_mm256_set1_ps(1.0f), half_erfc), pos);
    return _mm256_mul_ps(x, phi);
}

static inline __m256i mask8(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* ---- packed-GEMM micro-kernel: 6 rows x 16 columns = 12 ymm accumulators ---- */

enum { UMR = 6, UNR = 16 };

static inline __m256 uepilogue(__m256 acc, float *c, __m256i m, const rr_uepi *e, int col, const float *res) {
    __m256 v = e->alpha == 1.0f ? acc : _mm256_mul_ps(acc, _mm256_set1_ps(e->alpha));
    if (!e->first) v = _mm256_add_ps(v, _mm256_maskload_ps(c, m));
    else if (e->beta != 0.0f) v = _mm256_fmadd_ps(_mm256_set1_ps(e->beta), _mm256_maskload_ps(c, m), v);
    if (e->last) {
        if (e->bias) v = _mm256_add_ps(v, _mm256_maskload_ps(e->bias + col, m));
        if (e->act == RR_ACT_GELU) v = gelu8(v);
        if (res) v = _mm256_add_ps(v, _mm256_maskload_ps(res + col, m));
    }
    return v;
}

void rr_ukernel_avx2(float *c, int ldc, const float *pa, const float *pb, int kc, int mr, int nr, const rr_uepi *e) {
    /* scalar: acc[r][j] = sum_k pa[k*6 + r] * pb[k*16 + j] */
    __m256 acc[UMR][2];
#pragma GCC unroll 6
    for (int r = 0; r < UMR; r++) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
    for (int k = 0; k < kc; k++, pa += UMR, pb += UNR) {
        __m256 b0 = _mm256_load_ps(pb), b1 = _mm256_load_ps(pb + 8);
#pragma GCC unroll 6
        for (int r = 0; r < UMR; r++) {
            __m256 a = _mm256_broadcast_ss(pa + r);
            acc[r][0] = _mm256_fmadd_ps(a, b0, acc[r][0]);
            acc[r][1] = _mm256_fmadd_ps(a, b1, acc[r][1]);
        }
    }
    __m256i m0 = mask8(nr), m1 = mask8(nr - 8);
#pragma GCC unroll 6
    for (int r = 0; r < UMR; r++) {
        if (r >= mr) break;
        float *cr = c + (size_t)r * (size_t)ldc;
        const float *res = e->res ? e->res + (size_t)r * (size_t)e->ldr : NULL;
        _mm256_maskstore_ps(cr, m0, uepilogue(acc[r][0], cr, m0, e, 0, res));
        if (nr > 8) _mm256_maskstore_ps(cr + 8, m1, uepilogue(acc[r][1], cr + 8, m1, e, 8, res));
    }
}

void rr_softmax_avx2(float *x, int n, float scale) {
    /* scalar: x[i] = exp(scale*x[i] - scale*max) / sum */
    float m = -INFINITY;
    for (int i = 0; i < n; i++) m = x[i] > m ? x[i] : m;
    __m256 vs = _mm256_set1_ps(scale), vm = _mm256_set1_ps(scale * m), sum = _mm256_setzero_ps();
    for (int i = 0; i < n; i += 8) {
        __m256i k = mask8(n - i);
        __m256 v = _mm256_and_ps(exp8(_mm256_fmsub_ps(_mm256_maskload_ps(x + i, k), vs, vm)), _mm256_castsi256_ps(k));
        sum = _mm256_add_ps(sum, v);
        _mm256_maskstore_ps(x + i, k, v);
    }
    float s[8];
    _mm256_storeu_ps(s, sum);
    __m256 inv = _mm256_set1_ps(1.0f / (s[0] + s[1] + s[2] + s[3] + s[4] + s[5] + s[6] + s[7]));
    for (int i = 0; i < n; i += 8) {
        __m256i k = mask8(n - i);
        _mm256_maskstore_ps(x + i, k, _mm256_mul_ps(_mm256_maskload_ps(x + i, k), inv));
    }
}

void rr_layernorm_row_avx2(float *y, const float *x, const float *w, const float *b, int dim, float eps) {
    /* scalar: as rr_layernorm_row_avx512, in 8 lanes; the tail (dim % 8) in plain C */
    int v = dim / 8 * 8;
    __m256 s = _mm256_setzero_ps();
    for (int i = 0; i < v; i += 8) s = _mm256_add_ps(s, _mm256_loadu_ps(x + i));
    float lanes[8], sum = 0.0f, sq = 0.0f;
    _mm256_storeu_ps(lanes, s);
    for (int i = 0; i < 8; i++) sum += lanes[i];
    for (int i = v; i < dim; i++) sum += x[i];
    float mean = sum / (float)dim;
    __m256 vm = _mm256_set1_ps(mean), q = _mm256_setzero_ps();
    for (int i = 0; i < v; i += 8) {
        __m256 d = _mm256_sub_ps(_mm256_loadu_ps(x + i), vm);
        q = _mm256_fmadd_ps(d, d, q);
    }
    _mm256_storeu_ps(lanes, q);
    for (int i = 0; i < 8; i++) sq += lanes[i];
    for (int i = v; i < dim; i++) sq += (x[i] - mean) * (x[i] - mean);
    float r = 1.0f / sqrtf(sq / (float)dim + eps);
    __m256 rstd = _mm256_set1_ps(r);
    for (int i = 0; i < v; i += 8) {
        __m256 d = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm), rstd);
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(d, _mm256_loadu_ps(w + i), _mm256_loadu_ps(b + i)));
    }
    for (int i = v; i < dim; i++) y[i] = (x[i] - mean) * r * w[i] + b[i];
}
