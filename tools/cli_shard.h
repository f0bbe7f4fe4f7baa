/* cli_shard.h - which part of an offline job this process does: --shard K/N, or the array index of the
 * scheduler that started it (Slurm job arrays, Kubernetes Indexed Jobs, mpirun). Used by `rerank trec`
 * (shards by query) and `rerank score` (shards by input line). */
#ifndef RR_CLI_SHARD_H
#define RR_CLI_SHARD_H

#include <stdbool.h>
#include <stddef.h>

typedef struct rr_cli_shard {
    long index, count;  /* this process does items i with i % count == index; count 1 = everything */
    char source[96];    /* where index/count came from, for the progress line */
} rr_cli_shard;

/* Resolves the shard: `spec` ("K/N", or NULL when --shard was not given) wins; else SLURM_ARRAY_TASK_ID
 * (minus SLURM_ARRAY_TASK_MIN, over SLURM_ARRAY_TASK_STEP) of SLURM_ARRAY_TASK_COUNT; else
 * JOB_COMPLETION_INDEX of `count_hint` (--shard-count N: Kubernetes does not export the completions);
 * else OMPI_COMM_WORLD_RANK / OMPI_COMM_WORLD_SIZE (or PMI_RANK / PMI_SIZE); else 0/1. Returns false with a
 * one-line message in msg when the spec or the environment is inconsistent. */
bool rr_cli_shard_resolve(const char *spec, long count_hint, rr_cli_shard *out, char *msg, size_t msg_size);

/* True when item i belongs to this shard. */
static inline bool rr_cli_shard_owns(const rr_cli_shard *s, size_t i) {
    return s->count <= 1 || (long)(i % (size_t)s->count) == s->index;
}

/* Replaces every "{shard}" in path by the shard index into buf (the path unchanged when absent). */
bool rr_cli_shard_path(const rr_cli_shard *s, const char *path, char *buf, size_t size);

#endif
