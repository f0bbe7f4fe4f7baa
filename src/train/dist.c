/* dist.c - rr_dist: a group of one, or, when the process was started by mpirun, the MPI job through the
 * shim librerank_mpi.so (src/mpi/). The shim is dlopen()ed only then, so a single-process run needs no MPI
 * installed and librerank never links libmpi. */
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/error.h"
#include "mpi/mpi_shim.h"
#include "train/dist.h"

struct rr_dist {
    int rank, size;
    const rr_mpi_shim *mpi; /* NULL: a group of one */
};

/* The variable that says mpirun (Open MPI's, or a PMIx launcher) started us, or NULL. */
static const char *launcher_var(void) {
    static const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++)
        if (getenv(vars[i])) return vars[i];
    return NULL;
}

/* $RERANK_MPI_SHIM, else the shim next to the executable (the build folder), else the loader's search path.
 * RTLD_GLOBAL: Open MPI's own plugins resolve libmpi's symbols from the global scope. */
static void *load_shim(char *why, size_t why_len) {
    const char *env = getenv("RERANK_MPI_SHIM");
    if (env && *env) {
        void *h = dlopen(env, RTLD_NOW | RTLD_GLOBAL);
        if (!h) snprintf(why, why_len, "%s", dlerror());
        return h;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash && (size_t)(slash - exe) + 1 + sizeof RR_MPI_SHIM_LIB <= sizeof exe) {
            strcpy(slash + 1, RR_MPI_SHIM_LIB);
            if (access(exe, F_OK) == 0) {
                void *h = dlopen(exe, RTLD_NOW | RTLD_GLOBAL);
                if (!h) snprintf(why, why_len, "%s", dlerror());
                return h;
            }
        }
    }
    void *h = dlopen(RR_MPI_SHIM_LIB, RTLD_NOW | RTLD_GLOBAL);
    if (!h) snprintf(why, why_len, "%s", dlerror());
    return h;
}

static rerank_status mpi_fail(const rr_dist *d, rerank_error *err, const char *what, int code) {
    char s[256];
    d->mpi->error_string(code, s, sizeof s);
    for (char *c = s; *c; c++)
        if (*c == '\n') *c = ' ';
    return rr_fail(err, RERANK_ERR_IO, "MPI %s failed on rank %d: %s", what, d->rank, s);
}

rerank_status rr_dist_open(rr_dist **out, rerank_error *err) {
    *out = NULL;
    rr_dist *d = calloc(1, sizeof *d);
    if (!d) return rr_fail(err, RERANK_ERR_NOMEM, "out of memory");
    d->size = 1;
    const char *var = launcher_var();
    if (var) {
        char why[512] = "";
        void *h = load_shim(why, sizeof why);
        const rr_mpi_shim *s = h ? dlsym(h, RR_MPI_SHIM_SYMBOL) : NULL;
        if (h && (!s || s->abi != RR_MPI_SHIM_ABI)) snprintf(why, sizeof why, "not a compatible %s", RR_MPI_SHIM_LIB);
        if (!s || s->abi != RR_MPI_SHIM_ABI) {
            free(d);
            for (char *c = why; *c; c++)
                if (*c == '\n') *c = ' ';
            return rr_fail(err, RERANK_ERR_UNSUPPORTED,
                           "started by mpirun (%s is set) but the MPI transport cannot be loaded: %s (build it with "
                           "Open MPI's libopenmpi-dev installed, or point RERANK_MPI_SHIM at %s)",
                           var, why, RR_MPI_SHIM_LIB);
        }
        d->mpi = s;
        int rc = s->init(&d->rank, &d->size);
        if (rc) {
            rerank_status st = mpi_fail(d, err, "initialisation", rc);
            free(d);
            return st;
        }
    }
    *out = d;
    return RERANK_OK;
}

/* The shim stays loaded: libmpi cannot be unloaded and re-initialised within one process. */
void rr_dist_close(rr_dist *d) {
    if (d && d->mpi) d->mpi->finalize();
    free(d);
}

int rr_dist_local_procs(void) {
    const char *v = getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
    long n = v ? strtol(v, NULL, 10) : 1;
    return n >= 1 && n <= 1 << 20 ? (int)n : 1;
}

int rr_dist_rank(const rr_dist *d) { return d ? d->rank : 0; }
int rr_dist_size(const rr_dist *d) { return d ? d->size : 1; }

rerank_status rr_dist_allreduce_sum_f32(rr_dist *d, float *x, size_t n, rerank_error *err) {
    int rc = d && d->mpi && n ? d->mpi->allreduce_sum_f32(x, n) : 0;
    return rc ? mpi_fail(d, err, "allreduce", rc) : RERANK_OK;
}
rerank_status rr_dist_allreduce_sum_f64(rr_dist *d, double *x, size_t n, rerank_error *err) {
    int rc = d && d->mpi && n ? d->mpi->allreduce_sum_f64(x, n) : 0;
    return rc ? mpi_fail(d, err, "allreduce", rc) : RERANK_OK;
}
rerank_status rr_dist_broadcast(rr_dist *d, void *buf, size_t n, rerank_error *err) {
    int rc = d && d->mpi && n ? d->mpi->broadcast(buf, n) : 0;
    return rc ? mpi_fail(d, err, "broadcast", rc) : RERANK_OK;
}
rerank_status rr_dist_barrier(rr_dist *d, rerank_error *err) {
    int rc = d && d->mpi ? d->mpi->barrier() : 0;
    return rc ? mpi_fail(d, err, "barrier", rc) : RERANK_OK;
}
