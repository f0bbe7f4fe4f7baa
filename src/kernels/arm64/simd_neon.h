/* simd_neon.h - private to src/kernels: vector math and the low-precision blocks' epilogue shared by the
 * ARM64 files (*_neon*.c). Same formulas and constants as simd_avx2.h, in 4 lanes. */
#ifndef RR_KERNELS_SIMD_NEON_H
#define RR_KERNELS_SIMD_NEON_H

#include <arm_neon.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "kernels/fast_impl.h"

/* Emits nothing; loads written after it are not moved above it. The int8 tiles put it between steps that load
 * their operands: gcc otherwise hoists every load of the k step to its top, the loaded values plus the
 * accumulators exceed the 32 registers, and accumulators go to the stack at every step. */
static inline void rr_load_fence(void) { __asm__ volatile("" ::: "memory"); }

/* exp(x): Cephes expf as in simd_avx2.h; below -87.3 exactly 0 (a masked -inf score must not leave ~1e-38). */
static inline float32x4_t rr_exp4(float32x4_t x) {
    uint32x4_t under = vcltq_f32(x, vdupq_n_f32(-87.3365447504f));
    x = vmaxq_f32(vminq_f32(x, vdupq_n_f32(88.3762626647949f)), vdupq_n_f32(-87.3365447504f));
    float32x4_t n = vrndnq_f32(vmulq_f32(x, vdupq_n_f32(1.44269504088896341f)));
    float32x4_t r = vfmsq_f32(x, n, vdupq_n_f32(0.693359375f));
    r = vfmsq_f32(r, n, vdupq_n_f32(-2.12194440e-4f));
    float32x4_t p = vdupq_n_f32(1.9875691500E-4f);
    p = vfmaq_f32(vdupq_n_f32(1.3981999507E-3f), p, r);
    p = vfmaq_f32(vdupq_n_f32(8.3334519073E-3f), p, r);
    p = vfmaq_f32(vdupq_n_f32(4.1665795894E-2f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.6666665459E-1f), p, r);
    p = vfmaq_f32(vdupq_n_f32(5.0000001201E-1f), p, r);
    p = vfmaq_f32(vaddq_f32(r, vdupq_n_f32(1.0f)), p, vmulq_f32(r, r));
    int32x4_t e = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23);
    float32x4_t y = vmulq_f32(p, vreinterpretq_f32_s32(e));
    return vreinterpretq_f32_u32(vbicq_u32(vreinterpretq_u32_f32(y), under));
}

/* x * Phi(x) with Phi from erfc (Numerical Recipes' erfcc), as gelu8 in fast_avx2.c. */
static inline float32x4_t rr_gelu4(float32x4_t x) {
    float32x4_t z = vmulq_f32(vabsq_f32(x), vdupq_n_f32((float)M_SQRT1_2));
    float32x4_t t = vdivq_f32(vdupq_n_f32(1.0f), vfmaq_f32(vdupq_n_f32(1.0f), z, vdupq_n_f32(0.5f)));
    static const float c[] = {0.17087277f, -0.82215223f, 1.48851587f, -1.13520398f, 0.27886807f,
                              -0.18628806f, 0.09678418f, 0.37409196f, 1.00002368f, -1.26551223f};
    float32x4_t p = vdupq_n_f32(c[0]);
    for (int i = 1; i < 10; i++) p = vfmaq_f32(vdupq_n_f32(c[i]), p, t);
    float32x4_t half_erfc = vmulq_f32(vmulq_f32(t, rr_exp4(vfmsq_f32(p, z, z))), vdupq_n_f32(0.5f));
    uint32x4_t pos = vcgeq_f32(x, vdupq_n_f32(0.0f));
    float32x4_t phi = vbslq_f32(pos, vsubq_f32(vdupq_n_f32(1.0f), half_erfc), half_erfc);
    return vmulq_f32(x, phi);
}

/* n <= 4 floats; the lanes past n read as 0 (NEON has no masked load: tails go through a small buffer). */
static inline float32x4_t rr_load_n(const float *p, int n) {
    if (n >= 4) return vld1q_f32(p);
    float b[4] = {0};
    memcpy(b, p, (size_t)n * sizeof *p);
    return vld1q_f32(b);
}
static inline void rr_store_n(float *p, float32x4_t v, int n) {
    if (n >= 4) {
        vst1q_f32(p, v);
        return;
    }
    float b[4];
    vst1q_f32(b, v);
    memcpy(p, b, (size_t)n * sizeof *p);
}

/* Round to bf16, nearest even; a NaN stays a (quiet) NaN: fast.c's bf16_of in 4 lanes. */
static inline uint16x4_t rr_bf16_of4(float32x4_t v) {
    uint32x4_t u = vreinterpretq_u32_f32(v);
    uint32x4_t nan = vcgtq_u32(vandq_u32(u, vdupq_n_u32(0x7fffffffu)), vdupq_n_u32(0x7f800000u));
    uint32x4_t r = vaddq_u32(u, vaddq_u32(vdupq_n_u32(0x7fffu), vandq_u32(vshrq_n_u32(u, 16), vdupq_n_u32(1))));
    uint32x4_t q = vorrq_u32(u, vdupq_n_u32(0x400000u));
    return vmovn_u32(vshrq_n_u32(vbslq_u32(nan, q, r), 16));
}

/* The low-precision blocks' epilogue for row `row`, columns c .. c+n-1 (n <= 4) of a block: v = act(v + bias)
 * + res, then to y or (e->ybf) to bf16. */
static inline void rr_lp_epilogue4(float *y, int ldy, int row, int c, int n, float32x4_t v, const rr_epi *e) {
    if (e->bias) v = vaddq_f32(v, rr_load_n(e->bias + c, n));
    if (e->act == RR_ACT_GELU) v = rr_gelu4(v);
    if (e->res) v = vaddq_f32(v, rr_load_n(e->res + (size_t)row * (size_t)e->ldr + (size_t)c, n));
    if (e->ybf) {
        uint16_t *d = e->ybf + (size_t)row * (size_t)e->ldbf + (size_t)c;
        if (n >= 4) vst1_u16(d, rr_bf16_of4(v));
        else {
            uint16_t b[4];
            vst1_u16(b, rr_bf16_of4(v));
            memcpy(d, b, (size_t)n * sizeof *d);
        }
    } else rr_store_n(y + (size_t)row * (size_t)ldy + (size_t)c, v, n);
}

/* The int8 blocks' scaling: (float)(acc - 128 * colsum) * xscale * wscale, in that order (fast.c's
 * block_int8_c); sacc already holds acc - 128 * colsum (the sum of signed q * w). */
static inline float32x4_t rr_int8_scale4(int32x4_t sacc, float xscale, const float *wscale, int n) {
    return vmulq_f32(vmulq_n_f32(vcvtq_f32_s32(sacc), xscale), rr_load_n(wscale, n));
}

#endif
