/* vec.c - growable arrays. */
#include "base/vec.h"

#include <stdlib.h>
#include <string.h>

static rerank_status grow(void **data, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return RERANK_OK;
    size_t nc = *cap ? *cap : 16;
    while (nc < need) {
        if (nc > SIZE_MAX / 2) return RERANK_ERR_NOMEM;
        nc *= 2;
    }
    if (nc > SIZE_MAX / elem) return RERANK_ERR_NOMEM;
    void *p = realloc(*data, nc * elem);
    if (!p) return RERANK_ERR_NOMEM;
    *data = p;
    *cap = nc;
    return RERANK_OK;
}

rerank_status rr_i32vec_reserve(rr_i32vec *v, size_t extra) {
    if (extra > SIZE_MAX - v->n) return RERANK_ERR_NOMEM;
    return grow((void **)&v->data, &v->cap, v->n + extra, sizeof(int32_t));
}

rerank_status rr_i32vec_push(rr_i32vec *v, int32_t x) {
    if (v->n == v->cap && rr_i32vec_reserve(v, 1)) return RERANK_ERR_NOMEM;
    v->data[v->n++] = x;
    return RERANK_OK;
}

rerank_status rr_i32vec_append(rr_i32vec *v, const int32_t *xs, size_t n) {
    if (n == 0) return RERANK_OK;
    if (rr_i32vec_reserve(v, n)) return RERANK_ERR_NOMEM;
    memcpy(v->data + v->n, xs, n * sizeof *xs);
    v->n += n;
    return RERANK_OK;
}

void rr_i32vec_free(rr_i32vec *v) {
    free(v->data);
    v->data = NULL;
    v->n = v->cap = 0;
}

rerank_status rr_bytes_reserve(rr_bytes *b, size_t extra) {
    if (extra > SIZE_MAX - b->n - 1) return RERANK_ERR_NOMEM;
    return grow((void **)&b->data, &b->cap, b->n + extra + 1, 1);
}

rerank_status rr_bytes_append(rr_bytes *b, const void *p, size_t n) {
    if (rr_bytes_reserve(b, n)) return RERANK_ERR_NOMEM;
    if (n) memcpy(b->data + b->n, p, n);
    b->n += n;
    b->data[b->n] = '\0';
    return RERANK_OK;
}

void rr_bytes_free(rr_bytes *b) {
    free(b->data);
    b->data = NULL;
    b->n = b->cap = 0;
}
