/* packed.h - private to src/arch: converted models (`rerank convert`), whose dense matrices are stored in the
 * kernels' packed panel layout, so that loading borrows them from the memory map: no conversion, no copy.
 *
 * A converted model directory is an ordinary one (the tokenizer and other files copied unchanged) whose
 * config.json has one more key,
 *     "rerank_packed": {"format": 1, "dtype": "bf16" | "int8", "panel": 32}
 * and whose model.safetensors holds every tensor of the original as it was (name, dtype, bytes) except the
 * dense matrices the kernels run in bf16 / int8 (rr_dense: attention and FFN/MLP projections): each
 * W = <name> [out,in] is replaced by, with P = ceil(out / 32) panels of 32 output channels, zeros past out
 * and in (rr_wmat_init's layout, kernels.h):
 *     <name>.rr_bf16    BF16 [P, ceil(in/2), 32, 2]   [p][kk][c][j] = bf16(W[32p + c][2kk + j])
 *     <name>.rr_int8    I8   [P, ceil(in/4), 32, 4]   [p][kq][c][j] = q[32p + c][4kq + j], W ~ scale[o] q[o][k]
 *     <name>.rr_scale   F32  [P, 32]                  scale[o] = max_k |W[o][k]| / 127 (1 for a zero row)
 *     <name>.rr_colsum  I32  [P, 32]                  sum_k q[o][k]
 * With dtype int8 the down-projections are stored as <name>.rr_bf16: exactly what loading with that --dtype
 * builds, on every CPU (files of older versions that kept them as the original <name> still load). Every tensor starts
 * at a multiple of 64 bytes of the file ("__pad__.N" U8 fillers, rr_safetensors_write_aligned). The file is
 * valid safetensors, but no longer a transformers checkpoint (the dense weights are gone); a reader refuses a
 * format or panel width it does not know. */
#ifndef RR_ARCH_PACKED_H
#define RR_ARCH_PACKED_H

#include "arch/arch.h"

#define RR_PACKED_KEY "rerank_packed"
enum { RR_PACKED_FORMAT = 1, RR_PACKED_ALIGN = 64 };

/* config.json's RR_PACKED_KEY: *dtype = RERANK_DTYPE_AUTO when absent (an ordinary checkpoint), else the stored
 * precision. A malformed key, another format version or panel width is an error naming the key. */
rerank_status rr_packed_read_config(const json_t *config, rerank_dtype *dtype, rerank_error *err);

/* Fills d->mat as `type` from a converted model's tensors: its panels borrowed from the mapped file (bf16,
 * int8), or the fp32 view of d->name (RR_W_F32). Errors name the file and tensor. */
rerank_status rr_packed_bind(rr_weights *w, const rr_dense *d, rr_wtype type, rerank_error *err);

#endif
