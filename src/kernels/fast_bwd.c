/* fast_bwd.c - the training pass's fast kernels (kernels_bwd.h): dense layers and attention through rr_sgemm,
 * LayerNorm / GELU backward threaded over rows, and the counter-based dropout masks. Work is split into tasks
 * whose boundaries do not depend on the pool's size, so results are the same on any number of threads. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/threadpool.h"
#include "kernels/kernels_bwd.h"

/* ---------------------------------------------------------------------------------------------- dense */

void rr_dense_fwd(rr_pool *pool, float *y, const float *x, const float *w, const float *b, const float *res, int n,
                  int in, int out) {
    size_t no = (size_t)out;
    /* Start from bias (+ residual) and let the product accumulate onto it (beta = 1). */
    for (int r = 0; r < n; r++) {
        float *yr = y + (size_t)r * no;
        const float *rr = res ? res + (size_t)r * no : NULL;
        if (b && rr)
            for (size_t o = 0; o < no; o++) yr[o] = rr[o] + b[o];
        else if (b) memcpy(yr, b, no * sizeof *yr);
        else if (rr) {
            if (rr != yr) memcpy(yr, rr, no * sizeof *yr);
        } else memset(yr, 0, no * sizeof *yr);
    }
    rr_sgemm(pool, false, true, n, out, in, 1.0f, x, in, w, in, 1.0f, y, out);
}

typedef struct colsum_job {
    const float *dy;
    float *db;
    int n, out;
} colsum_job;

enum { COLS = 64 };

static void colsum_task(void *ctx, int task, int thread) {
    (void)thread;
    const colsum_job *j = ctx;
    int c0 = task * COLS, c1 = c0 + COLS < j->out ? c0 + COLS : j->out;
    double acc[COLS] = {0};
    for (int r = 0; r < j->n; r++) {
        const float *row = j->dy + (size_t)r * (size_t)j->out;
        for (int c = c0; c < c1; c++) acc[c - c0] += row[c];
    }
    for (int c = c0; c < c1; c++) j->db[c] += (float)acc[c - c0];
}

void rr_dense_bwd(rr_pool *pool, float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                  int n, int in, int out) {
    if (n <= 0) return;
    if (dx) rr_sgemm(pool, false, false, n, in, out, 1.0f, dy, out, w, in, 1.0f, dx, in);
    if (dw) rr_sgemm(pool, true, false, out, in, n, 1.0f, dy, out, x, in, 1.0f, dw, in);
    if (db) {
        colsum_job j = {dy, db, n, out};
        rr_pool_run(pool, colsum_task, &j, (out + COLS - 1) / COLS);
    }
}

/* ------------------------------------------------------------------------------------------ layernorm */

enum { LN_BLOCKS = 16 }; /* dw/db partial sums per fixed block of rows, then summed in block order */

size_t rr_layernorm_bwd_fast_scratch(int dim) { return (size_t)LN_BLOCKS * 2 * (size_t)(dim > 0 ? dim : 0); }

typedef struct ln_job {
    float *scratch, *dx;
    const float *dy, *x, *w;
    int n, dim, rows_per_block;
    float eps;
    bool want_wb;
} ln_job;

static void ln_task(void *ctx, int task, int thread) {
    (void)thread;
    const ln_job *j = ctx;
    size_t dim = (size_t)j->dim;
    float *pw = j->scratch + (size_t)task * 2 * dim, *pb = pw + dim;
    memset(pw, 0, 2 * dim * sizeof *pw);
    int r0 = task * j->rows_per_block, r1 = r0 + j->rows_per_block < j->n ? r0 + j->rows_per_block : j->n;
    for (int r = r0; r < r1; r++) {
        const float *xr = j->x + (size_t)r * dim, *dyr = j->dy + (size_t)r * dim;
        float *dxr = j->dx + (size_t)r * dim;
        /* Statistics exactly as rr_layernorm_fwd computes them. */
        double sum = 0.0, sq = 0.0;
        for (size_t i = 0; i < dim; i++) sum += xr[i];
        double mean = sum / (double)dim;
        for (size_t i = 0; i < dim; i++) sq += (xr[i] - mean) * (xr[i] - mean);
        float m = (float)mean, rstd = (float)(1.0 / sqrt(sq / (double)dim + (double)j->eps));
        double m1 = 0.0, m2 = 0.0;
        for (size_t i = 0; i < dim; i++) {
            float xhat = (xr[i] - m) * rstd, g = dyr[i] * j->w[i];
            m1 += g;
            m2 += (double)g * xhat;
        }
        float a = (float)(m1 / (double)dim), c = (float)(m2 / (double)dim);
        for (size_t i = 0; i < dim; i++) {
            float xhat = (xr[i] - m) * rstd;
            dxr[i] += rstd * (dyr[i] * j->w[i] - a - xhat * c);
            pw[i] += dyr[i] * xhat;
            pb[i] += dyr[i];
        }
    }
}

void rr_layernorm_bwd_fast(rr_pool *pool, float *scratch, float *dx, float *dw, float *db, const float *dy,
                           const float *x, const float *w, int n, int dim, float eps) {
    if (n <= 0 || dim <= 0) return;
    int rows = (n + LN_BLOCKS - 1) / LN_BLOCKS, blocks = (n + rows - 1) / rows;
    ln_job j = {scratch, dx, dy, x, w, n, dim, rows, eps, dw || db};
    rr_pool_run(pool, ln_task, &j, blocks);
    size_t d = (size_t)dim;
    for (int b = 0; b < blocks; b++) {
        const float *pw = scratch + (size_t)b * 2 * d, *pb = pw + d;
        if (dw)
            for (size_t i = 0; i < d; i++) dw[i] += pw[i];
        if (db)
            for (size_t i = 0; i < d; i++) db[i] += pb[i];
    }
}

/* ----------------------------------------------------------------------------------------------- gelu */

typedef struct ew_job {
    float *dx;
    const float *dy, *x;
    size_t n, per_task;
} ew_job;

static void gelu_task(void *ctx, int task, int thread) {
    (void)thread;
    const ew_job *j = ctx;
    size_t a = (size_t)task * j->per_task, z = a + j->per_task < j->n ? a + j->per_task : j->n;
    for (size_t i = a; i < z; i++) {
        float v = j->x[i], cdf = 0.5f * (1.0f + erff(v * (float)M_SQRT1_2));
        float pdf = expf(-0.5f * v * v) * (float)(0.5 * M_2_SQRTPI * M_SQRT1_2);
        j->dx[i] += j->dy[i] * (cdf + v * pdf);
    }
}

void rr_gelu_bwd_fast(rr_pool *pool, float *dx, const float *dy, const float *x, size_t n) {
    size_t per = 16384;
    ew_job j = {dx, dy, x, n, per};
    rr_pool_run(pool, gelu_task, &j, (int)((n + per - 1) / per));
}

/* -------------------------------------------------------------------------------------------- dropout */

uint64_t rr_dropout_key(unsigned long long seed, unsigned site, size_t seq) {
    return rr_dropout_mix(rr_dropout_mix(rr_dropout_mix((uint64_t)seed) ^ site) ^ (uint64_t)seq);
}

void rr_dropout_rows(float *x, int n_tokens, int dim, int ld, uint64_t key, float p) {
    if (p <= 0.0f) return;
    float scale = 1.0f / (1.0f - p);
    for (int t = 0; t < n_tokens; t++) {
        float *row = x + (size_t)t * (size_t)ld;
        for (int e = 0; e < dim; e++) row[e] = rr_dropout_keep(key, (uint32_t)t, (uint32_t)e, p) ? row[e] * scale : 0.0f;
    }
}

/* ------------------------------------------------------------------------------------------ attention */

size_t rr_attention_train_scratch(int n_threads, int longest) {
    size_t t = (size_t)(longest > 0 ? longest : 0);
    return (size_t)(n_threads > 0 ? n_threads : 1) * 2 * t * t;
}

typedef struct attn_job {
    float *scratch, *out, *dq, *dk, *dv;
    const float *q, *k, *v, *dout;
    const size_t *offsets;
    const rr_attn_shape *s;
    size_t per_thread;
    rr_dropout_at drop; /* p == 0: none */
} attn_job;

/* P = softmax(q_h · k_h^T / sqrt(hd)) for one (sequence, head), into p [T,T]. */
static void attn_probs(const attn_job *j, size_t seq, int h, float *p, int T) {
    const rr_attn_shape *s = j->s;
    size_t r0 = j->offsets[seq];
    int kvh = h / (s->n_heads / s->n_kv_heads);
    const float *q = j->q + r0 * (size_t)s->ld_q + (size_t)h * (size_t)s->head_dim;
    const float *k = j->k + r0 * (size_t)s->ld_kv + (size_t)kvh * (size_t)s->head_dim;
    rr_sgemm(NULL, false, true, T, T, s->head_dim, 1.0f / sqrtf((float)s->head_dim), q, s->ld_q, k, s->ld_kv, 0.0f, p, T);
    rr_softmax_fwd(p, T, T);
}

/* x[T,T] *= mask / (1 - p) of (sequence, head). */
static void attn_dropout(const attn_job *j, size_t seq, int h, float *x, int T) {
    uint64_t key = rr_dropout_key(j->drop.seed, j->drop.site, j->drop.seq0 + seq);
    float p_drop = j->drop.p, scale = 1.0f / (1.0f - p_drop);
    for (int i = 0; i < T; i++)
        for (int c = 0; c < T; c++) {
            float *e = x + (size_t)i * (size_t)T + (size_t)c;
            *e = rr_dropout_keep(key, (uint32_t)i, (uint32_t)(h * T + c), p_drop) ? *e * scale : 0.0f;
        }
}

/* Scratch floats of one thread: 2 x longest^2 (rr_attention_train_scratch). */
static size_t per_thread(const size_t *offsets, size_t n_seqs) {
    size_t longest = 0;
    for (size_t i = 0; i < n_seqs; i++) longest = offsets[i + 1] - offsets[i] > longest ? offsets[i + 1] - offsets[i] : longest;
    return 2 * longest * longest;
}

static rr_dropout_at no_drop(const rr_dropout_at *d) {
    rr_dropout_at none = {0.0f, 0, 0, 0};
    return d && d->p > 0.0f ? *d : none;
}

static void attn_fwd_task(void *ctx, int task, int thread) {
    const attn_job *j = ctx;
    const rr_attn_shape *s = j->s;
    size_t seq = (size_t)task / (size_t)s->n_heads, r0 = j->offsets[seq];
    int h = task % s->n_heads, T = (int)(j->offsets[seq + 1] - r0), kvh = h / (s->n_heads / s->n_kv_heads);
    float *p = j->scratch + (size_t)thread * j->per_thread;
    attn_probs(j, seq, h, p, T);
    if (j->drop.p > 0.0f) attn_dropout(j, seq, h, p, T);
    const float *v = j->v + r0 * (size_t)s->ld_kv + (size_t)kvh * (size_t)s->head_dim;
    float *o = j->out + r0 * (size_t)s->ld_out + (size_t)h * (size_t)s->head_dim;
    rr_sgemm(NULL, false, false, T, s->head_dim, T, 1.0f, p, T, v, s->ld_kv, 0.0f, o, s->ld_out);
}

void rr_attention_train_fwd(rr_pool *pool, float *scratch, float *out, const float *q, const float *k,
                            const float *v, const size_t *offsets, size_t n_seqs, const rr_attn_shape *s,
                            const rr_dropout_at *drop) {
    attn_job j = {scratch, out, NULL, NULL, NULL, q, k, v, NULL, offsets, s, per_thread(offsets, n_seqs), no_drop(drop)};
    rr_pool_run(pool, attn_fwd_task, &j, (int)(n_seqs * (size_t)s->n_heads));
}

static void attn_bwd_task(void *ctx, int task, int thread) {
    const attn_job *j = ctx;
    const rr_attn_shape *s = j->s;
    size_t seq = (size_t)task / (size_t)s->n_heads, r0 = j->offsets[seq];
    int h = task % s->n_heads, T = (int)(j->offsets[seq + 1] - r0), kvh = h / (s->n_heads / s->n_kv_heads);
    int hd = s->head_dim;
    size_t qo = r0 * (size_t)s->ld_q + (size_t)h * (size_t)hd, kvo = r0 * (size_t)s->ld_kv + (size_t)kvh * (size_t)hd;
    size_t oo = r0 * (size_t)s->ld_out + (size_t)h * (size_t)hd, TT = (size_t)T * (size_t)T;
    float *p = j->scratch + (size_t)thread * j->per_thread, *g = p + TT;
    const float *dout = j->dout + oo;
    attn_probs(j, seq, h, p, T);
    /* dV += P_dropped^T · dout; g = dout · V^T is d loss / d P_dropped, then (mask) d loss / d P. */
    if (j->drop.p > 0.0f) {
        memcpy(g, p, TT * sizeof *g);
        attn_dropout(j, seq, h, g, T);
        rr_sgemm(NULL, true, false, T, hd, T, 1.0f, g, T, dout, s->ld_out, 1.0f, j->dv + kvo, s->ld_kv);
    } else rr_sgemm(NULL, true, false, T, hd, T, 1.0f, p, T, dout, s->ld_out, 1.0f, j->dv + kvo, s->ld_kv);
    rr_sgemm(NULL, false, true, T, T, hd, 1.0f, dout, s->ld_out, j->v + kvo, s->ld_kv, 0.0f, g, T);
    if (j->drop.p > 0.0f) attn_dropout(j, seq, h, g, T);
    /* Softmax backward per row: dS = P * (dP - sum(dP * P)). */
    for (int i = 0; i < T; i++) {
        float *gi = g + (size_t)i * (size_t)T;
        const float *pi = p + (size_t)i * (size_t)T;
        double dot = 0.0;
        for (int c = 0; c < T; c++) dot += (double)gi[c] * pi[c];
        float dd = (float)dot;
        for (int c = 0; c < T; c++) gi[c] = pi[c] * (gi[c] - dd);
    }
    float scale = 1.0f / sqrtf((float)hd);
    rr_sgemm(NULL, false, false, T, hd, T, scale, g, T, j->k + kvo, s->ld_kv, 1.0f, j->dq + qo, s->ld_q);
    rr_sgemm(NULL, true, false, T, hd, T, scale, g, T, j->q + qo, s->ld_q, 1.0f, j->dk + kvo, s->ld_kv);
}

void rr_attention_train_bwd(rr_pool *pool, float *scratch, float *dq, float *dk, float *dv, const float *dout,
                            const float *q, const float *k, const float *v, const size_t *offsets, size_t n_seqs,
                            const rr_attn_shape *s, const rr_dropout_at *drop) {
    attn_job j = {scratch, NULL, dq, dk, dv, q, k, v, dout, offsets, s, per_thread(offsets, n_seqs), no_drop(drop)};
    /* With grouped key/value heads, query heads of one group write the same dk/dv slice: run them in one task. */
    if (s->n_kv_heads != s->n_heads) {
        for (int t = 0; t < (int)(n_seqs * (size_t)s->n_heads); t++) attn_bwd_task(&j, t, 0);
        return;
    }
    rr_pool_run(pool, attn_bwd_task, &j, (int)(n_seqs * (size_t)s->n_heads));
}
