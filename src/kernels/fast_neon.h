/* fast_neon.h - private to src/kernels: the ARM64 kernels (fast_neon*.c, fast_decoder_neon.c) that the
 * dispatch in fast.c / fast_decoder.c registers, and the run-time feature test they are chosen by. */
#ifndef RR_KERNELS_FAST_NEON_H
#define RR_KERNELS_FAST_NEON_H

#include <stdbool.h>

#include "kernels/fast_decoder_impl.h"
#include "kernels/fast_impl.h"

/* Optional extensions past Armv8.0 Advanced SIMD, read from getauxval(AT_HWCAP / AT_HWCAP2). */
typedef enum rr_neon_feature { RR_NEON_DOT, RR_NEON_I8MM, RR_NEON_BF16 } rr_neon_feature;
bool rr_neon_has(rr_neon_feature f);

/* Armv8.0 (fast_neon.c): 6 x 16 fp32 micro-kernel; bf16 widened by shifts; int8 by smull/smlal. */
void rr_ukernel_neon(float *c, int ldc, const float *pa, const float *pb, int kc, int mr, int nr, const rr_uepi *e);
void rr_softmax_neon(float *x, int n, float scale);
void rr_layernorm_row_neon(float *y, const float *x, const float *w, const float *b, int dim, float eps);
void rr_block_bf16_neon(float *y, int ldy, const uint16_t *x, int ldx, const uint16_t *pb, size_t pstride, int m,
                        int kc, int nc, const rr_epi *e);
void rr_block_int8_neon(float *y, int ldy, const uint8_t *x, int ldx, const float *xscale, const int8_t *pb,
                        size_t pstride, const float *wscale, const int32_t *colsum, int m, int kc, int nc,
                        const rr_epi *e);
/* Armv8.2 dot product (fast_neon_dot.c, RR_NEON_DOT): int8 by sdot. */
void rr_block_int8_neon_dot(float *y, int ldy, const uint8_t *x, int ldx, const float *xscale, const int8_t *pb,
                            size_t pstride, const float *wscale, const int32_t *colsum, int m, int kc, int nc,
                            const rr_epi *e);
/* Armv8.6 int8 matrix multiply (fast_neon_i8mm.c, RR_NEON_I8MM): int8 by smmla. */
void rr_block_int8_neon_i8mm(float *y, int ldy, const uint8_t *x, int ldx, const float *xscale, const int8_t *pb,
                             size_t pstride, const float *wscale, const int32_t *colsum, int m, int kc, int nc,
                             const rr_epi *e);
/* Armv8.6 bf16 (fast_neon_bf16.c, RR_NEON_BF16): bf16 by bfmmla. */
void rr_block_bf16_neon_bf16(float *y, int ldy, const uint16_t *x, int ldx, const uint16_t *pb, size_t pstride,
                             int m, int kc, int nc, const rr_epi *e);

/* The decoder's row operations in 4 lanes (fast_decoder_neon.c). */
extern const rr_dec_ops rr_dec_ops_neon;

#endif
