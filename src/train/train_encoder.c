/* train_encoder.c - one exact training step of the post-LN encoder cross-encoder: a forward pass over the
 * packed batch that keeps the activations the backward needs (one allocation, pointers into it, llm.c style),
 * the group-wise loss, and the backward through the head, every layer and the embeddings. */
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "kernels/kernels.h"
#include "kernels/kernels_bwd.h"
#include "train/train_internal.h"

/* Activations of one layer: its input is acts.xs[l], its output acts.xs[l+1]. */
typedef struct layer_acts {
    float *q, *k, *v, *ctx; /* [N,H] projections and attention output */
    float *res1, *h1;       /* [N,H] o(ctx) + x (LayerNorm 1 input), LayerNorm 1 output */
    float *up, *act;        /* [N,I] intermediate before and after GELU */
    float *res2;            /* [N,H] down(act) + h1 (LayerNorm 2 input) */
} layer_acts;

typedef struct acts {
    float *emb;             /* [N,H] word + type + position (embedding LayerNorm input) */
    float **xs;             /* [L+1] of [N,H]: layer inputs; xs[L] is the encoder output */
    layer_acts *layers;     /* [L] */
    float *cls, *pre, *pooled, *logits, *dlogits; /* head: [S,H] x3, [S], [S] */
    /* backward scratch */
    float *dx, *dres, *dh1, *dq, *dk, *dv, *dctx; /* [N,H] */
    float *dup, *dact;                            /* [N,I] */
    float *dcls, *dpre, *dpooled;                 /* [S,H] */
    float *att;                                   /* attention scratch */
    int32_t *pos, *types;                         /* [N] position and token type ids */
    float *mem;
    void *ptrs;
} acts;

static void acts_free(acts *a) {
    free(a->mem);
    free(a->ptrs);
    free(a->pos);
}

/* Carves every buffer out of one allocation; sizes are checked for overflow. */
static rerank_status acts_alloc(acts *a, const rr_train_dims *d, size_t N, size_t S, size_t longest,
                                rerank_error *err) {
    memset(a, 0, sizeof *a);
    size_t L = (size_t)d->n_layers, H = (size_t)d->hidden, I = (size_t)d->ffn, nh, ni, sh, total = 0;
    size_t att = rr_attention_bwd_scratch((int)longest);
    if (!rr_mul_size(N, H, &nh) || !rr_mul_size(N, I, &ni) || !rr_mul_size(S, H, &sh))
        return rr_fail(err, RERANK_ERR_NOMEM, "batch of %zu tokens is too large", N);
    /* Count in units of nh, ni, sh and the rest, each product checked. */
    size_t units_nh = 1 + (L + 1) + 7 * L + 7, units_ni = 2 * L + 2, units_sh = 6, parts[4];
    if (!rr_mul_size(units_nh, nh, &parts[0]) || !rr_mul_size(units_ni, ni, &parts[1]) ||
        !rr_mul_size(units_sh, sh, &parts[2]) || !rr_mul_size(2, S, &parts[3]))
        return rr_fail(err, RERANK_ERR_NOMEM, "batch of %zu tokens is too large", N);
    for (int i = 0; i < 4; i++) {
        if (total + parts[i] < total) return rr_fail(err, RERANK_ERR_NOMEM, "batch too large");
        total += parts[i];
    }
    if (total + att < total || total + att > SIZE_MAX / sizeof(float))
        return rr_fail(err, RERANK_ERR_NOMEM, "batch too large");
    total += att;
    a->mem = malloc(total * sizeof(float));
    a->ptrs = malloc((L + 1) * sizeof(float *) + L * sizeof(layer_acts));
    a->pos = malloc(2 * N * sizeof(int32_t));
    if (!a->mem || !a->ptrs || !a->pos) {
        acts_free(a);
        return rr_fail(err, RERANK_ERR_NOMEM, "out of memory for the activations of %zu tokens", N);
    }
    a->types = a->pos + N;
    a->xs = a->ptrs;
    a->layers = (layer_acts *)(void *)(a->xs + L + 1);
    float *p = a->mem;
#define TAKE(ptr, n) (ptr = p, p += (n))
    TAKE(a->emb, nh);
    for (size_t l = 0; l <= L; l++) TAKE(a->xs[l], nh);
    for (size_t l = 0; l < L; l++) {
        layer_acts *la = &a->layers[l];
        TAKE(la->q, nh), TAKE(la->k, nh), TAKE(la->v, nh), TAKE(la->ctx, nh), TAKE(la->res1, nh), TAKE(la->h1, nh);
        TAKE(la->res2, nh), TAKE(la->up, ni), TAKE(la->act, ni);
    }
    TAKE(a->dx, nh), TAKE(a->dres, nh), TAKE(a->dh1, nh), TAKE(a->dq, nh), TAKE(a->dk, nh), TAKE(a->dv, nh);
    TAKE(a->dctx, nh), TAKE(a->dup, ni), TAKE(a->dact, ni);
    TAKE(a->cls, sh), TAKE(a->pre, sh), TAKE(a->pooled, sh), TAKE(a->dcls, sh), TAKE(a->dpre, sh);
    TAKE(a->dpooled, sh), TAKE(a->logits, S), TAKE(a->dlogits, S), TAKE(a->att, att);
#undef TAKE
    return RERANK_OK;
}

static rerank_status check_batch(const rr_train_model *m, const rr_batch *b, size_t group_size, size_t *n_tokens,
                                 size_t *longest, rerank_error *err) {
    if (!b || !b->offsets || !b->ids || b->n_seqs == 0 || b->offsets[0] != 0)
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "training batch needs ids and offsets starting at 0");
    if (group_size < 2 || b->n_seqs % group_size != 0)
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "%zu sequences do not form groups of %zu (>= 2)", b->n_seqs,
                       group_size);
    *longest = 0;
    for (size_t s = 0; s < b->n_seqs; s++) {
        size_t a = b->offsets[s], z = b->offsets[s + 1];
        if (z <= a) return rr_fail(err, RERANK_ERR_INPUT, "sequence %zu is empty or its offsets decrease", s);
        if (z - a > (size_t)m->d.max_tokens)
            return rr_fail(err, RERANK_ERR_INPUT, "sequence %zu has %zu tokens, more than the model's %d", s, z - a,
                           m->d.max_tokens);
        if (z - a > *longest) *longest = z - a;
    }
    *n_tokens = b->offsets[b->n_seqs];
    if (*n_tokens > (size_t)INT32_MAX) return rr_fail(err, RERANK_ERR_INPUT, "batch of %zu tokens is too large", *n_tokens);
    for (size_t i = 0; i < *n_tokens; i++) {
        if (b->ids[i] < 0 || b->ids[i] >= m->d.vocab)
            return rr_fail(err, RERANK_ERR_INPUT, "token %zu: id %d is outside the vocabulary [0, %d)", i, (int)b->ids[i],
                           m->d.vocab);
        if (b->type_ids && (b->type_ids[i] < 0 || b->type_ids[i] >= m->d.type_vocab))
            return rr_fail(err, RERANK_ERR_INPUT, "token %zu: type id %d is outside [0, %d)", i, (int)b->type_ids[i],
                           m->d.type_vocab);
    }
    return RERANK_OK;
}

#define W(k) (m->w + m->params[(k)].offset)
#define G(k) (m->grad + m->params[(k)].offset)
#define LW(l, t) W(rr_train_layer_param((l), (t)))
#define LG(l, t) G(rr_train_layer_param((l), (t)))
#define HW(t) W(rr_train_head_param(m->d.n_layers, (t)))
#define HG(t) G(rr_train_head_param(m->d.n_layers, (t)))

static rr_attn_shape seq_shape(const rr_train_dims *d, const rr_batch *b, size_t s) {
    rr_attn_shape sh = {(int)(b->offsets[s + 1] - b->offsets[s]), d->n_heads, d->n_heads, d->head_dim,
                        d->hidden, d->hidden, d->hidden, false};
    return sh;
}

static void forward(const rr_train_model *m, const rr_batch *b, acts *a) {
    const rr_train_dims *d = &m->d;
    int n = (int)b->offsets[b->n_seqs], H = d->hidden, I = d->ffn, S = (int)b->n_seqs;
    size_t Hs = (size_t)H;
    /* Embeddings: positions per sequence (RoBERTa: from pad + 1, pad tokens at pad; BERT: 0, 1, ...). */
    for (size_t s = 0; s < b->n_seqs; s++) {
        int nonpad = 0;
        for (size_t i = b->offsets[s]; i < b->offsets[s + 1]; i++) {
            int id = b->ids[i];
            if (m->spec->positions == RR_POS_ROBERTA) a->pos[i] = id != d->pad_id ? d->pad_id + ++nonpad : d->pad_id;
            else a->pos[i] = (int32_t)(i - b->offsets[s]);
            a->types[i] = b->type_ids ? b->type_ids[i] : 0;
            const float *we = W(RR_TP_WORD) + (size_t)id * Hs, *pe = W(RR_TP_POS) + (size_t)a->pos[i] * Hs,
                        *te = W(RR_TP_TYPE) + (size_t)a->types[i] * Hs;
            for (size_t e = 0; e < Hs; e++) a->emb[i * Hs + e] = (we[e] + te[e]) + pe[e];
        }
    }
    rr_layernorm_fwd(a->xs[0], a->emb, W(RR_TP_EMB_LN_W), W(RR_TP_EMB_LN_B), n, H, d->eps);
    for (int l = 0; l < d->n_layers; l++) {
        layer_acts *la = &a->layers[l];
        const float *x = a->xs[l];
        rr_matmul_fwd(la->q, x, LW(l, RR_TL_QW), LW(l, RR_TL_QB), n, H, H);
        rr_matmul_fwd(la->k, x, LW(l, RR_TL_KW), LW(l, RR_TL_KB), n, H, H);
        rr_matmul_fwd(la->v, x, LW(l, RR_TL_VW), LW(l, RR_TL_VB), n, H, H);
        for (size_t s = 0; s < b->n_seqs; s++) {
            size_t o = b->offsets[s] * Hs;
            rr_attn_shape sh = seq_shape(d, b, s);
            rr_attention_fwd(la->ctx + o, la->q + o, la->k + o, la->v + o, a->att, &sh);
        }
        rr_matmul_fwd(la->res1, la->ctx, LW(l, RR_TL_OW), LW(l, RR_TL_OB), n, H, H);
        rr_add_fwd(la->res1, la->res1, x, (size_t)n * Hs);
        rr_layernorm_fwd(la->h1, la->res1, LW(l, RR_TL_LN1W), LW(l, RR_TL_LN1B), n, H, d->eps);
        rr_matmul_fwd(la->up, la->h1, LW(l, RR_TL_UPW), LW(l, RR_TL_UPB), n, H, I);
        rr_gelu_fwd(la->act, la->up, (size_t)n * (size_t)I);
        rr_matmul_fwd(la->res2, la->act, LW(l, RR_TL_DOWNW), LW(l, RR_TL_DOWNB), n, I, H);
        rr_add_fwd(la->res2, la->res2, la->h1, (size_t)n * Hs);
        rr_layernorm_fwd(a->xs[l + 1], la->res2, LW(l, RR_TL_LN2W), LW(l, RR_TL_LN2B), n, H, d->eps);
    }
    /* Head on each sequence's first token: dense -> tanh -> out (one logit). */
    for (int s = 0; s < S; s++) memcpy(a->cls + (size_t)s * Hs, a->xs[d->n_layers] + b->offsets[s] * Hs, Hs * sizeof(float));
    rr_matmul_fwd(a->pre, a->cls, HW(RR_TH_DENSE_W), HW(RR_TH_DENSE_B), S, H, H);
    rr_tanh_fwd(a->pooled, a->pre, (size_t)S * Hs);
    rr_matmul_fwd(a->logits, a->pooled, HW(RR_TH_OUT_W), HW(RR_TH_OUT_B), S, H, 1);
}

static void zero(float *p, size_t n) { memset(p, 0, n * sizeof *p); }

static void backward(rr_train_model *m, const rr_batch *b, acts *a) {
    const rr_train_dims *d = &m->d;
    int n = (int)b->offsets[b->n_seqs], H = d->hidden, I = d->ffn, S = (int)b->n_seqs;
    size_t Hs = (size_t)H, nh = (size_t)n * Hs, ni = (size_t)n * (size_t)I, sh = (size_t)S * Hs;
    zero(m->grad, m->n_floats);
    /* Head. */
    zero(a->dpooled, sh), zero(a->dpre, sh), zero(a->dcls, sh);
    rr_matmul_bwd(a->dpooled, HG(RR_TH_OUT_W), HG(RR_TH_OUT_B), a->dlogits, a->pooled, HW(RR_TH_OUT_W), S, H, 1);
    rr_tanh_bwd(a->dpre, a->dpooled, a->pooled, sh);
    rr_matmul_bwd(a->dcls, HG(RR_TH_DENSE_W), HG(RR_TH_DENSE_B), a->dpre, a->cls, HW(RR_TH_DENSE_W), S, H, H);
    zero(a->dx, nh);
    for (int s = 0; s < S; s++) memcpy(a->dx + b->offsets[s] * Hs, a->dcls + (size_t)s * Hs, Hs * sizeof(float));
    /* Layers, top down; a->dx holds d loss / d (layer output). */
    for (int l = d->n_layers - 1; l >= 0; l--) {
        layer_acts *la = &a->layers[l];
        const float *x = a->xs[l];
        zero(a->dres, nh);
        rr_layernorm_bwd(a->dres, LG(l, RR_TL_LN2W), LG(l, RR_TL_LN2B), a->dx, la->res2, LW(l, RR_TL_LN2W), n, H, d->eps);
        memcpy(a->dh1, a->dres, nh * sizeof(float)); /* the residual */
        zero(a->dact, ni), zero(a->dup, ni);
        rr_matmul_bwd(a->dact, LG(l, RR_TL_DOWNW), LG(l, RR_TL_DOWNB), a->dres, la->act, LW(l, RR_TL_DOWNW), n, I, H);
        rr_gelu_bwd(a->dup, a->dact, la->up, ni);
        rr_matmul_bwd(a->dh1, LG(l, RR_TL_UPW), LG(l, RR_TL_UPB), a->dup, la->h1, LW(l, RR_TL_UPW), n, H, I);
        zero(a->dres, nh);
        rr_layernorm_bwd(a->dres, LG(l, RR_TL_LN1W), LG(l, RR_TL_LN1B), a->dh1, la->res1, LW(l, RR_TL_LN1W), n, H, d->eps);
        memcpy(a->dx, a->dres, nh * sizeof(float)); /* the residual */
        zero(a->dctx, nh);
        rr_matmul_bwd(a->dctx, LG(l, RR_TL_OW), LG(l, RR_TL_OB), a->dres, la->ctx, LW(l, RR_TL_OW), n, H, H);
        zero(a->dq, nh), zero(a->dk, nh), zero(a->dv, nh);
        for (size_t s = 0; s < b->n_seqs; s++) {
            size_t o = b->offsets[s] * Hs;
            rr_attn_shape shp = seq_shape(d, b, s);
            rr_attention_bwd(a->dq + o, a->dk + o, a->dv + o, a->dctx + o, la->q + o, la->k + o, la->v + o, a->att, &shp);
        }
        rr_matmul_bwd(a->dx, LG(l, RR_TL_QW), LG(l, RR_TL_QB), a->dq, x, LW(l, RR_TL_QW), n, H, H);
        /* The key bias gets no gradient: it adds q . b_key to every score of a query's row, which the softmax
         * ignores, so its exact gradient is 0 (summing dk would give float noise of the order of AdamW's eps). */
        rr_matmul_bwd(a->dx, LG(l, RR_TL_KW), NULL, a->dk, x, LW(l, RR_TL_KW), n, H, H);
        rr_matmul_bwd(a->dx, LG(l, RR_TL_VW), LG(l, RR_TL_VB), a->dv, x, LW(l, RR_TL_VW), n, H, H);
    }
    /* Embeddings. nn.Embedding(padding_idx = pad) gives the pad row no gradient (word embeddings; RoBERTa's
     * position embeddings too). */
    zero(a->dres, nh);
    rr_layernorm_bwd(a->dres, G(RR_TP_EMB_LN_W), G(RR_TP_EMB_LN_B), a->dx, a->emb, W(RR_TP_EMB_LN_W), n, H, d->eps);
    rr_embedding_bwd(G(RR_TP_WORD), a->dres, b->ids, n, H);
    rr_embedding_bwd(G(RR_TP_POS), a->dres, a->pos, n, H);
    rr_embedding_bwd(G(RR_TP_TYPE), a->dres, a->types, n, H);
    zero(G(RR_TP_WORD) + (size_t)d->pad_id * Hs, Hs);
    if (m->spec->positions == RR_POS_ROBERTA) zero(G(RR_TP_POS) + (size_t)d->pad_id * Hs, Hs);
}

rerank_status rr_train_step(rr_train_model *m, const rr_batch *batch, size_t group_size, const float *teacher,
                            float *logits, rr_train_loss *loss, rerank_error *err) {
    size_t N = 0, longest = 0;
    rerank_status st = check_batch(m, batch, group_size, &N, &longest, err);
    if (st) return st;
    if (m->d.pad_id >= m->d.vocab || (m->spec->positions == RR_POS_ROBERTA && m->d.pad_id >= m->d.max_pos))
        return rr_fail(err, RERANK_ERR_FORMAT, "config.json: pad_token_id %d is outside the embedding tables", m->d.pad_id);
    acts a;
    if ((st = acts_alloc(&a, &m->d, N, batch->n_seqs, longest, err))) return st;
    forward(m, batch, &a);
    st = rr_train_group_loss(a.logits, teacher, batch->n_seqs / group_size, group_size, a.dlogits, loss, err);
    if (!st) {
        if (logits) memcpy(logits, a.logits, batch->n_seqs * sizeof *logits);
        backward(m, batch, &a);
    }
    acts_free(&a);
    return st;
}
