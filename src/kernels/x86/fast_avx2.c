/* fast_avx2.c - AVX2+FMA kernels: the packed-GEMM micro-kernel (6 x 16 fp32 tile, 12 ymm accumulators) with the
 * fused bias/GELU/residual epilogue, a vectorised softmax row and LayerNorm row, and the bf16 / int8 blocks of
 * CPUs without AVX-512 (bf16 widened to fp32 in registers; int8 products with vpmaddubsw, or with AVX-VNNI's
 * vpdpbusd where the CPU has it: that one function is compiled for AVX-VNNI by its target attribute). */
#include <immintrin.h>
#include <math.h>

#include "kernels/x86/x86.h"
#include "kernels/x86/simd_avx2.h"

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

/* Loads and stores of 8 lanes: plain when all are valid. Zen's vmaskmovps store is microcoded (about 12x slower
 * than vmovups), so the masked forms are for the edge tiles only. */
static inline __m256 ld8(const float *p, __m256i m, bool full) { return full ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, m); }
static inline void st8(float *p, __m256i m, bool full, __m256 v) {
    if (full) _mm256_storeu_ps(p, v);
    else _mm256_maskstore_ps(p, m, v);
}

static inline __attribute__((always_inline)) __m256 uepilogue(__m256 acc, float *c, __m256i m, bool full,
                                                              const rr_uepi *e, int col, const float *res) {
    __m256 v = e->alpha == 1.0f ? acc : _mm256_mul_ps(acc, _mm256_set1_ps(e->alpha));
    if (!e->first) v = _mm256_add_ps(v, ld8(c, m, full));
    else if (e->beta != 0.0f) v = _mm256_fmadd_ps(_mm256_set1_ps(e->beta), ld8(c, m, full), v);
    if (e->last) {
        if (e->bias) v = _mm256_add_ps(v, ld8(e->bias + col, m, full));
        if (e->act == RR_ACT_GELU) v = gelu8(v);
        if (res) v = _mm256_add_ps(v, ld8(res + col, m, full));
    }
    return v;
}

/* The epilogue of rows r < mr: FULL (a compile-time constant at each call) when all NR columns are valid. */
static inline __attribute__((always_inline)) void ustore(__m256 acc[UMR][2], float *c, int ldc, int mr, int nr,
                                                          bool full, const rr_uepi *e) {
    __m256i m0 = mask8(nr), m1 = mask8(nr - 8);
#pragma GCC unroll 6
    for (int r = 0; r < UMR; r++) {
        if (r >= mr) break;
        float *cr = c + (size_t)r * (size_t)ldc;
        const float *res = e->res ? e->res + (size_t)r * (size_t)e->ldr : NULL;
        st8(cr, m0, full, uepilogue(acc[r][0], cr, m0, full, e, 0, res));
        if (full || nr > 8) st8(cr + 8, m1, full, uepilogue(acc[r][1], cr + 8, m1, full, e, 8, res));
    }
}

void rr_ukernel_avx2(float *c, int ldc, const float *pa, const float *pb, int kc, int mr, int nr, const rr_uepi *e) {
    /* scalar: acc[r][j] = sum_k pa[k*6 + r] * pb[k*16 + j] */
    __m256 acc[UMR][2];
#pragma GCC unroll 6
    for (int r = 0; r < UMR; r++) {
        acc[r][0] = acc[r][1] = _mm256_setzero_ps();
        /* the tile of C is read (and written) only after the k loop: fetch its lines meanwhile */
        _mm_prefetch((const char *)(c + (size_t)r * (size_t)ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + (size_t)r * (size_t)ldc + UNR - 1), _MM_HINT_T0);
    }
    for (int k = 0; k < kc; k++, pa += UMR, pb += UNR) {
        __m256 b0 = _mm256_load_ps(pb), b1 = _mm256_load_ps(pb + 8);
#pragma GCC unroll 6
        for (int r = 0; r < UMR; r++) {
            __m256 a = _mm256_broadcast_ss(pa + r);
            acc[r][0] = _mm256_fmadd_ps(a, b0, acc[r][0]);
            acc[r][1] = _mm256_fmadd_ps(a, b1, acc[r][1]);
        }
    }
    if (nr == UNR) ustore(acc, c, ldc, mr, nr, true, e);
    else ustore(acc, c, ldc, mr, nr, false, e);
}

/* ---- packing: 8 x 8 blocks transposed in registers (the scalar loops of fast_gemm.c read columns) ---- */

static inline __attribute__((always_inline)) void tr8(__m256 r[8]) {
    __m256 a[8], b[8];
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
        a[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        a[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
#pragma GCC unroll 2
    for (int i = 0; i < 2; i++) {
        b[4 * i + 0] = _mm256_shuffle_ps(a[4 * i + 0], a[4 * i + 2], 0x44);
        b[4 * i + 1] = _mm256_shuffle_ps(a[4 * i + 0], a[4 * i + 2], 0xEE);
        b[4 * i + 2] = _mm256_shuffle_ps(a[4 * i + 1], a[4 * i + 3], 0x44);
        b[4 * i + 3] = _mm256_shuffle_ps(a[4 * i + 1], a[4 * i + 3], 0xEE);
    }
    /* b[j] holds column j of rows 0-3 in its low lane and column j+4 in its high lane; b[4+j] rows 4-7 */
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) {
        r[j] = _mm256_permute2f128_ps(b[j], b[4 + j], 0x20);
        r[4 + j] = _mm256_permute2f128_ps(b[j], b[4 + j], 0x31);
    }
}

/* rr_pack_a for cs == 1 and MR = 6: 8 steps of k of the 6 rows at a time, transposed in registers; each k's 6
 * values are stored as 4 + 2 so nothing is written past the panel. */
void rr_pack_a_avx2(float *dst, const float *a, size_t rs, int m, int kc) {
    for (int t = 0; t * UMR < m; t++, dst += (size_t)kc * UMR) {
        int rows = m - t * UMR < UMR ? m - t * UMR : UMR;
        const float *at = a + (size_t)t * UMR * rs;
        int k0 = 0;
        for (; k0 + 8 <= kc; k0 += 8) {
            __m256 r[8];
#pragma GCC unroll 8
            for (int i = 0; i < 8; i++) r[i] = i < rows ? _mm256_loadu_ps(at + (size_t)i * rs + (size_t)k0) : _mm256_setzero_ps();
            tr8(r);
#pragma GCC unroll 8
            for (int i = 0; i < 8; i++) {
                float *d = dst + (size_t)(k0 + i) * UMR;
                _mm_storeu_ps(d, _mm256_castps256_ps128(r[i]));
                _mm_storel_pi((__m64 *)(d + 4), _mm256_extractf128_ps(r[i], 1));
            }
        }
        for (; k0 < kc; k0++)
            for (int i = 0; i < UMR; i++) dst[(size_t)k0 * UMR + (size_t)i] = i < rows ? at[(size_t)i * rs + (size_t)k0] : 0.0f;
    }
}

/* pack_b of W[col, k] rows (ld) into one 16-column panel [k*16 + c], cols <= 16 of them, zero past cols. */
void rr_pack_bt_avx2(float *dst, const float *w, size_t ld, int kc, int cols) {
    for (int h = 0; h < 2; h++) {
        int k0 = 0;
        for (; k0 + 8 <= kc; k0 += 8) {
            __m256 r[8];
#pragma GCC unroll 8
            for (int i = 0; i < 8; i++)
                r[i] = h * 8 + i < cols ? _mm256_loadu_ps(w + (size_t)(h * 8 + i) * ld + (size_t)k0) : _mm256_setzero_ps();
            tr8(r);
#pragma GCC unroll 8
            for (int i = 0; i < 8; i++) _mm256_store_ps(dst + (size_t)(k0 + i) * UNR + h * 8, r[i]);
        }
        for (; k0 < kc; k0++)
            for (int i = 0; i < 8; i++)
                dst[(size_t)k0 * UNR + (size_t)(h * 8 + i)] = h * 8 + i < cols ? w[(size_t)(h * 8 + i) * ld + (size_t)k0] : 0.0f;
    }
}

/* 8 values of a row as fp32 for the bf16 GEMM route: bf16 widened, or fp32 rounded to bf16 (nearest even,
 * NaN kept quiet, as bf16x8 below) */
static inline __m256 row8_bf16(const uint16_t *a16, const float *a32) {
    if (a16) return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)a16)), 16));
    __m256i u = _mm256_castps_si256(_mm256_loadu_ps(a32));
    __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
    __m256i r = _mm256_add_epi32(u, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7fff)));
    __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, _mm256_set1_epi32(0x7fffffff)), _mm256_set1_epi32(0x7f800000));
    r = _mm256_blendv_epi8(r, _mm256_or_si256(u, _mm256_set1_epi32(0x00400000)), nan);
    return _mm256_castsi256_ps(_mm256_and_si256(r, _mm256_set1_epi32((int)0xffff0000u)));
}

static inline float one_bf16(const uint16_t *a16, const float *a32, size_t i) {
    uint32_t u;
    if (a16) {
        u = (uint32_t)a16[i] << 16;
    } else {
        __builtin_memcpy(&u, a32 + i, sizeof u);
        if ((u & 0x7fffffffu) > 0x7f800000u) u = (u | 0x00400000u) & 0xffff0000u;
        else u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
    }
    float f;
    __builtin_memcpy(&f, &u, sizeof f);
    return f;
}

/* rr_isa_ops.pack_a_bf16: as rr_pack_a_avx2, each value through row8_bf16 */
void rr_pack_a_bf16_avx2(float *dst, const uint16_t *a16, const float *a32, size_t rs, int m, int kc) {
    for (int t = 0; t * UMR < m; t++, dst += (size_t)kc * UMR) {
        int rows = m - t * UMR < UMR ? m - t * UMR : UMR;
        size_t base = (size_t)t * UMR * rs;
        int k0 = 0;
        for (; k0 + 8 <= kc; k0 += 8) {
            __m256 r[8];
#pragma GCC unroll 8
            for (int i = 0; i < 8; i++) {
                size_t at = base + (size_t)i * rs + (size_t)k0;
                r[i] = i < rows ? row8_bf16(a16 ? a16 + at : NULL, a16 ? NULL : a32 + at) : _mm256_setzero_ps();
            }
            tr8(r);
#pragma GCC unroll 8
            for (int i = 0; i < 8; i++) {
                float *d = dst + (size_t)(k0 + i) * UMR;
                _mm_storeu_ps(d, _mm256_castps256_ps128(r[i]));
                _mm_storel_pi((__m64 *)(d + 4), _mm256_extractf128_ps(r[i], 1));
            }
        }
        for (; k0 < kc; k0++)
            for (int i = 0; i < UMR; i++)
                dst[(size_t)k0 * UMR + (size_t)i] = i < rows ? one_bf16(a16, a32, base + (size_t)i * rs + (size_t)k0) : 0.0f;
    }
}

/* rr_isa_ops.pack_b_bf16: a pair row of the 32-column panel holds (k, k+1) of each column; 8 columns of it
 * (16 values) widen to k's floats with a shift and to k+1's with a mask. Columns past cols are zero in the
 * panel already (rr_wmat pads them), but a 16-column slice may run past a narrower last panel's cols: masked. */
void rr_pack_b_bf16_avx2(float *dst, const uint16_t *panel, int k0, int kc, int col_off, int cols) {
    const __m256i hi = _mm256_set1_epi32((int)0xffff0000u);
    __m256i keep[2] = {mask8(cols), mask8(cols - 8)};
    int k = 0;
    if (k0 % 2) { /* an odd start: its row alone */
        for (int c = 0; c < UNR; c++)
            dst[c] = c < cols ? one_bf16(panel + (size_t)(k0 / 2) * 64 + (size_t)(col_off + c) * 2 + 1, NULL, 0) : 0.0f;
        k = 1;
    }
    for (; k + 2 <= kc; k += 2) {
        const uint16_t *row = panel + (size_t)((k0 + k) / 2) * 64 + (size_t)col_off * 2;
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            __m256i w = _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(row + 16 * h)), keep[h]);
            _mm256_store_ps(dst + (size_t)k * UNR + 8 * h, _mm256_castsi256_ps(_mm256_slli_epi32(w, 16)));
            _mm256_store_ps(dst + (size_t)(k + 1) * UNR + 8 * h, _mm256_castsi256_ps(_mm256_and_si256(w, hi)));
        }
    }
    for (; k < kc; k++) { /* an odd end: row k's even half */
        int kk = k0 + k;
        for (int c = 0; c < UNR; c++)
            dst[(size_t)k * UNR + (size_t)c] =
                c < cols ? one_bf16(panel + (size_t)(kk / 2) * 64 + (size_t)(col_off + c) * 2 + (size_t)(kk % 2), NULL, 0) : 0.0f;
    }
}

void rr_softmax_avx2(float *x, int n, float scale) {
    /* scalar: x[i] = exp(scale*x[i] - scale*max) / sum */
    __m256 mx = _mm256_set1_ps(-INFINITY);
    int i8 = n / 8 * 8;
    for (int i = 0; i < i8; i += 8) mx = _mm256_max_ps(mx, _mm256_loadu_ps(x + i));
    float lanes[8], m = -INFINITY;
    _mm256_storeu_ps(lanes, mx);
    for (int i = 0; i < 8; i++) m = lanes[i] > m ? lanes[i] : m;
    for (int i = i8; i < n; i++) m = x[i] > m ? x[i] : m;
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

/* ---- low-precision blocks: MR rows x one 32-column panel (4 groups of 8 columns) at a time, all of K ---- */

enum { LP_NR = RR_WMAT_PANEL, LP_MR = 2, I8_MR = 4, NC_PART = RR_LP_NC_MAX };

/* v (8 floats, as fast.c's bf16_of) rounded to bf16 nearest-even, NaN kept quiet */
static inline __m128i bf16x8(__m256 v) {
    __m256i u = _mm256_castps_si256(v);
    __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
    __m256i r = _mm256_srli_epi32(_mm256_add_epi32(u, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7fff))), 16);
    __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, _mm256_set1_epi32(0x7fffffff)), _mm256_set1_epi32(0x7f800000));
    r = _mm256_blendv_epi8(r, _mm256_or_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(0x40)), nan);
    __m256i p = _mm256_packus_epi32(r, r); /* [r0..3 r0..3 | r4..7 r4..7] as u16 */
    return _mm256_castsi256_si128(_mm256_permute4x64_epi64(p, 0x08));
}

/* The epilogue of 8 results of one row (ncol of them valid): + y unless first, then bias, act and res when last;
 * to yr in fp32, or to br in bf16. */
static inline __attribute__((always_inline)) void lp_put8(float *yr, uint16_t *br, int ncol, __m256 v, const rr_epi *e, int col, const float *res) {
    __m256i m = mask8(ncol);
    bool full = ncol >= 8; /* plain loads and stores then: see ld8 */
    if (!e->first) v = _mm256_add_ps(v, ld8(yr, m, full));
    if (e->last) {
        if (e->bias) v = _mm256_add_ps(v, ld8(e->bias + col, m, full));
        if (e->act == RR_ACT_GELU) v = gelu8(v);
        if (res) v = _mm256_add_ps(v, ld8(res + col, m, full));
    }
    if (!br) {
        st8(yr, m, full, v);
    } else if (ncol >= 8) {
        _mm_storeu_si128((__m128i *)br, bf16x8(v));
    } else {
        uint16_t t[8];
        _mm_storeu_si128((__m128i *)t, bf16x8(v));
        for (int i = 0; i < ncol; i++) br[i] = t[i];
    }
}

/* Rows r < mr of a tile: acc[r][g] holds columns 8g..8g+7 of the panel (ncr of the 32 valid). */
static inline __attribute__((always_inline)) void lp_store(int mr, __m256 acc[][4], float *y, int ldy, int ncr,
                                                           const rr_epi *e, int row) {
#pragma GCC unroll 4
    for (int r = 0; r < mr; r++) {
        float *yr = y + (size_t)r * (size_t)ldy;
        uint16_t *br = e->ybf ? e->ybf + (size_t)r * (size_t)e->ldbf : NULL;
        const float *res = e->res ? e->res + (size_t)(row + r) * (size_t)e->ldr : NULL;
        for (int g = 0; g < 4 && 8 * g < ncr; g++)
            lp_put8(yr + 8 * g, br ? br + 8 * g : NULL, ncr - 8 * g, acc[r][g], e, 8 * g, res);
    }
}

/* bf16 tiles run on x rows already widened to fp32 (xf, row stride KC_BF16), K in chunks of KC_BF16: the partial
 * sums of a chunk wait in part[r][c] (columns of the whole block), the epilogue runs after the last. */
enum { BF_MR = 2, KC_BF16 = 1024 };

static inline __attribute__((always_inline)) void tile_bf16(int mr, const float *xf, const uint16_t *p, int kc,
                                                            float *part, bool first, bool last, float *y, int ldy,
                                                            int ncr, const rr_epi *e, int row) {
    /* scalar: acc[r][c] += xf[r][k] * bf16(W[c,k]). A bf16 is the top half of its float: the dword of a pair
     * (k even in the low half) widens to k's float with a shift and to k+1's with a mask. */
    const __m256i hi = _mm256_set1_epi32((int)0xffff0000u);
    __m256 acc[BF_MR][4];
#pragma GCC unroll 3
    for (int r = 0; r < mr; r++)
#pragma GCC unroll 4
        for (int g = 0; g < 4; g++) acc[r][g] = first ? _mm256_setzero_ps() : _mm256_loadu_ps(part + r * NC_PART + 8 * g);
    for (int k = 0; k < kc; k += 2, p += 2 * LP_NR) {
#pragma GCC unroll 4
        for (int g = 0; g < 4; g++) {
            __m256i w = _mm256_load_si256((const __m256i *)(p + 16 * g));
            __m256 we = _mm256_castsi256_ps(_mm256_slli_epi32(w, 16)), wo = _mm256_castsi256_ps(_mm256_and_si256(w, hi));
#pragma GCC unroll 3
            for (int r = 0; r < mr; r++) {
                const float *xr = xf + r * KC_BF16 + k;
                acc[r][g] = _mm256_fmadd_ps(_mm256_broadcast_ss(xr + 1), wo,
                                            _mm256_fmadd_ps(_mm256_broadcast_ss(xr), we, acc[r][g]));
            }
        }
    }
    if (last) {
        __m256 sums[BF_MR][4]; /* a copy: with acc itself in memory, gcc stores it at every step of the loop */
#pragma GCC unroll 3
        for (int r = 0; r < mr; r++)
#pragma GCC unroll 4
            for (int g = 0; g < 4; g++) sums[r][g] = acc[r][g];
        lp_store(mr, sums, y, ldy, ncr, e, row);
        return;
    }
#pragma GCC unroll 3
    for (int r = 0; r < mr; r++)
#pragma GCC unroll 4
        for (int g = 0; g < 4; g++) _mm256_storeu_ps(part + r * NC_PART + 8 * g, acc[r][g]);
}

/* The int32 sums of up to 4 rows x one half (16 columns, groups h*2 and h*2+1) of a panel. Four rows share each
 * weight load: with two, the weights streamed from L2 at 0.5 byte per multiply-add bounded the block. A
 * function of its own: inlined into the tile, the epilogue's registers made gcc spill accumulators in the loop.
 * Rows past mr repeat row 0 (read, never stored). */
static __attribute__((noinline)) void int8_sums(int mr, __m256i out[I8_MR][4], int h, const uint8_t *x, int ldx,
                                                const int8_t *p, int kc) {
    /* scalar: acc[r][c] = sum_k q(x)[r,k] * q(W)[c,k], q(x) = stored x - 128 (a xor of the top bit). vpmaddubsw
     * multiplies |q(x)| (unsigned) by q(W) with q(x)'s sign moved onto it: each product is at most 127 * 127, so a
     * pair sum fits int16 exactly and acc equals the VNNI path's (acc - 128 * colsum) to the bit. */
    const __m256i flip = _mm256_set1_epi8((char)0x80), ones = _mm256_set1_epi16(1);
    __m256i a00 = _mm256_setzero_si256(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
    const uint8_t *x1 = x + (mr > 1 ? (size_t)ldx : 0), *x2 = x + (mr > 2 ? 2 * (size_t)ldx : 0);
    const uint8_t *x3 = x + (mr > 3 ? 3 * (size_t)ldx : 0);
    p += 64 * h;
#define I8_ROW(xr, acc0, acc1)                                                                                     \
    do {                                                                                                           \
        int32_t q;                                                                                                 \
        __builtin_memcpy(&q, (xr) + k, sizeof q);                                                                  \
        __m256i sg = _mm256_xor_si256(_mm256_set1_epi32(q), flip), ab = _mm256_abs_epi8(sg);                       \
        acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(_mm256_maddubs_epi16(ab, _mm256_sign_epi8(w0, sg)), ones)); \
        acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(_mm256_maddubs_epi16(ab, _mm256_sign_epi8(w1, sg)), ones)); \
    } while (0)
    for (int k = 0; k < kc; k += 4, p += 4 * LP_NR) {
        __m256i w0 = _mm256_load_si256((const __m256i *)p), w1 = _mm256_load_si256((const __m256i *)(p + 32));
        I8_ROW(x, a00, a01);
        I8_ROW(x1, a10, a11);
        I8_ROW(x2, a20, a21);
        I8_ROW(x3, a30, a31);
    }
#undef I8_ROW
    out[0][2 * h] = a00, out[0][2 * h + 1] = a01, out[1][2 * h] = a10, out[1][2 * h + 1] = a11;
    out[2][2 * h] = a20, out[2][2 * h + 1] = a21, out[3][2 * h] = a30, out[3][2 * h + 1] = a31;
}

/* Rows of K up to I8_PRE_K are prepared once per row block (4 x 2 x 4096 bytes of stack): for each step of
 * 4, q(x)'s 4 signed bytes then their 4 absolute values, so the loop below broadcasts both from memory
 * instead of re-deriving them (a xor and an abs per row per step, for every panel). */
enum { I8_PRE_K = 4096 };

static void int8_prepare(uint8_t *dst, const uint8_t *x, int kc) {
    const __m256i flip = _mm256_set1_epi8((char)0x80);
    int k = 0;
    for (; k + 32 <= kc; k += 32) {
        __m256i sg = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(x + k)), flip), ab = _mm256_abs_epi8(sg);
        __m256i lo = _mm256_unpacklo_epi32(sg, ab), hi = _mm256_unpackhi_epi32(sg, ab);
        _mm256_storeu_si256((__m256i *)(dst + 2 * k), _mm256_permute2x128_si256(lo, hi, 0x20));
        _mm256_storeu_si256((__m256i *)(dst + 2 * k + 32), _mm256_permute2x128_si256(lo, hi, 0x31));
    }
    for (; k < kc; k++) {
        int8_t q = (int8_t)(x[k] ^ 0x80);
        dst[2 * (k & ~3) + (k & 3)] = (uint8_t)q;
        dst[2 * (k & ~3) + 4 + (k & 3)] = (uint8_t)(q < 0 ? -q : q);
    }
}

/* int8_sums from rows prepared by int8_prepare (row r at pre + r * 2 * I8_PRE_K) */
static __attribute__((noinline)) void int8_sums_pre(int mr, __m256i out[I8_MR][4], int h, const uint8_t *pre,
                                                    const int8_t *p, int kc) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i a00 = _mm256_setzero_si256(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
    const uint8_t *x0 = pre, *x1 = pre + (mr > 1 ? 2 * I8_PRE_K : 0), *x2 = pre + (mr > 2 ? 4 * I8_PRE_K : 0);
    const uint8_t *x3 = pre + (mr > 3 ? 6 * I8_PRE_K : 0);
    p += 64 * h;
#define I8_ROW(xr, acc0, acc1)                                                                                     \
    do {                                                                                                           \
        int32_t qs, qa;                                                                                            \
        __builtin_memcpy(&qs, (xr) + 2 * k, sizeof qs);                                                            \
        __builtin_memcpy(&qa, (xr) + 2 * k + 4, sizeof qa);                                                        \
        __m256i sg = _mm256_set1_epi32(qs), ab = _mm256_set1_epi32(qa);                                            \
        acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(_mm256_maddubs_epi16(ab, _mm256_sign_epi8(w0, sg)), ones)); \
        acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(_mm256_maddubs_epi16(ab, _mm256_sign_epi8(w1, sg)), ones)); \
    } while (0)
    for (int k = 0; k < kc; k += 4, p += 4 * LP_NR) {
        __m256i w0 = _mm256_load_si256((const __m256i *)p), w1 = _mm256_load_si256((const __m256i *)(p + 32));
        I8_ROW(x0, a00, a01);
        I8_ROW(x1, a10, a11);
        I8_ROW(x2, a20, a21);
        I8_ROW(x3, a30, a31);
    }
#undef I8_ROW
    out[0][2 * h] = a00, out[0][2 * h + 1] = a01, out[1][2 * h] = a10, out[1][2 * h + 1] = a11;
    out[2][2 * h] = a20, out[2][2 * h + 1] = a21, out[3][2 * h] = a30, out[3][2 * h + 1] = a31;
}

/* AVX-VNNI (Intel since Alder Lake and Sapphire Rapids; AMD since Zen 5): vpdpbusd adds 4 products of unsigned by
 * signed bytes into each int32 lane without an int16 step, so it takes the stored rows (q(x) + 128) as they are
 * and one instruction per 32 multiply-adds; acc - 128 * colsum is then the int32 of the maddubs path and of every
 * other instruction set. The same loop with vpdpbusd spelt in AVX2 (int8_dot_emulated: exact, four times the
 * work) is compiled too, so that the tests run this loop on CPUs without AVX-VNNI. */
__attribute__((target("avxvnni"))) static inline __m256i int8_dot_vnni(__m256i acc, __m256i u, __m256i s) {
    return _mm256_dpbusd_avx_epi32(acc, u, s);
}

static inline __m256i int8_dot_emulated(__m256i acc, __m256i u, __m256i s) {
    /* bytes 0 and 2 of each 32-bit lane, then bytes 1 and 3, widened to int16 (u by zeros, s by its sign):
     * vpmaddwd's products are at most 255 * 128 and its sums exact in int32 */
    __m256i u_even = _mm256_and_si256(u, _mm256_set1_epi16(0xff)), u_odd = _mm256_srli_epi16(u, 8);
    __m256i s_even = _mm256_srai_epi16(_mm256_slli_epi16(s, 8), 8), s_odd = _mm256_srai_epi16(s, 8);
    return _mm256_add_epi32(acc, _mm256_add_epi32(_mm256_madd_epi16(u_even, s_even), _mm256_madd_epi16(u_odd, s_odd)));
}

/* int8_sums with a 4-byte dot product DOT(acc, stored x bytes, weights): sums of (q(x) + 128) * q(W), to which
 * the tile applies - 128 * colsum. */
#define INT8_DOT_SUMS(NAME, ATTR, DOT)                                                                              \
    static ATTR __attribute__((noinline)) void NAME(int mr, __m256i out[I8_MR][4], int h, const uint8_t *x, int ldx, \
                                                    const int8_t *p, int kc) {                                      \
        __m256i a00 = _mm256_setzero_si256(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00,     \
                a31 = a00;                                                                                          \
        const uint8_t *x1 = x + (mr > 1 ? (size_t)ldx : 0), *x2 = x + (mr > 2 ? 2 * (size_t)ldx : 0);             \
        const uint8_t *x3 = x + (mr > 3 ? 3 * (size_t)ldx : 0);                                                    \
        p += 64 * h;                                                                                                \
        for (int k = 0; k < kc; k += 4, p += 4 * LP_NR) {                                                           \
            __m256i w0 = _mm256_load_si256((const __m256i *)p), w1 = _mm256_load_si256((const __m256i *)(p + 32)); \
            int32_t q0, q1, q2, q3;                                                                                 \
            __builtin_memcpy(&q0, x + k, 4), __builtin_memcpy(&q1, x1 + k, 4);                                      \
            __builtin_memcpy(&q2, x2 + k, 4), __builtin_memcpy(&q3, x3 + k, 4);                                     \
            __m256i b0 = _mm256_set1_epi32(q0), b1 = _mm256_set1_epi32(q1), b2 = _mm256_set1_epi32(q2),            \
                    b3 = _mm256_set1_epi32(q3);                                                                     \
            a00 = DOT(a00, b0, w0), a01 = DOT(a01, b0, w1), a10 = DOT(a10, b1, w0), a11 = DOT(a11, b1, w1);         \
            a20 = DOT(a20, b2, w0), a21 = DOT(a21, b2, w1), a30 = DOT(a30, b3, w0), a31 = DOT(a31, b3, w1);         \
        }                                                                                                           \
        out[0][2 * h] = a00, out[0][2 * h + 1] = a01, out[1][2 * h] = a10, out[1][2 * h + 1] = a11;                 \
        out[2][2 * h] = a20, out[2][2 * h + 1] = a21, out[3][2 * h] = a30, out[3][2 * h + 1] = a31;                 \
    }
INT8_DOT_SUMS(int8_sums_vnni, __attribute__((target("avxvnni"))), int8_dot_vnni)
INT8_DOT_SUMS(int8_sums_emulated, , int8_dot_emulated)
#undef INT8_DOT_SUMS

/* How a tile's int32 sums are made: vpmaddubsw on sign-moved products (from prepared rows when pre is given),
 * vpdpbusd, or vpdpbusd emulated. */
typedef enum { I8_MADDUBS, I8_VNNI, I8_EMULATED } int8_kind;

static inline __attribute__((always_inline)) void tile_int8(int8_kind kind, int mr, float *y, int ldy,
                                                            const uint8_t *x, int ldx, const float *xscale,
                                                            const int8_t *p, const float *wscale, const int32_t *colsum,
                                                            int kc, int ncr, const rr_epi *e, int row,
                                                            const uint8_t *pre) {
    __m256i acc[I8_MR][4];
    for (int h = 0; h < (ncr > 16 ? 2 : 1); h++) {
        if (kind == I8_VNNI) int8_sums_vnni(mr, acc, h, x, ldx, p, kc);
        else if (kind == I8_EMULATED) int8_sums_emulated(mr, acc, h, x, ldx, p, kc);
        else if (pre) int8_sums_pre(mr, acc, h, pre, p, kc);
        else int8_sums(mr, acc, h, x, ldx, p, kc);
    }
    if (ncr <= 16)
        acc[0][2] = acc[0][3] = acc[1][2] = acc[1][3] = acc[2][2] = acc[2][3] = acc[3][2] = acc[3][3] = _mm256_setzero_si256();
    __m256 v[I8_MR][4];
#pragma GCC unroll 4
    for (int g = 0; g < 4; g++) {
        __m256i mg = mask8(ncr - 8 * g);
        bool full = ncr - 8 * g >= 8;
        __m256 ws = ld8(wscale + 8 * g, mg, full);
        /* the unsigned rows' offset: 128 * colsum (columns past ncr: 0, as their sums) */
        __m256i off = kind == I8_MADDUBS ? _mm256_setzero_si256()
                                         : _mm256_slli_epi32(full ? _mm256_loadu_si256((const __m256i *)(colsum + 8 * g))
                                                                  : _mm256_maskload_epi32(colsum + 8 * g, mg), 7);
#pragma GCC unroll 4
        for (int r = 0; r < mr; r++) /* as the AVX-512 block: acc * (wscale * xscale) */
            v[r][g] = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(acc[r][g], off)),
                                    _mm256_mul_ps(ws, _mm256_set1_ps(xscale[r])));
    }
    lp_store(mr, v, y, ldy, ncr, e, row);
}

/* The tile's epilogue with bias, res and bf16 output moved to panel column c0 and row r0. */
static inline rr_epi lp_shift(const rr_epi *e, int r0, int c0) {
    rr_epi s = *e;
    s.bias = e->bias ? e->bias + c0 : NULL;
    s.res = e->res ? e->res + c0 : NULL;
    s.ybf = e->ybf ? e->ybf + (size_t)r0 * (size_t)e->ldbf + c0 : NULL;
    return s;
}

void rr_block_bf16_avx2(float *y, int ldy, const uint16_t *x, int ldx, const uint16_t *pb, size_t pstride, int m,
                        int kc, int nc, const rr_epi *e) {
    float xf[BF_MR * KC_BF16] __attribute__((aligned(32))), part[BF_MR * NC_PART] __attribute__((aligned(32)));
    for (int r0 = 0; r0 < m; r0 += BF_MR) {
        int mr = m - r0 < BF_MR ? m - r0 : BF_MR;
        for (int k0 = 0; k0 < kc; k0 += KC_BF16) {
            int kn = kc - k0 < KC_BF16 ? kc - k0 : KC_BF16;
#pragma GCC unroll 3
            for (int r = 0; r < mr; r++) { /* the rows' chunk widened once for every panel */
                const uint16_t *xr = x + (size_t)(r0 + r) * (size_t)ldx + k0;
                float *xd = xf + r * KC_BF16;
                int k = 0;
                for (; k + 8 <= kn; k += 8)
                    _mm256_store_ps(xd + k, _mm256_castsi256_ps(_mm256_slli_epi32(
                                                _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(xr + k))), 16)));
                for (; k < kn; k++) {
                    uint32_t u = (uint32_t)xr[k] << 16;
                    __builtin_memcpy(xd + k, &u, sizeof u);
                }
            }
            for (int c0 = 0; c0 < nc; c0 += LP_NR) {
                float *yt = y + (size_t)r0 * (size_t)ldy + c0;
                const uint16_t *p = pb + (size_t)(c0 / LP_NR) * pstride + (size_t)k0 * LP_NR;
                int ncr = nc - c0 < LP_NR ? nc - c0 : LP_NR;
                rr_epi ee = lp_shift(e, r0, c0);
                bool first = k0 == 0, last = k0 + kn >= kc;
                float *pt = part + c0;
                if (mr == 3) tile_bf16(3, xf, p, kn, pt, first, last, yt, ldy, ncr, &ee, r0);
                else if (mr == 2) tile_bf16(2, xf, p, kn, pt, first, last, yt, ldy, ncr, &ee, r0);
                else tile_bf16(1, xf, p, kn, pt, first, last, yt, ldy, ncr, &ee, r0);
            }
        }
    }
}

static inline __attribute__((always_inline)) void block_int8(int8_kind kind, float *y, int ldy, const uint8_t *x,
                                                             int ldx, const float *xscale, const int8_t *pb,
                                                             size_t pstride, const float *wscale,
                                                             const int32_t *colsum, int m, int kc, int nc,
                                                             const rr_epi *e) {
    /* maddubs: rows of K up to I8_PRE_K prepared once per row block */
    uint8_t prepared[I8_MR * 2 * I8_PRE_K] __attribute__((aligned(32)));
    const uint8_t *pre = kind == I8_MADDUBS && kc <= I8_PRE_K ? prepared : NULL;
    for (int r0 = 0; r0 < m; r0 += I8_MR) {
        const uint8_t *xr = x + (size_t)r0 * (size_t)ldx;
        for (int r = 0; pre && r < I8_MR && r0 + r < m; r++)
            int8_prepare(prepared + (size_t)r * 2 * I8_PRE_K, xr + (size_t)r * (size_t)ldx, kc);
        for (int c0 = 0; c0 < nc; c0 += LP_NR) {
            float *yt = y + (size_t)r0 * (size_t)ldy + c0;
            const int8_t *p = pb + (size_t)(c0 / LP_NR) * pstride;
            const float *xs = xscale + r0, *ws = wscale + c0;
            const int32_t *cs = colsum + c0;
            int ncr = nc - c0 < LP_NR ? nc - c0 : LP_NR;
            rr_epi ee = lp_shift(e, r0, c0);
            switch (m - r0 >= I8_MR ? I8_MR : m - r0) { /* constant row counts: the epilogue unrolls */
            case 4: tile_int8(kind, 4, yt, ldy, xr, ldx, xs, p, ws, cs, kc, ncr, &ee, r0, pre); break;
            case 3: tile_int8(kind, 3, yt, ldy, xr, ldx, xs, p, ws, cs, kc, ncr, &ee, r0, pre); break;
            case 2: tile_int8(kind, 2, yt, ldy, xr, ldx, xs, p, ws, cs, kc, ncr, &ee, r0, pre); break;
            default: tile_int8(kind, 1, yt, ldy, xr, ldx, xs, p, ws, cs, kc, ncr, &ee, r0, pre); break;
            }
        }
    }
}

void rr_block_int8_avx2(float *y, int ldy, const uint8_t *x, int ldx, const float *xscale, const int8_t *pb,
                        size_t pstride, const float *wscale, const int32_t *colsum, int m, int kc, int nc,
                        const rr_epi *e) {
    block_int8(I8_MADDUBS, y, ldy, x, ldx, xscale, pb, pstride, wscale, colsum, m, kc, nc, e);
}

void rr_block_int8_avxvnni(float *y, int ldy, const uint8_t *x, int ldx, const float *xscale, const int8_t *pb,
                           size_t pstride, const float *wscale, const int32_t *colsum, int m, int kc, int nc,
                           const rr_epi *e) {
    block_int8(I8_VNNI, y, ldy, x, ldx, xscale, pb, pstride, wscale, colsum, m, kc, nc, e);
}

void rr_block_int8_avxvnni_emulated(float *y, int ldy, const uint8_t *x, int ldx, const float *xscale,
                                    const int8_t *pb, size_t pstride, const float *wscale, const int32_t *colsum,
                                    int m, int kc, int nc, const rr_epi *e) {
    block_int8(I8_EMULATED, y, ldy, x, ldx, xscale, pb, pstride, wscale, colsum, m, kc, nc, e);
}

/* ---- row conversions for the low-precision blocks ---- */

void rr_to_bf16_avx2(uint16_t *dst, const float *x, int n) {
    int i = 0;
    for (; i + 8 <= n; i += 8) _mm_storeu_si128((__m128i *)(dst + i), bf16x8(_mm256_loadu_ps(x + i)));
    if (i < n) {
        uint16_t t[8];
        _mm_storeu_si128((__m128i *)t, bf16x8(_mm256_maskload_ps(x + i, mask8(n - i))));
        for (int j = 0; i + j < n; j++) dst[i + j] = t[j];
    }
}

float rr_quant_row_avx2(uint8_t *dst, const float *x, int n, int kq) {
    /* scalar: fast.c's quant_row; cvtps rounds to nearest even, as nearbyintf */
    __m256 mx = _mm256_setzero_ps(), sign = _mm256_set1_ps(-0.0f);
    for (int i = 0; i < n; i += 8) mx = _mm256_max_ps(mx, _mm256_andnot_ps(sign, _mm256_maskload_ps(x + i, mask8(n - i))));
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    float amax = _mm_cvtss_f32(_mm_max_ss(m4, _mm_movehdup_ps(m4)));
    float sc = amax > 0 ? amax / 127.0f : 1.0f, inv = 127.0f / (amax > 0 ? amax : 127.0f);
    __m256 vinv = _mm256_set1_ps(inv);
    __m256i lo = _mm256_set1_epi32(-127), hi = _mm256_set1_epi32(127), off = _mm256_set1_epi32(128);
    for (int i = 0; i < n; i += 8) {
        __m256i q = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_maskload_ps(x + i, mask8(n - i)), vinv));
        q = _mm256_add_epi32(_mm256_min_epi32(_mm256_max_epi32(q, lo), hi), off);
        __m256i b = _mm256_packus_epi16(_mm256_packs_epi32(q, q), _mm256_setzero_si256());
        uint32_t q0 = (uint32_t)_mm256_extract_epi32(b, 0), q1 = (uint32_t)_mm256_extract_epi32(b, 4);
        uint8_t t[8];
        __builtin_memcpy(t, &q0, 4);
        __builtin_memcpy(t + 4, &q1, 4);
        for (int j = 0; j < 8 && i + j < n; j++) dst[i + j] = t[j];
    }
    for (int i = n; i < kq; i++) dst[i] = 128;
    return sc;
}
