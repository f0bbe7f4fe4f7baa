/* optim.c - AdamW, gradient clipping and the linear schedule over a flat parameter table; see optim.h. */
#include "train/optim.h"

#include <math.h>
#include <stdlib.h>

#include "base/error.h"

rerank_status rr_adamw_init(rr_adamw *s, size_t n_floats, rerank_error *err) {
    s->n = n_floats;
    s->step = 0;
    s->m = calloc(n_floats ? n_floats : 1, sizeof *s->m);
    s->v = calloc(n_floats ? n_floats : 1, sizeof *s->v);
    if (!s->m || !s->v) {
        rr_adamw_free(s);
        return rr_fail(err, RERANK_ERR_NOMEM, "out of memory for the AdamW state of %zu parameters", n_floats);
    }
    return RERANK_OK;
}

void rr_adamw_free(rr_adamw *s) {
    free(s->m);
    free(s->v);
    s->m = s->v = NULL;
}

rerank_status rr_adamw_check(const rr_train_adamw_opts *o, rerank_error *err) {
    if (!(o->lr >= 0.0) || !(o->beta1 >= 0.0 && o->beta1 < 1.0) || !(o->beta2 >= 0.0 && o->beta2 < 1.0) ||
        !(o->eps >= 0.0) || !(o->weight_decay >= 0.0))
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "AdamW: lr, eps, weight_decay must be >= 0, betas in [0, 1)");
    return RERANK_OK;
}

void rr_adamw_apply(const rr_train_param *params, size_t n_params, float *w, const float *g, float *m, float *v,
                    long step, const rr_train_adamw_opts *o) {
    double bc1 = 1.0 - pow(o->beta1, (double)step), bc2 = 1.0 - pow(o->beta2, (double)step);
    double step_size = o->lr / bc1, sqrt_bc2 = sqrt(bc2);
    for (size_t k = 0; k < n_params; k++) {
        const rr_train_param *p = &params[k];
        double decay = (o->decay_all || !p->no_decay) ? 1.0 - o->lr * o->weight_decay : 1.0;
        float *ww = w + p->offset, *mm = m + p->offset, *vv = v + p->offset;
        const float *gg = g + p->offset;
        for (size_t i = 0; i < p->size; i++) {
            double gi = gg[i], mi = o->beta1 * mm[i] + (1.0 - o->beta1) * gi;
            double vi = o->beta2 * vv[i] + (1.0 - o->beta2) * gi * gi;
            mm[i] = (float)mi;
            vv[i] = (float)vi;
            ww[i] = (float)(ww[i] * decay - step_size * mi / (sqrt(vi) / sqrt_bc2 + o->eps));
        }
    }
}

void rr_adamw_step(rr_adamw *s, const rr_train_param *params, size_t n_params, float *w, const float *g,
                   const rr_train_adamw_opts *o) {
    s->step++;
    rr_adamw_apply(params, n_params, w, g, s->m, s->v, s->step, o);
}

double rr_clip_grad_norm(float *g, size_t n, double max_norm) {
    double sq = 0.0;
    for (size_t i = 0; i < n; i++) sq += (double)g[i] * g[i];
    double norm = sqrt(sq);
    if (max_norm > 0.0) {
        double c = max_norm / (norm + 1e-6);
        if (c < 1.0)
            for (size_t i = 0; i < n; i++) g[i] = (float)(g[i] * c);
    }
    return norm;
}

double rr_lr_at(double lr, long step, long warmup, long total) {
    if (step < warmup) return lr * (double)step / (double)(warmup > 1 ? warmup : 1);
    double f = (double)(total - step) / (double)(total - warmup > 1 ? total - warmup : 1);
    return lr * (f > 0.0 ? f : 0.0);
}

long rr_warmup_steps(double ratio, long total) {
    if (!(ratio > 0.0)) return 0;
    return (long)ceil(ratio * (double)total);
}
