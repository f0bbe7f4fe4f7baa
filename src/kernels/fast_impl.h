/* fast_impl.h - private to src/kernels: what each instruction-set file provides to the drivers in fast.c.
 * A GEMM "block" multiplies m rows of x by nc columns of a packed B (panels of NR columns, see rr_pack_b). */
#ifndef RR_KERNELS_FAST_IMPL_H
#define RR_KERNELS_FAST_IMPL_H

#include <stdbool.h>
#include <stddef.h>
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

typedef struct rr_isa_ops {
    int nr; /* panel width */
    rr_block_fn block;
    rr_softmax_fn softmax;
} rr_isa_ops;

#ifndef RR_NO_ISA
void rr_block_avx512(float *y, int ldy, const float *x, int ldx, const float *pb, size_t pstride, int m, int kc,
                     int nc, const rr_epi *e);
void rr_softmax_avx512(float *x, int n, float scale);
void rr_block_avx2(float *y, int ldy, const float *x, int ldx, const float *pb, size_t pstride, int m, int kc,
                   int nc, const rr_epi *e);
void rr_softmax_avx2(float *x, int n, float scale);
#endif

#endif
