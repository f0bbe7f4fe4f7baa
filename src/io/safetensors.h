/* safetensors.h - reading and writing the safetensors format (Hugging Face's flat tensor file).
 *
 * Byte layout (all little-endian):
 *   [0, 8)             u64 N = length of the JSON header
 *   [8, 8+N)           JSON object: "name": {"dtype": "F32", "shape": [d0, d1, ...], "data_offsets": [b, e]},
 *                      plus an optional "__metadata__": {string: string}; padded with spaces
 *   [8+N, file end)    the data area; tensor bytes are [8+N+b, 8+N+e), row-major
 * The parser validates every field against the file size before any tensor is touched. */
#ifndef RR_IO_SAFETENSORS_H
#define RR_IO_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>
#include "base/file.h"
#include "rerank.h"

typedef enum rr_st_dtype {
    RR_ST_F32 = 0,
    RR_ST_F16,
    RR_ST_BF16,
    RR_ST_F64,
    RR_ST_I64,
    RR_ST_I32,
    RR_ST_I16,
    RR_ST_I8,
    RR_ST_U8,
    RR_ST_BOOL,
    RR_ST_DTYPE_COUNT
} rr_st_dtype;

#define RR_ST_MAX_DIMS 8

/* One tensor of a parsed file; `data` points into the file's bytes (not necessarily aligned). */
typedef struct rr_st_tensor {
    const char *name;
    rr_st_dtype dtype;
    int n_dims;                     /* 0 for a scalar */
    int64_t shape[RR_ST_MAX_DIMS];
    size_t n_elems;                 /* product of shape (1 for a scalar) */
    size_t n_bytes;                 /* n_elems * element size */
    const unsigned char *data;
    size_t file_offset;             /* of data from the start of the file (8 + header + data_offsets[0]) */
} rr_st_tensor;

typedef struct rr_safetensors rr_safetensors;

/* Maps and parses `path`. Errors name the path and, where relevant, the tensor. */
rerank_status rr_safetensors_open(const char *path, rr_safetensors **out, rerank_error *err);

/* Parses size bytes at data (borrowed: must outlive the result). `name` prefixes errors. */
rerank_status rr_safetensors_parse(const void *data, size_t size, const char *name, rr_safetensors **out,
                                   rerank_error *err);
void rr_safetensors_free(rr_safetensors *st);

/* The tensor called `name`, or NULL. */
const rr_st_tensor *rr_safetensors_find(const rr_safetensors *st, const char *name);
size_t rr_safetensors_count(const rr_safetensors *st);
const rr_st_tensor *rr_safetensors_at(const rr_safetensors *st, size_t i); /* sorted by name */
const char *rr_safetensors_name(const rr_safetensors *st);               /* path or name given at open */
/* Whether [p, p + bytes) lies inside the file that st memory-maps (false for one parsed from a caller's buffer). */
bool rr_safetensors_maps(const rr_safetensors *st, const void *p, size_t bytes);

const char *rr_st_dtype_name(rr_st_dtype dt);
size_t rr_st_dtype_size(rr_st_dtype dt);

/* Formats a shape as "[768,1024]" into buf. */
const char *rr_st_shape_str(char *buf, size_t size, const int64_t *shape, int n_dims);

/* A tensor to write: `data` holds product(shape) elements of `dtype`. */
typedef struct rr_st_write_tensor {
    const char *name;
    rr_st_dtype dtype;
    int n_dims;
    int64_t shape[RR_ST_MAX_DIMS];
    const void *data;
} rr_st_write_tensor;

/* Writes the tensors in the given order, header padded to 8 bytes, "__metadata__": {"format": "pt"}. */
rerank_status rr_safetensors_write(const char *path, const rr_st_write_tensor *tensors, size_t n_tensors,
                                   rerank_error *err);

/* Name prefix of the filler tensors rr_safetensors_write_aligned adds; reserved (a tensor to write may not use it). */
#define RR_ST_PAD_PREFIX "__pad__."

/* rr_safetensors_write with the data of every tensor starting at a multiple of `align` bytes (a power of two up
 * to 4096) from the start of the file, so that a memory map hands out aligned pointers: the header is padded
 * with spaces, and the gap after a tensor whose size is not a multiple of `align` is filled by a zeroed U8
 * tensor named RR_ST_PAD_PREFIX<n> (the reference reader refuses holes between tensors). */
rerank_status rr_safetensors_write_aligned(const char *path, const rr_st_write_tensor *tensors, size_t n_tensors,
                                           size_t align, rerank_error *err);

#endif
