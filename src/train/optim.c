/* optim.c - AdamW, gradient clipping and the linear schedule over a flat parameter table; see optim.h. */
#include "train/optim.h"

#include <math.h>
#include <stdlib.h>

#include "base/error.h"
#include "base/threadpool.h"

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

/* Both passes work in fixed chunks of the flat table, so their results (the norm's partial sums included) do
 * not depend on how many threads run them. */
enum { CHUNK = 1 << 16 };

typedef struct adamw_job {
    const rr_train_param *params;
    size_t n_params;
    float *w, *m, *v;
    const float *g;
    const rr_train_adamw_opts *o;
    double step_size, sqrt_bc2;
    size_t n;
} adamw_job;

static void adamw_task(void *ctx, int task, int thread) {
    (void)thread;
    const adamw_job *j = ctx;
    const rr_train_adamw_opts *o = j->o;
    size_t lo = (size_t)task * CHUNK, hi = lo + CHUNK < j->n ? lo + CHUNK : j->n;
    for (size_t k = 0; k < j->n_params; k++) {
        const rr_train_param *p = &j->params[k];
        size_t a = p->offset > lo ? p->offset : lo, b = p->offset + p->size < hi ? p->offset + p->size : hi;
        if (a >= b) continue;
        double decay = (o->decay_all || !p->no_decay) ? 1.0 - o->lr * o->weight_decay : 1.0;
        for (size_t i = a; i < b; i++) {
            double gi = j->g[i], mi = o->beta1 * j->m[i] + (1.0 - o->beta1) * gi;
            double vi = o->beta2 * j->v[i] + (1.0 - o->beta2) * gi * gi;
            j->m[i] = (float)mi;
            j->v[i] = (float)vi;
            j->w[i] = (float)(j->w[i] * decay - j->step_size * mi / (sqrt(vi) / j->sqrt_bc2 + o->eps));
        }
    }
}

void rr_adamw_apply(rr_pool *pool, const rr_train_param *params, size_t n_params, float *w, const float *g, float *m,
                    float *v, long step, const rr_train_adamw_opts *o) {
    double bc1 = 1.0 - pow(o->beta1, (double)step), bc2 = 1.0 - pow(o->beta2, (double)step);
    size_t n = 0;
    for (size_t k = 0; k < n_params; k++)
        if (params[k].offset + params[k].size > n) n = params[k].offset + params[k].size;
    adamw_job j = {params, n_params, w, m, v, g, o, o->lr / bc1, sqrt(bc2), n};
    rr_pool_run(pool, adamw_task, &j, (int)((n + CHUNK - 1) / CHUNK));
}

void rr_adamw_step(rr_pool *pool, rr_adamw *s, const rr_train_param *params, size_t n_params, float *w,
                   const float *g, const rr_train_adamw_opts *o) {
    s->step++;
    rr_adamw_apply(pool, params, n_params, w, g, s->m, s->v, s->step, o);
}

typedef struct norm_job {
    float *g;
    size_t n;
    double *partial; /* one sum of squares per chunk */
    double scale;    /* the clipping pass: g *= scale */
} norm_job;

static void sumsq_task(void *ctx, int task, int thread) {
    (void)thread;
    const norm_job *j = ctx;
    size_t lo = (size_t)task * CHUNK, hi = lo + CHUNK < j->n ? lo + CHUNK : j->n;
    double sq = 0.0;
    for (size_t i = lo; i < hi; i++) sq += (double)j->g[i] * j->g[i];
    j->partial[task] = sq;
}

static void scale_task(void *ctx, int task, int thread) {
    (void)thread;
    const norm_job *j = ctx;
    size_t lo = (size_t)task * CHUNK, hi = lo + CHUNK < j->n ? lo + CHUNK : j->n;
    for (size_t i = lo; i < hi; i++) j->g[i] = (float)(j->g[i] * j->scale);
}

double rr_clip_grad_norm(rr_pool *pool, float *g, size_t n, double max_norm) {
    size_t chunks = (n + CHUNK - 1) / CHUNK;
    double *partial = calloc(chunks ? chunks : 1, sizeof *partial), sq = 0.0;
    norm_job j = {g, n, partial, 1.0};
    if (partial) {
        rr_pool_run(pool, sumsq_task, &j, (int)chunks);
        for (size_t c = 0; c < chunks; c++) sq += partial[c]; /* in chunk order: thread-count independent */
    } else
        for (size_t i = 0; i < n; i++) sq += (double)g[i] * g[i];
    free(partial);
    double norm = sqrt(sq);
    if (max_norm > 0.0) {
        double c = max_norm / (norm + 1e-6);
        if (c < 1.0) {
            j.scale = c;
            rr_pool_run(pool, scale_task, &j, (int)chunks);
        }
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
