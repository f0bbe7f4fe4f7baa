/* int8_blocks.h - one check for every instruction set's int8 block (fast_impl.h's rr_block_int8_fn), called
 * directly: awkward shapes (row and column tails, K not a multiple of the vector step, K past a block's prepared
 * rows), each epilogue, and the sums bit-identical to plain integer sums. Used by test_kernels_neon.c and
 * test_kernels_x86.c. */
#ifndef RR_TEST_INT8_BLOCKS_H
#define RR_TEST_INT8_BLOCKS_H

#include <stdbool.h>

#include "kernels/fast_impl.h"

typedef struct rr_test_int8_block {
    const char *name;
    rr_block_int8_fn fn;
    bool present; /* this CPU runs it: else the check says so and skips it */
} rr_test_int8_block;

/* Checks each present block (CHECK failures name the block and the shape); returns how many ran. */
int rr_test_int8_blocks(const rr_test_int8_block *blocks, int n);

#endif
