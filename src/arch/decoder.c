/* decoder.c - the shared pre-norm decoder block of the LLM rerankers (Gemma, Qwen2/3, MiniCPM layerwise,
 * Llama) and its forward pass over packed sequences: dense layers on all tokens at once, RoPE and causal
 * attention per sequence, scores read at each sequence's last token only. Differences come in an
 * rr_decoder_spec (decoder.h) plus the parsed config.json (config.h).
 *
 * DESIGN: a decoder never computes a full-vocabulary matmul when scoring. After the last layer (or, for
 * the layerwise model, after each requested cutoff layer) only the last token's row goes through the
 * final RMSNorm and is dotted with the requested output rows. Layers above the highest cutoff are skipped.
 * A shared prompt prefix (rr_model_prefix_forward) is run once; its per-layer keys/values after RoPE are then
 * read by the attention of every sequence of a batch whose rr_batch.prefix points at it. In the last layer run,
 * keys and values cover every token but queries, o_proj and the MLP only each sequence's last token.
 *
 * Speed: dense layers go through rr_linear_w_fwd with rr_wmat weights (fp32 views, or bf16 / int8 converted
 * at load for --dtype or stored converted; dense.c), everything else through the threaded, vectorised decoder
 * kernels (fast_decoder*.c) on the workspace's pool. The same attention kernel serves batches with and without a
 * prefix and visits keys in the same order, so prefix reuse differs from whole sequences at most by how the dense
 * layers round. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/decoder.h"
#include "base/error.h"
#include "base/threadpool.h"
#include "kernels/kernels.h"

/* Tensors of one layer; names are model.layers.<i>.<suffix> (see layer_tensors). QD = heads*head_dim,
 * KD = kv_heads*head_dim. Optional tensors are NULL when the architecture/config has none. */
typedef struct dec_layer {
    const float *ln1;          /* [H]     input_layernorm.weight */
    const float *q_w, *q_b;    /* [QD,H], [QD] self_attn.q_proj */
    const float *k_w, *k_b;    /* [KD,H], [KD] self_attn.k_proj */
    const float *v_w, *v_b;    /* [KD,H], [KD] self_attn.v_proj */
    const float *o_w, *o_b;    /* [H,QD], [H]  self_attn.o_proj */
    const float *q_norm;       /* [hd]    self_attn.q_norm.weight (qk_norm) */
    const float *k_norm;       /* [hd]    self_attn.k_norm.weight (qk_norm) */
    const float *ln2;          /* [H]     post_attention_layernorm.weight */
    const float *gate_w;       /* [F,H]   mlp.gate_proj.weight */
    const float *up_w;         /* [F,H]   mlp.up_proj.weight */
    const float *down_w;       /* [H,F]   mlp.down_proj.weight */
    rr_wmat q, k, v, o, gate, up, down; /* the dense weights as the kernels take them (fp32 views or converted) */
} dec_layer;

typedef struct rr_decoder {
    const rr_decoder_spec *spec;
    const rr_model_config *c; /* hyper-parameters: the model's parsed config.json (rr_model.cfg) */
    rr_dec_outer o;           /* embeddings, final norm, output head */
    dec_layer *layers;        /* [n_layers] */
} rr_decoder;

/* The table of arch.h, in RR_DEC_* order (the LoRA trainer binds its frozen layers from it). */
#define W(f) offsetof(dec_layer, f)
static const rr_layer_tensor layer_tensors[RR_DEC_N] = {
    [RR_DEC_LN1] = {"input_layernorm.weight", W(ln1), RR_NO_MAT, 'H', 0, 0},
    [RR_DEC_QW] = {"self_attn.q_proj.weight", W(q_w), W(q), 'Q', 'H', 0},
    [RR_DEC_QB] = {"self_attn.q_proj.bias", W(q_b), RR_NO_MAT, 'Q', 0, 'b'},
    [RR_DEC_KW] = {"self_attn.k_proj.weight", W(k_w), W(k), 'K', 'H', 0},
    [RR_DEC_KB] = {"self_attn.k_proj.bias", W(k_b), RR_NO_MAT, 'K', 0, 'b'},
    [RR_DEC_VW] = {"self_attn.v_proj.weight", W(v_w), W(v), 'K', 'H', 0},
    [RR_DEC_VB] = {"self_attn.v_proj.bias", W(v_b), RR_NO_MAT, 'K', 0, 'b'},
    [RR_DEC_OW] = {"self_attn.o_proj.weight", W(o_w), W(o), 'H', 'Q', 0},
    [RR_DEC_OB] = {"self_attn.o_proj.bias", W(o_b), RR_NO_MAT, 'H', 0, 'o'},
    [RR_DEC_QNORM] = {"self_attn.q_norm.weight", W(q_norm), RR_NO_MAT, 'D', 0, 'n'},
    [RR_DEC_KNORM] = {"self_attn.k_norm.weight", W(k_norm), RR_NO_MAT, 'D', 0, 'n'},
    [RR_DEC_LN2] = {"post_attention_layernorm.weight", W(ln2), RR_NO_MAT, 'H', 0, 0},
    [RR_DEC_GATEW] = {"mlp.gate_proj.weight", W(gate_w), W(gate), 'F', 'H', 0},
    [RR_DEC_UPW] = {"mlp.up_proj.weight", W(up_w), W(up), 'F', 'H', 0},
    [RR_DEC_DOWNW] = {"mlp.down_proj.weight", W(down_w), W(down), 'H', 'F', 0},
};
#undef W
const rr_layer_table rr_decoder_layers = {layer_tensors, RR_DEC_N, "%smodel.layers.%d.%s", sizeof(dec_layer),
                                         offsetof(dec_layer, down)};

static void decoder_free(void *impl) {
    rr_decoder *d = impl;
    if (!d) return;
    rr_layers_free(&rr_decoder_layers, d->c->n_layers, d->layers);
    free(d->layers);
    free(d->o.heads);
    free(d);
}

static int64_t dim_of(const rr_decoder *d, char code) { return rr_config_dim(d->c, code); }

rerank_status rr_decoder_bind(rr_weights *w, const rr_decoder_spec *sp, const rr_model_config *c, rr_dec_outer *o,
                              void *layers, const float **views, bool skip_dense, rerank_error *err) {
    char name[256];
    rerank_status st;
    if ((st = RR_WEIGHTS_REQUIRE(w, "model.embed_tokens.weight", &o->embed, err, c->vocab, c->hidden)) ||
        (st = RR_WEIGHTS_REQUIRE(w, "model.norm.weight", &o->final_norm, err, c->hidden)) ||
        (st = rr_layers_bind(&rr_decoder_layers, "", c, w, c->n_layers, layers, views, skip_dense, err)))
        return st;
    if (sp->head == RR_DEC_HEAD_LAYERWISE) {
        int n = c->n_layers - c->start_layer + 1;
        o->heads = calloc((size_t)n, sizeof *o->heads);
        if (!o->heads) return rr_fail(err, RERANK_ERR_NOMEM, "out of memory for %d heads", n);
        for (int k = 0; k < n; k++) {
            snprintf(name, sizeof name, "lm_head.%d.linear_head.weight", k);
            if ((st = RR_WEIGHTS_REQUIRE(w, name, &o->heads[k], err, 1, c->hidden))) return st;
        }
    } else if (c->tied) {
        o->lm_head = o->embed;
    } else if ((st = RR_WEIGHTS_REQUIRE(w, "lm_head.weight", &o->lm_head, err, c->vocab, c->hidden))) {
        return st;
    }
    return RERANK_OK;
}

/* rr_family.dense: the seven dense weights of every layer (mlp.down_proj the down-projection). */
static size_t decoder_dense(rr_model *m, rr_dense *out) {
    rr_decoder *d = m->impl;
    return rr_layers_dense(&rr_decoder_layers, "", d->c, d->c->n_layers, d->layers, out);
}

static rerank_status decoder_load(rr_model *m, rerank_error *err) {
    rr_decoder *d = calloc(1, sizeof *d);
    if (!d) return rr_fail(err, RERANK_ERR_NOMEM, "out of memory");
    m->impl = d;
    d->spec = m->row->spec;
    d->c = &m->cfg;
    if (!(d->layers = calloc((size_t)d->c->n_layers, sizeof *d->layers)))
        return rr_fail(err, RERANK_ERR_NOMEM, "out of memory for %d layers", d->c->n_layers);
    return rr_decoder_bind(m->weights, d->spec, d->c, &d->o, d->layers, NULL, m->packed, err);
}

size_t rr_model_n_outputs(const rr_model *m, const rr_batch *b) {
    switch (m->desc.kind) {
    case RERANK_KIND_CROSS_ENCODER: return 1;
    case RERANK_KIND_LAYERWISE: return b->layers ? b->n_layers : 1;
    default: return b->all_vocab ? (size_t)m->desc.vocab_size : b->n_score_tokens;
    }
}

/* Validates sequences and the requested outputs; *n_tokens = total tokens, *longest = longest sequence,
 * *top = number of layers to run. */
static rerank_status check_batch(const rr_decoder *d, const rr_batch *b, size_t *n_tokens, size_t *longest,
                                 int *top, rerank_error *err) {
    if (!b->offsets || b->offsets[0] != 0)
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "batch offsets must start at 0");
    *longest = 0;
    for (size_t s = 0; s < b->n_seqs; s++) {
        size_t a = b->offsets[s], z = b->offsets[s + 1];
        if (z < a) return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "batch offsets decrease at sequence %zu", s);
        if (z == a) return rr_fail(err, RERANK_ERR_INPUT, "sequence %zu is empty", s);
        size_t past = b->prefix ? b->prefix->len : 0;
        if (z - a > (size_t)d->c->max_pos - past)
            return rr_fail(err, RERANK_ERR_INPUT, "sequence %zu has %zu tokens%s, more than the model's %d", s,
                           z - a + past, past ? " with its prefix" : "", d->c->max_pos);
        if (z - a > *longest) *longest = z - a;
    }
    *n_tokens = b->offsets[b->n_seqs];
    if (!b->ids) return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "batch has no token ids");
    for (size_t i = 0; i < *n_tokens; i++) {
        if (b->ids[i] < 0 || b->ids[i] >= d->c->vocab)
            return rr_fail(err, RERANK_ERR_INPUT, "token %zu: id %d is outside the vocabulary [0, %d)", i, (int)b->ids[i],
                           d->c->vocab);
        if (b->type_ids && b->type_ids[i] != 0)
            return rr_fail(err, RERANK_ERR_INPUT, "token %zu: type id %d, but decoder models have only type 0", i,
                           (int)b->type_ids[i]);
    }
    *top = d->c->n_layers;
    if (d->spec->head == RR_DEC_HEAD_LAYERWISE) {
        if (b->layers) {
            if (b->n_layers == 0) return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "empty list of cutoff layers");
            for (size_t i = 0; i < b->n_layers; i++) {
                if (b->layers[i] < d->c->start_layer || b->layers[i] > d->c->n_layers)
                    return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT,
                                   "cutoff layer %d: cutoff layers must be in [start_layer, num_hidden_layers] = [%d, %d]",
                                   b->layers[i], d->c->start_layer, d->c->n_layers);
                if (i && b->layers[i] <= b->layers[i - 1])
                    return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "cutoff layers must be strictly ascending");
            }
            *top = b->layers[b->n_layers - 1];
        }
    }
    if (b->prefix && b->prefix->n_layers < *top)
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "the prefix holds %d layers, the batch runs %d",
                       b->prefix->n_layers, *top);
    if (d->spec->head != RR_DEC_HEAD_LAYERWISE && !b->all_vocab) {
        if (b->n_score_tokens == 0 || !b->score_tokens)
            return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "a decoder batch needs score tokens (or all_vocab)");
        for (size_t i = 0; i < b->n_score_tokens; i++)
            if (b->score_tokens[i] < 0 || b->score_tokens[i] >= d->c->vocab)
                return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "score token %d is outside the vocabulary [0, %d)",
                               (int)b->score_tokens[i], d->c->vocab);
    }
    return RERANK_OK;
}

enum { WS_X, WS_XN, WS_Q, WS_K, WS_V, WS_ATT, WS_TMP, WS_GATE, WS_UP, WS_COS, WS_SIN, WS_LAST, WS_LIN, WS_ATT_SCRATCH,
       WS_XNB, WS_GB };

/* Forward-pass scratch: views into workspace slots. */
typedef struct dec_bufs {
    float *x, *xn;          /* [N,H] residual stream, normed input of a sub-block */
    float *q, *k, *v, *att; /* [N,QD], [N,KD], [N,KD], [N,QD] */
    float *tmp;             /* [N,H] output of o_proj / down_proj (swapped with x when it holds the sum) */
    float *gate, *up;       /* [MLP_ROWS,F]: the MLP runs on chunks of rows */
    float *cos_t, *sin_t;   /* [n_pos, hd/2] RoPE tables */
    float *last;            /* [H] normed last-token row */
    float *lin, *att_s;     /* scratch of the dense layers and of attention */
    uint16_t *xnb, *gb;     /* xn and the gated FFN activation in bf16 when their products take bf16 (or NULL) */
    rr_pool *pool;
    bool compact;           /* after the last layer: row s of x is sequence s's last token */
} dec_bufs;

/* The MLP runs on chunks of at most MLP_ROWS rows: gate and up (2 x ffn floats a row, the largest
 * activations: 100 MiB at 4096 tokens of Qwen3-0.6B, 512 MiB of Gemma-2b) then take MLP_ROWS rows. Every
 * row's products are the same whatever the chunk (sums run over K, per row). */
enum { MLP_ROWS = 512 };

/* Scratch of the dense layers for n rows (the MLP's for its chunks): the largest any of the layer's weights
 * needs (all layers alike), and at least what the fp32 all-vocabulary product needs. */
static size_t lin_scratch(const rr_decoder *d, int threads, int n) {
    const dec_layer *L = &d->layers[0];
    const rr_wmat *ms[] = {&L->q, &L->k, &L->v, &L->o, &L->gate, &L->up, &L->down};
    size_t most = rr_linear_scratch(threads);
    for (size_t i = 0; i < sizeof ms / sizeof *ms; i++) {
        bool mlp = ms[i] == &L->gate || ms[i] == &L->up || ms[i] == &L->down;
        size_t s = rr_linear_w_scratch(ms[i], threads, mlp && n > MLP_ROWS ? MLP_ROWS : n);
        if (s > most) most = s;
    }
    return most;
}

/* N tokens; n_pos: positions a sequence reaches (prefix + longest). */
static rerank_status get_bufs(const rr_decoder *d, rr_workspace *ws, size_t N, size_t n_pos, dec_bufs *bf,
                              rerank_error *err) {
    size_t nh, nq, nk, nf, nr;
    if (N > (size_t)INT_MAX / (size_t)d->c->n_heads || n_pos > (size_t)INT_MAX / 2 ||
        !rr_mul_size(N, (size_t)d->c->hidden, &nh) || !rr_mul_size(N, (size_t)dim_of(d, 'Q'), &nq) ||
        !rr_mul_size(N, (size_t)dim_of(d, 'K'), &nk) || !rr_mul_size(N < MLP_ROWS ? N : MLP_ROWS, (size_t)d->c->ffn, &nf) ||
        !rr_mul_size(n_pos, (size_t)(d->c->head_dim / 2), &nr))
        return rr_fail(err, RERANK_ERR_NOMEM, "batch of %zu tokens is too large", N);
    bf->pool = ws->pool;
    bf->compact = false;
    int threads = rr_pool_size(ws->pool);
    size_t att = rr_attention_past_scratch(threads, (int)n_pos, d->c->head_dim);
    rerank_status st;
    if ((st = rr_workspace_get(ws, WS_X, nh, &bf->x, err)) || (st = rr_workspace_get(ws, WS_XN, nh, &bf->xn, err)) ||
        (st = rr_workspace_get(ws, WS_Q, nq, &bf->q, err)) || (st = rr_workspace_get(ws, WS_K, nk, &bf->k, err)) ||
        (st = rr_workspace_get(ws, WS_V, nk, &bf->v, err)) || (st = rr_workspace_get(ws, WS_ATT, nq, &bf->att, err)) ||
        (st = rr_workspace_get(ws, WS_TMP, nh, &bf->tmp, err)) ||
        (st = rr_workspace_get(ws, WS_GATE, nf, &bf->gate, err)) ||
        (st = rr_workspace_get(ws, WS_UP, nf, &bf->up, err)) ||
        (st = rr_workspace_get(ws, WS_COS, nr, &bf->cos_t, err)) ||
        (st = rr_workspace_get(ws, WS_SIN, nr, &bf->sin_t, err)) ||
        (st = rr_workspace_get(ws, WS_LAST, (size_t)d->c->hidden, &bf->last, err)) ||
        (st = rr_workspace_get(ws, WS_LIN, lin_scratch(d, threads, (int)N), &bf->lin, err)) ||
        (st = rr_workspace_get(ws, WS_ATT_SCRATCH, att, &bf->att_s, err)))
        return st;
    /* bf16 inputs straight from the RMSNorms (all-bf16 models) and from the gating (bf16 down-projections): the
     * products then skip their rounding pass, with the same values */
    const dec_layer *L0 = &d->layers[0];
    const rr_wmat *in_h[] = {&L0->q, &L0->k, &L0->v, &L0->gate, &L0->up};
    bool h_bf16 = d->c->hidden % 2 == 0;
    for (size_t i = 0; i < sizeof in_h / sizeof *in_h; i++) h_bf16 = h_bf16 && in_h[i]->type == RR_W_BF16;
    float *p;
    bf->xnb = bf->gb = NULL;
    if (h_bf16) {
        if ((st = rr_workspace_get(ws, WS_XNB, nh / 2 + 1, &p, err))) return st;
        bf->xnb = (uint16_t *)(void *)p;
    }
    if (L0->down.type == RR_W_BF16 && d->c->ffn % 2 == 0) {
        if ((st = rr_workspace_get(ws, WS_GB, nf / 2 + 1, &p, err))) return st;
        bf->gb = (uint16_t *)(void *)p;
    }
    return RERANK_OK;
}

/* A layer's keys/values beyond the batch's own: a prefix every sequence continues, or, in a prefix pass,
 * where to keep the batch's. */
typedef struct dec_kv {
    const float *past_k, *past_v; /* [n_past, KD] this layer's prefix keys (after RoPE) and values */
    size_t n_past;                /* 0 = no prefix: positions start at 0 */
    float *save_k, *save_v;       /* prefix pass: [n, KD] receive the batch's keys (after RoPE) and values */
    bool kv_only;                 /* prefix pass, last layer: stop once they are saved */
    bool last_only;               /* the last layer run: only each sequence's last token goes on past attention */
} dec_kv;

static void swap_rows(float **a, float **b) {
    float *t = *a;
    *a = *b;
    *b = t;
}

/* Rows [r0, r0 + n) of tmp = in · W, plus x's rows folded into the product's epilogue when res_scale is 1
 * (`in` and inb hold those n rows only); inb, when not NULL, is `in` already in bf16 (w is then bf16). */
static void product_rows(const rr_decoder *d, dec_bufs *bf, const float *in, const uint16_t *inb, const rr_wmat *w,
                         const float *bias, int r0, int n) {
    size_t at = (size_t)r0 * (size_t)d->c->hidden;
    rr_linear_out out = {bf->tmp + at, w, bias, d->c->res_scale == 1.0f ? bf->x + at : NULL, RR_ACT_NONE, NULL};
    if (inb) rr_linear_w_bf16_input(bf->pool, bf->lin, inb, n, &out, 1);
    else rr_linear_w_multi(bf->pool, bf->lin, in, n, &out, 1);
}

/* x += res_scale * tmp's n rows (a swap when product_rows folded x in already) */
static void add_residual(const rr_decoder *d, dec_bufs *bf, int n) {
    if (d->c->res_scale == 1.0f) swap_rows(&bf->x, &bf->tmp);
    else rr_add_scaled_fast(bf->pool, bf->x, bf->x, bf->tmp, d->c->res_scale, (size_t)n * (size_t)d->c->hidden);
}

/* x += res_scale * y, where y = in · W */
static void residual_linear(const rr_decoder *d, dec_bufs *bf, const float *in, const uint16_t *inb, const rr_wmat *w,
                            const float *bias, int n) {
    product_rows(d, bf, in, inb, w, bias, 0, n);
    add_residual(d, bf, n);
}

/* x += res_scale * down(act(gate(xn)) * up(xn)), chunk by chunk of MLP_ROWS rows */
static void mlp_fwd(const rr_decoder *d, const dec_layer *L, dec_bufs *bf, int n) {
    size_t H = (size_t)d->c->hidden, F = (size_t)d->c->ffn;
    for (int r0 = 0; r0 < n; r0 += MLP_ROWS) {
        int nr = n - r0 < MLP_ROWS ? n - r0 : MLP_ROWS;
        rr_linear_out gate_up[] = {{bf->gate, &L->gate, NULL, NULL, RR_ACT_NONE, NULL},
                                   {bf->up, &L->up, NULL, NULL, RR_ACT_NONE, NULL}};
        if (bf->xnb) rr_linear_w_bf16_input(bf->pool, bf->lin, bf->xnb + (size_t)r0 * H, nr, gate_up, 2);
        else rr_linear_w_multi(bf->pool, bf->lin, bf->xn + (size_t)r0 * H, nr, gate_up, 2);
        rr_glu_fast_bf16(bf->pool, bf->gate, bf->gb, bf->gate, bf->up, (size_t)nr * F, d->c->act);
        product_rows(d, bf, bf->gate, bf->gb, &L->down, NULL, r0, nr);
    }
    add_residual(d, bf, n);
}

/* Queries of the last token of each sequence only: row s of q from sequence s's last row of xn (gathered into
 * tmp), with its q-norm and RoPE; x compacted in place to the same rows (row s <- row offsets[s+1]-1 >= s). */
static void last_queries(const rr_decoder *d, const dec_layer *L, const rr_batch *b, dec_bufs *bf, size_t n_past) {
    size_t H = (size_t)d->c->hidden, S = b->n_seqs, half = (size_t)(d->c->head_dim / 2);
    int QD = (int)dim_of(d, 'Q');
    for (size_t s = 0; s < S; s++) {
        size_t last = b->offsets[s + 1] - 1;
        memcpy(bf->tmp + s * H, bf->xn + last * H, H * sizeof *bf->x);
        memmove(bf->x + s * H, bf->x + last * H, H * sizeof *bf->x);
    }
    rr_linear_w_fwd(bf->pool, bf->lin, bf->q, bf->tmp, &L->q, L->q_b, NULL, (int)S, RR_ACT_NONE);
    if (L->q_norm)
        rr_rmsnorm_fast(bf->pool, bf->q, bf->q, L->q_norm, d->spec->norm_offset, (int)S * d->c->n_heads, d->c->head_dim,
                        d->c->eps);
    for (size_t s = 0; s < S; s++) {
        size_t pos = n_past + (b->offsets[s + 1] - b->offsets[s]) - 1;
        rr_rope_fwd(bf->q + s * (size_t)QD, bf->cos_t + pos * half, bf->sin_t + pos * half, 1, d->c->n_heads,
                    d->c->head_dim, QD);
    }
    bf->compact = true;
}

/* One pre-norm block on all N tokens: x += res_scale * Attn(norm1(x)); x += res_scale * MLP(norm2(x)). With
 * kv->last_only, the rows after attention are each sequence's last token only (bf->compact). */
static void layer_fwd(const rr_decoder *d, const dec_layer *L, const rr_batch *b, dec_bufs *bf, int n,
                      const dec_kv *kv) {
    int H = d->c->hidden, hd = d->c->head_dim, QD = (int)dim_of(d, 'Q'), KD = (int)dim_of(d, 'K');
    float off = d->spec->norm_offset;
    rr_pool *pool = bf->pool;
    rr_rmsnorm_fast_bf16(pool, bf->xn, bf->xnb, bf->x, L->ln1, off, n, H, d->c->eps);
    /* k, v (and q for every row when all of them go on) from one rounding of xn */
    bool q_all = !kv->kv_only && !kv->last_only;
    rr_linear_out kvq[] = {{bf->k, &L->k, L->k_b, NULL, RR_ACT_NONE, NULL}, {bf->v, &L->v, L->v_b, NULL, RR_ACT_NONE, NULL},
                           {bf->q, &L->q, L->q_b, NULL, RR_ACT_NONE, NULL}};
    if (bf->xnb) rr_linear_w_bf16_input(pool, bf->lin, bf->xnb, n, kvq, q_all ? 3 : 2);
    else rr_linear_w_multi(pool, bf->lin, bf->xn, n, kvq, q_all ? 3 : 2);
    if (L->k_norm) rr_rmsnorm_fast(pool, bf->k, bf->k, L->k_norm, off, n * d->c->n_kv_heads, hd, d->c->eps);
    rr_rope_seqs_fast(pool, bf->k, bf->cos_t, bf->sin_t, b->offsets, b->n_seqs, kv->n_past, d->c->n_kv_heads, hd, KD);
    if (kv->save_k) {
        memcpy(kv->save_k, bf->k, (size_t)n * (size_t)KD * sizeof *bf->k);
        memcpy(kv->save_v, bf->v, (size_t)n * (size_t)KD * sizeof *bf->v);
    }
    if (kv->kv_only) return;
    rr_attn_shape shape = {0, d->c->n_heads, d->c->n_kv_heads, hd, QD, KD, QD, true, L->q.type != RR_W_F32};
    if (kv->last_only) {
        last_queries(d, L, b, bf, kv->n_past);
        rr_attention_past_seqs_fwd(pool, bf->att_s, bf->att, bf->q, kv->past_k, kv->past_v, (int)kv->n_past, bf->k,
                                   bf->v, b->offsets, b->n_seqs, &shape, true);
        n = (int)b->n_seqs;
    } else {
        if (L->q_norm) rr_rmsnorm_fast(pool, bf->q, bf->q, L->q_norm, off, n * d->c->n_heads, hd, d->c->eps);
        rr_rope_seqs_fast(pool, bf->q, bf->cos_t, bf->sin_t, b->offsets, b->n_seqs, kv->n_past, d->c->n_heads, hd, QD);
        /* also without a prefix: it skips the masked keys that rr_attention_seqs_fwd computes and then drops
         * (measured 1.1-1.4x faster on the Qwen3/Gemma/MiniCPM head shapes at 250 tokens) */
        rr_attention_past_seqs_fwd(pool, bf->att_s, bf->att, bf->q, kv->past_k, kv->past_v, (int)kv->n_past, bf->k,
                                   bf->v, b->offsets, b->n_seqs, &shape, false);
    }
    residual_linear(d, bf, bf->att, NULL, &L->o, L->o_b, n);
    rr_rmsnorm_fast_bf16(pool, bf->xn, bf->xnb, bf->x, L->ln2, off, n, H, d->c->eps);
    mlp_fwd(d, L, bf, n);
}

/* The final RMSNorm of sequence s's last token into bf->last. */
static const float *last_normed(const rr_decoder *d, const rr_batch *b, const dec_bufs *bf, size_t s) {
    size_t row = bf->compact ? s : b->offsets[s + 1] - 1;
    rr_rmsnorm_fwd(bf->last, bf->x + row * (size_t)d->c->hidden, d->o.final_norm, d->spec->norm_offset, 1, d->c->hidden,
                   d->c->eps);
    return bf->last;
}

void rr_decoder_embed_fwd(const rr_dec_outer *o, const rr_model_config *c, const int32_t *ids, size_t N, float *x) {
    size_t H = (size_t)c->hidden;
    for (size_t i = 0; i < N; i++) {
        const float *e = o->embed + (size_t)ids[i] * H;
        float *xi = x + i * H;
        if (c->emb_scale != 1.0f)
            rr_scale_fwd(xi, e, c->emb_scale, H);
        else
            memcpy(xi, e, H * sizeof *xi);
    }
}

/* Layer l's (1-based) keys/values of prefix p. */
static dec_kv prefix_kv(const rr_prefix *p, int l) {
    dec_kv kv = {0};
    if (!p) return kv;
    size_t at = (size_t)(l - 1) * p->len * p->kv_dim;
    kv.past_k = p->k + at;
    kv.past_v = p->v + at;
    kv.n_past = p->len;
    return kv;
}

static rerank_status decoder_forward(const rr_model *m, const rr_batch *b, rr_workspace *ws, float *out,
                                     rerank_error *err) {
    const rr_decoder *d = m->impl;
    if (b->n_seqs == 0) return RERANK_OK;
    size_t N = 0, longest = 0, past = b->prefix ? b->prefix->len : 0;
    int top = 0;
    rerank_status st = check_batch(d, b, &N, &longest, &top, err);
    if (st) return st;
    dec_bufs bf;
    if ((st = get_bufs(d, ws, N, past + longest, &bf, err))) return st;
    size_t H = (size_t)d->c->hidden, n_out = rr_model_n_outputs(m, b);
    rr_decoder_embed_fwd(&d->o, d->c, b->ids, N, bf.x);
    rr_rope_table(bf.cos_t, bf.sin_t, (int)(past + longest), d->c->head_dim, d->c->rope_theta);
    bool layerwise = d->spec->head == RR_DEC_HEAD_LAYERWISE;
    size_t next_cut = 0; /* index into b->layers of the next cutoff to emit */
    for (int l = 0; l <= top; l++) {
        if (l > 0) {
            dec_kv kv = prefix_kv(b->prefix, l);
            kv.last_only = l == top; /* nothing reads the other rows after the last layer's attention */
            layer_fwd(d, &d->layers[l - 1], b, &bf, (int)N, &kv);
        }
        if (!layerwise) continue;
        int want = b->layers ? (next_cut < b->n_layers ? b->layers[next_cut] : -1) : d->c->n_layers;
        if (l != want) continue;
        const float *head = d->o.heads[l - d->c->start_layer];
        for (size_t s = 0; s < b->n_seqs; s++) out[s * n_out + next_cut] = rr_dot_fwd(last_normed(d, b, &bf, s), head, H);
        next_cut++;
    }
    if (layerwise) return RERANK_OK;
    for (size_t s = 0; s < b->n_seqs; s++) {
        const float *h = last_normed(d, b, &bf, s);
        float *o = out + s * n_out;
        if (b->all_vocab) {
            rr_linear_fwd(bf.pool, bf.lin, o, h, d->o.lm_head, NULL, NULL, 1, d->c->hidden, d->c->vocab, RR_ACT_NONE);
        } else {
            for (size_t t = 0; t < b->n_score_tokens; t++)
                o[t] = rr_dot_fwd(h, d->o.lm_head + (size_t)b->score_tokens[t] * H, H);
        }
    }
    return RERANK_OK;
}

static size_t decoder_prefix_max_tokens(const rr_model *m) {
    const rr_decoder *d = m->impl;
    size_t per_token = 2 * (size_t)d->c->n_layers * (size_t)dim_of(d, 'K') * sizeof(float);
    size_t n = RR_PREFIX_MAX_BYTES / per_token, by_pos = (size_t)d->c->max_pos - 1;
    return n < by_pos ? n : by_pos;
}

/* Runs ids[0..n) as one sequence through layers 1..n_layers, keeping each layer's keys/values in p. The
 * last layer stops after its keys/values: its attention output and MLP would only feed layers not run. */
static rerank_status decoder_prefix_forward(const rr_model *m, const int32_t *ids, size_t n, int n_layers,
                                            rr_workspace *ws, rr_prefix *p, rerank_error *err) {
    const rr_decoder *d = m->impl;
    if (n_layers == 0) n_layers = d->c->n_layers;
    if (n_layers < 1 || n_layers > d->c->n_layers)
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "prefix layers: %d is outside [1, %d]", n_layers, d->c->n_layers);
    if (n == 0) return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "the prefix is empty");
    size_t max = decoder_prefix_max_tokens(m);
    if (n > max)
        return rr_fail(err, RERANK_ERR_INPUT, "a prefix of %zu tokens is longer than the %zu this model allows "
                       "(positions, and at most %zu MiB of keys/values)", n, max, RR_PREFIX_MAX_BYTES >> 20);
    size_t offs[2] = {0, n}, N, longest, KD = (size_t)dim_of(d, 'K'), need = (size_t)n_layers * n * KD;
    int top;
    rr_batch b = {.ids = ids, .offsets = offs, .n_seqs = 1, .all_vocab = true};
    rerank_status st = check_batch(d, &b, &N, &longest, &top, err);
    if (st) return st;
    if (need > p->cap) {
        float *k = realloc(p->k, need * sizeof *k);
        if (k) p->k = k;
        float *v = k ? realloc(p->v, need * sizeof *v) : NULL;
        if (v) p->v = v;
        if (!k || !v) return rr_fail(err, RERANK_ERR_NOMEM, "out of memory for a prefix of %zu tokens", n);
        p->cap = need;
    }
    p->len = n;
    p->n_layers = n_layers;
    p->kv_dim = KD;
    dec_bufs bf;
    if ((st = get_bufs(d, ws, n, n, &bf, err))) return st;
    rr_decoder_embed_fwd(&d->o, d->c, ids, n, bf.x);
    rr_rope_table(bf.cos_t, bf.sin_t, (int)n, d->c->head_dim, d->c->rope_theta);
    for (int l = 1; l <= n_layers; l++) {
        dec_kv kv = {.save_k = p->k + (size_t)(l - 1) * n * KD, .save_v = p->v + (size_t)(l - 1) * n * KD,
                     .kv_only = l == n_layers};
        layer_fwd(d, &d->layers[l - 1], &b, &bf, (int)n, &kv);
    }
    return RERANK_OK;
}

const rr_family rr_decoder_family = {
    .parse_config = rr_config_parse_decoder,
    .load = decoder_load,
    .forward = decoder_forward,
    .free_impl = decoder_free,
    .prefix_forward = decoder_prefix_forward,
    .prefix_max_tokens = decoder_prefix_max_tokens,
    .dense = decoder_dense,
};
