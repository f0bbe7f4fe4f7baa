/* kernels.h - the math of the models as pure functions on float arrays plus shapes. No model knowledge:
 * callers pass pointers, sizes and strides. Matrices are row-major; weights use PyTorch Linear layout
 * W[out,in]. Outputs may not alias inputs unless a function says so. */
#ifndef RR_KERNELS_KERNELS_H
#define RR_KERNELS_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* y[n,out] = x[n,in] · W[out,in]^T + b[out]   (b may be NULL) */
void rr_matmul_fwd(float *y, const float *x, const float *w, const float *b, int n, int in, int out);

/* y[n,dim] = (x - mean) / sqrt(var + eps) * w + b, statistics per row (biased variance). y may be x. */
void rr_layernorm_fwd(float *y, const float *x, const float *w, const float *b, int n, int dim, float eps);

/* y[i] = a[i] + b[i], i < n. y may be a or b. */
void rr_add_fwd(float *y, const float *a, const float *b, size_t n);

/* y[i] = x[i] * 0.5 * (1 + erf(x[i] / sqrt(2)))   (exact GELU, PyTorch's default). y may be x. */
void rr_gelu_fwd(float *y, const float *x, size_t n);

/* y[i] = tanh(x[i]). y may be x. */
void rr_tanh_fwd(float *y, const float *x, size_t n);

/* In place, per row: x[r,:] = exp(x[r,:] - max) / sum. x is [n_rows, n]. */
void rr_softmax_fwd(float *x, int n_rows, int n);

/* Shapes of one sequence's attention. Heads are consecutive head_dim slices of a row; with
 * n_kv_heads < n_heads, query head h reads key/value head h / (n_heads / n_kv_heads). */
typedef struct rr_attn_shape {
    int n_tokens, n_heads, n_kv_heads, head_dim;
    int ld_q, ld_kv, ld_out; /* row strides (floats) of q, of k and v, of out */
    bool causal;             /* token i sees tokens 0..i only */
    bool bf16;               /* fast path only: products in bf16 with fp32 sums where the CPU has AMX-BF16 */
} rr_attn_shape;

/* out[t, h*hd:(h+1)*hd] = softmax_j(q[t,h]·k[j,kvh] / sqrt(hd)) · v[j,kvh] for one sequence.
 * scores is scratch of n_tokens floats. */
void rr_attention_fwd(float *out, const float *q, const float *k, const float *v, float *scores,
                      const rr_attn_shape *s);

/* rr_attention_fwd for n_tokens tokens that follow n_past cached ones (a shared prompt prefix): query i sees
 * the n_past rows of k_past / v_past (row stride ld_kv, key/value heads as in k / v), then its own tokens
 * 0..i (all n_tokens when not causal). Keys are visited in that order, so the floats match rr_attention_fwd
 * on the concatenated sequence. scores is scratch of n_past + n_tokens floats. (ref_decoder.c) */
void rr_attention_past_fwd(float *out, const float *q, const float *k_past, const float *v_past, int n_past,
                           const float *k, const float *v, float *scores, const rr_attn_shape *s);

/* ---- decoder LLM kernels (ref_decoder.c): RMSNorm, RoPE, gated activations ---- */

/* y[n,dim] = x * rsqrt(mean(x^2) + eps) * (w + w_offset), statistics per row in fp32. w_offset is 0 for
 * Llama-style RMSNorm (x*w) and 1 for Gemma's (x*(1+w)). y may be x. */
void rr_rmsnorm_fwd(float *y, const float *x, const float *w, float w_offset, int n, int dim, float eps);

/* cos/sin tables [n_pos, head_dim/2] for rotate-half RoPE, computed as transformers does in fp32:
 * inv_freq[i] = 1 / theta^((2i)/head_dim), angle = pos * inv_freq[i]. head_dim must be even. */
void rr_rope_table(float *cos_t, float *sin_t, int n_pos, int head_dim, float theta);

/* In place, rotate-half RoPE on x[n_tokens, n_heads*head_dim] (row stride ld) where token t has position t:
 * for i < head_dim/2, (a, b) = (x[i], x[i+head_dim/2]) -> (a*cos - b*sin, b*cos + a*sin). */
void rr_rope_fwd(float *x, const float *cos_t, const float *sin_t, int n_tokens, int n_heads, int head_dim, int ld);

/* y[i] = x[i] / (1 + exp(-x[i])). y may be x. */
void rr_silu_fwd(float *y, const float *x, size_t n);

/* y[i] = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))  (PyTorch's gelu approximate='tanh'). y may be x. */
void rr_gelu_tanh_fwd(float *y, const float *x, size_t n);

/* y[i] = a[i] * b[i]. y may be a or b. */
void rr_mul_fwd(float *y, const float *a, const float *b, size_t n);

/* y[i] = x[i] * s. y may be x. */
void rr_scale_fwd(float *y, const float *x, float s, size_t n);

/* Dot product of two n-vectors (fp32 accumulation). */
float rr_dot_fwd(const float *a, const float *b, size_t n);

/* ---- fast paths (fast.c, fast_avx2.c, fast_avx512.c): the same math as above, blocked and packed for
 * SIMD, threaded over an rr_pool, with the instruction set chosen at run time. ---- */

typedef struct rr_pool rr_pool;

/* x86-64: avx2 (+ FMA), avx512 (F/BW/VL/DQ; its bf16/int8 blocks where AVX512_BF16 / VNNI). ARM64: neon (Armv8.0
 * Advanced SIMD), neon_dot (+ the dot product, sdot), neon_i8mm (+ the int8 and bf16 matrix multiplies, smmla and
 * bfmmla, Armv8.6). An instruction set of another architecture than the build's is never supported. */
typedef enum rr_isa {
    RR_ISA_SCALAR,
    RR_ISA_AVX2,
    RR_ISA_AVX512,
    RR_ISA_NEON,
    RR_ISA_NEON_DOT,
    RR_ISA_NEON_I8MM,
    RR_ISA_COUNT
} rr_isa;

/* Compiled in and supported by this CPU (the scalar path always is). Every instruction set runs every weight
 * type (rr_wtype): where a CPU lacks bf16 or int8 dot products the bf16 weights are widened in registers and the
 * int8 products summed in 16-bit pairs, with the same integer sums. */
bool rr_isa_supported(rr_isa isa);
/* The instruction set in use: $RERANK_ISA (scalar|avx2|avx512|neon|neon_dot|neon_i8mm, read at the first call; an unsupported one
 * falls back to the best) or the best supported one. */
rr_isa rr_isa_get(void);
/* Forces an instruction set (tests, benchmarks); false, and no change, when it is not supported. */
bool rr_isa_set(rr_isa isa);
const char *rr_isa_name(rr_isa isa);

/* General single-precision matrix product, row-major, for the training passes:
 * C[M,N] = alpha * op(A)[M,K] · op(B)[K,N] + beta * C, where op(A) = A^T when trans_a (A is then stored
 * [K,M] with row stride lda) and likewise for B. beta == 0 ignores C's old contents (NaN included).
 * Threaded over pool (NULL = the caller only). (gemm.c) */
void rr_sgemm(rr_pool *pool, bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc);
/* The same product as a plain triple loop: no allocation, one thread. rr_sgemm's fallback when its scratch
 * cannot be allocated, and its reference in the tests. (gemm.c) */
void rr_sgemm_ref(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A, int lda,
                  const float *B, int ldb, float beta, float *C, int ldc);

typedef enum rr_act { RR_ACT_NONE, RR_ACT_GELU } rr_act;

/* Scratch floats rr_linear_fwd needs for a pool of n_threads threads. */
size_t rr_linear_scratch(int n_threads);
/* y[n,out] = act(x[n,in] · W[out,in]^T + b[out]) + res[n,out]   (b, res may be NULL; act as rr_gelu_fwd).
 * y may not alias x, w or res. */
void rr_linear_fwd(rr_pool *pool, float *scratch, float *y, const float *x, const float *w, const float *b,
                   const float *res, int n, int in, int out, rr_act act);

/* Scratch floats rr_attention_seqs_fwd needs for sequences of at most `longest` tokens. */
size_t rr_attention_scratch(int n_threads, int longest, int head_dim);
/* rr_attention_fwd for every sequence of a packed batch (sequence i is rows [offsets[i], offsets[i+1]) of
 * k and v; s->n_tokens is ignored). With first_only, only each sequence's first token queries: q and out
 * then hold one row per sequence (row i for sequence i). out may be q itself: each task copies (packs or
 * converts) its query rows before it writes their outputs, and no task reads another's rows. */
void rr_attention_seqs_fwd(rr_pool *pool, float *scratch, float *out, const float *q, const float *k,
                           const float *v, const size_t *offsets, size_t n_seqs, const rr_attn_shape *s,
                           bool first_only);

/* Weights of a dense layer as the fast kernels use them: fp32 in place (zero-copy), or converted once (at
 * load) to bf16 (fp32 accumulation) or int8 with a scale per output channel (activations then quantized per
 * token at run time; int32 sums). Converted ones are packed in panels, the same on every CPU. */
typedef enum rr_wtype { RR_W_F32, RR_W_BF16, RR_W_INT8 } rr_wtype;
/* Packed layout, P = ceil(out / RR_WMAT_PANEL) panels of RR_WMAT_PANEL output columns, zeros past out and in:
 * bf16 [P][ceil(in/2)][PANEL][2] = W[p*PANEL + c][2*kk + j]; int8 [P][ceil(in/4)][PANEL][4] = q[p*PANEL + c][4*kq + j],
 * with scale and colsum [P*PANEL]. */
enum { RR_WMAT_PANEL = 32 };
typedef struct rr_wmat {
    rr_wtype type;
    int out, in;
    const float *f32; /* RR_W_F32: W[out,in], borrowed */
    void *packed;     /* RR_W_BF16 / RR_W_INT8: panels, owned unless `borrowed` */
    float *scale;     /* RR_W_INT8: per output channel, W ~ scale[o] * q[o,k] */
    int32_t *colsum;  /* RR_W_INT8: sum over k of q[o,k] (undoes the +128 of unsigned activations) */
    bool borrowed;    /* packed/scale/colsum belong to someone else (a mapped converted model): not freed */
} rr_wmat;

/* Which kernels the active instruction set runs ("c" for the portable ones; "avx2", "avx2-gemm",
 * "avx512vnni", ...), for tests that check an instruction set's pass really ran it, and for benchmarks. */
typedef struct rr_kernel_names {
    const char *isa, *f32, *bf16, *int8;
} rr_kernel_names;
rr_kernel_names rr_kernels_active(void);
/* The kernel that last ran a dense layer of this weight type in this process (NULL before the first). */
const char *rr_kernels_last(rr_wtype type);
/* Fills *m from W[out,in]: type RR_W_F32 borrows w; the others convert and pack it. false when out of memory. */
bool rr_wmat_init(rr_wmat *m, rr_wtype type, const float *w, int out, int in);
/* Fills *m with panels already packed as rr_wmat_init packs them (type RR_W_BF16 or RR_W_INT8; scale and colsum
 * for int8 only), borrowed: they must outlive m, are only read, and rr_wmat_free leaves them. */
void rr_wmat_borrow(rr_wmat *m, rr_wtype type, int out, int in, const void *packed, const float *scale,
                    const int32_t *colsum);
void rr_wmat_free(rr_wmat *m);
/* Scratch floats rr_linear_w_fwd needs for n rows on a pool of n_threads threads. */
size_t rr_linear_w_scratch(const rr_wmat *w, int n_threads, int n);
/* rr_linear_fwd with prepared weights (bf16/int8 round x to the weights' precision first). */
void rr_linear_w_fwd(rr_pool *pool, float *scratch, float *y, const float *x, const rr_wmat *w, const float *b,
                     const float *res, int n, rr_act act);

/* One output of rr_linear_w_multi: y[n, w->out] = act(x W^T + b) + res. With y_bf16 (bf16 / int8 weights
 * only, w->out even) the result goes there instead, rounded to bf16, rows of w->out: the input of a following
 * rr_linear_w_bf16_input, which then skips the rounding pass. */
typedef struct rr_linear_out {
    float *y;
    const rr_wmat *w;
    const float *b, *res;
    rr_act act;
    uint16_t *y_bf16;
} rr_linear_out;
enum { RR_LINEAR_MAX_OUTS = 4 };
/* Whether the outputs can share one rounding of x: same weight type and input size, 1..RR_LINEAR_MAX_OUTS. */
bool rr_linear_outs_share(const rr_linear_out *outs, int count);
/* rr_linear_w_fwd for several weights on the same x (attention's q, k, v; a gated FFN's gate and up): x is
 * rounded to bf16 / int8 once and the column chunks of all outputs share one pass over the pool. Scratch as
 * rr_linear_w_scratch of any of the weights. */
void rr_linear_w_multi(rr_pool *pool, float *scratch, const float *x, int n, const rr_linear_out *outs, int count);
/* rr_linear_w_multi from an input already in bf16 (rows of `in`, even) for bf16 weights (RR_W_BF16, all of
 * the same `in`): no rounding pass. Scratch as rr_linear_w_scratch. */
void rr_linear_w_bf16_input(rr_pool *pool, float *scratch, const uint16_t *xq, int n, const rr_linear_out *outs,
                            int count);
/* Whether outputs in bf16 (rr_linear_out.y_bf16) run on the instruction set's own bf16 kernels. Where they do
 * not (bf16 weights run on the fp32 GEMM), a caller does better with fp32 outputs, which the next product
 * rounds itself: the same values. */
bool rr_linear_bf16_out_native(void);

/* ---- decoder fast paths (fast_decoder.c, fast_decoder_avx2.c, fast_decoder_avx512.c): the decoder kernels
 * above threaded over an rr_pool (NULL = the caller only) and vectorised for the run-time instruction set.
 * Results agree with the scalar reference to float rounding (sums are reassociated). ---- */

/* rr_layernorm_fwd on the pool, in the active instruction set (fp32 sums in SIMD lanes). y may be x. */
void rr_layernorm_fast(rr_pool *pool, float *y, const float *x, const float *w, const float *b, int n, int dim,
                       float eps);
/* rr_layernorm_fast that also writes each row rounded to bf16 (rows of dim) to ybf when ybf is not NULL. */
void rr_layernorm_fast_bf16(rr_pool *pool, float *y, uint16_t *ybf, const float *x, const float *w, const float *b,
                            int n, int dim, float eps);

/* rr_rmsnorm_fwd on every row. y may be x. */
void rr_rmsnorm_fast(rr_pool *pool, float *y, const float *x, const float *w, float w_offset, int n, int dim,
                     float eps);
/* rr_rmsnorm_fast that also writes the rows rounded to bf16 (rows of dim) to ybf when it is not NULL. */
void rr_rmsnorm_fast_bf16(rr_pool *pool, float *y, uint16_t *ybf, const float *x, const float *w, float w_offset,
                          int n, int dim, float eps);

/* dst[k] = x[k] rounded to bf16 (nearest even), k < n, in the active instruction set. */
void rr_to_bf16_row(uint16_t *dst, const float *x, int n);

/* rr_rope_fwd on the rows of a packed batch: row i of sequence s (rows [offsets[s], offsets[s+1]) of x, row
 * stride ld) has position pos0 + i; cos_t / sin_t cover every position reached. */
void rr_rope_seqs_fast(rr_pool *pool, float *x, const float *cos_t, const float *sin_t, const size_t *offsets,
                       size_t n_seqs, size_t pos0, int n_heads, int head_dim, int ld);

/* Gated activations of a decoder MLP. */
typedef enum rr_glu { RR_GLU_SILU, RR_GLU_GELU_TANH, RR_GLU_GELU } rr_glu;
/* y[i] = act(gate[i]) * up[i] with act rr_silu_fwd, rr_gelu_tanh_fwd or rr_gelu_fwd. y may be gate or up. */
void rr_glu_fast(rr_pool *pool, float *y, const float *gate, const float *up, size_t n, rr_glu act);
/* rr_glu_fast that also writes y rounded to bf16 to ybf (same layout) when it is not NULL. */
void rr_glu_fast_bf16(rr_pool *pool, float *y, uint16_t *ybf, const float *gate, const float *up, size_t n, rr_glu act);

/* y[i] = a[i] + b[i] * s (rr_scale_fwd then rr_add_fwd). y may be a or b. */
void rr_add_scaled_fast(rr_pool *pool, float *y, const float *a, const float *b, float s, size_t n);

/* Scratch floats rr_attention_past_seqs_fwd needs when a query sees at most n_keys keys (n_past + longest). */
size_t rr_attention_past_scratch(int n_threads, int n_keys, int head_dim);
/* rr_attention_past_fwd for every sequence of a packed batch (sequence i is rows [offsets[i], offsets[i+1])
 * of q, k, v and out; s->n_tokens is ignored); all continue the same n_past cached keys/values (n_past may be
 * 0). Keys are visited prefix first, then the sequence's own. With last_only, only each sequence's last
 * token queries: q and out then hold one row per sequence (row i for sequence i). */
void rr_attention_past_seqs_fwd(rr_pool *pool, float *scratch, float *out, const float *q, const float *k_past,
                                const float *v_past, int n_past, const float *k, const float *v,
                                const size_t *offsets, size_t n_seqs, const rr_attn_shape *s, bool last_only);

#endif
