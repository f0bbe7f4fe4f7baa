/* fast_neon.c - ARM64 baseline (Armv8.0 Advanced SIMD) kernels: the packed-GEMM micro-kernel (6 x 16 fp32 tile,
 * 24 accumulators, fmla by element), softmax and LayerNorm rows, and the low-precision blocks for CPUs without
 * the dot-product extensions: bf16 widened to fp32 by shifts, int8 by widening multiplies (smull/smlal). */
#include <arm_neon.h>
#include <math.h>
#include <string.h>

#include "kernels/arm64/arm64.h"
#include "kernels/arm64/simd_neon.h"

/* ---- packed-GEMM micro-kernel: 6 rows x 16 columns = 24 q-register accumulators ---- */

enum { UMR = 6, UNR = 16, LP_NR = RR_WMAT_PANEL };

static inline float32x4_t uepilogue(float32x4_t acc, float *c, int n, const rr_uepi *e, int col, const float *res) {
    float32x4_t v = e->alpha == 1.0f ? acc : vmulq_n_f32(acc, e->alpha);
    if (!e->first) v = vaddq_f32(v, rr_load_n(c, n));
    else if (e->beta != 0.0f) v = vfmaq_f32(v, vdupq_n_f32(e->beta), rr_load_n(c, n));
    if (e->last) {
        if (e->bias) v = vaddq_f32(v, rr_load_n(e->bias + col, n));
        if (e->act == RR_ACT_GELU) v = rr_gelu4(v);
        if (res) v = vaddq_f32(v, rr_load_n(res + col, n));
    }
    return v;
}

void rr_ukernel_neon(float *c, int ldc, const float *pa, const float *pb, int kc, int mr, int nr, const rr_uepi *e) {
    /* scalar: acc[r][j] = sum_k pa[k*6 + r] * pb[k*16 + j] */
    float32x4_t acc[UMR][4];
#pragma GCC unroll 6
    for (int r = 0; r < UMR; r++) acc[r][0] = acc[r][1] = acc[r][2] = acc[r][3] = vdupq_n_f32(0.0f);
    for (int k = 0; k < kc; k++, pa += UMR, pb += UNR) {
        float32x4_t b0 = vld1q_f32(pb), b1 = vld1q_f32(pb + 4), b2 = vld1q_f32(pb + 8), b3 = vld1q_f32(pb + 12);
        float32x4_t a03 = vld1q_f32(pa);
        float32x2_t a45 = vld1_f32(pa + 4);
#define RR_ROW_Q(r, lane)                                                                                          \
    acc[r][0] = vfmaq_laneq_f32(acc[r][0], b0, a03, lane);                                                        \
    acc[r][1] = vfmaq_laneq_f32(acc[r][1], b1, a03, lane);                                                        \
    acc[r][2] = vfmaq_laneq_f32(acc[r][2], b2, a03, lane);                                                        \
    acc[r][3] = vfmaq_laneq_f32(acc[r][3], b3, a03, lane);
#define RR_ROW_D(r, lane)                                                                                          \
    acc[r][0] = vfmaq_lane_f32(acc[r][0], b0, a45, lane);                                                         \
    acc[r][1] = vfmaq_lane_f32(acc[r][1], b1, a45, lane);                                                         \
    acc[r][2] = vfmaq_lane_f32(acc[r][2], b2, a45, lane);                                                         \
    acc[r][3] = vfmaq_lane_f32(acc[r][3], b3, a45, lane);
        RR_ROW_Q(0, 0) RR_ROW_Q(1, 1) RR_ROW_Q(2, 2) RR_ROW_Q(3, 3) RR_ROW_D(4, 0) RR_ROW_D(5, 1)
#undef RR_ROW_Q
#undef RR_ROW_D
    }
    /* a copy for the epilogue's run-time indexing: with acc itself in memory, gcc stores it at every k */
    float32x4_t sums[UMR][4];
#pragma GCC unroll 6
    for (int r = 0; r < UMR; r++) sums[r][0] = acc[r][0], sums[r][1] = acc[r][1], sums[r][2] = acc[r][2], sums[r][3] = acc[r][3];
    for (int r = 0; r < mr && r < UMR; r++) {
        float *cr = c + (size_t)r * (size_t)ldc;
        const float *res = e->res ? e->res + (size_t)r * (size_t)e->ldr : NULL;
        for (int v = 0; v < 4 && 4 * v < nr; v++) {
            int n = nr - 4 * v;
            rr_store_n(cr + 4 * v, uepilogue(sums[r][v], cr + 4 * v, n, e, 4 * v, res), n);
        }
    }
}

void rr_softmax_neon(float *x, int n, float scale) {
    /* scalar: x[i] = exp(scale*x[i] - scale*max) / sum */
    float m = -INFINITY;
    for (int i = 0; i < n; i++) m = x[i] > m ? x[i] : m;
    float32x4_t vs = vdupq_n_f32(scale), vm = vdupq_n_f32(scale * m), sum = vdupq_n_f32(0.0f);
    for (int i = 0; i < n; i += 4) {
        int k = n - i;
        /* the lanes past n (zeros) must not add to the sum */
        float32x4_t v = rr_exp4(vfmaq_f32(vnegq_f32(vm), rr_load_n(x + i, k), vs));
        if (k < 4) {
            float b[4];
            vst1q_f32(b, v);
            for (int j = k; j < 4; j++) b[j] = 0.0f;
            v = vld1q_f32(b);
        }
        sum = vaddq_f32(sum, v);
        rr_store_n(x + i, v, k);
    }
    float32x4_t inv = vdupq_n_f32(1.0f / vaddvq_f32(sum));
    for (int i = 0; i < n; i += 4) rr_store_n(x + i, vmulq_f32(rr_load_n(x + i, n - i), inv), n - i);
}

void rr_layernorm_row_neon(float *y, const float *x, const float *w, const float *b, int dim, float eps) {
    /* scalar: y = (x - mean) / sqrt(var + eps) * w + b; the tail (dim % 4) in plain C */
    int v = dim / 4 * 4;
    float32x4_t s = vdupq_n_f32(0.0f);
    for (int i = 0; i < v; i += 4) s = vaddq_f32(s, vld1q_f32(x + i));
    float sum = vaddvq_f32(s), sq = 0.0f;
    for (int i = v; i < dim; i++) sum += x[i];
    float mean = sum / (float)dim;
    float32x4_t vm = vdupq_n_f32(mean), q = vdupq_n_f32(0.0f);
    for (int i = 0; i < v; i += 4) {
        float32x4_t d = vsubq_f32(vld1q_f32(x + i), vm);
        q = vfmaq_f32(q, d, d);
    }
    sq = vaddvq_f32(q);
    for (int i = v; i < dim; i++) sq += (x[i] - mean) * (x[i] - mean);
    float r = 1.0f / sqrtf(sq / (float)dim + eps);
    float32x4_t rstd = vdupq_n_f32(r);
    for (int i = 0; i < v; i += 4) {
        float32x4_t d = vmulq_f32(vsubq_f32(vld1q_f32(x + i), vm), rstd);
        vst1q_f32(y + i, vfmaq_f32(vld1q_f32(b + i), d, vld1q_f32(w + i)));
    }
    for (int i = v; i < dim; i++) y[i] = (x[i] - mean) * r * w[i] + b[i];
}

/* ---- bf16 block: tiles of 4 rows x 16 columns; a bf16 is the top half of an fp32, so widening is a shift
 * (the pair's first value, the low half of each 32-bit lane) or a mask (the second, the high half) ---- */

enum { BR = 4, BC = 16 };

static inline __attribute__((always_inline)) void bf16_tile(int mr, float *y, int ldy, const uint16_t *x, int ldx,
                                                            int r0, const uint16_t *p, int kc, int c, int nc,
                                                            const rr_epi *e) {
    float32x4_t acc[BR][4]; /* every row loop unrolled: one left rolled kept acc in memory, stored at every k */
#pragma GCC unroll 4
    for (int r = 0; r < mr; r++) acc[r][0] = acc[r][1] = acc[r][2] = acc[r][3] = vdupq_n_f32(0.0f);
    const uint16_t *xr[BR];
#pragma GCC unroll 4
    for (int r = 0; r < mr; r++) xr[r] = x + (size_t)(r0 + r) * (size_t)ldx;
    const uint32x4_t hi = vdupq_n_u32(0xffff0000u);
    for (int k = 0; k < kc; k += 2, p += 2 * LP_NR) {
        float32x4_t w0[4], w1[4]; /* the pair's first / second weight of columns 4v .. 4v+3 */
#pragma GCC unroll 4
        for (int v = 0; v < 4; v++) {
            uint32x4_t u = vreinterpretq_u32_u16(vld1q_u16(p + 8 * v));
            w0[v] = vreinterpretq_f32_u32(vshlq_n_u32(u, 16));
            w1[v] = vreinterpretq_f32_u32(vandq_u32(u, hi));
        }
#pragma GCC unroll 4
        for (int r = 0; r < mr; r++) {
            uint32_t pair;
            memcpy(&pair, xr[r] + k, sizeof pair);
            /* (x[k], x[k+1]) widened: each bf16 moved to the top half of a 32-bit lane */
            float32x2_t xv = vreinterpret_f32_u32(vget_low_u32(vshll_n_u16(vreinterpret_u16_u32(vdup_n_u32(pair)), 16)));
#pragma GCC unroll 4
            for (int v = 0; v < 4; v++) {
                acc[r][v] = vfmaq_lane_f32(acc[r][v], w0[v], xv, 0);
                acc[r][v] = vfmaq_lane_f32(acc[r][v], w1[v], xv, 1);
            }
        }
    }
    float32x4_t sums[BR][4]; /* a copy for the epilogue: with acc itself in memory, gcc stores it at every k */
#pragma GCC unroll 4
    for (int r = 0; r < mr; r++) sums[r][0] = acc[r][0], sums[r][1] = acc[r][1], sums[r][2] = acc[r][2], sums[r][3] = acc[r][3];
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < 4 && c + 4 * v < nc; v++)
            rr_lp_epilogue4(y, ldy, r0 + r, c + 4 * v, nc - c - 4 * v, sums[r][v], e);
}

void rr_block_bf16_neon(float *y, int ldy, const uint16_t *x, int ldx, const uint16_t *pb, size_t pstride, int m,
                        int kc, int nc, const rr_epi *e) {
    for (int c = 0; c < nc; c += BC) {
        /* 16 columns of one 32-column panel: pair k at p[k/2 * 64 + c%32 * 2] */
        const uint16_t *p = pb + (size_t)(c / LP_NR) * pstride + (size_t)(c % LP_NR) * 2;
        for (int r0 = 0; r0 < m; r0 += BR) {
            switch (m - r0 < BR ? m - r0 : BR) {
            case 4: bf16_tile(4, y, ldy, x, ldx, r0, p, kc, c, nc, e); break;
            case 3: bf16_tile(3, y, ldy, x, ldx, r0, p, kc, c, nc, e); break;
            case 2: bf16_tile(2, y, ldy, x, ldx, r0, p, kc, c, nc, e); break;
            default: bf16_tile(1, y, ldy, x, ldx, r0, p, kc, c, nc, e); break;
            }
        }
    }
}

/* ---- int8 block without the dot product: the activations made signed (u ^ 0x80 = q), so the sums equal
 * acc - 128 * colsum exactly; two quads' products (|q*w| <= 127*127) are summed in 16 bits by smull + smlal,
 * then pairwise into 32 bits (sadalp). Tiles of 4 rows x 8 columns, every loop over them unrolled: 16
 * accumulators, 4 weight registers and a row's quads fit the 32 registers (4 x 16's 32 accumulators could
 * not: gcc loaded and stored them at every k step). ---- */

enum { I8_NV = 2, I8_BC = 4 * I8_NV }; /* I8_NV groups of 4 columns */

static inline int8x16_t quad_of(const uint8_t *xr, int k) { /* x[k..k+3] as signed q, repeated 4 times */
    uint32_t u;
    memcpy(&u, xr + k, sizeof u);
    return veorq_s8(vreinterpretq_s8_u32(vdupq_n_u32(u)), vdupq_n_s8((int8_t)0x80));
}

static inline __attribute__((always_inline)) void int8_tile(int mr, float *y, int ldy, const uint8_t *x, int ldx,
                                                            const float *xscale, int r0, const int8_t *p,
                                                            const float *wscale, int kc, int c, int nc,
                                                            const rr_epi *e) {
    /* acc[r][h]: h = halves of the 8 columns (2 columns each), lanes = (column, k half) partial sums */
    int32x4_t acc[BR][2 * I8_NV];
#pragma GCC unroll 4
    for (int r = 0; r < mr; r++)
#pragma GCC unroll 4
        for (int h = 0; h < 2 * I8_NV; h++) acc[r][h] = vdupq_n_s32(0);
    const uint8_t *xr[BR];
#pragma GCC unroll 4
    for (int r = 0; r < mr; r++) xr[r] = x + (size_t)(r0 + r) * (size_t)ldx;
    int k = 0;
    for (; k + 8 <= kc; k += 8, p += 8 * LP_NR) {
        int8x16_t w0[I8_NV], w1[I8_NV]; /* quad k/4 and the next, columns 4v .. 4v+3 */
#pragma GCC unroll 2
        for (int v = 0; v < I8_NV; v++) w0[v] = vld1q_s8(p + 16 * v), w1[v] = vld1q_s8(p + 4 * LP_NR + 16 * v);
#pragma GCC unroll 4
        for (int r = 0; r < mr; r++) {
            int8x16_t q0 = quad_of(xr[r], k), q1 = quad_of(xr[r], k + 4);
#pragma GCC unroll 2
            for (int v = 0; v < I8_NV; v++) {
                int16x8_t lo = vmlal_s8(vmull_s8(vget_low_s8(w0[v]), vget_low_s8(q0)), vget_low_s8(w1[v]), vget_low_s8(q1));
                int16x8_t hi = vmlal_high_s8(vmull_high_s8(w0[v], q0), w1[v], q1);
                acc[r][2 * v] = vpadalq_s16(acc[r][2 * v], lo);
                acc[r][2 * v + 1] = vpadalq_s16(acc[r][2 * v + 1], hi);
            }
            rr_load_fence(); /* the next row's quads loaded after this row's products */
        }
    }
    if (k < kc) { /* one quad left */
        int8x16_t w0[I8_NV];
#pragma GCC unroll 2
        for (int v = 0; v < I8_NV; v++) w0[v] = vld1q_s8(p + 16 * v);
#pragma GCC unroll 4
        for (int r = 0; r < mr; r++) {
            int8x16_t q0 = quad_of(xr[r], k);
#pragma GCC unroll 2
            for (int v = 0; v < I8_NV; v++) {
                acc[r][2 * v] = vpadalq_s16(acc[r][2 * v], vmull_s8(vget_low_s8(w0[v]), vget_low_s8(q0)));
                acc[r][2 * v + 1] = vpadalq_s16(acc[r][2 * v + 1], vmull_high_s8(w0[v], q0));
            }
        }
    }
    /* lanes (c0 lo, c0 hi, c1 lo, c1 hi) + (c2 .., c3 ..) pairwise -> (c0, c1, c2, c3); a copy for the
     * epilogue, as in bf16_tile */
    int32x4_t sums[BR][I8_NV];
#pragma GCC unroll 4
    for (int r = 0; r < mr; r++)
#pragma GCC unroll 2
        for (int v = 0; v < I8_NV; v++) sums[r][v] = vpaddq_s32(acc[r][2 * v], acc[r][2 * v + 1]);
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < I8_NV && c + 4 * v < nc; v++) {
            int32x4_t s = sums[r][v];
            int n = nc - c - 4 * v;
            rr_lp_epilogue4(y, ldy, r0 + r, c + 4 * v, n, rr_int8_scale4(s, xscale[r0 + r], wscale + c + 4 * v, n), e);
        }
}

void rr_block_int8_neon(float *y, int ldy, const uint8_t *x, int ldx, const float *xscale, const int8_t *pb,
                        size_t pstride, const float *wscale, const int32_t *colsum, int m, int kc, int nc,
                        const rr_epi *e) {
    (void)colsum; /* signed activations: the sums need no correction */
    for (int c = 0; c < nc; c += I8_BC) {
        const int8_t *p = pb + (size_t)(c / LP_NR) * pstride + (size_t)(c % LP_NR) * 4;
        for (int r0 = 0; r0 < m; r0 += BR) {
            switch (m - r0 < BR ? m - r0 : BR) {
            case 4: int8_tile(4, y, ldy, x, ldx, xscale, r0, p, wscale, kc, c, nc, e); break;
            case 3: int8_tile(3, y, ldy, x, ldx, xscale, r0, p, wscale, kc, c, nc, e); break;
            case 2: int8_tile(2, y, ldy, x, ldx, xscale, r0, p, wscale, kc, c, nc, e); break;
            default: int8_tile(1, y, ldy, x, ldx, xscale, r0, p, wscale, kc, c, nc, e); break;
            }
        }
    }
}

/* ---- the low-precision blocks' row conversions: the same values as fast.c's to_bf16_c / quant_row ---- */

void rr_to_bf16_neon(uint16_t *dst, const float *x, int n) {
    int k = 0;
    for (; k + 4 <= n; k += 4) vst1_u16(dst + k, rr_bf16_of4(vld1q_f32(x + k)));
    if (k < n) {
        uint16_t b[4];
        vst1_u16(b, rr_bf16_of4(rr_load_n(x + k, n - k)));
        memcpy(dst + k, b, (size_t)(n - k) * sizeof *dst);
    }
}

float rr_quant_row_neon(uint8_t *dst, const float *x, int n, int kq) {
    /* scalar: amax = max |x| (NaN ignored: fmaxnm); q = round-to-even(x * (127 / amax)) clamped to +-127, + 128 */
    float32x4_t m = vdupq_n_f32(0.0f);
    int k = 0;
    for (; k + 4 <= n; k += 4) m = vmaxnmq_f32(m, vabsq_f32(vld1q_f32(x + k)));
    float amax = vmaxnmvq_f32(m);
    for (; k < n; k++) amax = fabsf(x[k]) > amax ? fabsf(x[k]) : amax;
    float sc = amax > 0 ? amax / 127.0f : 1.0f, inv = 127.0f / (amax > 0 ? amax : 127.0f);
    const int32x4_t lo = vdupq_n_s32(-127), hi = vdupq_n_s32(127), off = vdupq_n_s32(128);
    for (k = 0; k + 8 <= n; k += 8) {
        int32x4_t q0 = vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(x + k), inv));
        int32x4_t q1 = vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(x + k + 4), inv));
        q0 = vaddq_s32(vminq_s32(vmaxq_s32(q0, lo), hi), off);
        q1 = vaddq_s32(vminq_s32(vmaxq_s32(q1, lo), hi), off);
        vst1_u8(dst + k, vmovn_u16(vcombine_u16(vmovn_u32(vreinterpretq_u32_s32(q0)), vmovn_u32(vreinterpretq_u32_s32(q1)))));
    }
    for (; k < n; k++) {
        dst[k] = (uint8_t)(rr_q8_level(x[k] * inv) + 128);
    }
    for (k = n; k < kq; k++) dst[k] = 128;
    return sc;
}
