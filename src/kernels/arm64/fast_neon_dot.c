/* fast_neon_dot.c - the int8 block on the Armv8.2 dot product (sdot: 4 int8 products summed into each int32
 * lane), for CPUs with HWCAP_ASIMDDP (Graviton 2+, Ampere Altra, Apple M1+). The activations are made signed
 * (u ^ 0x80 = q), so the sums equal acc - 128 * colsum exactly and need no correction. */
#include <arm_neon.h>
#include <string.h>

#include "kernels/arm64/arm64.h"
#include "kernels/arm64/simd_neon.h"

enum { LP_NR = RR_WMAT_PANEL, BR = 4, BC = 16 };

/* x[k .. k + 4*nq) as signed q (nq <= 4 quads; q = 0 past them) */
static inline int8x16_t row_q(const uint8_t *xr, int k, int nq) {
    uint8x16_t u;
    if (nq >= 4) u = vld1q_u8(xr + k);
    else {
        uint8_t b[16];
        memset(b, 0x80, sizeof b);
        memcpy(b, xr + k, (size_t)nq * 4);
        u = vld1q_u8(b);
    }
    return vreinterpretq_s8_u8(veorq_u8(u, vdupq_n_u8(0x80)));
}

static inline __attribute__((always_inline)) void tile(int mr, float *y, int ldy, const uint8_t *x, int ldx,
                                                       const float *xscale, int r0, const int8_t *p,
                                                       const float *wscale, int kc, int c, int nc, const rr_epi *e) {
    /* every row loop unrolled (mr is a constant, at most BR): a kept one loads and stores its accumulators at
     * every k step */
    int32x4_t acc[BR][4];
#pragma GCC unroll 4
    for (int r = 0; r < mr; r++) acc[r][0] = acc[r][1] = acc[r][2] = acc[r][3] = vdupq_n_s32(0);
    const uint8_t *xr[BR];
#pragma GCC unroll 4
    for (int r = 0; r < mr; r++) xr[r] = x + (size_t)(r0 + r) * (size_t)ldx;
    int k = 0;
    /* quad j of columns 4v .. 4v+3 (16 bytes) against the row's quad j: lane j of q */
#define RR_QUAD(j)                                                                                                 \
    {                                                                                                              \
        int8x16_t w0 = vld1q_s8(p + j * 4 * LP_NR), w1 = vld1q_s8(p + j * 4 * LP_NR + 16);                         \
        int8x16_t w2 = vld1q_s8(p + j * 4 * LP_NR + 32), w3 = vld1q_s8(p + j * 4 * LP_NR + 48);                    \
        _Pragma("GCC unroll 4") for (int r = 0; r < mr; r++) {                                                     \
            acc[r][0] = vdotq_laneq_s32(acc[r][0], w0, q[r], j);                                                   \
            acc[r][1] = vdotq_laneq_s32(acc[r][1], w1, q[r], j);                                                   \
            acc[r][2] = vdotq_laneq_s32(acc[r][2], w2, q[r], j);                                                   \
            acc[r][3] = vdotq_laneq_s32(acc[r][3], w3, q[r], j);                                                   \
        }                                                                                                          \
    }
    for (; k + 16 <= kc; k += 16, p += 16 * LP_NR) {
        int8x16_t q[BR];
#pragma GCC unroll 4
        for (int r = 0; r < mr; r++) q[r] = row_q(xr[r], k, 4);
        /* each quad's weights loaded after the previous quad's sdots: all 16 at once + 16 accumulators + 4 rows
         * exceed the 32 registers */
        RR_QUAD(0) rr_load_fence(); RR_QUAD(1) rr_load_fence(); RR_QUAD(2) rr_load_fence(); RR_QUAD(3)
    }
    if (k < kc) { /* 1 .. 3 quads left */
        int nq = (kc - k) / 4;
        int8x16_t q[BR];
#pragma GCC unroll 4
        for (int r = 0; r < mr; r++) q[r] = row_q(xr[r], k, nq);
        RR_QUAD(0)
        if (nq > 1) RR_QUAD(1)
        if (nq > 2) RR_QUAD(2)
    }
#undef RR_QUAD
    int32x4_t sums[BR][4]; /* a copy for the epilogue: with acc itself in memory, gcc stores it at every k */
#pragma GCC unroll 4
    for (int r = 0; r < mr; r++) sums[r][0] = acc[r][0], sums[r][1] = acc[r][1], sums[r][2] = acc[r][2], sums[r][3] = acc[r][3];
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < 4 && c + 4 * v < nc; v++) {
            int n = nc - c - 4 * v;
            rr_lp_epilogue4(y, ldy, r0 + r, c + 4 * v, n, rr_int8_scale4(sums[r][v], xscale[r0 + r], wscale + c + 4 * v, n), e);
        }
}

void rr_block_int8_neon_dot(float *y, int ldy, const uint8_t *x, int ldx, const float *xscale, const int8_t *pb,
                            size_t pstride, const float *wscale, const int32_t *colsum, int m, int kc, int nc,
                            const rr_epi *e) {
    (void)colsum;
    for (int c = 0; c < nc; c += BC) {
        const int8_t *p = pb + (size_t)(c / LP_NR) * pstride + (size_t)(c % LP_NR) * 4;
        for (int r0 = 0; r0 < m; r0 += BR) {
            switch (m - r0 < BR ? m - r0 : BR) {
            case 4: tile(4, y, ldy, x, ldx, xscale, r0, p, wscale, kc, c, nc, e); break;
            case 3: tile(3, y, ldy, x, ldx, xscale, r0, p, wscale, kc, c, nc, e); break;
            case 2: tile(2, y, ldy, x, ldx, xscale, r0, p, wscale, kc, c, nc, e); break;
            default: tile(1, y, ldy, x, ldx, xscale, r0, p, wscale, kc, c, nc, e); break;
            }
        }
    }
}
