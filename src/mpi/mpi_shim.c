/* mpi_shim.c - librerank_mpi.so: rr_mpi_shim on MPI_COMM_WORLD. Not part of librerank (see mpi_shim.h). */
#include <limits.h>
#include <mpi.h>
#include <stdio.h>

#include "mpi/mpi_shim.h"

static int we_initialised;

static int shim_init(int *rank, int *size) {
    int done = 0, rc = MPI_Initialized(&done);
    if (rc != MPI_SUCCESS) return rc;
    if (!done) {
        int provided = 0;
        if ((rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided)) != MPI_SUCCESS) return rc;
        we_initialised = 1;
    }
    if ((rc = MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN)) != MPI_SUCCESS) return rc;
    if ((rc = MPI_Comm_rank(MPI_COMM_WORLD, rank)) != MPI_SUCCESS) return rc;
    return MPI_Comm_size(MPI_COMM_WORLD, size);
}

static int shim_finalize(void) {
    if (!we_initialised) return MPI_SUCCESS;
    we_initialised = 0;
    return MPI_Finalize();
}

/* MPI counts are int: large buffers go in chunks. */
enum { CHUNK = 1 << 28 };

static int allreduce(void *x, size_t n, size_t elem, MPI_Datatype t) {
    for (size_t at = 0; at < n; at += CHUNK) {
        int c = n - at < CHUNK ? (int)(n - at) : CHUNK;
        int rc = MPI_Allreduce(MPI_IN_PLACE, (char *)x + at * elem, c, t, MPI_SUM, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return rc;
    }
    return MPI_SUCCESS;
}

static int shim_allreduce_f32(float *x, size_t n) { return allreduce(x, n, sizeof *x, MPI_FLOAT); }
static int shim_allreduce_f64(double *x, size_t n) { return allreduce(x, n, sizeof *x, MPI_DOUBLE); }

static int shim_broadcast(void *buf, size_t n) {
    for (size_t at = 0; at < n; at += CHUNK) {
        int c = n - at < CHUNK ? (int)(n - at) : CHUNK;
        int rc = MPI_Bcast((char *)buf + at, c, MPI_BYTE, 0, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return rc;
    }
    return MPI_SUCCESS;
}

static int shim_barrier(void) { return MPI_Barrier(MPI_COMM_WORLD); }

static void shim_error_string(int code, char *buf, size_t len) {
    char s[MPI_MAX_ERROR_STRING];
    int n = 0;
    if (MPI_Error_string(code, s, &n) != MPI_SUCCESS) snprintf(s, sizeof s, "MPI error %d", code);
    snprintf(buf, len, "%s", s);
}

__attribute__((visibility("default"))) const rr_mpi_shim rr_mpi_shim_v1 = {
    RR_MPI_SHIM_ABI, shim_init, shim_finalize, shim_allreduce_f32, shim_allreduce_f64,
    shim_broadcast, shim_barrier, shim_error_string,
};
