/* fast_impl.h - private to src/kernels: what each instruction-set file provides to the drivers in fast.c.
 * A GEMM "block" multiplies m rows of x by nc columns of a packed B (panels of NR columns, see rr_pack_b). */
#ifndef RR_KERNELS_FAST_IMPL_H
#define RR_KERNELS_FAST_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "kernels/kernels.h"

/* What happens to an output tile: first: start from 0 (else add to y); last: then y = act(y + bias) + res.
 * bias and res point at the block's first column (res at its first row, row stride ldr). */
typedef struct rr_epi {
    const float *bias, *res;
    int ldr;
    rr_act act;
    bool first, last;
} rr_epi;

/* y[r, c] (+)= sum_k x[r*ldx + k] * B[k, c] for r < m, c < nc, where column c lives in packed panel c / NR
 * (at pb + (c / NR) * pstride, element [k * NR + c % NR]); then the epilogue. pb is 64-byte aligned. */
typedef void (*rr_block_fn)(float *y, int ldy, const float *x, int ldx, const float *pb, size_t pstride, int m,
                            int kc, int nc, const rr_epi *e);
/* In place: x[i] = exp(scale * x[i] - max) / sum over i < n. */
typedef void (*rr_softmax_fn)(float *x, int n, float scale);

/* Low-precision blocks: as rr_block_fn on packed bf16 pairs / int8 quads (see fast.c, pack_bf16 / pack_int8).
 * x is bf16 [m, ldx] / unsigned int8 (q + 128) [m, ldx]; kc is a multiple of 2 / 4. The int8 block turns
 * its int32 sums into (acc - 128 * colsum[c]) * xscale[r] * wscale[c] before the epilogue. kc covers all
 * of K (e->first and e->last both hold). */
typedef void (*rr_block_bf16_fn)(float *y, int ldy, const uint16_t *x, int ldx, const uint16_t *pb, size_t pstride,
                                 int m, int kc, int nc, const rr_epi *e);
typedef void (*rr_block_int8_fn)(float *y, int ldy, const uint8_t *x, int ldx, const float *xscale,
                                 const int8_t *pb, size_t pstride, const float *wscale, const int32_t *colsum, int m,
                                 int kc, int nc, const rr_epi *e);

typedef struct rr_isa_ops {
    int nr; /* panel width */
    rr_block_fn block;
    rr_softmax_fn softmax;
} rr_isa_ops;

#ifndef RR_NO_ISA
void rr_block_avx512(float *y, int ldy, const float *x, int ldx, const float *pb, size_t pstride, int m, int kc,
                     int nc, const rr_epi *e);
void rr_softmax_avx512(float *x, int n, float scale);
void rr_block_bf16_avx512(float *y, int ldy, const uint16_t *x, int ldx, const uint16_t *pb, size_t pstride, int m,
                          int kc, int nc, const rr_epi *e);
bool rr_amx_usable(void); /* AMX-BF16 present and granted by the kernel; $RERANK_AMX=0 turns it off */
void rr_block_int8_avx512(float *y, int ldy, const uint8_t *x, int ldx, const float *xscale, const int8_t *pb,
                          size_t pstride, const float *wscale, const int32_t *colsum, int m, int kc, int nc,
                          const rr_epi *e);
void rr_block_avx2(float *y, int ldy, const float *x, int ldx, const float *pb, size_t pstride, int m, int kc,
                   int nc, const rr_epi *e);
void rr_softmax_avx2(float *x, int n, float scale);
#endif

#endif
