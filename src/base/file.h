/* file.h - reading files: whole-file reads for small text files, read-only mmap for weights. */
#ifndef RR_BASE_FILE_H
#define RR_BASE_FILE_H

#include <stddef.h>
#include "rerank.h"

/* A read-only view of a whole file. `data` is NULL for an empty file. */
typedef struct rr_mapped_file {
    const unsigned char *data;
    size_t size;
} rr_mapped_file;

/* Maps `path` read-only. Errors name the path. */
rerank_status rr_file_map(const char *path, rr_mapped_file *out, rerank_error *err);
void rr_file_unmap(rr_mapped_file *f);

/* Reads `path` into a new NUL-terminated buffer (*out, free with free()); *len excludes the NUL.
 * Files over max_bytes are refused. */
rerank_status rr_file_read(const char *path, size_t max_bytes, char **out, size_t *len, rerank_error *err);

/* True if `path` names an existing regular file. */
int rr_file_exists(const char *path);

/* Joins dir and name with '/' into buf; fails (returns 0) if it does not fit. */
int rr_path_join(char *buf, size_t size, const char *dir, const char *name);

/* mkdir -p. */
rerank_status rr_dir_make(const char *dir, rerank_error *err);

/* Copies the file src to dst (created or truncated), byte for byte. */
rerank_status rr_file_copy(const char *src, const char *dst, rerank_error *err);

#endif
