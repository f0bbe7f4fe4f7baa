/* gemm.c - rr_sgemm: the general matrix product the training passes need (x·W^T, dy·W, dy^T·x), on the
 * packed GEMM of fast_gemm.c (every transpose is a pair of strides there, so all four layouts run the same
 * micro-kernels). Its scratch is allocated per call, sized to the product; when that allocation fails the
 * product runs on rr_sgemm_ref, which needs no memory, so the contract keeps no error path and no abort. */
#include <stdlib.h>
#include <string.h>

#include "base/threadpool.h"
#include "kernels/fast_impl.h"

void rr_sgemm_ref(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A, int lda,
                  const float *B, int ldb, float beta, float *C, int ldc) {
    for (int m = 0; m < M; m++) {
        float *c = C + (size_t)m * (size_t)ldc;
        for (int n = 0; n < N; n++) {
            float s = 0.0f; /* s = sum_k op(A)[m,k] * op(B)[k,n] */
            for (int k = 0; k < K; k++)
                s += (trans_a ? A[(size_t)k * (size_t)lda + m] : A[(size_t)m * (size_t)lda + k]) *
                     (trans_b ? B[(size_t)n * (size_t)ldb + k] : B[(size_t)k * (size_t)ldb + n]);
            c[n] = beta == 0.0f ? alpha * s : alpha * s + beta * c[n];
        }
    }
}

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
                 trans_b ? (size_t)ldb : 1, C, ldc, alpha, beta, NULL, NULL, 0, RR_ACT_NONE, NULL, false, NULL, 0};
    float *scratch = malloc(rr_gemm_scratch_for(&g, rr_pool_size(pool)) * sizeof *scratch);
    if (!scratch) { /* a few MiB at most; without them, the same product on the caller's thread */
        rr_sgemm_ref(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    rr_gemm_run(pool, scratch, &g);
    free(scratch);
}
