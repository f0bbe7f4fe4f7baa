/* encoder.c - the shared post-LN transformer encoder (BERT / RoBERTa / XLM-R) and its sequence-classification
 * forward pass over packed sequences: dense layers run on all tokens of the batch at once, attention per
 * sequence. What differs between architectures comes in an rr_encoder_spec (xlmr.c, bert.c). */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "arch/arch.h"
#include "base/error.h"
#include "base/threadpool.h"
#include "kernels/kernels.h"

/* Tensors of one layer; names are <prefix>encoder.layer.<i>.<suffix> (see layer_tensors). */
typedef struct enc_layer {
    const float *q_w, *q_b;         /* [H,H], [H] attention.self.query */
    const float *k_w, *k_b;         /* [H,H], [H] attention.self.key */
    const float *v_w, *v_b;         /* [H,H], [H] attention.self.value */
    const float *o_w, *o_b;         /* [H,H], [H] attention.output.dense */
    const float *ln1_w, *ln1_b;     /* [H], [H]   attention.output.LayerNorm */
    const float *up_w, *up_b;       /* [I,H], [I] intermediate.dense */
    const float *down_w, *down_b;   /* [H,I], [H] output.dense */
    const float *ln2_w, *ln2_b;     /* [H], [H]   output.LayerNorm */
    rr_wmat q, k, v, o, up, down;   /* the six dense weights as the kernels take them (fp32 views or converted) */
} enc_layer;

typedef struct rr_encoder {
    const rr_encoder_spec *spec;
    const rr_model_config *c;      /* hyper-parameters: the model's parsed config.json (rr_model.cfg) */
    const float *word_emb;         /* [vocab,H] <prefix>embeddings.word_embeddings.weight */
    const float *pos_emb;          /* [max_pos,H] <prefix>embeddings.position_embeddings.weight */
    const float *type_emb;         /* [type_vocab,H] <prefix>embeddings.token_type_embeddings.weight */
    const float *emb_ln_w, *emb_ln_b; /* [H] <prefix>embeddings.LayerNorm.{weight,bias} */
    enc_layer *layers;             /* [n_layers] */
    rr_cls_head head;
} rr_encoder;

/* The table of arch.h, in RR_ENC_* order (training's parameter table follows it). */
#define W(f) offsetof(enc_layer, f)
static const rr_layer_tensor layer_tensors[RR_ENC_N] = {
    [RR_ENC_QW] = {"attention.self.query.weight", W(q_w), W(q), 'H', 'H', 0},
    [RR_ENC_QB] = {"attention.self.query.bias", W(q_b), RR_NO_MAT, 'H', 0, 0},
    [RR_ENC_KW] = {"attention.self.key.weight", W(k_w), W(k), 'H', 'H', 0},
    [RR_ENC_KB] = {"attention.self.key.bias", W(k_b), RR_NO_MAT, 'H', 0, 0},
    [RR_ENC_VW] = {"attention.self.value.weight", W(v_w), W(v), 'H', 'H', 0},
    [RR_ENC_VB] = {"attention.self.value.bias", W(v_b), RR_NO_MAT, 'H', 0, 0},
    [RR_ENC_OW] = {"attention.output.dense.weight", W(o_w), W(o), 'H', 'H', 0},
    [RR_ENC_OB] = {"attention.output.dense.bias", W(o_b), RR_NO_MAT, 'H', 0, 0},
    [RR_ENC_LN1W] = {"attention.output.LayerNorm.weight", W(ln1_w), RR_NO_MAT, 'H', 0, 0},
    [RR_ENC_LN1B] = {"attention.output.LayerNorm.bias", W(ln1_b), RR_NO_MAT, 'H', 0, 0},
    [RR_ENC_UPW] = {"intermediate.dense.weight", W(up_w), W(up), 'F', 'H', 0},
    [RR_ENC_UPB] = {"intermediate.dense.bias", W(up_b), RR_NO_MAT, 'F', 0, 0},
    [RR_ENC_DOWNW] = {"output.dense.weight", W(down_w), W(down), 'H', 'F', 0},
    [RR_ENC_DOWNB] = {"output.dense.bias", W(down_b), RR_NO_MAT, 'H', 0, 0},
    [RR_ENC_LN2W] = {"output.LayerNorm.weight", W(ln2_w), RR_NO_MAT, 'H', 0, 0},
    [RR_ENC_LN2B] = {"output.LayerNorm.bias", W(ln2_b), RR_NO_MAT, 'H', 0, 0},
};
#undef W
const rr_layer_table rr_encoder_layers = {layer_tensors, RR_ENC_N, "%sencoder.layer.%d.%s", sizeof(enc_layer),
                                         offsetof(enc_layer, down)};

static void encoder_free(void *impl) {
    rr_encoder *e = impl;
    if (!e) return;
    rr_layers_free(&rr_encoder_layers, e->c->n_layers, e->layers);
    free(e->layers);
    free(e);
}

/* Binds every tensor; a converted model's dense weights are left to rr_dense_prepare. */
static rerank_status bind_weights(rr_encoder *e, rr_weights *w, bool packed, rerank_error *err) {
    const char *p = e->spec->prefix;
    char name[512];
    rerank_status st;
#define EMB(field, suffix, ...)                                                                         \
    do {                                                                                                \
        snprintf(name, sizeof name, "%sembeddings.%s", p, suffix);                                      \
        if ((st = RR_WEIGHTS_REQUIRE(w, name, &e->field, err, __VA_ARGS__))) return st;                 \
    } while (0)
    EMB(word_emb, "word_embeddings.weight", e->c->vocab, e->c->hidden);
    EMB(pos_emb, "position_embeddings.weight", e->c->max_pos, e->c->hidden);
    EMB(type_emb, "token_type_embeddings.weight", e->c->type_vocab, e->c->hidden);
    EMB(emb_ln_w, "LayerNorm.weight", e->c->hidden);
    EMB(emb_ln_b, "LayerNorm.bias", e->c->hidden);
#undef EMB
    e->layers = calloc((size_t)e->c->n_layers, sizeof *e->layers);
    if (!e->layers) return rr_fail(err, RERANK_ERR_NOMEM, "out of memory for %d layers", e->c->n_layers);
    if ((st = rr_layers_bind(&rr_encoder_layers, p, e->c, w, e->c->n_layers, e->layers, NULL, packed, err))) return st;
    return rr_cls_head_load(w, e->spec->head_dense, e->spec->head_out, e->c->hidden, &e->head, err);
}

/* rr_family.dense: the six dense weights of every layer; the FFN output.dense is the down-projection. */
static size_t encoder_dense(rr_model *m, rr_dense *out) {
    rr_encoder *e = m->impl;
    return rr_layers_dense(&rr_encoder_layers, e->spec->prefix, e->c, e->c->n_layers, e->layers, out);
}

static rerank_status encoder_load(rr_model *m, rerank_error *err) {
    rr_encoder *e = calloc(1, sizeof *e);
    if (!e) return rr_fail(err, RERANK_ERR_NOMEM, "out of memory");
    m->impl = e;
    e->spec = m->row->spec;
    e->c = &m->cfg;
    return bind_weights(e, m->weights, m->packed, err);
}

/* Validates the batch; *n_tokens = total tokens, *longest = longest sequence. */
static rerank_status check_batch(const rr_encoder *e, const rr_batch *b, size_t *n_tokens, size_t *longest,
                                 rerank_error *err) {
    if (!b->offsets || b->offsets[0] != 0)
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "batch offsets must start at 0");
    *longest = 0;
    for (size_t s = 0; s < b->n_seqs; s++) {
        size_t a = b->offsets[s], z = b->offsets[s + 1];
        if (z < a) return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "batch offsets decrease at sequence %zu", s);
        if (z == a) return rr_fail(err, RERANK_ERR_INPUT, "sequence %zu is empty", s);
        if (z - a > (size_t)e->c->max_tokens)
            return rr_fail(err, RERANK_ERR_INPUT, "sequence %zu has %zu tokens, more than the model's %d", s, z - a,
                           e->c->max_tokens);
        if (z - a > *longest) *longest = z - a;
    }
    *n_tokens = b->offsets[b->n_seqs];
    if (!b->ids) return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "batch has no token ids");
    for (size_t i = 0; i < *n_tokens; i++) {
        if (b->ids[i] < 0 || b->ids[i] >= e->c->vocab)
            return rr_fail(err, RERANK_ERR_INPUT, "token %zu: id %d is outside the vocabulary [0, %d)", i, (int)b->ids[i],
                           e->c->vocab);
        if (b->type_ids && (b->type_ids[i] < 0 || b->type_ids[i] >= e->c->type_vocab))
            return rr_fail(err, RERANK_ERR_INPUT, "token %zu: type id %d is outside [0, %d)", i, (int)b->type_ids[i],
                           e->c->type_vocab);
    }
    return RERANK_OK;
}

void rr_encoder_embed_sum(const rr_encoder_spec *sp, const rr_model_config *c, const float *word, const float *pos,
                          const float *type, const rr_batch *b, float *x, int32_t *pos_ids) {
    size_t H = (size_t)c->hidden;
    for (size_t s = 0; s < b->n_seqs; s++) {
        int nonpad = 0;
        for (size_t i = b->offsets[s]; i < b->offsets[s + 1]; i++) {
            int id = b->ids[i], at;
            if (sp->positions == RR_POS_ROBERTA) /* HF create_position_ids_from_input_ids */
                at = id != c->pad_id ? c->pad_id + ++nonpad : c->pad_id;
            else
                at = (int)(i - b->offsets[s]);
            if (pos_ids) pos_ids[i] = at;
            const float *we = word + (size_t)id * H, *pe = pos + (size_t)at * H,
                        *te = type + (size_t)(b->type_ids ? b->type_ids[i] : 0) * H;
            float *xi = x + i * H;
            for (size_t d = 0; d < H; d++) xi[d] = (we[d] + te[d]) + pe[d];
        }
    }
}

/* x[N,H] = LayerNorm(the embeddings' sum). */
static void embed(rr_pool *pool, const rr_encoder *e, const rr_batch *b, float *x, uint16_t *xb) {
    rr_encoder_embed_sum(e->spec, e->c, e->word_emb, e->pos_emb, e->type_emb, b, x, NULL);
    rr_layernorm_fast_bf16(pool, x, xb, x, e->emb_ln_w, e->emb_ln_b, (int)b->offsets[b->n_seqs], e->c->hidden, e->c->eps);
}

/* out = down(GELU(up(x))) + x. With a bf16 down-projection the up-projection writes its GELU output straight
 * in bf16 (into ffn's memory), so the down-projection needs no rounding pass over it; xb, when given, is x
 * already in bf16 (all-bf16 models). */
static void ffn_fwd(rr_pool *pool, float *lin, const enc_layer *L, const float *x, const uint16_t *xb, float *ffn,
                    float *out, int n) {
    if (L->up.type != RR_W_F32 && L->down.type == RR_W_BF16 && L->up.out % 2 == 0 && rr_linear_bf16_out_native()) {
        uint16_t *h = (uint16_t *)(void *)ffn;
        rr_linear_out up = {NULL, &L->up, L->up_b, NULL, RR_ACT_GELU, h};
        if (xb) rr_linear_w_bf16_input(pool, lin, xb, n, &up, 1);
        else rr_linear_w_multi(pool, lin, x, n, &up, 1);
        rr_linear_out down = {out, &L->down, L->down_b, x, RR_ACT_NONE, NULL};
        rr_linear_w_bf16_input(pool, lin, h, n, &down, 1);
        return;
    }
    rr_linear_w_fwd(pool, lin, ffn, x, &L->up, L->up_b, NULL, n, RR_ACT_GELU);
    rr_linear_w_fwd(pool, lin, out, ffn, &L->down, L->down_b, x, n, RR_ACT_NONE);
}

/* The FFN runs on chunks of at most FFN_ROWS rows: its intermediate (4 x hidden per row, the largest
 * activation) then takes FFN_ROWS rows, not the batch's 4096 (50 of the ~130 MiB of bge-reranker-base's
 * activations). Every row's products are the same whatever the chunk (sums run over K, per row), and the
 * weight panels are packed or prepared per call at a cost under 1% of a chunk's products. */
enum { FFN_ROWS = 512 };

/* Scratch of the dense layers: the attention projections over all n rows, the FFN over chunks (all layers
 * alike). */
static size_t lin_scratch(const rr_encoder *e, int threads, int n) {
    const enc_layer *L = &e->layers[0];
    int chunk = n < FFN_ROWS ? n : FFN_ROWS;
    size_t a = rr_linear_w_scratch(&L->up, threads, chunk), b = rr_linear_w_scratch(&L->down, threads, chunk);
    size_t q = rr_linear_w_scratch(&L->q, threads, n), o = rr_linear_w_scratch(&L->o, threads, n);
    size_t most = a > b ? a : b;
    most = most > q ? most : q;
    return most > o ? most : o;
}

/* ffn_fwd over chunks of FFN_ROWS rows of x (and of xb and out, alike) */
static void ffn_chunks(rr_pool *pool, float *lin, const enc_layer *L, const float *x, const uint16_t *xb, float *ffn,
                       float *out, int n, int H) {
    for (int r0 = 0; r0 < n; r0 += FFN_ROWS) {
        size_t at = (size_t)r0 * (size_t)H;
        ffn_fwd(pool, lin, L, x + at, xb ? xb + at : NULL, ffn, out + at, n - r0 < FFN_ROWS ? n - r0 : FFN_ROWS);
    }
}

enum { WS_X, WS_Q, WS_K, WS_V, WS_TMP, WS_FFN, WS_LIN, WS_ATT, WS_HEAD, WS_XB };

/* Every dense weight in bf16 (and even widths): the LayerNorms then also write their rows in bf16, the input
 * of the next products, which skip their own rounding pass (the same values: rounding is rounding). */
static bool all_bf16(const rr_encoder *e) {
    const enc_layer *L = &e->layers[0];
    const rr_wmat *ms[] = {&L->q, &L->k, &L->v, &L->o, &L->up, &L->down};
    for (size_t i = 0; i < sizeof ms / sizeof *ms; i++)
        if (ms[i]->type != RR_W_BF16) return false;
    return e->c->hidden % 2 == 0 && e->c->ffn % 2 == 0;
}

/* Asks for transparent huge pages on the 2 MiB-aligned interior of an activation buffer (a no-op where THP
 * is off, and on pages already there). The GEMMs walk tiles of C and A whose rows lie pages apart; in this
 * VM a TLB miss is a nested page walk, and a 4096 x 768 -> 3072 product ran at ~55 GFLOP/s with 4 KiB pages
 * against ~107 with huge ones (1 thread). Not the GEMM scratch: small products touch only part of it. */
static void want_huge_pages(float *p, size_t n) {
    uintptr_t lo = ((uintptr_t)p + ((uintptr_t)1 << 21) - 1) & ~(((uintptr_t)1 << 21) - 1);
    uintptr_t hi = (uintptr_t)(p + n) & ~(((uintptr_t)1 << 21) - 1);
    if (hi > lo) (void)madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
}

static rerank_status encoder_forward(const rr_model *m, const rr_batch *b, rr_workspace *ws, float *out,
                                     rerank_error *err) {
    const rr_encoder *e = m->impl;
    if (b->n_seqs == 0) return RERANK_OK;
    size_t N = 0, longest = 0, nh, nf;
    rerank_status st = check_batch(e, b, &N, &longest, err);
    if (st) return st;
    if (N > (size_t)INT32_MAX || !rr_mul_size(N, (size_t)e->c->hidden, &nh) || !rr_mul_size(N, (size_t)e->c->ffn, &nf))
        return rr_fail(err, RERANK_ERR_NOMEM, "batch of %zu tokens is too large", N);
    int threads = rr_pool_size(ws->pool), n_rows = (int)N;
    /* ffn holds one chunk of the FFN; tmp, the last layer's rows (one per sequence): the other layers use k's
     * memory for it, free once attention has run. Attention writes its context over q (kernels.h allows it). */
    size_t n_ffn = (N < FFN_ROWS ? N : FFN_ROWS) * (size_t)e->c->ffn, n_tmp = b->n_seqs * (size_t)e->c->hidden;
    float *x, *q, *k, *v, *tmp, *ffn, *lin, *att, *hs;
    if ((st = rr_workspace_get(ws, WS_X, nh, &x, err)) || (st = rr_workspace_get(ws, WS_Q, nh, &q, err)) ||
        (st = rr_workspace_get(ws, WS_K, nh, &k, err)) || (st = rr_workspace_get(ws, WS_V, nh, &v, err)) ||
        (st = rr_workspace_get(ws, WS_TMP, n_tmp, &tmp, err)) ||
        (st = rr_workspace_get(ws, WS_FFN, n_ffn, &ffn, err)) ||
        (st = rr_workspace_get(ws, WS_LIN, lin_scratch(e, threads, n_rows), &lin, err)) ||
        (st = rr_workspace_get(ws, WS_ATT, rr_attention_scratch(threads, (int)longest, e->c->head_dim), &att, err)) ||
        (st = rr_workspace_get(ws, WS_HEAD, (size_t)e->c->hidden, &hs, err)))
        return st;
    uint16_t *xb = NULL; /* x in bf16, rows of hidden (all-bf16 models) */
    if (all_bf16(e)) {
        float *p;
        if ((st = rr_workspace_get(ws, WS_XB, nh / 2 + 1, &p, err))) return st;
        want_huge_pages(p, nh / 2 + 1);
        xb = (uint16_t *)(void *)p;
    }
    float *acts[] = {x, q, k, v, ffn};
    size_t sizes[] = {nh, nh, nh, nh, n_ffn};
    for (size_t i = 0; i < sizeof acts / sizeof *acts; i++) want_huge_pages(acts[i], sizes[i]);
    rr_pool *pool = ws->pool;
    int n = (int)N, H = e->c->hidden, S = (int)b->n_seqs;
    /* with bf16/int8 weights the attention products run in bf16 too (where AMX is): on W1 of the bench the ranking
     * against fp32 moved no more than the dense layers' rounding already moves it */
    rr_attn_shape shape = {0, e->c->n_heads, e->c->n_heads, e->c->head_dim, H, H, H, false, e->layers[0].q.type != RR_W_F32};
    embed(pool, e, b, x, xb);
    for (int l = 0; l < e->c->n_layers; l++) {
        const enc_layer *L = &e->layers[l];
        /* q, k, v from one rounding of x (the last layer needs q of token 0 only: below) */
        rr_linear_out qkv[] = {{k, &L->k, L->k_b, NULL, RR_ACT_NONE, NULL}, {v, &L->v, L->v_b, NULL, RR_ACT_NONE, NULL},
                               {q, &L->q, L->q_b, NULL, RR_ACT_NONE, NULL}};
        if (xb) rr_linear_w_bf16_input(pool, lin, xb, n, qkv, l + 1 < e->c->n_layers ? 3 : 2);
        else rr_linear_w_multi(pool, lin, x, n, qkv, l + 1 < e->c->n_layers ? 3 : 2);
        if (l + 1 < e->c->n_layers) {
            float *ctx = q, *sum = k; /* the context; the sublayers' outputs before their LayerNorms */
            rr_attention_seqs_fwd(pool, att, ctx, q, k, v, b->offsets, b->n_seqs, &shape, false);
            rr_linear_w_fwd(pool, lin, sum, ctx, &L->o, L->o_b, x, n, RR_ACT_NONE);
            rr_layernorm_fast_bf16(pool, x, xb, sum, L->ln1_w, L->ln1_b, n, H, e->c->eps);
            ffn_chunks(pool, lin, L, x, xb, ffn, sum, n, H);
            rr_layernorm_fast_bf16(pool, x, xb, sum, L->ln2_w, L->ln2_b, n, H, e->c->eps);
            continue;
        }
        /* Last layer: the head reads token 0 only, and every row after attention depends on its own token
         * alone, so only token 0 of each sequence goes on (keys and values still cover all tokens). Rows are
         * compacted: row s holds sequence s. */
        for (int s = 0; s < S; s++) memcpy(tmp + (size_t)s * H, x + b->offsets[s] * (size_t)H, (size_t)H * sizeof *x);
        rr_linear_w_fwd(pool, lin, q, tmp, &L->q, L->q_b, NULL, S, RR_ACT_NONE);
        rr_attention_seqs_fwd(pool, att, q, q, k, v, b->offsets, b->n_seqs, &shape, true);
        rr_linear_w_fwd(pool, lin, x, q, &L->o, L->o_b, tmp, S, RR_ACT_NONE);
        rr_layernorm_fast_bf16(pool, x, xb, x, L->ln1_w, L->ln1_b, S, H, e->c->eps);
        ffn_chunks(pool, lin, L, x, xb, ffn, tmp, S, H);
        rr_layernorm_fast(pool, x, tmp, L->ln2_w, L->ln2_b, S, H, e->c->eps);
    }
    for (int s = 0; s < S; s++) out[s] = rr_cls_head_fwd(&e->head, x + (size_t)s * H, hs);
    return RERANK_OK;
}

const rr_family rr_encoder_family = {
    .parse_config = rr_config_parse_encoder,
    .load = encoder_load,
    .forward = encoder_forward,
    .free_impl = encoder_free,
    .dense = encoder_dense,
};
