/* fast_neon_i8mm.c - the int8 block on the Armv8.6 int8 matrix multiply (smmla: a 2 x 8 by 8 x 2 int8 product
 * into a 2 x 2 int32 tile, 32 multiply-adds an instruction), for CPUs with HWCAP2_I8MM (Graviton 3+, Neoverse
 * N2/V1+, Apple M2+). Activations made signed as in fast_neon_dot.c: the sums are acc - 128 * colsum exactly. */
#include <arm_neon.h>
#include <string.h>

#include "kernels/arm64/arm64.h"
#include "kernels/arm64/simd_neon.h"

enum { LP_NR = RR_WMAT_PANEL, BC = 16 };

/* rows a and b, k .. k+7, signed: smmla's left operand (two 8-byte loads, no trip through the stack) */
static inline int8x16_t row_pair(const uint8_t *a, const uint8_t *b, int k) {
    return vreinterpretq_s8_u8(veorq_u8(vcombine_u8(vld1_u8(a + k), vld1_u8(b + k)), vdupq_n_u8(0x80)));
}

/* the same for the last 4 of K: k .. k+3 and zeros */
static inline int8x16_t row_pair_half(const uint8_t *a, const uint8_t *b, int k) {
    uint8_t t[16];
    memset(t, 0x80, sizeof t);
    memcpy(t, a + k, 4);
    memcpy(t + 8, b + k, 4);
    return vreinterpretq_s8_u8(veorq_u8(vld1q_u8(t), vdupq_n_u8(0x80)));
}

/* Rows r0, r0+1 (pair) x 16 columns: acc[v2] holds (r0 c, r0 c+1, r1 c, r1 c+1) for column pair c = 2*v2. */
static void tile2(float *y, int ldy, const uint8_t *x, int ldx, const float *xscale, int r0, int rows,
                  const int8_t *p, const float *wscale, int kc, int c, int nc, const rr_epi *e) {
    int32x4_t acc[8];
    for (int i = 0; i < 8; i++) acc[i] = vdupq_n_s32(0);
    const uint8_t *xa = x + (size_t)r0 * (size_t)ldx, *xb = rows > 1 ? xa + ldx : xa;
    /* quads k/4 and k/4+1 of columns 4v .. 4v+3, interleaved per column: (c k0-3, c k4-7, c+1 ..); the second
     * zero for a last half step. Full steps in the loop, the half one after it: a test inside kept the
     * accumulators in memory. */
#define RR_STEP(a, half)                                                                                           \
    _Pragma("GCC unroll 4") for (int v = 0; v < 4; v++) {                                                          \
        uint32x4_t q0 = vreinterpretq_u32_s8(vld1q_s8(p + 16 * v));                                                \
        uint32x4_t q1 = (half) ? vdupq_n_u32(0) : vreinterpretq_u32_s8(vld1q_s8(p + 4 * LP_NR + 16 * v));          \
        acc[2 * v] = vmmlaq_s32(acc[2 * v], a, vreinterpretq_s8_u32(vzip1q_u32(q0, q1)));                          \
        acc[2 * v + 1] = vmmlaq_s32(acc[2 * v + 1], a, vreinterpretq_s8_u32(vzip2q_u32(q0, q1)));                  \
    }
    int k = 0;
    for (; k + 8 <= kc; k += 8, p += 8 * LP_NR) {
        int8x16_t a = row_pair(xa, xb, k);
        RR_STEP(a, 0)
    }
    if (k < kc) {
        int8x16_t a = row_pair_half(xa, xb, k);
        RR_STEP(a, 1)
    }
#undef RR_STEP
    int32x4_t sums[8]; /* a copy for the epilogue: with acc itself in memory, gcc stores it at every k */
    for (int i = 0; i < 8; i++) sums[i] = acc[i];
    for (int v = 0; v < 4 && c + 4 * v < nc; v++) {
        int64x2_t lo = vreinterpretq_s64_s32(sums[2 * v]), hi = vreinterpretq_s64_s32(sums[2 * v + 1]);
        int32x4_t row[2] = {vreinterpretq_s32_s64(vzip1q_s64(lo, hi)), vreinterpretq_s32_s64(vzip2q_s64(lo, hi))};
        int n = nc - c - 4 * v;
        for (int r = 0; r < rows; r++)
            rr_lp_epilogue4(y, ldy, r0 + r, c + 4 * v, n, rr_int8_scale4(row[r], xscale[r0 + r], wscale + c + 4 * v, n), e);
    }
}

void rr_block_int8_neon_i8mm(float *y, int ldy, const uint8_t *x, int ldx, const float *xscale, const int8_t *pb,
                             size_t pstride, const float *wscale, const int32_t *colsum, int m, int kc, int nc,
                             const rr_epi *e) {
    (void)colsum;
    for (int c = 0; c < nc; c += BC) {
        const int8_t *p = pb + (size_t)(c / LP_NR) * pstride + (size_t)(c % LP_NR) * 4;
        for (int r0 = 0; r0 < m; r0 += 2) tile2(y, ldy, x, ldx, xscale, r0, m - r0 < 2 ? 1 : 2, p, wscale, kc, c, nc, e);
    }
}
