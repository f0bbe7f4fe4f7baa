/* dist.h - the processes of a data-parallel training job. Launched by `mpirun -np N`, rr_dist_open joins
 * the MPI job (Open MPI is loaded at run time, so a single-process run never needs it installed); run
 * alone it is a group of one and every collective is a no-op. */
#ifndef RR_TRAIN_DIST_H
#define RR_TRAIN_DIST_H

#include <stddef.h>

#include "rerank.h"

typedef struct rr_dist rr_dist;

/* Joins the job the process was launched in, or a group of one. */
rerank_status rr_dist_open(rr_dist **out, rerank_error *err);
/* Leaves the job (MPI_Finalize). NULL is allowed. */
void rr_dist_close(rr_dist *d);

int rr_dist_rank(const rr_dist *d); /* 0-based */
int rr_dist_size(const rr_dist *d); /* processes in the job */
/* Processes of the job on this machine, from the launcher's environment (OMPI_COMM_WORLD_LOCAL_SIZE); 1 when
 * not launched by mpirun. Needs no rr_dist: thread pools divide the cores by it. */
int rr_dist_local_procs(void);

/* In place: x[i] = sum over all processes of their x[i]. Every process must call with the same n. */
rerank_status rr_dist_allreduce_sum_f32(rr_dist *d, float *x, size_t n, rerank_error *err);
rerank_status rr_dist_allreduce_sum_f64(rr_dist *d, double *x, size_t n, rerank_error *err);
/* In place: every process receives rank 0's n bytes. */
rerank_status rr_dist_broadcast(rr_dist *d, void *buf, size_t n, rerank_error *err);
rerank_status rr_dist_barrier(rr_dist *d, rerank_error *err);

#endif
