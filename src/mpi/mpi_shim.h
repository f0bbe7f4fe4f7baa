/* mpi_shim.h - the table librerank_mpi.so exports (symbol RR_MPI_SHIM_SYMBOL). The shim is the only code that
 * includes mpi.h and links libmpi; dist.c dlopen()s it when the process was started by mpirun, so librerank
 * and the CLI never need Open MPI at link or run time. Functions return 0 or an MPI error code. */
#ifndef RR_MPI_SHIM_H
#define RR_MPI_SHIM_H

#include <stddef.h>

#define RR_MPI_SHIM_ABI 1
#define RR_MPI_SHIM_SYMBOL "rr_mpi_shim_v1"
#define RR_MPI_SHIM_LIB "librerank_mpi.so"

typedef struct rr_mpi_shim {
    int abi; /* RR_MPI_SHIM_ABI */
    /* MPI_Init_thread (funneled: only the thread that opened calls collectives) unless already initialised,
     * errors returned rather than aborting the job; then this process's rank and the job's size. */
    int (*init)(int *rank, int *size);
    int (*finalize)(void); /* only if init initialised MPI */
    int (*allreduce_sum_f32)(float *x, size_t n);
    int (*allreduce_sum_f64)(double *x, size_t n);
    int (*broadcast)(void *buf, size_t n); /* from rank 0 */
    int (*barrier)(void);
    void (*error_string)(int code, char *buf, size_t len);
} rr_mpi_shim;

#endif
