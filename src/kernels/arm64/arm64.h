/* arm64.h - private to src/kernels/arm64: the kernels of each ARM64 instruction-set file, which isa_arm64.c puts
 * into the dispatch tables (fast_impl.h's rr_isa_ops), and the CPU features they need. Each *_neon*.c is compiled
 * with its own -march (Makefile); nothing here may run before isa_arm64.c has checked the CPU. */
#ifndef RR_KERNELS_ARM64_H
#define RR_KERNELS_ARM64_H

#include <stdbool.h>

#include "kernels/fast_decoder_impl.h"
#include "kernels/fast_impl.h"

/* Optional extensions past Armv8.0 Advanced SIMD, from getauxval(AT_HWCAP / AT_HWCAP2) (isa_arm64.c). */
typedef enum rr_neon_feature { RR_NEON_DOT, RR_NEON_I8MM, RR_NEON_BF16 } rr_neon_feature;
bool rr_neon_has(rr_neon_feature f);

/* fast_neon.c, Armv8.0: 6 x 16 fp32 micro-kernel; bf16 widened by shifts; int8 by smull/smlal; row conversions. */
void rr_ukernel_neon(float *c, int ldc, const float *pa, const float *pb, int kc, int mr, int nr, const rr_uepi *e);
void rr_softmax_neon(float *x, int n, float scale);
void rr_layernorm_row_neon(float *y, const float *x, const float *w, const float *b, int dim, float eps);
void rr_block_bf16_neon(float *y, int ldy, const uint16_t *x, int ldx, const uint16_t *pb, size_t pstride, int m,
                        int kc, int nc, const rr_epi *e);
void rr_block_int8_neon(float *y, int ldy, const uint8_t *x, int ldx, const float *xscale, const int8_t *pb,
                        size_t pstride, const float *wscale, const int32_t *colsum, int m, int kc, int nc,
                        const rr_epi *e);
void rr_to_bf16_neon(uint16_t *dst, const float *x, int n);
float rr_quant_row_neon(uint8_t *dst, const float *x, int n, int kq);
/* fast_neon_dot.c, + the dot product (RR_NEON_DOT): int8 by sdot. */
void rr_block_int8_neon_dot(float *y, int ldy, const uint8_t *x, int ldx, const float *xscale, const int8_t *pb,
                            size_t pstride, const float *wscale, const int32_t *colsum, int m, int kc, int nc,
                            const rr_epi *e);
/* fast_neon_i8mm.c, + int8 matrix multiply (RR_NEON_I8MM): int8 by smmla. */
void rr_block_int8_neon_i8mm(float *y, int ldy, const uint8_t *x, int ldx, const float *xscale, const int8_t *pb,
                             size_t pstride, const float *wscale, const int32_t *colsum, int m, int kc, int nc,
                             const rr_epi *e);
/* fast_neon_bf16.c, + bf16 (RR_NEON_BF16): bf16 by bfmmla. */
void rr_block_bf16_neon_bf16(float *y, int ldy, const uint16_t *x, int ldx, const uint16_t *pb, size_t pstride,
                             int m, int kc, int nc, const rr_epi *e);
/* fast_decoder_neon.c: the decoder's row operations in 4 lanes. */
extern const rr_dec_ops rr_dec_ops_neon;

#endif
