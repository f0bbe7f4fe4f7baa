/* isa_x86.c - the x86 instruction sets: which this CPU runs (cpuid, read here in a file built without ISA
 * flags) and what each puts into the dispatch table. AVX2's int8 block is AVX-VNNI's where the CPU has it.
 * AVX-512 starts from AVX2's table, so a CPU with AVX-512 but without AVX512_BF16 / VNNI keeps AVX2's bf16 and
 * int8 blocks. */
#include "kernels/x86/x86.h"

static bool has_avx2(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

static bool has_avx512(void) {
    __builtin_cpu_init();
    return has_avx2() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
}

bool rr_x86_has_avxvnni(void) { return has_avx2() && __builtin_cpu_supports("avxvnni"); }

static void fill_avx2(rr_isa_ops *o) {
    o->nr = 16;
    o->softmax = rr_softmax_avx2;
    o->umr = 6;
    o->unr = 16;
    o->ukernel = rr_ukernel_avx2;
    o->kc_max = 1024;
    o->pack_a_rows = rr_pack_a_avx2;
    o->pack_bt = rr_pack_bt_avx2;
    o->layernorm = rr_layernorm_row_avx2;
    o->block_bf16 = rr_block_bf16_avx2;
    o->block_int8 = rr_block_int8_avx2;
    o->to_bf16 = rr_to_bf16_avx2;
    o->quant_row = rr_quant_row_avx2;
    o->dec = &rr_dec_ops_avx2;
    o->name_f32 = "avx2";
    o->bf16_gemm = true;
    o->pack_a_bf16 = rr_pack_a_bf16_avx2;
    o->pack_b_bf16 = rr_pack_b_bf16_avx2;
    o->name_bf16 = "avx2-gemm";
    o->name_int8 = "avx2-maddubs";
    if (rr_x86_has_avxvnni()) { /* the same int32 sums in a quarter of the instructions */
        o->block_int8 = rr_block_int8_avxvnni;
        o->name_int8 = "avx2-vnni";
    }
}

static const rr_att_amx_ops amx_attention = {rr_att_amx_pack, rr_att_amx_block};

static void fill_avx512(rr_isa_ops *o) {
    fill_avx2(o);
    o->nr = 32;
    o->softmax = rr_softmax_avx512;
    o->umr = 14;
    o->unr = 32;
    o->ukernel = rr_ukernel_avx512;
    o->kc_max = 0; /* blocks of 512 as before: measured on AVX-512, not re-measured here */
    o->pack_a_rows = rr_pack_a_avx512;
    o->pack_bt = rr_pack_bt_avx512;
    o->layernorm = rr_layernorm_row_avx512;
    o->dec = &rr_dec_ops_avx512;
    o->name_f32 = "avx512";
    /* without AVX512_BF16, bf16 weights keep the GEMM route on this ISA's micro-kernel (plain C packers: AVX2's
     * are for its 6 x 16 tile) */
    o->pack_a_bf16 = NULL;
    o->pack_b_bf16 = NULL;
    o->name_bf16 = "avx512-gemm";
    bool amx = rr_amx_usable();
    if (__builtin_cpu_supports("avx512bf16")) {
        o->bf16_gemm = false;
        o->block_bf16 = rr_block_bf16_avx512;
        o->to_bf16 = rr_to_bf16_avx512;
        o->name_bf16 = amx ? "avx512-amx" : "avx512bf16";
        if (amx) o->att_amx = &amx_attention;
    }
    if (__builtin_cpu_supports("avx512vnni")) {
        o->block_int8 = rr_block_int8_avx512;
        o->quant_row = rr_quant_row_avx512;
        o->name_int8 = amx ? "avx512-amx" : "avx512vnni";
    }
}

static const rr_isa_desc avx2 = {has_avx2, fill_avx2}, avx512 = {has_avx512, fill_avx512};

const rr_isa_desc *const rr_isa_descs[RR_ISA_COUNT] = {[RR_ISA_AVX2] = &avx2, [RR_ISA_AVX512] = &avx512};
