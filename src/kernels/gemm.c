/* gemm.c - rr_sgemm: the general matrix product the training passes need (x·W^T, dy·W, dy^T·x). Rows of C
 * are split across the pool; each task walks K in blocks so a row block of A and a panel of B stay in
 * cache. Plain C that the compiler vectorises; the inference GEMMs (fast*.c) are the tuned path. */
#include <stdlib.h>
#include <string.h>

#include "base/threadpool.h"
#include "kernels/kernels.h"

typedef struct gemm_job {
    bool ta, tb;
    int M, N, K, lda, ldb, ldc, rows_per_task;
    float alpha, beta;
    const float *A, *B;
    float *C;
} gemm_job;

enum { KB = 256 };

static void gemm_task(void *ctx, int task, int thread) {
    (void)thread;
    const gemm_job *j = ctx;
    int r0 = task * j->rows_per_task, r1 = r0 + j->rows_per_task < j->M ? r0 + j->rows_per_task : j->M;
    for (int r = r0; r < r1; r++) {
        float *c = j->C + (size_t)r * (size_t)j->ldc;
        if (j->beta == 0.0f) memset(c, 0, (size_t)j->N * sizeof *c);
        else if (j->beta != 1.0f)
            for (int n = 0; n < j->N; n++) c[n] *= j->beta;
    }
    for (int k0 = 0; k0 < j->K; k0 += KB) {
        int k1 = k0 + KB < j->K ? k0 + KB : j->K;
        for (int r = r0; r < r1; r++) {
            float *c = j->C + (size_t)r * (size_t)j->ldc;
            for (int k = k0; k < k1; k++) {
                float a = j->alpha * (j->ta ? j->A[(size_t)k * (size_t)j->lda + (size_t)r]
                                            : j->A[(size_t)r * (size_t)j->lda + (size_t)k]);
                if (a == 0.0f) continue;
                if (!j->tb) {
                    const float *b = j->B + (size_t)k * (size_t)j->ldb;
                    for (int n = 0; n < j->N; n++) c[n] += a * b[n];
                } else {
                    const float *b = j->B + (size_t)k;
                    for (int n = 0; n < j->N; n++) c[n] += a * b[(size_t)n * (size_t)j->ldb];
                }
            }
        }
    }
}

void rr_sgemm(rr_pool *pool, bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    int threads = rr_pool_size(pool), rows = (M + 4 * threads - 1) / (4 * threads);
    if (rows < 1) rows = 1;
    gemm_job j = {trans_a, trans_b, M, N, K < 0 ? 0 : K, lda, ldb, ldc, rows, alpha, beta, A, B, C};
    rr_pool_run(pool, gemm_task, &j, (M + rows - 1) / rows);
}
