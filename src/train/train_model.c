/* train_model.c - the trainable encoder's parameter table (one layout for weights, gradients and AdamW
 * moments), loading fp32 master weights from a model directory, the group-wise CE/KD loss, gradient-norm
 * clipping and AdamW (both through optim.c, which the training loop uses too). The forward/backward pass is
 * in train_encoder.c. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/threadpool.h"
#include "io/weights.h"
#include "train/optim.h"
#include "train/train_internal.h"

/* Parameter p: named by fmt, shape [d0] (d1 == 0) or [d0, d1], the next floats of every buffer. */
__attribute__((format(printf, 5, 6))) static void set_param(rr_train_param *p, size_t *at, int64_t d0, int64_t d1,
                                                            const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->name, sizeof p->name, fmt, ap);
    va_end(ap);
    p->n_dims = d1 ? 2 : 1;
    p->shape[0] = d0;
    p->shape[1] = d1;
    p->size = (size_t)d0 * (size_t)(d1 ? d1 : 1);
    p->offset = *at;
    *at += p->size;
    p->no_decay = d1 == 0; /* biases and LayerNorm weights/biases are exactly the 1-D tensors here */
}

/* Fills m->params from m->d and m->spec. With the bounds the config parser enforces the total stays below 2^48
 * floats. */
static rerank_status build_table(rr_train_model *m, rerank_error *err) {
    const rr_model_config *d = &m->d;
    const char *p = m->spec->prefix;
    m->n_params = rr_train_n_params(d->n_layers);
    m->params = calloc(m->n_params, sizeof *m->params);
    if (!m->params) return rr_fail(err, RERANK_ERR_NOMEM, "out of memory");
    size_t at = 0;
    rr_train_param *t = m->params;
    int64_t H = d->hidden;
    set_param(&t[RR_TP_WORD], &at, d->vocab, H, "%sembeddings.word_embeddings.weight", p);
    set_param(&t[RR_TP_POS], &at, d->max_pos, H, "%sembeddings.position_embeddings.weight", p);
    set_param(&t[RR_TP_TYPE], &at, d->type_vocab, H, "%sembeddings.token_type_embeddings.weight", p);
    set_param(&t[RR_TP_EMB_LN_W], &at, H, 0, "%sembeddings.LayerNorm.weight", p);
    set_param(&t[RR_TP_EMB_LN_B], &at, H, 0, "%sembeddings.LayerNorm.bias", p);
    /* every layer's tensors as scoring binds them: the encoder's layer table (arch.h), in its order */
    const rr_layer_table *tab = &rr_encoder_layers;
    char name[160];
    for (int l = 0; l < d->n_layers; l++)
        for (int k = 0; k < tab->n; k++) {
            rr_layer_tensor_name(tab, p, l, k, name, sizeof name);
            int64_t d1 = tab->t[k].d1 ? rr_config_dim(d, tab->t[k].d1) : 0;
            set_param(&t[rr_train_layer_param(l, k)], &at, rr_config_dim(d, tab->t[k].d0), d1, "%s", name);
        }
    size_t h = rr_train_head_param(d->n_layers, 0);
    set_param(&t[h + RR_TH_DENSE_W], &at, H, H, "%s.weight", m->spec->head_dense);
    set_param(&t[h + RR_TH_DENSE_B], &at, H, 0, "%s.bias", m->spec->head_dense);
    set_param(&t[h + RR_TH_OUT_W], &at, 1, H, "%s.weight", m->spec->head_out);
    set_param(&t[h + RR_TH_OUT_B], &at, 1, 0, "%s.bias", m->spec->head_out);
    m->n_floats = at;
    return RERANK_OK;
}

/* The hyper-parameters and spec, from config.json as scoring parses it; what only training reads is checked here. */
static rerank_status read_config(rr_train_model *m, const char *dir, rerank_error *err) {
    rr_model_config *d = &m->d;
    rerank_status st = rr_model_config_load(dir, d, err);
    if (st) return st;
    if (d->row->train != RR_TRAIN_FULL)
        return rr_fail(err, RERANK_ERR_UNSUPPORTED, "config.json: training supports encoder cross-encoders only, not '%s'",
                       d->row->architecture);
    if (!(d->p_hidden >= 0 && d->p_hidden < 1) || !(d->p_attn >= 0 && d->p_attn < 1))
        return rr_fail(err, RERANK_ERR_FORMAT, "config.json: dropout probabilities must be in [0, 1)");
    m->spec = d->row->spec;
    return RERANK_OK;
}

rerank_status rr_train_model_load(const char *dir, rr_train_model **out, rerank_error *err) {
    *out = NULL;
    rr_train_model *m = calloc(1, sizeof *m);
    if (!m) return rr_fail(err, RERANK_ERR_NOMEM, "out of memory");
    rr_weights *w = NULL;
    rerank_status st;
    if ((st = read_config(m, dir, err)) || (st = build_table(m, err)) || (st = rr_weights_open(dir, &w, err)))
        goto done;
    m->w = malloc(m->n_floats * sizeof *m->w);
    m->grad = calloc(m->n_floats, sizeof *m->grad);
    if (!m->w || !m->grad) {
        st = rr_fail(err, RERANK_ERR_NOMEM, "out of memory for %zu parameters", m->n_floats);
        goto done;
    }
    for (size_t i = 0; i < m->n_params; i++) {
        const rr_train_param *p = &m->params[i];
        const float *src;
        if ((st = rr_weights_require(w, p->name, p->shape, p->n_dims, &src, err))) goto done;
        memcpy(m->w + p->offset, src, p->size * sizeof *src);
    }
done:
    rr_weights_free(w);
    if (st) rr_train_model_free(m);
    else *out = m;
    return st;
}

void rr_train_model_free(rr_train_model *m) {
    if (!m) return;
    rr_pool_free(m->pool);
    free(m->work);
    free(m->params);
    free(m->w);
    free(m->grad);
    free(m->m);
    free(m->v);
    free(m);
}

const rr_train_param *rr_train_find(const rr_train_model *m, const char *name) {
    for (size_t i = 0; i < m->n_params; i++)
        if (strcmp(m->params[i].name, name) == 0) return &m->params[i];
    return NULL;
}

rerank_status rr_train_group_loss(const float *logits, const float *teacher, size_t n_groups, size_t group_size,
                                  float *dlogits, rr_train_loss *loss, rerank_error *err) {
    if (n_groups == 0 || group_size < 2)
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "loss needs at least one group of at least 2 (got %zu x %zu)",
                       n_groups, group_size);
    double ce = 0.0, kd = 0.0, G = (double)n_groups;
    for (size_t g = 0; g < n_groups; g++) {
        const float *z = logits + g * group_size, *t = teacher ? teacher + g * group_size : NULL;
        double mx = -INFINITY, tmx = -INFINITY, sum = 0.0, tsum = 0.0;
        for (size_t i = 0; i < group_size; i++) {
            mx = z[i] > mx ? z[i] : mx;
            if (t) tmx = t[i] > tmx ? t[i] : tmx;
        }
        for (size_t i = 0; i < group_size; i++) {
            sum += exp(z[i] - mx);
            if (t) tsum += exp(t[i] - tmx);
        }
        double lse = mx + log(sum);
        ce += lse - z[0];
        for (size_t i = 0; i < group_size; i++) {
            double p = exp(z[i] - lse), tp = t ? exp(t[i] - tmx) / tsum : 0.0;
            if (t) kd -= (z[i] - lse) * tp;
            /* d ce / dz = p - [i == 0]; d kd / dz = p * sum(tp) - tp = p - tp. */
            if (dlogits) dlogits[g * group_size + i] = (float)(((p - (i == 0)) + (t ? p - tp : 0.0)) / G);
        }
    }
    loss->ce = ce / G;
    loss->kd = kd / G;
    loss->loss = loss->ce + loss->kd;
    return RERANK_OK;
}

double rr_train_clip_grad_norm(rr_train_model *m, double max_norm) {
    return rr_clip_grad_norm(m->pool, m->grad, m->n_floats, max_norm);
}

rerank_status rr_train_adamw(rr_train_model *m, const rr_train_adamw_opts *o, rerank_error *err) {
    rerank_status st = rr_adamw_check(o, err);
    if (st) return st;
    if (!m->m) m->m = calloc(m->n_floats, sizeof *m->m);
    if (!m->v) m->v = calloc(m->n_floats, sizeof *m->v);
    if (!m->m || !m->v) return rr_fail(err, RERANK_ERR_NOMEM, "out of memory for AdamW state");
    m->step++;
    rr_adamw_apply(m->pool, m->params, m->n_params, m->w, m->grad, m->m, m->v, m->step, o);
    return RERANK_OK;
}
