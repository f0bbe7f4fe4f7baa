/* isa_arm64.c - the ARM64 instruction sets: which this CPU runs (the kernel's hardware capability words, read
 * here in a file built without -march flags) and what each puts into the dispatch table. neon_dot and neon_i8mm
 * start from neon's table: they differ in their low-precision blocks only. */
#include <sys/auxv.h>

#include "kernels/arm64/arm64.h"

/* Linux's bits (asm/hwcap.h), for C libraries whose headers predate them. */
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1UL << 20)
#endif
#ifndef HWCAP2_I8MM
#define HWCAP2_I8MM (1UL << 13)
#endif
#ifndef HWCAP2_BF16
#define HWCAP2_BF16 (1UL << 14)
#endif

bool rr_neon_has(rr_neon_feature f) {
    unsigned long hw = getauxval(AT_HWCAP), hw2 = getauxval(AT_HWCAP2);
    switch (f) {
    case RR_NEON_DOT: return (hw & HWCAP_ASIMDDP) != 0;
    case RR_NEON_I8MM: return (hw2 & HWCAP2_I8MM) != 0;
    case RR_NEON_BF16: return (hw2 & HWCAP2_BF16) != 0;
    }
    return false;
}

/* Advanced SIMD is part of every Armv8-A CPU that Linux runs on as aarch64. */
static bool has_neon(void) { return true; }
static bool has_dot(void) { return rr_neon_has(RR_NEON_DOT); }
/* Both matrix multiplies (Armv8.6 makes them a pair; Neoverse V1/N2, Graviton 3, Apple M2 have both). */
static bool has_i8mm(void) { return has_dot() && rr_neon_has(RR_NEON_I8MM) && rr_neon_has(RR_NEON_BF16); }

static void fill_neon(rr_isa_ops *o) {
    o->nr = 16;
    o->softmax = rr_softmax_neon;
    o->umr = 6;
    o->unr = 16;
    o->ukernel = rr_ukernel_neon;
    o->layernorm = rr_layernorm_row_neon;
    o->block_bf16 = rr_block_bf16_neon;
    o->block_int8 = rr_block_int8_neon;
    o->to_bf16 = rr_to_bf16_neon;
    o->quant_row = rr_quant_row_neon;
    o->dec = &rr_dec_ops_neon;
    o->name_f32 = "neon";
    o->name_bf16 = "neon-widen";
    o->name_int8 = "neon-smull";
}

static void fill_dot(rr_isa_ops *o) {
    fill_neon(o);
    o->block_int8 = rr_block_int8_neon_dot;
    o->name_int8 = "neon_dot-sdot";
}

static void fill_i8mm(rr_isa_ops *o) {
    fill_dot(o);
    o->block_int8 = rr_block_int8_neon_i8mm;
    o->name_int8 = "neon_i8mm-smmla";
    o->block_bf16 = rr_block_bf16_neon_bf16;
    o->name_bf16 = "neon_i8mm-bfmmla";
}

static const rr_isa_desc neon = {has_neon, fill_neon}, dot = {has_dot, fill_dot}, i8mm = {has_i8mm, fill_i8mm};

const rr_isa_desc *const rr_isa_descs[RR_ISA_COUNT] = {
    [RR_ISA_NEON] = &neon, [RR_ISA_NEON_DOT] = &dot, [RR_ISA_NEON_I8MM] = &i8mm};
