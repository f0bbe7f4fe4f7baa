/* cli_shard.c - see cli_shard.h. */
#include "cli_shard.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool parse_long(const char *s, long *out) {
    if (!s || !*s) return false;
    char *e;
    long v = strtol(s, &e, 10);
    if (*e) return false;
    *out = v;
    return true;
}

static bool set(rr_cli_shard *out, long index, long count, const char *source, char *msg, size_t msg_size) {
    if (count < 1 || index < 0 || index >= count) {
        snprintf(msg, msg_size, "shard %ld of %ld (from %s): need 0 <= index < count", index, count, source);
        return false;
    }
    out->index = index;
    out->count = count;
    snprintf(out->source, sizeof out->source, "%s", source);
    return true;
}

bool rr_cli_shard_resolve(const char *spec, long count_hint, rr_cli_shard *out, char *msg, size_t msg_size) {
    memset(out, 0, sizeof *out);
    if (spec) {
        const char *slash = strchr(spec, '/');
        char k[32];
        long index, count;
        if (!slash || (size_t)(slash - spec) >= sizeof k) {
            snprintf(msg, msg_size, "--shard takes K/N (e.g. 0/4), not '%s'", spec);
            return false;
        }
        memcpy(k, spec, (size_t)(slash - spec));
        k[slash - spec] = '\0';
        if (!parse_long(k, &index) || !parse_long(slash + 1, &count)) {
            snprintf(msg, msg_size, "--shard takes K/N (e.g. 0/4), not '%s'", spec);
            return false;
        }
        return set(out, index, count, "--shard", msg, msg_size);
    }
    long id, n, min = 0, step = 1;
    if (parse_long(getenv("SLURM_ARRAY_TASK_ID"), &id)) {
        if (!parse_long(getenv("SLURM_ARRAY_TASK_COUNT"), &n)) {
            snprintf(msg, msg_size, "SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not; give --shard K/N");
            return false;
        }
        parse_long(getenv("SLURM_ARRAY_TASK_MIN"), &min);
        if (!parse_long(getenv("SLURM_ARRAY_TASK_STEP"), &step) || step < 1) step = 1;
        return set(out, (id - min) / step, n, "SLURM_ARRAY_TASK_ID", msg, msg_size);
    }
    if (parse_long(getenv("JOB_COMPLETION_INDEX"), &id)) {
        if (count_hint < 1) {
            snprintf(msg, msg_size, "JOB_COMPLETION_INDEX is set (Kubernetes Indexed Job): give the job's completions "
                                    "as --shard-count N, or --shard K/N");
            return false;
        }
        return set(out, id, count_hint, "JOB_COMPLETION_INDEX", msg, msg_size);
    }
    if (parse_long(getenv("OMPI_COMM_WORLD_RANK"), &id) && parse_long(getenv("OMPI_COMM_WORLD_SIZE"), &n))
        return set(out, id, n, "OMPI_COMM_WORLD_RANK", msg, msg_size);
    if (parse_long(getenv("PMI_RANK"), &id) && parse_long(getenv("PMI_SIZE"), &n))
        return set(out, id, n, "PMI_RANK", msg, msg_size);
    if (count_hint > 1) {
        snprintf(msg, msg_size, "--shard-count %ld without JOB_COMPLETION_INDEX: give --shard K/N", count_hint);
        return false;
    }
    return set(out, 0, 1, "default", msg, msg_size);
}

bool rr_cli_shard_path(const rr_cli_shard *s, const char *path, char *buf, size_t size) {
    size_t w = 0;
    for (const char *p = path; *p;) {
        if (!strncmp(p, "{shard}", 7)) {
            int n = snprintf(buf + w, size - w, "%ld", s->index);
            if (n < 0 || (size_t)n >= size - w) return false;
            w += (size_t)n;
            p += 7;
        } else {
            if (w + 1 >= size) return false;
            buf[w++] = *p++;
        }
    }
    buf[w] = '\0';
    return true;
}
