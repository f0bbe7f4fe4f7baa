/* train_decoder_pass.c - the forward and backward of the LoRA-adapted decoder over a packed batch. The
 * forward mirrors arch/decoder.c step by step (pre-norm blocks, RMSNorm with the spec's weight offset,
 * embedding and residual scalings, q/k norms, rotate-half RoPE, causal grouped-query attention, gated MLP,
 * final RMSNorm of each sequence's last token dotted with the "Yes" row or the layerwise heads) and keeps the
 * activations the backward needs; only the LoRA tensors (and trained heads) receive gradients, but the
 * gradient flows through every frozen block below them. */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "kernels/kernels_bwd.h"
#include "train/train_decoder.h"

typedef struct layer_acts {
    float *xn1, *qp, *kp, *q, *k, *v, *att, *xmid, *xn2, *gate, *up, *h; /* qp/kp: before q/k norm */
    float *u[RR_LORA_N_MODULES];                                       /* [N,r] LoRA A outputs */
} layer_acts;

typedef struct acts {
    float **xs;         /* [L+1] of [N,H]: xs[l] is the hidden state after l layers */
    layer_acts *layers; /* [L] */
    float *hn, *logits, *dlogits; /* [n_out*S, H] normed last rows, [n_out*S] ([layer][seq]) */
    float *cos_t, *sin_t;         /* [longest, hd/2] */
    /* backward scratch */
    float *dx, *dxn, *dtmp, *dq, *dk, *dv, *dqp, *dkp, *datt, *dh, *dgate, *dup, *dhn, *lora, *att;
    float *mem;
    void *ptrs;
} acts;

typedef struct dims {
    size_t N, S, longest, H, QD, KD, F, r, lora;
    int n_out;
    bool recompute; /* gradient checkpointing: keep only each layer's input, recompute the rest in the backward */
    bool train;     /* LoRA dropout on */
    size_t threads; /* of d->pool */
    unsigned long long seed;
} dims;

/* Carves every buffer out of one allocation (count == true only sums the sizes into *total). */
static void carve(acts *a, const rr_dec_trainer *d, const dims *z, bool backward, float *p, size_t *total) {
    size_t at = 0, N = z->N, hd = (size_t)d->c.head_dim;
#define TAKE(ptr, n) (ptr = p ? p + at : NULL, at += (n))
    for (int l = 0; l <= d->c.n_layers; l++) TAKE(a->xs[l], N * z->H);
    for (int l = 0; l < (z->recompute ? 1 : d->c.n_layers); l++) {
        layer_acts *la = &a->layers[l];
        TAKE(la->xn1, N * z->H), TAKE(la->q, N * z->QD), TAKE(la->k, N * z->KD), TAKE(la->v, N * z->KD);
        TAKE(la->att, N * z->QD), TAKE(la->xmid, N * z->H), TAKE(la->xn2, N * z->H);
        TAKE(la->gate, N * z->F), TAKE(la->up, N * z->F), TAKE(la->h, N * z->F);
        la->qp = la->kp = NULL;
        if (d->spec->qk_norm) TAKE(la->qp, N * z->QD), TAKE(la->kp, N * z->KD);
        for (int m = 0; m < RR_LORA_N_MODULES; m++) {
            la->u[m] = NULL;
            if (d->lora_param[(size_t)l * RR_LORA_N_MODULES + (size_t)m] != SIZE_MAX) TAKE(la->u[m], N * z->r);
        }
    }
    size_t no = (size_t)z->n_out * z->S;
    TAKE(a->hn, no * z->H), TAKE(a->logits, no), TAKE(a->dlogits, no);
    TAKE(a->cos_t, z->longest * (hd / 2)), TAKE(a->sin_t, z->longest * (hd / 2));
    TAKE(a->dtmp, N * z->H), TAKE(a->lora, z->lora), TAKE(a->att, z->threads * rr_attention_bwd_scratch((int)z->longest));
    if (backward) {
        TAKE(a->dx, N * z->H), TAKE(a->dxn, N * z->H), TAKE(a->dq, N * z->QD), TAKE(a->dk, N * z->KD);
        TAKE(a->dv, N * z->KD), TAKE(a->dqp, N * z->QD), TAKE(a->dkp, N * z->KD), TAKE(a->datt, N * z->QD);
        TAKE(a->dh, N * z->F), TAKE(a->dgate, N * z->F), TAKE(a->dup, N * z->F), TAKE(a->dhn, z->H);
    }
#undef TAKE
    *total = at;
}

static void acts_free(acts *a) {
    free(a->mem);
    free(a->ptrs);
}

static rerank_status acts_alloc(acts *a, const rr_dec_trainer *d, const dims *z, bool backward, rerank_error *err) {
    memset(a, 0, sizeof *a);
    size_t L = (size_t)d->c.n_layers, total;
    a->ptrs = malloc((L + 1) * sizeof(float *) + L * sizeof(layer_acts));
    if (!a->ptrs) return rr_fail(err, RERANK_ERR_NOMEM, "out of memory");
    a->xs = a->ptrs;
    a->layers = (layer_acts *)(void *)(a->xs + L + 1);
    /* Bounded sizes (check_batch keeps N * widest row far below SIZE_MAX / 64), so the sum cannot wrap. */
    carve(a, d, z, backward, NULL, &total);
    if (total > SIZE_MAX / sizeof(float) || !(a->mem = malloc((total ? total : 1) * sizeof(float)))) {
        acts_free(a);
        return rr_fail(err, RERANK_ERR_NOMEM, "out of memory for the activations of %zu tokens", z->N);
    }
    carve(a, d, z, backward, a->mem, &total);
    return RERANK_OK;
}

static rerank_status check_batch(const rr_dec_trainer *d, const rr_batch *b, size_t group_size, dims *z,
                                 rerank_error *err) {
    rerank_status st = rr_train_check_batch(b, group_size, false, &d->c, d->c.max_pos, &z->N, &z->longest, err);
    if (st) return st;
    size_t widest = (size_t)d->c.ffn > (size_t)d->c.n_heads * (size_t)d->c.head_dim ? (size_t)d->c.ffn
                                                                                : (size_t)d->c.n_heads * (size_t)d->c.head_dim;
    if (widest < (size_t)d->c.hidden) widest = (size_t)d->c.hidden;
    if (z->N > (size_t)INT_MAX / widest || z->N > (size_t)INT_MAX / (size_t)d->c.n_heads)
        return rr_fail(err, RERANK_ERR_INPUT, "batch of %zu tokens is too large", z->N);
    z->S = b->n_seqs;
    z->H = (size_t)d->c.hidden;
    z->QD = (size_t)d->c.n_heads * (size_t)d->c.head_dim;
    z->KD = (size_t)d->c.n_kv_heads * (size_t)d->c.head_dim;
    z->F = (size_t)d->c.ffn;
    z->r = (size_t)d->rank;
    z->n_out = rr_dt_n_outputs(d);
    z->lora = z->N * (widest + z->r);
    return RERANK_OK;
}


/* Projection m of layer l with its adapter (if targeted) bound to the current trainable weights. */
static rr_lora_linear linear(const rr_dec_trainer *d, int l, int m, bool train, unsigned long long sample_seed) {
    const rr_trainer *t = &d->base;
    const rr_dt_layer *L = &d->layers[l];
    rr_lora_linear lin = {.w = L->w[m], .bias = L->bias[m]};
    rr_dt_module_dims(d, m, &lin.out, &lin.in);
    size_t pa = d->lora_param[(size_t)l * RR_LORA_N_MODULES + (size_t)m];
    if (pa == SIZE_MAX) return lin;
    const rr_train_param *A = &t->params[pa], *B = &t->params[pa + 1];
    lin.a = t->w + A->offset, lin.b = t->w + B->offset;
    lin.da = t->grad + A->offset, lin.db = t->grad + B->offset;
    lin.r = d->rank;
    lin.scale = (float)(d->alpha / d->rank);
    lin.p = train ? (float)d->dropout : 0.0f;
    lin.mask_seed = rr_dropout_mix(rr_dropout_mix(sample_seed ^ rr_dropout_mix(d->seed)) +
                                   (unsigned long long)l * RR_LORA_N_MODULES + (unsigned)m);
    return lin;
}

static void act_fwd(const rr_dec_trainer *d, float *y, const float *x, size_t n) {
    if (d->c.act == RR_GLU_SILU) rr_silu_fwd(y, x, n);
    else if (d->c.act == RR_GLU_GELU_TANH) rr_gelu_tanh_fwd(y, x, n);
    else rr_gelu_fwd(y, x, n);
}

static void act_bwd(const rr_dec_trainer *d, float *dx, const float *dy, const float *x, size_t n) {
    if (d->c.act == RR_GLU_SILU) rr_silu_bwd(dx, dy, x, n);
    else if (d->c.act == RR_GLU_GELU_TANH) rr_gelu_tanh_bwd(dx, dy, x, n);
    else rr_gelu_bwd(dx, dy, x, n);
}

static rr_attn_shape seq_shape(const rr_dec_trainer *d, const rr_batch *b, size_t s, const dims *z) {
    rr_attn_shape sh = {(int)(b->offsets[s + 1] - b->offsets[s]), d->c.n_heads, d->c.n_kv_heads, d->c.head_dim,
                        (int)z->QD, (int)z->KD, (int)z->QD, true, false};
    return sh;
}

/* x += res_scale * y (arch/decoder.c scales the branch in place, then adds). */
static void residual(const rr_dec_trainer *d, float *out, const float *x, float *y, size_t n) {
    if (d->c.res_scale != 1.0f) rr_scale_fwd(y, y, d->c.res_scale, n);
    rr_add_fwd(out, x, y, n);
}

/* The head weight of output k: the "Yes" row of the output embedding, or layerwise head k. */
static const float *head_w(const rr_dec_trainer *d, int k) {
    if (d->spec->head != RR_DEC_HEAD_LAYERWISE) return d->o.lm_head + (size_t)d->yes_id * (size_t)d->c.hidden;
    if (d->train_heads) return d->base.w + d->base.params[d->head_param + (size_t)k].offset;
    return d->o.heads[k];
}

/* RoPE and attention run per sequence, one pool task each (rows of different sequences never overlap). */
typedef struct attn_job {
    const rr_dec_trainer *d;
    const rr_batch *b;
    const dims *z;
    acts *a;
    layer_acts *la;
} attn_job;

static void attn_fwd_task(void *ctx, int task, int thread) {
    const attn_job *j = ctx;
    const rr_dec_trainer *d = j->d;
    const dims *z = j->z;
    size_t s = (size_t)task, t0 = j->b->offsets[s];
    rr_attn_shape sh = seq_shape(d, j->b, s, z);
    float *q = j->la->q + t0 * z->QD, *k = j->la->k + t0 * z->KD;
    float *scratch = j->a->att + (size_t)thread * rr_attention_bwd_scratch((int)z->longest);
    rr_rope_fwd(k, j->a->cos_t, j->a->sin_t, sh.n_tokens, d->c.n_kv_heads, d->c.head_dim, (int)z->KD);
    rr_rope_fwd(q, j->a->cos_t, j->a->sin_t, sh.n_tokens, d->c.n_heads, d->c.head_dim, (int)z->QD);
    rr_attention_fwd(j->la->att + t0 * z->QD, q, k, j->la->v + t0 * z->KD, scratch, &sh);
}

static void attn_bwd_task(void *ctx, int task, int thread) {
    const attn_job *j = ctx;
    const rr_dec_trainer *d = j->d;
    const dims *z = j->z;
    acts *a = j->a;
    size_t s = (size_t)task, t0 = j->b->offsets[s];
    rr_attn_shape sh = seq_shape(d, j->b, s, z);
    float *scratch = a->att + (size_t)thread * rr_attention_bwd_scratch((int)z->longest);
    rr_attention_bwd(a->dq + t0 * z->QD, a->dk + t0 * z->KD, a->dv + t0 * z->KD, a->datt + t0 * z->QD,
                     j->la->q + t0 * z->QD, j->la->k + t0 * z->KD, j->la->v + t0 * z->KD, scratch, &sh);
    rr_rope_bwd(a->dq + t0 * z->QD, a->cos_t, a->sin_t, sh.n_tokens, d->c.n_heads, d->c.head_dim, (int)z->QD);
    rr_rope_bwd(a->dk + t0 * z->KD, a->cos_t, a->sin_t, sh.n_tokens, d->c.n_kv_heads, d->c.head_dim, (int)z->KD);
}

/* Block l on all tokens: xs[l] -> xs[l+1], keeping its activations in la. */
static void layer_forward(const rr_dec_trainer *d, const rr_batch *b, const dims *z, acts *a, int l,
                          layer_acts *la) {
    int n = (int)z->N, H = d->c.hidden, hd = d->c.head_dim;
    float off = d->spec->norm_offset;
    size_t nh = z->N * z->H, nf = z->N * z->F;
    const float *x = a->xs[l];
    rr_lora_linear lin[RR_LORA_N_MODULES];
    for (int m = 0; m < RR_LORA_N_MODULES; m++) lin[m] = linear(d, l, m, z->train, z->seed);
    rr_rmsnorm_fwd(la->xn1, x, d->layers[l].ln1, off, n, H, d->c.eps);
    rr_lora_fwd(d->pool, &lin[RR_LORA_Q], la->qp ? la->qp : la->q, la->xn1, la->u[RR_LORA_Q], a->lora, n);
    rr_lora_fwd(d->pool, &lin[RR_LORA_K], la->kp ? la->kp : la->k, la->xn1, la->u[RR_LORA_K], a->lora, n);
    rr_lora_fwd(d->pool, &lin[RR_LORA_V], la->v, la->xn1, la->u[RR_LORA_V], a->lora, n);
    if (la->qp) {
        rr_rmsnorm_fwd(la->q, la->qp, d->layers[l].q_norm, off, n * d->c.n_heads, hd, d->c.eps);
        rr_rmsnorm_fwd(la->k, la->kp, d->layers[l].k_norm, off, n * d->c.n_kv_heads, hd, d->c.eps);
    }
    attn_job job = {d, b, z, a, la};
    rr_pool_run(d->pool, attn_fwd_task, &job, (int)z->S);
    rr_lora_fwd(d->pool, &lin[RR_LORA_O], a->dtmp, la->att, la->u[RR_LORA_O], a->lora, n);
    residual(d, la->xmid, x, a->dtmp, nh);
    rr_rmsnorm_fwd(la->xn2, la->xmid, d->layers[l].ln2, off, n, H, d->c.eps);
    rr_lora_fwd(d->pool, &lin[RR_LORA_GATE], la->gate, la->xn2, la->u[RR_LORA_GATE], a->lora, n);
    rr_lora_fwd(d->pool, &lin[RR_LORA_UP], la->up, la->xn2, la->u[RR_LORA_UP], a->lora, n);
    act_fwd(d, la->h, la->gate, nf);
    rr_mul_fwd(la->h, la->h, la->up, nf);
    rr_lora_fwd(d->pool, &lin[RR_LORA_DOWN], a->dtmp, la->h, la->u[RR_LORA_DOWN], a->lora, n);
    residual(d, a->xs[l + 1], la->xmid, a->dtmp, nh);
}

static void forward(const rr_dec_trainer *d, const rr_batch *b, const dims *z, acts *a) {
    int H = d->c.hidden;
    float off = d->spec->norm_offset;
    rr_decoder_embed_fwd(&d->o, &d->c, b->ids, z->N, a->xs[0]); /* scoring's embedding, frozen */
    rr_rope_table(a->cos_t, a->sin_t, (int)z->longest, d->c.head_dim, d->c.rope_theta);
    for (int l = 0; l < d->c.n_layers; l++) layer_forward(d, b, z, a, l, &a->layers[z->recompute ? 0 : l]);
    /* Scores at each sequence's last token: final norm, then the head (layer start_layer + k for output k). */
    int first = d->spec->head == RR_DEC_HEAD_LAYERWISE ? d->c.start_layer : d->c.n_layers;
    for (int k = 0; k < z->n_out; k++)
        for (size_t s = 0; s < z->S; s++) {
            size_t o = (size_t)k * z->S + s;
            const float *row = a->xs[first + k] + (b->offsets[s + 1] - 1) * z->H;
            rr_rmsnorm_fwd(a->hn + o * z->H, row, d->o.final_norm, off, 1, H, d->c.eps);
            a->logits[o] = rr_dot_fwd(a->hn + o * z->H, head_w(d, k), z->H);
        }
}

/* The group loss of every output. Layerwise (FlagEmbedding's layerwise modeling): the sum over layers of the
 * group CE; each layer also distils from the teacher scores when given, else every layer but the last from
 * the last layer's (detached) grouped logits. */
static rerank_status loss_fn(const dims *z, size_t group_size, const float *teacher, acts *a, rr_train_loss *loss,
                             rerank_error *err) {
    size_t G = z->S / group_size;
    memset(loss, 0, sizeof *loss);
    const float *last = a->logits + (size_t)(z->n_out - 1) * z->S;
    for (int k = 0; k < z->n_out; k++) {
        const float *tk = teacher ? teacher : k < z->n_out - 1 ? last : NULL;
        rr_train_loss lk;
        rerank_status st =
            rr_train_group_loss(a->logits + (size_t)k * z->S, tk, G, group_size, a->dlogits + (size_t)k * z->S, &lk, err);
        if (st) return st;
        loss->ce += lk.ce;
        loss->kd += lk.kd;
        loss->loss += lk.loss;
    }
    return RERANK_OK;
}

static void zero(float *p, size_t n) { memset(p, 0, n * sizeof *p); }

/* Adds output k's head path to dx (d loss / d xs[layer]) and, for trained heads, to the head's gradient. */
static void head_bwd(rr_dec_trainer *d, const rr_batch *b, const dims *z, acts *a, int k, int layer) {
    const float *w = head_w(d, k);
    float *dw = d->spec->head == RR_DEC_HEAD_LAYERWISE && d->train_heads
                    ? d->base.grad + d->base.params[d->head_param + (size_t)k].offset
                    : NULL;
    for (size_t s = 0; s < z->S; s++) {
        size_t o = (size_t)k * z->S + s, t = b->offsets[s + 1] - 1;
        float g = a->dlogits[o];
        for (size_t e = 0; e < z->H; e++) a->dhn[e] = g * w[e];
        if (dw)
            for (size_t e = 0; e < z->H; e++) dw[e] += g * a->hn[o * z->H + e];
        rr_rmsnorm_bwd(a->dx + t * z->H, NULL, a->dhn, a->xs[layer] + t * z->H, d->o.final_norm, d->spec->norm_offset, 1,
                       d->c.hidden, d->c.eps);
    }
}

static void backward(rr_dec_trainer *d, const rr_batch *b, const dims *z, acts *a) {
    int n = (int)z->N, H = d->c.hidden, hd = d->c.head_dim, L = d->c.n_layers;
    float off = d->spec->norm_offset;
    size_t nh = z->N * z->H, nf = z->N * z->F, nq = z->N * z->QD, nk = z->N * z->KD;
    bool layerwise = d->spec->head == RR_DEC_HEAD_LAYERWISE;
    zero(a->dx, nh);
    head_bwd(d, b, z, a, z->n_out - 1, L);
    for (int l = L - 1; l >= 0; l--) {
        layer_acts *la = &a->layers[z->recompute ? 0 : l];
        if (z->recompute) layer_forward(d, b, z, a, l, la); /* the same floats as the forward's */
        rr_lora_linear lin[RR_LORA_N_MODULES];
        for (int m = 0; m < RR_LORA_N_MODULES; m++) lin[m] = linear(d, l, m, z->train, z->seed);
        bool need_dx = l > 0 || (layerwise && d->c.start_layer == 0); /* nothing below layer 0 trains */
        const float *dy = a->dx;
        /* MLP branch of xs[l+1] = xmid + res_scale * down(act(gate) * up). */
        if (d->c.res_scale != 1.0f) {
            zero(a->dtmp, nh);
            rr_scale_bwd(a->dtmp, a->dx, d->c.res_scale, nh);
            dy = a->dtmp;
        }
        zero(a->dh, nf);
        rr_lora_bwd(d->pool, &lin[RR_LORA_DOWN], a->dh, dy, la->h, la->u[RR_LORA_DOWN], a->lora, n);
        act_fwd(d, a->dup, la->gate, nf);             /* act(gate) */
        rr_mul_fwd(a->dup, a->dup, a->dh, nf);        /* d up = dh * act(gate) */
        rr_mul_fwd(a->dh, a->dh, la->up, nf);         /* d act(gate) = dh * up */
        zero(a->dgate, nf);
        act_bwd(d, a->dgate, a->dh, la->gate, nf);
        zero(a->dxn, nh);
        rr_lora_bwd(d->pool, &lin[RR_LORA_GATE], a->dxn, a->dgate, la->xn2, la->u[RR_LORA_GATE], a->lora, n);
        rr_lora_bwd(d->pool, &lin[RR_LORA_UP], a->dxn, a->dup, la->xn2, la->u[RR_LORA_UP], a->lora, n);
        rr_rmsnorm_bwd(a->dx, NULL, a->dxn, la->xmid, d->layers[l].ln2, off, n, H, d->c.eps); /* dx: d xmid */
        /* Attention branch of xmid = xs[l] + res_scale * o(attn(rope(q), rope(k), v)). */
        dy = a->dx;
        if (d->c.res_scale != 1.0f) {
            zero(a->dtmp, nh);
            rr_scale_bwd(a->dtmp, a->dx, d->c.res_scale, nh);
            dy = a->dtmp;
        }
        zero(a->datt, nq);
        rr_lora_bwd(d->pool, &lin[RR_LORA_O], a->datt, dy, la->att, la->u[RR_LORA_O], a->lora, n);
        zero(a->dq, nq), zero(a->dk, nk), zero(a->dv, nk);
        attn_job job = {d, b, z, a, la};
        rr_pool_run(d->pool, attn_bwd_task, &job, (int)z->S);
        float *dq = a->dq, *dk = a->dk;
        if (la->qp) {
            zero(a->dqp, nq), zero(a->dkp, nk);
            rr_rmsnorm_bwd(a->dqp, NULL, a->dq, la->qp, d->layers[l].q_norm, off, n * d->c.n_heads, hd, d->c.eps);
            rr_rmsnorm_bwd(a->dkp, NULL, a->dk, la->kp, d->layers[l].k_norm, off, n * d->c.n_kv_heads, hd, d->c.eps);
            dq = a->dqp, dk = a->dkp;
        }
        float *dxn = need_dx ? a->dxn : NULL;
        if (dxn) zero(dxn, nh);
        rr_lora_bwd(d->pool, &lin[RR_LORA_Q], dxn, dq, la->xn1, la->u[RR_LORA_Q], a->lora, n);
        rr_lora_bwd(d->pool, &lin[RR_LORA_K], dxn, dk, la->xn1, la->u[RR_LORA_K], a->lora, n);
        rr_lora_bwd(d->pool, &lin[RR_LORA_V], dxn, a->dv, la->xn1, la->u[RR_LORA_V], a->lora, n);
        if (!need_dx) break;
        rr_rmsnorm_bwd(a->dx, NULL, a->dxn, a->xs[l], d->layers[l].ln1, off, n, H, d->c.eps); /* dx: d xs[l] */
        if (layerwise && l >= d->c.start_layer) head_bwd(d, b, z, a, l - d->c.start_layer, l);
    }
}

rerank_status rr_dt_pass(rr_dec_trainer *d, const rr_batch *b, size_t group_size, const float *teacher, bool backward_,
                         bool train, unsigned long long sample_seed, float scale, float *scores, rr_train_loss *loss,
                         rerank_error *err) {
    dims z = {0};
    if (backward_ && !group_size) return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "a backward pass needs groups");
    rerank_status st = check_batch(d, b, group_size, &z, err);
    if (st) return st;
    z.train = train;
    z.seed = sample_seed;
    z.threads = (size_t)rr_pool_size(d->pool);
    /* Keeping every layer's activations costs about this many bytes; above d->recompute_bytes only the layer
     * inputs are kept (FlagEmbedding trains with gradient checkpointing too). */
    double per_layer = (double)z.N * (double)(4 * z.H + 4 * z.QD + 3 * z.KD + 3 * z.F + RR_LORA_N_MODULES * z.r);
    z.recompute = backward_ && per_layer * d->c.n_layers * sizeof(float) > d->recompute_bytes;
    acts a;
    if ((st = acts_alloc(&a, d, &z, backward_, err))) return st;
    forward(d, b, &z, &a);
    if (scores)
        for (size_t s = 0; s < z.S; s++)
            for (int k = 0; k < z.n_out; k++) scores[s * (size_t)z.n_out + (size_t)k] = a.logits[(size_t)k * z.S + s];
    if (group_size) {
        rr_train_loss tmp;
        st = loss_fn(&z, group_size, teacher, &a, loss ? loss : &tmp, err);
    }
    if (!st && backward_) {
        size_t no = (size_t)z.n_out * z.S;
        for (size_t i = 0; i < no; i++) a.dlogits[i] *= scale;
        backward(d, b, &z, &a);
    }
    acts_free(&a);
    return st;
}
