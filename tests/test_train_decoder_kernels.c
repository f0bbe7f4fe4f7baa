/* test_train_decoder_kernels.c - finite-difference checks of the decoder backward kernels (ref_decoder_bwd.c):
 * the analytic gradient of L = sum(r * f(inputs)) for a random r against double-precision central
 * differences of the float forward kernel (RMSNorm with both weight offsets, RoPE, SiLU, tanh GELU,
 * scaling, and causal multi-query attention at a decoder's shape), and that gradients accumulate. */
#include "kernels/kernels_bwd.h"
#include "test.h"

static unsigned long long rng = 0x2545f4914f6cdd1dull;
static float frand(void) { /* uniform in [-1, 1) */
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}
static float *rand_vec(size_t n, float scale) {
    float *v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++) v[i] = frand() * scale;
    return v;
}

typedef double (*objective)(void *ctx);

/* Worst |analytic - numeric| / max(1, |numeric|) over the n elements of x (each perturbed by +-h). */
static double fd_check(objective f, void *ctx, float *x, const float *analytic, size_t n, float h) {
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        float x0 = x[i];
        x[i] = x0 + h;
        double hi = (double)x[i] - x0, fp = f(ctx);
        x[i] = x0 - h;
        double lo = (double)x0 - x[i], fm = f(ctx);
        x[i] = x0;
        double num = (fp - fm) / (hi + lo), d = fabs(analytic[i] - num) / (fabs(num) > 1.0 ? fabs(num) : 1.0);
        if (d > worst) worst = d;
    }
    return worst;
}

static double dotd(const float *a, const float *r, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * r[i];
    return s;
}

/* ---- RMSNorm (Llama x*w and Gemma x*(1+w)) ---- */
typedef struct { float *x, *w, *y, *r, off; int n, dim; } rms_ctx;
static double rms_f(void *c) {
    rms_ctx *m = c;
    rr_rmsnorm_fwd(m->y, m->x, m->w, m->off, m->n, m->dim, 1e-6f);
    return dotd(m->y, m->r, (size_t)m->n * m->dim);
}
TEST(train_dec_bwd_rmsnorm_fd) {
    for (int gemma = 0; gemma < 2; gemma++) {
        rms_ctx m = {.n = 4, .dim = 16, .off = gemma ? 1.0f : 0.0f};
        m.x = rand_vec(64, 2), m.w = rand_vec(16, 1), m.y = rand_vec(64, 0), m.r = rand_vec(64, 1);
        float *dx = calloc(64, 4), *dw = calloc(16, 4);
        rr_rmsnorm_bwd(dx, dw, m.r, m.x, m.w, m.off, m.n, m.dim, 1e-6f);
        CHECK(fd_check(rms_f, &m, m.x, dx, 64, 1e-2f) < 2e-3, "offset %g", m.off);
        CHECK(fd_check(rms_f, &m, m.w, dw, 16, 1e-2f) < 1e-3, "offset %g", m.off);
        float dx0 = dx[5], dw0 = dw[3];
        rr_rmsnorm_bwd(dx, dw, m.r, m.x, m.w, m.off, m.n, m.dim, 1e-6f);
        CHECK_NEAR(dx[5], 2 * dx0, 1e-6);
        CHECK_NEAR(dw[3], 2 * dw0, 1e-6);
        rr_rmsnorm_bwd(dx, NULL, m.r, m.x, m.w, m.off, m.n, m.dim, 1e-6f); /* dw optional */
        free(m.x), free(m.w), free(m.y), free(m.r), free(dx), free(dw);
    }
}

/* ---- RoPE (strided rows, several heads, positions 0..T-1) ---- */
typedef struct { float *x, *y, *r, *cos_t, *sin_t; int T, nh, hd, ld; } rope_ctx;
static double rope_f(void *c) {
    rope_ctx *m = c;
    size_t n = (size_t)m->T * m->ld;
    memcpy(m->y, m->x, n * sizeof *m->y);
    rr_rope_fwd(m->y, m->cos_t, m->sin_t, m->T, m->nh, m->hd, m->ld);
    return dotd(m->y, m->r, n);
}
TEST(train_dec_bwd_rope_fd) {
    rope_ctx m = {.T = 6, .nh = 2, .hd = 8, .ld = 19};
    size_t n = (size_t)m.T * m.ld;
    m.x = rand_vec(n, 1), m.y = rand_vec(n, 0), m.r = rand_vec(n, 1);
    m.cos_t = malloc(6 * 4 * sizeof(float)), m.sin_t = malloc(6 * 4 * sizeof(float));
    rr_rope_table(m.cos_t, m.sin_t, m.T, m.hd, 10000.0f);
    float *dx = malloc(n * sizeof *dx);
    memcpy(dx, m.r, n * sizeof *dx);
    rr_rope_bwd(dx, m.cos_t, m.sin_t, m.T, m.nh, m.hd, m.ld);
    CHECK(fd_check(rope_f, &m, m.x, dx, n, 1e-2f) < 1e-3);
    free(m.x), free(m.y), free(m.r), free(m.cos_t), free(m.sin_t), free(dx);
}

/* ---- element-wise: SiLU, tanh GELU, scaling ---- */
typedef struct { float *x, *y, *r; size_t n; int which; } ew_ctx;
static double ew_f(void *c) {
    ew_ctx *m = c;
    if (m->which == 0) rr_silu_fwd(m->y, m->x, m->n);
    else if (m->which == 1) rr_gelu_tanh_fwd(m->y, m->x, m->n);
    else rr_scale_fwd(m->y, m->x, 8.0f, m->n);
    return dotd(m->y, m->r, m->n);
}
TEST(train_dec_bwd_elementwise_fd) {
    static const char *names[] = {"silu", "gelu_tanh", "scale"};
    for (int which = 0; which < 3; which++) {
        ew_ctx m = {.n = 50, .which = which};
        m.x = rand_vec(50, 4), m.y = rand_vec(50, 0), m.r = rand_vec(50, 1);
        float *dx = calloc(50, 4);
        if (which == 0) rr_silu_bwd(dx, m.r, m.x, m.n);
        else if (which == 1) rr_gelu_tanh_bwd(dx, m.r, m.x, m.n);
        else rr_scale_bwd(dx, m.r, 8.0f, m.n);
        CHECK(fd_check(ew_f, &m, m.x, dx, 50, 1e-2f) < 1e-3, "%s", names[which]);
        float d0 = dx[7];
        if (which == 0) rr_silu_bwd(dx, m.r, m.x, m.n);
        else if (which == 1) rr_gelu_tanh_bwd(dx, m.r, m.x, m.n);
        else rr_scale_bwd(dx, m.r, 8.0f, m.n);
        CHECK(fabs(dx[7] - 2 * d0) <= 1e-5 * (1 + fabs(d0)), "%s accumulates", names[which]);
        free(m.x), free(m.y), free(m.r), free(dx);
    }
}

/* ---- causal multi-query attention at Gemma's shape (4 query heads on 1 key/value head, head_dim 16) ---- */
typedef struct { float *q, *k, *v, *out, *scores, *r; rr_attn_shape s; } at_ctx;
static double at_f(void *c) {
    at_ctx *m = c;
    rr_attention_fwd(m->out, m->q, m->k, m->v, m->scores, &m->s);
    return dotd(m->out, m->r, (size_t)m->s.n_tokens * m->s.ld_out);
}
TEST(train_dec_bwd_attention_mqa_fd) {
    int T = 7, nh = 4, nkv = 1, hd = 16;
    at_ctx m = {.s = {T, nh, nkv, hd, nh * hd, nkv * hd, nh * hd, true}};
    size_t nq = (size_t)T * m.s.ld_q, nk = (size_t)T * m.s.ld_kv;
    m.q = rand_vec(nq, 1), m.k = rand_vec(nk, 1), m.v = rand_vec(nk, 1), m.out = rand_vec(nq, 0);
    m.r = rand_vec(nq, 1), m.scores = rand_vec((size_t)T, 0);
    float *dq = calloc(nq, 4), *dk = calloc(nk, 4), *dv = calloc(nk, 4);
    float *scratch = malloc(rr_attention_bwd_scratch(T) * sizeof *scratch);
    rr_attention_bwd(dq, dk, dv, m.r, m.q, m.k, m.v, scratch, &m.s);
    CHECK(fd_check(at_f, &m, m.q, dq, nq, 1e-2f) < 2e-3);
    CHECK(fd_check(at_f, &m, m.k, dk, nk, 1e-2f) < 2e-3);
    CHECK(fd_check(at_f, &m, m.v, dv, nk, 1e-2f) < 2e-3);
    free(m.q), free(m.k), free(m.v), free(m.out), free(m.r), free(m.scores), free(dq), free(dk), free(dv), free(scratch);
}
