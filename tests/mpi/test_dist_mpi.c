/* test_dist_mpi.c - run under `mpirun -np N` (tests/test_dist.c does): every process checks rank and size,
 * f32/f64 allreduce sums (one buffer larger than a typical eager limit), broadcast from rank 0 and a barrier,
 * then prints "dist ok rank R of N". Exit status 0 only if every check passed on this rank. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/dist.h"

static int failures;
#define EXPECT(cond, ...)                                                                                        \
    do {                                                                                                         \
        if (!(cond)) {                                                                                           \
            failures++;                                                                                          \
            fprintf(stderr, "test_dist_mpi: %s:%d: %s: ", __FILE__, __LINE__, #cond);                            \
            fprintf(stderr, "" __VA_ARGS__);                                                                     \
            fputc('\n', stderr);                                                                                 \
        }                                                                                                        \
    } while (0)

int main(void) {
    rerank_error err;
    rr_dist *d = NULL;
    if (rr_dist_open(&d, &err) != RERANK_OK) {
        fprintf(stderr, "test_dist_mpi: %s\n", err.message);
        return 1;
    }
    int rank = rr_dist_rank(d), size = rr_dist_size(d);
    const char *env = getenv("OMPI_COMM_WORLD_SIZE"), *env_rank = getenv("OMPI_COMM_WORLD_RANK");
    EXPECT(rank >= 0 && rank < size, "rank %d of %d", rank, size);
    if (env) EXPECT(size == atoi(env), "size %d, OMPI_COMM_WORLD_SIZE %s", size, env);
    if (env_rank) EXPECT(rank == atoi(env_rank), "rank %d, OMPI_COMM_WORLD_RANK %s", rank, env_rank);
    if (env) EXPECT(rr_dist_local_procs() == size, "%d local processes of %d (all on this machine)", rr_dist_local_procs(), size);
    /* Every rank is a different one: one-hot rows sum to all ones. */
    double *hot = calloc((size_t)size, sizeof *hot);
    hot[rank] = 1.0;
    EXPECT(rr_dist_allreduce_sum_f64(d, hot, (size_t)size, &err) == RERANK_OK, "%s", err.message);
    for (int r = 0; r < size; r++) EXPECT(hot[r] == 1.0, "rank %d counted %g times", r, hot[r]);
    /* f32: values exact in float, so the sum is exact whatever the reduction order. */
    size_t n = 300007;
    float *x = malloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = (float)(rank + 1) + (float)(i % 1000) * 0.25f;
    EXPECT(rr_dist_allreduce_sum_f32(d, x, n, &err) == RERANK_OK, "%s", err.message);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++)
        bad += x[i] != (float)(size * (size + 1) / 2) + (float)size * (float)(i % 1000) * 0.25f;
    EXPECT(bad == 0, "%zu f32 sums wrong", bad);
    double y[3] = {0.5 * rank, -1.0, 1e300 / size};
    EXPECT(rr_dist_allreduce_sum_f64(d, y, 3, &err) == RERANK_OK, "%s", err.message);
    EXPECT(y[0] == 0.25 * size * (size - 1) && y[1] == -(double)size, "f64 sums %g %g", y[0], y[1]);
    EXPECT(y[2] > 0.999e300 && y[2] < 1.001e300, "f64 sum %g", y[2]);
    /* Broadcast: rank 0's bytes everywhere; a zero-length one is a no-op. */
    unsigned char buf[1000];
    for (int i = 0; i < 1000; i++) buf[i] = (unsigned char)(rank == 0 ? i * 7 + 3 : 0xee);
    EXPECT(rr_dist_broadcast(d, buf, sizeof buf, &err) == RERANK_OK, "%s", err.message);
    EXPECT(rr_dist_broadcast(d, buf, 0, &err) == RERANK_OK, "%s", err.message);
    for (int i = 0; i < 1000; i++) bad += buf[i] != (unsigned char)(i * 7 + 3);
    EXPECT(bad == 0, "%zu broadcast bytes differ from rank 0's", bad);
    EXPECT(rr_dist_barrier(d, &err) == RERANK_OK, "%s", err.message);
    /* Every rank agrees on how many ranks failed: one failing rank fails them all. */
    double fails = failures;
    EXPECT(rr_dist_allreduce_sum_f64(d, &fails, 1, &err) == RERANK_OK, "%s", err.message);
    if (fails == 0 && failures == 0) printf("dist ok rank %d of %d\n", rank, size);
    free(hot), free(x);
    rr_dist_close(d);
    return failures || fails != 0;
}
