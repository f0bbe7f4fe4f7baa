/* train_encoder.c - one exact training step of the post-LN encoder cross-encoder: a forward pass over the
 * packed batch that keeps the activations the backward needs (one allocation, pointers into it, llm.c style),
 * the group-wise loss, and the backward through the head, every layer and the embeddings. Dense layers and
 * attention run through rr_sgemm on the model's thread pool (fast_bwd.c); m->reference switches to the scalar
 * reference kernels. With m->dropout, train-mode dropout sits where transformers' XLM-R / BERT put it. */
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/threadpool.h"
#include "kernels/kernels.h"
#include "kernels/kernels_bwd.h"
#include "train/dist.h"
#include "train/train_internal.h"
#include "train/trainer.h"

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
    float *cls, *pre, *pooled, *pooled_d;         /* head: [S,H]: dense input (after dropout), its output, */
    float *logits, *dlogits;                      /* tanh, tanh after dropout; [S], [S] */
    /* backward scratch */
    float *dx, *dres, *dh1, *dq, *dk, *dv, *dctx; /* [N,H] */
    float *dup, *dact;                            /* [N,I] */
    float *dcls, *dpre, *dpooled;                 /* [S,H] */
    float *att, *ln;                              /* attention and LayerNorm-backward scratch */
    int32_t *pos, *types;                         /* [N] position and token type ids */
    float *mem;
    void *ptrs;
} acts;

static void acts_free(acts *a) { /* a->mem is the model's work buffer */
    free(a->ptrs);
    free(a->pos);
}

/* Carves every buffer out of one allocation; sizes are checked for overflow. */
static rerank_status acts_alloc(acts *a, rr_train_model *m, size_t N, size_t S, size_t longest, int threads,
                                rerank_error *err) {
    memset(a, 0, sizeof *a);
    const rr_model_config *d = &m->d;
    size_t L = (size_t)d->n_layers, H = (size_t)d->hidden, I = (size_t)d->ffn, nh, ni, sh, total = 0;
    size_t att = rr_attention_bwd_scratch((int)longest), att_fast = rr_attention_train_scratch(threads, (int)longest);
    size_t ln = rr_layernorm_bwd_fast_scratch(d->hidden);
    if (longest > 65536 || threads > 4096) return rr_fail(err, RERANK_ERR_NOMEM, "batch too large");
    att = (att > att_fast ? att : att_fast) + ln;
    if (!rr_mul_size(N, H, &nh) || !rr_mul_size(N, I, &ni) || !rr_mul_size(S, H, &sh))
        return rr_fail(err, RERANK_ERR_NOMEM, "batch of %zu tokens is too large", N);
    /* Count in units of nh, ni, sh and the rest, each product checked. */
    size_t units_nh = 1 + (L + 1) + 7 * L + 7, units_ni = 2 * L + 2, units_sh = 7, parts[4];
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
    if (total > m->work_cap) {
        free(m->work);
        m->work_cap = 0;
        if (!(m->work = malloc(total * sizeof(float))))
            return rr_fail(err, RERANK_ERR_NOMEM, "out of memory for the activations of %zu tokens", N);
        m->work_cap = total;
    }
    a->mem = m->work;
    a->ptrs = malloc((L + 1) * sizeof(float *) + L * sizeof(layer_acts));
    a->pos = malloc(2 * N * sizeof(int32_t));
    if (!a->ptrs || !a->pos) {
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
    TAKE(a->cls, sh), TAKE(a->pre, sh), TAKE(a->pooled, sh), TAKE(a->pooled_d, sh), TAKE(a->dcls, sh);
    TAKE(a->dpre, sh), TAKE(a->dpooled, sh), TAKE(a->logits, S), TAKE(a->dlogits, S), TAKE(a->att, att - ln);
    TAKE(a->ln, ln);
#undef TAKE
    return RERANK_OK;
}

#define W(k) (m->w + m->params[(k)].offset)
#define G(k) (m->grad + m->params[(k)].offset)
#define LW(l, t) W(rr_train_layer_param((l), (t)))
#define LG(l, t) G(rr_train_layer_param((l), (t)))
#define HW(t) W(rr_train_head_param(m->d.n_layers, (t)))
#define HG(t) G(rr_train_head_param(m->d.n_layers, (t)))

static rr_attn_shape seq_shape(const rr_model_config *d, const rr_batch *b, size_t s) {
    rr_attn_shape sh = {(int)(b->offsets[s + 1] - b->offsets[s]), d->n_heads, d->n_heads, d->head_dim,
                        d->hidden, d->hidden, d->hidden, false, false};
    return sh;
}

/* Dropout sites (each draws its own masks): the embeddings, the head's two, then three per layer. */
enum { SITE_EMB, SITE_HEAD_IN, SITE_HEAD_POOLED, SITE_LAYER0 };
enum { SITE_ATTN_PROBS, SITE_ATTN_OUT, SITE_FFN_OUT, SITES_PER_LAYER };
static unsigned layer_site(int l, int which) { return SITE_LAYER0 + (unsigned)l * SITES_PER_LAYER + (unsigned)which; }

/* One pass: the model, the batch, the activations and which kernels run. */
typedef struct pass {
    rr_train_model *m;
    const rr_batch *b;
    acts *a;
    rr_pool *pool;
    bool ref, drop;
    int n, H, I, S;
} pass;

/* Hidden dropout on rows x [n, H] of every sequence (forward, and the same masks as the backward). */
static void drop_hidden(const pass *p, float *x, unsigned site) {
    if (!p->drop || p->m->d.p_hidden <= 0.0f) return;
    for (size_t s = 0; s < p->b->n_seqs; s++) {
        size_t o = p->b->offsets[s];
        rr_dropout_rows(x + o * (size_t)p->H, (int)(p->b->offsets[s + 1] - o), p->H, p->H,
                        rr_dropout_key(p->m->dropout_seed, site, p->m->dropout_seq0 + s), p->m->d.p_hidden);
    }
}

/* Head dropout on one row per sequence (token 0). */
static void drop_head(const pass *p, float *x, unsigned site) {
    if (!p->drop || p->m->d.p_hidden <= 0.0f) return;
    for (int s = 0; s < p->S; s++)
        rr_dropout_rows(x + (size_t)s * (size_t)p->H, 1, p->H, p->H,
                        rr_dropout_key(p->m->dropout_seed, site, p->m->dropout_seq0 + (size_t)s), p->m->d.p_hidden);
}

static void dense_fwd(const pass *p, float *y, const float *x, const float *w, const float *bias, const float *res, int n,
                      int in, int out) {
    if (p->ref) {
        rr_matmul_fwd(y, x, w, bias, n, in, out);
        if (res) rr_add_fwd(y, y, res, (size_t)n * (size_t)out);
    } else rr_dense_fwd(p->pool, y, x, w, bias, res, n, in, out);
}

static void dense_bwd(const pass *p, float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                      int n, int in, int out) {
    if (p->ref) rr_matmul_bwd(dx, dw, db, dy, x, w, n, in, out);
    else rr_dense_bwd(p->pool, dx, dw, db, dy, x, w, n, in, out);
}

static void layernorm_bwd(const pass *p, float *dx, float *dw, float *db, const float *dy, const float *x, const float *w) {
    if (p->ref) rr_layernorm_bwd(dx, dw, db, dy, x, w, p->n, p->H, p->m->d.eps);
    else rr_layernorm_bwd_fast(p->pool, p->a->ln, dx, dw, db, dy, x, w, p->n, p->H, p->m->d.eps);
}

/* The element-wise forward kernels in blocks of rows across the pool (the scalar ones are exact). */
typedef struct rows_job {
    float *y;
    const float *x, *w, *b;
    int n, dim, per_task;
    float eps;
    bool gelu;
} rows_job;

static void rows_task(void *ctx, int task, int thread) {
    (void)thread;
    const rows_job *j = ctx;
    int r0 = task * j->per_task, r = j->n - r0 < j->per_task ? j->n - r0 : j->per_task;
    size_t o = (size_t)r0 * (size_t)j->dim;
    if (j->gelu) rr_gelu_fwd(j->y + o, j->x + o, (size_t)r * (size_t)j->dim);
    else rr_layernorm_fwd(j->y + o, j->x + o, j->w, j->b, r, j->dim, j->eps);
}

static void rows_run(const pass *p, rows_job *j) {
    j->per_task = 16;
    rr_pool_run(p->ref ? NULL : p->pool, rows_task, j, (j->n + j->per_task - 1) / j->per_task);
}

static void layernorm_fwd(const pass *p, float *y, const float *x, const float *w, const float *b) {
    rows_job j = {y, x, w, b, p->n, p->H, 0, p->m->d.eps, false};
    rows_run(p, &j);
}

static void gelu_fwd(const pass *p, float *y, const float *x) {
    rows_job j = {y, x, NULL, NULL, p->n, p->I, 0, 0.0f, true};
    rows_run(p, &j);
}

static rr_dropout_at attn_drop(const pass *p, int l) {
    rr_dropout_at d = {p->drop ? p->m->d.p_attn : 0.0f, p->m->dropout_seed, layer_site(l, SITE_ATTN_PROBS),
                       p->m->dropout_seq0};
    return d;
}

static void attention_fwd(const pass *p, float *ctx, const float *q, const float *k, const float *v, int l) {
    const rr_model_config *d = &p->m->d;
    if (p->ref && !p->drop) { /* the reference kernel has no dropout */
        for (size_t s = 0; s < p->b->n_seqs; s++) {
            size_t o = p->b->offsets[s] * (size_t)p->H;
            rr_attn_shape sh = seq_shape(d, p->b, s);
            rr_attention_fwd(ctx + o, q + o, k + o, v + o, p->a->att, &sh);
        }
        return;
    }
    rr_attn_shape sh = seq_shape(d, p->b, 0);
    rr_dropout_at drop = attn_drop(p, l);
    rr_attention_train_fwd(p->pool, p->a->att, ctx, q, k, v, p->b->offsets, p->b->n_seqs, &sh, &drop);
}

static void attention_bwd(const pass *p, const layer_acts *la, int l) {
    const rr_model_config *d = &p->m->d;
    acts *a = p->a;
    if (p->ref && !p->drop) {
        for (size_t s = 0; s < p->b->n_seqs; s++) {
            size_t o = p->b->offsets[s] * (size_t)p->H;
            rr_attn_shape sh = seq_shape(d, p->b, s);
            rr_attention_bwd(a->dq + o, a->dk + o, a->dv + o, a->dctx + o, la->q + o, la->k + o, la->v + o, a->att, &sh);
        }
        return;
    }
    rr_attn_shape sh = seq_shape(d, p->b, 0);
    rr_dropout_at drop = attn_drop(p, l);
    rr_attention_train_bwd(p->pool, a->att, a->dq, a->dk, a->dv, a->dctx, la->q, la->k, la->v, p->b->offsets,
                           p->b->n_seqs, &sh, &drop);
}

/* y = dropout(x·W^T + b) + res: the residual joins after the dropout, so it is fused only without one. */
static void dense_drop_res(const pass *p, float *y, const float *x, const float *w, const float *bias, const float *res,
                           int in, unsigned site) {
    if (!p->drop) {
        dense_fwd(p, y, x, w, bias, res, p->n, in, p->H);
        return;
    }
    dense_fwd(p, y, x, w, bias, NULL, p->n, in, p->H);
    drop_hidden(p, y, site);
    rr_add_fwd(y, y, res, (size_t)p->n * (size_t)p->H);
}

static void forward(const pass *p) {
    rr_train_model *m = p->m;
    const rr_batch *b = p->b;
    acts *a = p->a;
    const rr_model_config *d = &m->d;
    int n = p->n, H = p->H, I = p->I, S = p->S;
    size_t Hs = (size_t)H;
    /* Embeddings as scoring sums them (positions by the spec's rule), keeping the position and type ids. */
    rr_encoder_embed_sum(m->spec, d, W(RR_TP_WORD), W(RR_TP_POS), W(RR_TP_TYPE), b, a->emb, a->pos);
    for (int i = 0; i < n; i++) a->types[i] = b->type_ids ? b->type_ids[i] : 0;
    layernorm_fwd(p, a->xs[0], a->emb, W(RR_TP_EMB_LN_W), W(RR_TP_EMB_LN_B));
    drop_hidden(p, a->xs[0], SITE_EMB);
    for (int l = 0; l < d->n_layers; l++) {
        layer_acts *la = &a->layers[l];
        const float *x = a->xs[l];
        dense_fwd(p, la->q, x, LW(l, RR_ENC_QW), LW(l, RR_ENC_QB), NULL, n, H, H);
        dense_fwd(p, la->k, x, LW(l, RR_ENC_KW), LW(l, RR_ENC_KB), NULL, n, H, H);
        dense_fwd(p, la->v, x, LW(l, RR_ENC_VW), LW(l, RR_ENC_VB), NULL, n, H, H);
        attention_fwd(p, la->ctx, la->q, la->k, la->v, l);
        dense_drop_res(p, la->res1, la->ctx, LW(l, RR_ENC_OW), LW(l, RR_ENC_OB), x, H, layer_site(l, SITE_ATTN_OUT));
        layernorm_fwd(p, la->h1, la->res1, LW(l, RR_ENC_LN1W), LW(l, RR_ENC_LN1B));
        dense_fwd(p, la->up, la->h1, LW(l, RR_ENC_UPW), LW(l, RR_ENC_UPB), NULL, n, H, I);
        gelu_fwd(p, la->act, la->up);
        dense_drop_res(p, la->res2, la->act, LW(l, RR_ENC_DOWNW), LW(l, RR_ENC_DOWNB), la->h1, I,
                       layer_site(l, SITE_FFN_OUT));
        layernorm_fwd(p, a->xs[l + 1], la->res2, LW(l, RR_ENC_LN2W), LW(l, RR_ENC_LN2B));
    }
    /* Head on each sequence's first token: [dropout (spec head_input_dropout: XLM-R)] -> dense -> tanh -> dropout -> out (one logit). */
    for (int s = 0; s < S; s++) memcpy(a->cls + (size_t)s * Hs, a->xs[d->n_layers] + b->offsets[s] * Hs, Hs * sizeof(float));
    if (m->spec->head_input_dropout) drop_head(p, a->cls, SITE_HEAD_IN);
    dense_fwd(p, a->pre, a->cls, HW(RR_TH_DENSE_W), HW(RR_TH_DENSE_B), NULL, S, H, H);
    rr_tanh_fwd(a->pooled, a->pre, (size_t)S * Hs);
    memcpy(a->pooled_d, a->pooled, (size_t)S * Hs * sizeof(float));
    drop_head(p, a->pooled_d, SITE_HEAD_POOLED);
    dense_fwd(p, a->logits, a->pooled_d, HW(RR_TH_OUT_W), HW(RR_TH_OUT_B), NULL, S, H, 1);
}

static void zero(float *p, size_t n) { memset(p, 0, n * sizeof *p); }

static void backward(const pass *p) {
    rr_train_model *m = p->m;
    const rr_batch *b = p->b;
    acts *a = p->a;
    const rr_model_config *d = &m->d;
    int n = p->n, H = p->H, I = p->I, S = p->S;
    size_t Hs = (size_t)H, nh = (size_t)n * Hs, ni = (size_t)n * (size_t)I, sh = (size_t)S * Hs;
    zero(m->grad, m->n_floats);
    /* Head. */
    zero(a->dpooled, sh), zero(a->dpre, sh), zero(a->dcls, sh);
    dense_bwd(p, a->dpooled, HG(RR_TH_OUT_W), HG(RR_TH_OUT_B), a->dlogits, a->pooled_d, HW(RR_TH_OUT_W), S, H, 1);
    drop_head(p, a->dpooled, SITE_HEAD_POOLED);
    rr_tanh_bwd(a->dpre, a->dpooled, a->pooled, sh);
    dense_bwd(p, a->dcls, HG(RR_TH_DENSE_W), HG(RR_TH_DENSE_B), a->dpre, a->cls, HW(RR_TH_DENSE_W), S, H, H);
    if (m->spec->head_input_dropout) drop_head(p, a->dcls, SITE_HEAD_IN);
    zero(a->dx, nh);
    for (int s = 0; s < S; s++) memcpy(a->dx + b->offsets[s] * Hs, a->dcls + (size_t)s * Hs, Hs * sizeof(float));
    /* Layers, top down; a->dx holds d loss / d (layer output). */
    for (int l = d->n_layers - 1; l >= 0; l--) {
        layer_acts *la = &a->layers[l];
        const float *x = a->xs[l];
        zero(a->dres, nh);
        layernorm_bwd(p, a->dres, LG(l, RR_ENC_LN2W), LG(l, RR_ENC_LN2B), a->dx, la->res2, LW(l, RR_ENC_LN2W));
        memcpy(a->dh1, a->dres, nh * sizeof(float)); /* the residual */
        drop_hidden(p, a->dres, layer_site(l, SITE_FFN_OUT));
        zero(a->dact, ni), zero(a->dup, ni);
        dense_bwd(p, a->dact, LG(l, RR_ENC_DOWNW), LG(l, RR_ENC_DOWNB), a->dres, la->act, LW(l, RR_ENC_DOWNW), n, I, H);
        if (p->ref) rr_gelu_bwd(a->dup, a->dact, la->up, ni);
        else rr_gelu_bwd_fast(p->pool, a->dup, a->dact, la->up, ni);
        dense_bwd(p, a->dh1, LG(l, RR_ENC_UPW), LG(l, RR_ENC_UPB), a->dup, la->h1, LW(l, RR_ENC_UPW), n, H, I);
        zero(a->dres, nh);
        layernorm_bwd(p, a->dres, LG(l, RR_ENC_LN1W), LG(l, RR_ENC_LN1B), a->dh1, la->res1, LW(l, RR_ENC_LN1W));
        memcpy(a->dx, a->dres, nh * sizeof(float)); /* the residual */
        drop_hidden(p, a->dres, layer_site(l, SITE_ATTN_OUT));
        zero(a->dctx, nh);
        dense_bwd(p, a->dctx, LG(l, RR_ENC_OW), LG(l, RR_ENC_OB), a->dres, la->ctx, LW(l, RR_ENC_OW), n, H, H);
        zero(a->dq, nh), zero(a->dk, nh), zero(a->dv, nh);
        attention_bwd(p, la, l);
        dense_bwd(p, a->dx, LG(l, RR_ENC_QW), LG(l, RR_ENC_QB), a->dq, x, LW(l, RR_ENC_QW), n, H, H);
        /* The key bias gets no gradient: it adds q . b_key to every score of a query's row, which the softmax
         * ignores, so its exact gradient is 0 (summing dk would give float noise of the order of AdamW's eps). */
        dense_bwd(p, a->dx, LG(l, RR_ENC_KW), NULL, a->dk, x, LW(l, RR_ENC_KW), n, H, H);
        dense_bwd(p, a->dx, LG(l, RR_ENC_VW), LG(l, RR_ENC_VB), a->dv, x, LW(l, RR_ENC_VW), n, H, H);
    }
    /* Embeddings. nn.Embedding(padding_idx = pad) gives the pad row no gradient (word embeddings; RoBERTa's
     * position embeddings too). */
    drop_hidden(p, a->dx, SITE_EMB);
    zero(a->dres, nh);
    layernorm_bwd(p, a->dres, G(RR_TP_EMB_LN_W), G(RR_TP_EMB_LN_B), a->dx, a->emb, W(RR_TP_EMB_LN_W));
    rr_embedding_bwd(G(RR_TP_WORD), a->dres, b->ids, n, H);
    rr_embedding_bwd(G(RR_TP_POS), a->dres, a->pos, n, H);
    rr_embedding_bwd(G(RR_TP_TYPE), a->dres, a->types, n, H);
    zero(G(RR_TP_WORD) + (size_t)d->pad_id * Hs, Hs);
    if (m->spec->positions == RR_POS_ROBERTA) zero(G(RR_TP_POS) + (size_t)d->pad_id * Hs, Hs);
}

rerank_status rr_train_step(rr_train_model *m, const rr_batch *batch, size_t group_size, const float *teacher,
                            float *logits, rr_train_loss *loss, rerank_error *err) {
    size_t N = 0, longest = 0;
    rerank_status st = rr_train_check_batch(batch, group_size, true, &m->d, m->d.max_tokens, &N, &longest, err);
    if (st) return st;
    if (m->d.pad_id >= m->d.vocab || (m->spec->positions == RR_POS_ROBERTA && m->d.pad_id >= m->d.max_pos))
        return rr_fail(err, RERANK_ERR_FORMAT, "config.json: pad_token_id %d is outside the embedding tables", m->d.pad_id);
    if (!m->pool) { /* by default the cores, shared with the other processes of an mpirun job on this machine */
        int threads = m->n_threads > 0 ? m->n_threads : rr_cpu_count() / rr_dist_local_procs();
        if (!(m->pool = rr_pool_new(threads > 0 ? threads : 1)))
            return rr_fail(err, RERANK_ERR_NOMEM, "cannot start %d training threads", threads);
    }
    acts a;
    if ((st = acts_alloc(&a, m, N, batch->n_seqs, longest, rr_pool_size(m->pool), err))) return st;
    pass p = {m, batch, &a, m->pool, m->reference, m->dropout, (int)N, m->d.hidden, m->d.ffn, (int)batch->n_seqs};
    forward(&p);
    st = rr_train_group_loss(a.logits, teacher, batch->n_seqs / group_size, group_size, a.dlogits, loss, err);
    if (!st) {
        if (logits) memcpy(logits, a.logits, batch->n_seqs * sizeof *logits);
        backward(&p);
    }
    acts_free(&a);
    return st;
}
