/* gemm.c - rr_sgemm: the general matrix product the training passes need (x·W^T, dy·W, dy^T·x), on the
 * packed GEMM of fast_gemm.c (every transpose is a pair of strides there, so all four layouts run the same
 * micro-kernels). Its scratch is allocated per call, sized to the product. */
#include <stdlib.h>
#include <string.h>

#include "base/threadpool.h"
#include "kernels/fast_impl.h"

void rr_sgemm(rr_pool *pool, bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0 || alpha == 0.0f) { /* C = beta * C, with beta == 0 clearing NaN too */
        for (int r = 0; r < M; r++) {
            float *c = C + (size_t)r * (size_t)ldc;
            if (beta == 0.0f) memset(c, 0, (size_t)N * sizeof *c);
            else if (beta != 1.0f)
                for (int n = 0; n < N; n++) c[n] *= beta;
        }
        return;
    }
    rr_gemm g = {M, N, K, A, B, trans_a ? 1 : (size_t)lda, trans_a ? (size_t)lda : 1, trans_b ? 1 : (size_t)ldb,
                 trans_b ? (size_t)ldb : 1, C, ldc, alpha, beta, NULL, NULL, 0, RR_ACT_NONE};
    float *scratch = malloc(rr_gemm_scratch_for(&g, rr_pool_size(pool)) * sizeof *scratch);
    if (!scratch) abort(); /* the contract has no error path; a few MiB at most */
    rr_gemm_run(pool, scratch, &g);
    free(scratch);
}
