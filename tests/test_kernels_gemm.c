/* test_kernels_gemm.c - rr_sgemm against a double-precision triple loop: every transpose combination,
 * alpha/beta, odd shapes and strides wider than the matrices, on every instruction set and 1-2 threads. */
#include <float.h>

#include "base/threadpool.h"
#include "kernels/kernels.h"
#include "test.h"

static unsigned gstate = 777;
static float grnd(void) {
    gstate = gstate * 1103515245u + 12345u;
    return (float)((gstate >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static void check_gemm(rr_pool *pool, bool ta, bool tb, int M, int N, int K, float alpha, float beta) {
    int lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 5, ldc = N + 2;
    size_t na = (size_t)(ta ? K : M) * lda, nb = (size_t)(tb ? N : K) * ldb, nc = (size_t)M * ldc;
    float *A = malloc(na * sizeof *A), *B = malloc(nb * sizeof *B), *C = malloc(nc * sizeof *C);
    double *want = malloc(nc * sizeof *want), *bound = malloc(nc * sizeof *bound);
    for (size_t i = 0; i < na; i++) A[i] = grnd();
    for (size_t i = 0; i < nb; i++) B[i] = grnd();
    for (size_t i = 0; i < nc; i++) C[i] = beta == 0.0f ? NAN : grnd();
    for (int m = 0; m < M; m++)
        for (int n = 0; n < ldc; n++) {
            size_t at = (size_t)m * ldc + n;
            if (n >= N) { want[at] = C[at]; continue; } /* padding columns stay untouched */
            double s = 0, sabs = 0;
            for (int k = 0; k < K; k++) {
                double p = (double)(ta ? A[(size_t)k * lda + m] : A[(size_t)m * lda + k]) *
                           (tb ? B[(size_t)n * ldb + k] : B[(size_t)k * ldb + n]);
                s += p, sabs += fabs(p);
            }
            double old = beta == 0.0f ? 0.0 : beta * (double)C[at];
            want[at] = alpha * s + old;
            /* fp32 summation in any order: |error| <= (K + 2) eps (|alpha| sum|a b| + |beta c|) */
            bound[at] = (K + 2) * (double)FLT_EPSILON * (fabs(alpha) * sabs + fabs(old)) + 1e-30;
        }
    rr_sgemm(pool, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    double worst = 0;
    for (size_t i = 0; i < nc; i++) {
        if ((int)(i % (size_t)ldc) >= N) { /* padding: untouched (NaN stays NaN) */
            if (!(C[i] == want[i] || (isnan(C[i]) && isnan(want[i])))) worst = INFINITY;
            continue;
        }
        double d = fabs(C[i] - want[i]) / bound[i];
        if (!(d <= worst)) worst = d; /* NaN propagates into worst */
    }
    CHECK(worst <= 1.0, "isa %s threads %d ta %d tb %d %dx%dx%d alpha %g beta %g: error / bound %g", rr_isa_name(rr_isa_get()),
          rr_pool_size(pool), ta, tb, M, N, K, alpha, beta, worst);
    free(A), free(B), free(C), free(want), free(bound);
}

TEST(sgemm_all_layouts) {
    static const int shapes[][3] = {{1, 1, 1}, {7, 13, 5}, {33, 47, 129}, {64, 96, 300}, {130, 17, 1}, {5, 200, 64}};
    rr_pool *two = rr_pool_new(2);
    rr_isa before = rr_isa_get();
    for (int isa = 0; isa < RR_ISA_COUNT; isa++) {
        if (!rr_isa_set((rr_isa)isa)) continue;
        for (int t = 0; t < 2; t++)
            for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
                for (int ta = 0; ta < 2; ta++)
                    for (int tb = 0; tb < 2; tb++) {
                        check_gemm(t ? two : NULL, ta, tb, shapes[s][0], shapes[s][1], shapes[s][2], 1.0f, 0.0f);
                        check_gemm(t ? two : NULL, ta, tb, shapes[s][0], shapes[s][1], shapes[s][2], -0.5f, 1.0f);
                        check_gemm(t ? two : NULL, ta, tb, shapes[s][0], shapes[s][1], shapes[s][2], 2.0f, 0.25f);
                    }
    }
    rr_isa_set(before); /* the pass's own instruction set for the tests that follow */
    rr_pool_free(two);
    /* K = 0: C = beta * C (alpha times an empty sum). */
    float c[2] = {3, 4};
    rr_sgemm(NULL, false, false, 1, 2, 0, 1.0f, NULL, 1, NULL, 2, 0.5f, c, 2);
    CHECK(c[0] == 1.5f && c[1] == 2.0f, "K=0 gives %g %g", c[0], c[1]);
}
