/* isa_generic.c - an architecture without SIMD kernels of ours (or a NOISA=1 build): the portable C only. */
#include "kernels/fast_impl.h"

const rr_isa_desc *const rr_isa_descs[RR_ISA_COUNT] = {0};
