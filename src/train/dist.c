/* dist.c - rr_dist for a single process: a group of one, where every collective leaves the data as it is.
 * (The MPI transport joins here when the process was started by mpirun.) */
#include <stdlib.h>

#include "base/error.h"
#include "train/dist.h"

struct rr_dist {
    int rank, size;
};

rerank_status rr_dist_open(rr_dist **out, rerank_error *err) {
    *out = calloc(1, sizeof **out);
    if (!*out) return rr_fail(err, RERANK_ERR_NOMEM, "out of memory");
    (*out)->size = 1;
    return RERANK_OK;
}

void rr_dist_close(rr_dist *d) { free(d); }
int rr_dist_rank(const rr_dist *d) { return d ? d->rank : 0; }
int rr_dist_size(const rr_dist *d) { return d ? d->size : 1; }

rerank_status rr_dist_allreduce_sum_f32(rr_dist *d, float *x, size_t n, rerank_error *err) {
    (void)d, (void)x, (void)n, (void)err;
    return RERANK_OK;
}
rerank_status rr_dist_allreduce_sum_f64(rr_dist *d, double *x, size_t n, rerank_error *err) {
    (void)d, (void)x, (void)n, (void)err;
    return RERANK_OK;
}
rerank_status rr_dist_broadcast(rr_dist *d, void *buf, size_t n, rerank_error *err) {
    (void)d, (void)buf, (void)n, (void)err;
    return RERANK_OK;
}
rerank_status rr_dist_barrier(rr_dist *d, rerank_error *err) {
    (void)d, (void)err;
    return RERANK_OK;
}
