/* fast_impl.h - private to src/kernels: what each instruction-set file provides to the drivers in fast.c.
 * A GEMM "block" multiplies m rows of x by nc columns of a packed B (panels of NR columns, see rr_pack_b). */
#ifndef RR_KERNELS_FAST_IMPL_H
#define RR_KERNELS_FAST_IMPL_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "kernels/kernels.h"

/* v (already scaled to int8 levels) rounded to nearest even and saturated to [-127, 127], NaN giving 0: the scalar
 * int8 quantizers' conversion. A plain (int) cast of NaN, inf or anything past INT_MAX is undefined behaviour, and
 * non-finite weights do reach them (a checkpoint's, or W + s B A of a LoRA adapter with --dtype int8). */
static inline int rr_q8_level(float v) {
    return v >= -127.0f && v <= 127.0f ? (int)nearbyintf(v) : v > 127.0f ? 127 : v < -127.0f ? -127 : 0;
}

/* What happens to an output tile: first: start from 0 (else add to y); last: then y = act(y + bias) + res.
 * bias and res point at the block's first column (res at its first row, row stride ldr). With ybf (low-
 * precision blocks only, first and last) the result goes there in bf16 instead of to y: the block's first
 * row and column, row stride ldbf. */
typedef struct rr_epi {
    const float *bias, *res;
    int ldr;
    rr_act act;
    bool first, last;
    uint16_t *ybf;
    int ldbf;
} rr_epi;

/* y[r, c] (+)= sum_k x[r*ldx + k] * B[k, c] for r < m, c < nc, where column c lives in packed panel c / NR
 * (at pb + (c / NR) * pstride, element [k * NR + c % NR]); then the epilogue. pb is 64-byte aligned. */
typedef void (*rr_block_fn)(float *y, int ldy, const float *x, int ldx, const float *pb, size_t pstride, int m,
                            int kc, int nc, const rr_epi *e);
/* In place: x[i] = exp(scale * x[i] - max) / sum over i < n. */
typedef void (*rr_softmax_fn)(float *x, int n, float scale);

/* Low-precision blocks never get more than this many columns (nc) at once. */
enum { RR_LP_NC_MAX = 256 };

/* Low-precision blocks: as rr_block_fn on packed bf16 pairs / int8 quads (see fast.c, pack_bf16 / pack_int8).
 * x is bf16 [m, ldx] / unsigned int8 (q + 128) [m, ldx]; kc is a multiple of 2 / 4. The int8 block turns
 * its int32 sums into (acc - 128 * colsum[c]) * xscale[r] * wscale[c] before the epilogue. kc covers all
 * of K (e->first and e->last both hold). */
typedef void (*rr_block_bf16_fn)(float *y, int ldy, const uint16_t *x, int ldx, const uint16_t *pb, size_t pstride,
                                 int m, int kc, int nc, const rr_epi *e);
typedef void (*rr_block_int8_fn)(float *y, int ldy, const uint8_t *x, int ldx, const float *xscale,
                                 const int8_t *pb, size_t pstride, const float *wscale, const int32_t *colsum, int m,
                                 int kc, int nc, const rr_epi *e);

/* Epilogue of a GEMM micro-tile: first: v = alpha * acc + beta * c (beta == 0 ignores c, NaN included),
 * else v = alpha * acc + c; last: then v = act(v + bias) + res. bias and res point at the tile's first
 * column (res at its first row, row stride ldr). */
typedef struct rr_uepi {
    const float *bias, *res;
    int ldr;
    rr_act act;
    bool first, last;
    float alpha, beta;
} rr_uepi;

/* C[r, c] for r < mr <= MR, c < nr <= NR, from kc steps of a packed A micro-panel (pa[k*MR + r]) and a packed B
 * micro-panel (pb[k*NR + c]), both 64-byte aligned and zero-padded to MR / NR; then the epilogue. */
typedef void (*rr_ukernel_fn)(float *c, int ldc, const float *pa, const float *pb, int kc, int mr, int nr,
                              const rr_uepi *e);

/* Converts a row for the low-precision blocks: to bf16 (nearest even, fast.c's bf16_of), or to unsigned int8
 * (fast.c's quant_row: dst[k] = round(x[k] * 127 / max|x|) + 128 for k < n, 128 up to kq; returns the scale). */
typedef void (*rr_to_bf16_fn)(uint16_t *dst, const float *x, int n);
typedef float (*rr_quant_row_fn)(uint8_t *dst, const float *x, int n, int kq);

/* Attention on AMX-BF16 (hd % 32 == 0), q, k, v and the softmax weights rounded to bf16, fp32 sums. pack packs
 * the keys and values of one head, nk of them: the n_past rows of k_past / v_past, then the sequence's own; block
 * then computes qn query rows against them (query r sees keys up to q_pos + r; all nk when q_pos < 0). scratch:
 * rr_att_amx_scratch(nk, qn, hd) floats, 64-byte aligned, shared. */
typedef struct rr_att_amx_ops {
    void (*pack)(float *scratch, const float *k_past, const float *v_past, int n_past, const float *k,
                 const float *v, size_t ld_kv, int nk, int hd);
    void (*block)(float *out, size_t ld_out, const float *q, size_t ld_q, int qn, int q_pos, int nk, int hd,
                  float *scratch);
} rr_att_amx_ops;
/* Packed K and V of tp keys, then per block the scores [qp, tp], Q [qp, hd] in bf16 and one 16-row output block. */
static inline size_t rr_att_amx_scratch(int n_keys, int max_q, int hd) {
    size_t tp = (size_t)(n_keys + 31) / 32 * 32, qp = (size_t)(max_q + 15) / 16 * 16;
    return tp * (size_t)hd + qp * tp + qp * (size_t)hd / 2 + 16 * (size_t)hd + 64;
}

struct rr_dec_ops; /* fast_decoder_impl.h */

/* Everything an instruction set provides to the drivers. The portable C of fast.c / fast_decoder.c fills every
 * entry first; an instruction set then overrides what it has (see rr_isa_desc). */
typedef struct rr_isa_ops {
    int nr; /* panel width of pack_b (fast.c), = unr */
    rr_softmax_fn softmax;
    int umr, unr; /* the micro-kernel's tile */
    rr_ukernel_fn ukernel;
    /* the longest K the GEMM runs in one pass (fast_gemm.c; 0 = its default block of 512) */
    int kc_max;
    /* bf16 weights through the fp32 micro-kernel (rr_gemm's A16 / a_round_bf16 / B16) instead of block_bf16:
     * for CPUs without a bf16 dot product, where widening inside the block costs more than widening while
     * packing. The optional packers (NULL: plain C in fast_gemm.c): rr_pack_a of m rows, from bf16 rows (a16)
     * or from fp32 rows rounded to bf16 (a32); one B panel of unr columns from col_off of a 32-column bf16
     * panel (rr_wmat layout, pair row k/2 of 64 values), k from an even k0. */
    bool bf16_gemm;
    void (*pack_a_bf16)(float *dst, const uint16_t *a16, const float *a32, size_t rs, int m, int kc);
    void (*pack_b_bf16)(float *dst, const uint16_t *panel, int k0, int kc, int col_off, int cols);
    /* optional (NULL: plain C): rr_pack_a of rows with cs == 1; one B panel of unr columns from W[col, k]
     * (row stride ld, cols <= unr of them) into dst [k*unr + c], 64-byte aligned, zero past cols */
    void (*pack_a_rows)(float *dst, const float *a, size_t rs, int m, int kc);
    void (*pack_bt)(float *dst, const float *w, size_t ld, int kc, int cols);
    /* one LayerNorm row: y = (x - mean) / sqrt(var + eps) * w + b (y may be x) */
    void (*layernorm)(float *y, const float *x, const float *w, const float *b, int dim, float eps);
    /* the low-precision weights' blocks and their input conversions */
    rr_block_bf16_fn block_bf16;
    rr_block_int8_fn block_int8;
    rr_to_bf16_fn to_bf16;
    rr_quant_row_fn quant_row;
    /* the decoder's row operations */
    const struct rr_dec_ops *dec;
    /* NULL where the CPU has no AMX-BF16 (or $RERANK_AMX=0) */
    const rr_att_amx_ops *att_amx;
    /* which kernels these are, for tests and benchmarks: "<isa>[-<variant>]" */
    const char *name_f32, *name_bf16, *name_int8;
} rr_isa_ops;

/* One instruction set: whether this CPU runs it, and what it overrides in ops (called once, on a table that
 * already holds the portable C, or for a superset ISA what its subset filled). An architecture's folder
 * (src/kernels/x86/, ...) lists its sets in rr_isa_descs, indexed by rr_isa; the Makefile builds one folder. */
typedef struct rr_isa_desc {
    bool (*supported)(void);
    void (*fill)(rr_isa_ops *ops);
} rr_isa_desc;
extern const rr_isa_desc *const rr_isa_descs[RR_ISA_COUNT]; /* NULL where the architecture lacks the set */

const rr_isa_ops *rr_ops_get(void); /* the active instruction set's (fast.c) */

/* The packed GEMM (fast_gemm.c): C[M,N] = epilogue(A[M,K] · B[K,N]) with A(i,k) = A[i*a_rs + k*a_cs] and
 * B(k,j) = B[k*b_rs + j*b_cs]; one of each operand's strides must be 1. K blocks of a shared packed B, row
 * blocks of A packed by each thread. */
typedef struct rr_gemm {
    int M, N, K;
    const float *A, *B;
    size_t a_rs, a_cs, b_rs, b_cs;
    float *C;
    int ldc;
    float alpha, beta;
    const float *bias, *res; /* bias[N], res[M, ldr] */
    int ldr;
    rr_act act;
    /* bf16 operands (ops->bf16_gemm), each replacing its fp32 one: A16 rows (a_rs, cs 1), or A itself (cs 1)
     * rounded to bf16 first when a_round_bf16; B16 in rr_wmat's bf16 panels (B(k, j) = W[j, k], b16_ps values
     * per 32-column panel) */
    const uint16_t *A16;
    bool a_round_bf16;
    const uint16_t *B16;
    size_t b16_ps;
} rr_gemm;
/* Scratch floats rr_gemm_run needs for any product (n_threads threads). */
size_t rr_gemm_scratch(int n_threads);
/* Scratch floats for this product (smaller when N or M is small). */
size_t rr_gemm_scratch_for(const rr_gemm *g, int n_threads);
/* K must be >= 1. */
void rr_gemm_run(rr_pool *pool, float *scratch, const rr_gemm *g);
/* m rows of A (element (i, k) at a[i*rs + k*cs], k < kc) as mr-row micro-panels [k*mr + r], zero rows past m:
 * ceil(m / mr) * mr * kc floats. */
void rr_pack_a(const rr_isa_ops *ops, float *dst, const float *a, size_t rs, size_t cs, int m, int kc);
/* In the calling thread: C[m, n] = epilogue(A · B) (e's bias and res must be NULL) from A packed by rr_pack_a
 * with ops and B in panels of ops->unr columns at pb + p * pstride ([k*unr + j], 64-byte aligned). */
void rr_gemm_packed(const rr_isa_ops *ops, float *c, int ldc, const float *pa, const float *pb, size_t pstride, int m,
                    int n, int kc, const rr_uepi *e);


#endif
