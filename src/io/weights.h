/* weights.h - the tensors of a model directory: model.safetensors, or the shards listed in
 * model.safetensors.index.json, all memory-mapped. Hands out fp32 views: F32 tensors in place (zero-copy),
 * F16/BF16 converted once at load and owned by the rr_weights. */
#ifndef RR_IO_WEIGHTS_H
#define RR_IO_WEIGHTS_H

#include <stdbool.h>
#include <stdint.h>
#include "io/safetensors.h"
#include "rerank.h"

typedef struct rr_weights rr_weights;

/* Opens the weights of `dir`. A directory with only pytorch_model.bin is RERANK_ERR_UNSUPPORTED with a
 * message saying how to convert it; a shard named by the index but absent is RERANK_ERR_IO. */
rerank_status rr_weights_open(const char *dir, rr_weights **out, rerank_error *err);
void rr_weights_free(rr_weights *w);

/* The tensor `name` and the file (base name) that holds it; NULL if absent. */
const rr_st_tensor *rr_weights_find(const rr_weights *w, const char *name, const char **file);

/* Checks that `name` exists, has a float dtype (F32/F16/BF16) and exactly `shape`, and returns an fp32
 * view valid for the lifetime of w. Errors: "model.safetensors: tensor 'x' is [768,1024], expected
 * [1024,1024]". Not thread-safe (it may allocate a converted copy); call it while loading. */
rerank_status rr_weights_require(rr_weights *w, const char *name, const int64_t *shape, int n_dims,
                                 const float **out, rerank_error *err);

/* Checks that `name` exists with exactly `dtype` and `shape` and that its data starts at a multiple of `align`
 * bytes of its file, and returns the tensor as stored (no conversion; valid for the lifetime of w). Errors name
 * the file and tensor. */
rerank_status rr_weights_require_raw(const rr_weights *w, const char *name, rr_st_dtype dtype, const int64_t *shape,
                                     int n_dims, size_t align, const rr_st_tensor **out, rerank_error *err);

/* Every tensor of every file, i < rr_weights_count(w): file by file, each sorted by name. *file (may be NULL)
 * gets the file's base name. */
size_t rr_weights_count(const rr_weights *w);
const rr_st_tensor *rr_weights_at(const rr_weights *w, size_t i, const char **file);

/* rr_weights_require with the shape written inline: RR_WEIGHTS_REQUIRE(w, name, &ptr, err, 1024, 768). */
#define RR_WEIGHTS_REQUIRE(w, name, out, err, ...)                                                        \
    rr_weights_require((w), (name), (const int64_t[]){__VA_ARGS__},                                      \
                       (int)(sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (out), (err))

/* Gives back the memory of a view from rr_weights_require that the caller no longer reads (it converted the
 * tensor to another precision): the whole pages inside [p, p + n floats) are dropped (madvise DONTNEED:
 * mapped file pages leave the resident set and become inaccessible, a converted copy's pages read back as
 * zeros), pages shared with neighbouring tensors are kept. The view must not be read afterwards. */
void rr_weights_release(rr_weights *w, const float *p, size_t n);

/* Replaces tensor `name` (which must exist, 1 or 2 float dims) by `data`, fp32 in the tensor's shape, for every
 * later rr_weights_require: how a LoRA adapter's merged matrices and saved heads take the place of the base
 * model's at load (arch/adapter.h). w takes ownership of data (malloc'ed), also on failure. */
rerank_status rr_weights_override(rr_weights *w, const char *name, float *data, rerank_error *err);

/* The n_elems values of a F32, F16 or BF16 tensor as fp32 into dst; false (nothing written) for another dtype. */
bool rr_weights_to_f32(const rr_st_tensor *t, float *dst);

/* Exact conversions of one element to fp32 (subnormals, infinities and NaNs included). */
float rr_f16_to_f32(uint16_t h);
float rr_bf16_to_f32(uint16_t h);

#endif
