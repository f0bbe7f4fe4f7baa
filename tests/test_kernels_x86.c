/* test_kernels_x86.c - the x86 int8 blocks called directly against plain integer sums (int8_blocks.h): AVX2's
 * vpmaddubsw block, AVX-VNNI's vpdpbusd block where the CPU has AVX-VNNI, and on every AVX2 CPU the AVX-VNNI
 * block's loop with vpdpbusd emulated, so that its indexing and epilogue are tested on machines without it.
 * Only compiled into an x86-64 build. */
#if defined(__x86_64__)
#include "int8_blocks.h"
#include "kernels/x86/x86.h"
#include "test.h"

TEST(x86_int8_blocks_match_integer_sums) {
    bool avx2 = rr_isa_supported(RR_ISA_AVX2), vnni = rr_x86_has_avxvnni();
    const rr_test_int8_block blocks[] = {{"avx2-maddubs", rr_block_int8_avx2, avx2},
                                         {"avx2-vnni (vpdpbusd emulated)", rr_block_int8_avxvnni_emulated, avx2},
                                         {"avx2-vnni", rr_block_int8_avxvnni, vnni}};
    int ran = rr_test_int8_blocks(blocks, 3);
    CHECK(ran == (avx2 ? 2 : 0) + vnni, "%d blocks ran", ran);
    /* where AVX-VNNI is, the AVX2 set runs it: the same int32 sums as the maddubs block, a quarter of the work */
    rr_isa before = rr_isa_get();
    if (rr_isa_set(RR_ISA_AVX2)) {
        const char *want = vnni ? "avx2-vnni" : "avx2-maddubs";
        CHECK(!strcmp(rr_kernels_active().int8, want), "the AVX2 set's int8 block is %s, not %s",
              rr_kernels_active().int8, want);
    }
    rr_isa_set(before);
}
#endif
