/* vec.h - growable arrays of int32 and bytes (token ids, normalized text). Capacity is kept between uses so
 * a session reuses its buffers. */
#ifndef RR_BASE_VEC_H
#define RR_BASE_VEC_H

#include <stddef.h>
#include <stdint.h>
#include "rerank.h"

typedef struct rr_i32vec {
    int32_t *data;
    size_t n, cap;
} rr_i32vec;

typedef struct rr_bytes {
    char *data; /* kept NUL-terminated when non-NULL */
    size_t n, cap;
} rr_bytes;

/* Ensures room for `extra` more elements; returns RERANK_ERR_NOMEM on failure or overflow. */
rerank_status rr_i32vec_reserve(rr_i32vec *v, size_t extra);
rerank_status rr_i32vec_push(rr_i32vec *v, int32_t x);
rerank_status rr_i32vec_append(rr_i32vec *v, const int32_t *xs, size_t n);
void rr_i32vec_free(rr_i32vec *v);

rerank_status rr_bytes_reserve(rr_bytes *b, size_t extra);
rerank_status rr_bytes_append(rr_bytes *b, const void *p, size_t n);
void rr_bytes_free(rr_bytes *b);

#endif
