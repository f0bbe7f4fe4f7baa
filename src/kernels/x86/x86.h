/* x86.h - private to src/kernels/x86: the kernels of each x86 instruction-set file, which isa_x86.c puts into
 * the dispatch tables (fast_impl.h's rr_isa_ops). Each *_avx2.c / *_avx512.c is compiled with its own flags;
 * nothing here may run before isa_x86.c has checked the CPU. */
#ifndef RR_KERNELS_X86_H
#define RR_KERNELS_X86_H

#include "kernels/fast_decoder_impl.h"
#include "kernels/fast_impl.h"

/* fast_avx2.c: AVX2 + FMA (+ F16C) */
void rr_ukernel_avx2(float *c, int ldc, const float *pa, const float *pb, int kc, int mr, int nr, const rr_uepi *e);
void rr_pack_a_avx2(float *dst, const float *a, size_t rs, int m, int kc);
void rr_pack_bt_avx2(float *dst, const float *w, size_t ld, int kc, int cols);
void rr_pack_a_bf16_avx2(float *dst, const uint16_t *a16, const float *a32, size_t rs, int m, int kc);
void rr_pack_b_bf16_avx2(float *dst, const uint16_t *panel, int k0, int kc, int col_off, int cols);
void rr_softmax_avx2(float *x, int n, float scale);
void rr_layernorm_row_avx2(float *y, const float *x, const float *w, const float *b, int dim, float eps);
void rr_block_bf16_avx2(float *y, int ldy, const uint16_t *x, int ldx, const uint16_t *pb, size_t pstride, int m,
                        int kc, int nc, const rr_epi *e);
void rr_block_int8_avx2(float *y, int ldy, const uint8_t *x, int ldx, const float *xscale, const int8_t *pb,
                        size_t pstride, const float *wscale, const int32_t *colsum, int m, int kc, int nc,
                        const rr_epi *e);
/* rr_block_int8_avx2 with AVX-VNNI's vpdpbusd (CPUs with AVX-VNNI only), and the same block with vpdpbusd
 * emulated in AVX2 (the tests: it runs that block's loop on any AVX2 CPU) */
void rr_block_int8_avxvnni(float *y, int ldy, const uint8_t *x, int ldx, const float *xscale, const int8_t *pb,
                           size_t pstride, const float *wscale, const int32_t *colsum, int m, int kc, int nc,
                           const rr_epi *e);
void rr_block_int8_avxvnni_emulated(float *y, int ldy, const uint8_t *x, int ldx, const float *xscale,
                                    const int8_t *pb, size_t pstride, const float *wscale, const int32_t *colsum,
                                    int m, int kc, int nc, const rr_epi *e);
bool rr_x86_has_avxvnni(void); /* isa_x86.c: AVX2 + FMA + AVX-VNNI */
void rr_to_bf16_avx2(uint16_t *dst, const float *x, int n);
float rr_quant_row_avx2(uint8_t *dst, const float *x, int n, int kq);
extern const rr_dec_ops rr_dec_ops_avx2;

/* fast_avx512.c: AVX-512 F/BW/VL/DQ; the bf16 and int8 ones need AVX512_BF16 / AVX512_VNNI, the att_amx ones
 * AMX-BF16 (rr_amx_usable) */
void rr_ukernel_avx512(float *c, int ldc, const float *pa, const float *pb, int kc, int mr, int nr, const rr_uepi *e);
void rr_pack_a_avx512(float *dst, const float *a, size_t rs, int m, int kc);
void rr_pack_bt_avx512(float *dst, const float *w, size_t ld, int kc, int cols);
void rr_softmax_avx512(float *x, int n, float scale);
void rr_layernorm_row_avx512(float *y, const float *x, const float *w, const float *b, int dim, float eps);
void rr_block_bf16_avx512(float *y, int ldy, const uint16_t *x, int ldx, const uint16_t *pb, size_t pstride, int m,
                          int kc, int nc, const rr_epi *e);
void rr_block_int8_avx512(float *y, int ldy, const uint8_t *x, int ldx, const float *xscale, const int8_t *pb,
                          size_t pstride, const float *wscale, const int32_t *colsum, int m, int kc, int nc,
                          const rr_epi *e);
void rr_to_bf16_avx512(uint16_t *dst, const float *x, int n);
float rr_quant_row_avx512(uint8_t *dst, const float *x, int n, int kq);
bool rr_amx_usable(void); /* AMX-BF16 present and granted by the kernel; $RERANK_AMX=0 turns it off */
void rr_att_amx_pack(float *scratch, const float *k_past, const float *v_past, int n_past, const float *k,
                     const float *v, size_t ld_kv, int nk, int hd);
void rr_att_amx_block(float *out, size_t ld_out, const float *q, size_t ld_q, int qn, int q_pos, int nk, int hd,
                      float *scratch);
extern const rr_dec_ops rr_dec_ops_avx512;

#endif
