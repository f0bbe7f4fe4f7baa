/* fast_neon_bf16.c - the bf16 block on the Armv8.6 bf16 extension (bfmmla: a 2 x 4 by 4 x 2 bf16 product into
 * a 2 x 2 fp32 tile, 16 multiply-adds an instruction), for CPUs with HWCAP2_BF16 (Graviton 3+, Neoverse
 * N2/V1+, Apple M2+). Sums differ from the widening path by float rounding only. */
#include <arm_neon.h>
#include <string.h>

#include "kernels/arm64/arm64.h"
#include "kernels/arm64/simd_neon.h"

enum { LP_NR = RR_WMAT_PANEL, BC = 16 };

/* rows a and b, k .. k+3: bfmmla's left operand (two 8-byte loads, no trip through the stack) */
static inline bfloat16x8_t row_pair(const uint16_t *a, const uint16_t *b, int k) {
    return vreinterpretq_bf16_u16(vcombine_u16(vld1_u16(a + k), vld1_u16(b + k)));
}

/* the same for the last 2 of K: k, k+1 and zeros */
static inline bfloat16x8_t row_pair_half(const uint16_t *a, const uint16_t *b, int k) {
    uint16_t t[8] = {0};
    memcpy(t, a + k, 4);
    memcpy(t + 4, b + k, 4);
    return vreinterpretq_bf16_u16(vld1q_u16(t));
}

/* Rows r0, r0+1 x 16 columns: acc[v2] holds (r0 c, r0 c+1, r1 c, r1 c+1) for column pair c = 2*v2. */
static void tile2(float *y, int ldy, const uint16_t *x, int ldx, int r0, int rows, const uint16_t *p, int kc, int c,
                  int nc, const rr_epi *e) {
    float32x4_t acc[8];
    for (int i = 0; i < 8; i++) acc[i] = vdupq_n_f32(0.0f);
    const uint16_t *xa = x + (size_t)r0 * (size_t)ldx, *xb = rows > 1 ? xa + ldx : xa;
    /* pairs k/2 and k/2+1 of columns 4v .. 4v+3, interleaved per column: (c k0-1, c k2-3, c+1 ..); the second zero
     * for a last half step. Full steps in the loop, the half one after it, as in fast_neon_i8mm.c: the test inside
     * the loop cost 11 scalar instructions a step. */
#define RR_STEP(a, half)                                                                                           \
    _Pragma("GCC unroll 4") for (int v = 0; v < 4; v++) {                                                          \
        uint32x4_t q0 = vreinterpretq_u32_u16(vld1q_u16(p + 8 * v));                                               \
        uint32x4_t q1 = (half) ? vdupq_n_u32(0) : vreinterpretq_u32_u16(vld1q_u16(p + 2 * LP_NR + 8 * v));         \
        acc[2 * v] = vbfmmlaq_f32(acc[2 * v], a, vreinterpretq_bf16_u32(vzip1q_u32(q0, q1)));                      \
        acc[2 * v + 1] = vbfmmlaq_f32(acc[2 * v + 1], a, vreinterpretq_bf16_u32(vzip2q_u32(q0, q1)));              \
    }
    int k = 0;
    for (; k + 4 <= kc; k += 4, p += 4 * LP_NR) {
        bfloat16x8_t a = row_pair(xa, xb, k);
        RR_STEP(a, 0)
    }
    if (k < kc) {
        bfloat16x8_t a = row_pair_half(xa, xb, k);
        RR_STEP(a, 1)
    }
#undef RR_STEP
    float32x4_t sums[8]; /* a copy for the epilogue: with acc itself in memory, gcc stores it at every k */
    for (int i = 0; i < 8; i++) sums[i] = acc[i];
    for (int v = 0; v < 4 && c + 4 * v < nc; v++) {
        float64x2_t lo = vreinterpretq_f64_f32(sums[2 * v]), hi = vreinterpretq_f64_f32(sums[2 * v + 1]);
        float32x4_t row[2] = {vreinterpretq_f32_f64(vzip1q_f64(lo, hi)), vreinterpretq_f32_f64(vzip2q_f64(lo, hi))};
        for (int r = 0; r < rows; r++) rr_lp_epilogue4(y, ldy, r0 + r, c + 4 * v, nc - c - 4 * v, row[r], e);
    }
}

void rr_block_bf16_neon_bf16(float *y, int ldy, const uint16_t *x, int ldx, const uint16_t *pb, size_t pstride,
                             int m, int kc, int nc, const rr_epi *e) {
    for (int c = 0; c < nc; c += BC) {
        const uint16_t *p = pb + (size_t)(c / LP_NR) * pstride + (size_t)(c % LP_NR) * 2;
        for (int r0 = 0; r0 < m; r0 += 2) tile2(y, ldy, x, ldx, r0, m - r0 < 2 ? 1 : 2, p, kc, c, nc, e);
    }
}
