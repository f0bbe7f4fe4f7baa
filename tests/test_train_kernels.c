/* test_train_kernels.c - finite-difference checks of every backward kernel (kernels_bwd.h): on small random
 * shapes, the analytic gradient of L = sum(r * f(inputs)) for a random r against double-precision central
 * differences of the float forward kernel, and that gradients accumulate. */
#include "kernels/kernels_bwd.h"
#include "test.h"

static unsigned long long rng = 0x9e3779b97f4a7c15ull;
static float frand(void) { /* uniform in [-1, 1) */
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}
static float *rand_vec(size_t n, float scale) {
    float *v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++) v[i] = frand() * scale;
    return v;
}

/* The objective: the forward kernel's output dotted with fixed weights r (in double). */
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

/* ---- matmul ---- */
typedef struct { float *x, *w, *b, *y, *r; int n, in, out; } mm_ctx;
static double mm_f(void *c) {
    mm_ctx *m = c;
    rr_matmul_fwd(m->y, m->x, m->w, m->b, m->n, m->in, m->out);
    return dotd(m->y, m->r, (size_t)m->n * m->out);
}
TEST(train_bwd_matmul_fd) {
    mm_ctx m = {.n = 5, .in = 7, .out = 6};
    m.x = rand_vec(35, 1), m.w = rand_vec(42, 1), m.b = rand_vec(6, 1), m.y = rand_vec(30, 0), m.r = rand_vec(30, 1);
    float *dx = calloc(35, 4), *dw = calloc(42, 4), *db = calloc(6, 4);
    rr_matmul_bwd(dx, dw, db, m.r, m.x, m.w, m.n, m.in, m.out);
    CHECK(fd_check(mm_f, &m, m.x, dx, 35, 1e-2f) < 1e-3);
    CHECK(fd_check(mm_f, &m, m.w, dw, 42, 1e-2f) < 1e-3);
    CHECK(fd_check(mm_f, &m, m.b, db, 6, 1e-2f) < 1e-3);
    /* Accumulation: a second call doubles every gradient. */
    float dx0 = dx[3], dw0 = dw[5], db0 = db[1];
    rr_matmul_bwd(dx, dw, db, m.r, m.x, m.w, m.n, m.in, m.out);
    CHECK_NEAR(dx[3], 2 * dx0, 1e-6);
    CHECK_NEAR(dw[5], 2 * dw0, 1e-6);
    CHECK_NEAR(db[1], 2 * db0, 1e-6);
    rr_matmul_bwd(NULL, NULL, NULL, m.r, m.x, m.w, m.n, m.in, m.out); /* all optional */
    free(m.x), free(m.w), free(m.b), free(m.y), free(m.r), free(dx), free(dw), free(db);
}

/* ---- layernorm ---- */
typedef struct { float *x, *w, *b, *y, *r; int n, dim; } ln_ctx;
static double ln_f(void *c) {
    ln_ctx *m = c;
    rr_layernorm_fwd(m->y, m->x, m->w, m->b, m->n, m->dim, 1e-5f);
    return dotd(m->y, m->r, (size_t)m->n * m->dim);
}
TEST(train_bwd_layernorm_fd) {
    ln_ctx m = {.n = 4, .dim = 9};
    m.x = rand_vec(36, 2), m.w = rand_vec(9, 1), m.b = rand_vec(9, 1), m.y = rand_vec(36, 0), m.r = rand_vec(36, 1);
    float *dx = calloc(36, 4), *dw = calloc(9, 4), *db = calloc(9, 4);
    rr_layernorm_bwd(dx, dw, db, m.r, m.x, m.w, m.n, m.dim, 1e-5f);
    CHECK(fd_check(ln_f, &m, m.x, dx, 36, 1e-2f) < 2e-3);
    CHECK(fd_check(ln_f, &m, m.w, dw, 9, 1e-2f) < 1e-3);
    CHECK(fd_check(ln_f, &m, m.b, db, 9, 1e-2f) < 1e-3);
    free(m.x), free(m.w), free(m.b), free(m.y), free(m.r), free(dx), free(dw), free(db);
}

/* ---- elementwise: GELU (on the input), tanh (on the output) ---- */
typedef struct { float *x, *y, *r; size_t n; int which; } ew_ctx;
static double ew_f(void *c) {
    ew_ctx *m = c;
    if (m->which == 0) rr_gelu_fwd(m->y, m->x, m->n);
    else rr_tanh_fwd(m->y, m->x, m->n);
    return dotd(m->y, m->r, m->n);
}
TEST(train_bwd_gelu_tanh_fd) {
    for (int which = 0; which < 2; which++) {
        ew_ctx m = {.n = 40, .which = which};
        m.x = rand_vec(40, 3), m.y = rand_vec(40, 0), m.r = rand_vec(40, 1);
        float *dx = calloc(40, 4);
        ew_f(&m);
        if (which == 0) rr_gelu_bwd(dx, m.r, m.x, m.n);
        else rr_tanh_bwd(dx, m.r, m.y, m.n);
        CHECK(fd_check(ew_f, &m, m.x, dx, 40, 1e-2f) < 1e-3, "%s", which ? "tanh" : "gelu");
        free(m.x), free(m.y), free(m.r), free(dx);
    }
}

/* ---- softmax (on the output) ---- */
typedef struct { float *x, *y, *r; int rows, n; } sm_ctx;
static double sm_f(void *c) {
    sm_ctx *m = c;
    memcpy(m->y, m->x, (size_t)m->rows * m->n * sizeof *m->y);
    rr_softmax_fwd(m->y, m->rows, m->n);
    return dotd(m->y, m->r, (size_t)m->rows * m->n);
}
TEST(train_bwd_softmax_fd) {
    sm_ctx m = {.rows = 3, .n = 6};
    m.x = rand_vec(18, 3), m.y = rand_vec(18, 0), m.r = rand_vec(18, 1);
    float *dx = calloc(18, 4);
    sm_f(&m);
    rr_softmax_bwd(dx, m.r, m.y, m.rows, m.n);
    CHECK(fd_check(sm_f, &m, m.x, dx, 18, 1e-2f) < 1e-3);
    free(m.x), free(m.y), free(m.r), free(dx);
}

/* ---- attention (bidirectional and causal, grouped key/value heads, strided rows) ---- */
typedef struct { float *q, *k, *v, *out, *scores, *r; rr_attn_shape s; } at_ctx;
static double at_f(void *c) {
    at_ctx *m = c;
    rr_attention_fwd(m->out, m->q, m->k, m->v, m->scores, &m->s);
    return dotd(m->out, m->r, (size_t)m->s.n_tokens * m->s.ld_out);
}
TEST(train_bwd_attention_fd) {
    for (int causal = 0; causal < 2; causal++) {
        int T = 5, nh = 4, nkv = causal ? 2 : 4, hd = 3;
        at_ctx m = {.s = {T, nh, nkv, hd, nh * hd + 1, nkv * hd + 2, nh * hd, causal}};
        size_t nq = (size_t)T * m.s.ld_q, nk = (size_t)T * m.s.ld_kv, no = (size_t)T * m.s.ld_out;
        m.q = rand_vec(nq, 1.5f), m.k = rand_vec(nk, 1.5f), m.v = rand_vec(nk, 1), m.out = rand_vec(no, 0);
        m.r = rand_vec(no, 1), m.scores = rand_vec((size_t)T, 0);
        float *dq = calloc(nq, 4), *dk = calloc(nk, 4), *dv = calloc(nk, 4);
        float *scratch = malloc(rr_attention_bwd_scratch(T) * sizeof *scratch);
        rr_attention_bwd(dq, dk, dv, m.r, m.q, m.k, m.v, scratch, &m.s);
        CHECK(fd_check(at_f, &m, m.q, dq, nq, 1e-2f) < 2e-3, "causal %d", causal);
        CHECK(fd_check(at_f, &m, m.k, dk, nk, 1e-2f) < 2e-3, "causal %d", causal);
        CHECK(fd_check(at_f, &m, m.v, dv, nk, 1e-2f) < 2e-3, "causal %d", causal);
        free(m.q), free(m.k), free(m.v), free(m.out), free(m.r), free(m.scores), free(dq), free(dk), free(dv),
            free(scratch);
    }
}

/* ---- embedding scatter-add (repeated ids accumulate) ---- */
TEST(train_bwd_embedding) {
    int32_t ids[5] = {2, 0, 2, 3, 2};
    float *dy = rand_vec(5 * 3, 1), dt[4 * 3] = {0};
    rr_embedding_bwd(dt, dy, ids, 5, 3);
    for (int d = 0; d < 3; d++) {
        CHECK_NEAR(dt[2 * 3 + d], dy[d] + dy[6 + d] + dy[12 + d], 1e-6);
        CHECK_NEAR(dt[0 * 3 + d], dy[3 + d], 0);
        CHECK_NEAR(dt[3 * 3 + d], dy[9 + d], 0);
        CHECK_NEAR(dt[1 * 3 + d], 0, 0);
    }
    free(dy);
}
