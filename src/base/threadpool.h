/* threadpool.h - a persistent pool of pthread workers: created once (per session), then each rr_pool_run
 * hands the same function a range of task indices that the workers and the calling thread share. */
#ifndef RR_BASE_THREADPOOL_H
#define RR_BASE_THREADPOOL_H

typedef struct rr_pool rr_pool;

/* fn(ctx, task, thread) for task in [0, n_tasks); thread in [0, rr_pool_size) names the running thread so
 * callers can give each one its own scratch. */
typedef void (*rr_pool_fn)(void *ctx, int task, int thread);

/* A pool of n_threads threads in all, the caller included (n_threads - 1 workers); n_threads <= 0 means
 * one per online core. NULL when out of memory or when a thread cannot be created. */
rr_pool *rr_pool_new(int n_threads);
void rr_pool_free(rr_pool *pool);

/* Threads of the pool; 1 for NULL. */
int rr_pool_size(const rr_pool *pool);

/* Runs every task once and returns when all are done. A NULL pool runs them in the caller. Not
 * re-entrant: fn must not call rr_pool_run on the same pool. */
void rr_pool_run(rr_pool *pool, rr_pool_fn fn, void *ctx, int n_tasks);

/* Online cores (at least 1). */
int rr_cpu_count(void);

#endif
