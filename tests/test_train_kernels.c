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

/* ---- fast training kernels (fast_bwd.c) against the reference ones, on 1 and 3 threads ---- */
#include "base/threadpool.h"

static double max_rel(const float *a, const float *b, size_t n) { /* max |a-b| / max(1, |b|) */
    double w = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]) / (fabs(b[i]) > 1.0 ? fabs(b[i]) : 1.0);
        w = d > w ? d : w;
    }
    return w;
}

TEST(train_fast_dense) {
    rr_pool *pool = rr_pool_new(3);
    int n = 37, in = 45, out = 70; /* out spans two column blocks of the bias sum */
    float *x = rand_vec((size_t)n * in, 1), *w = rand_vec((size_t)out * in, 1), *b = rand_vec((size_t)out, 1);
    float *res = rand_vec((size_t)n * out, 1), *dy = rand_vec((size_t)n * out, 1);
    float *y0 = calloc((size_t)n * out, 4), *y1 = calloc((size_t)n * out, 4);
    for (int variant = 0; variant < 4; variant++) { /* bias and residual each present or not */
        const float *bb = variant & 1 ? b : NULL, *rr = variant & 2 ? res : NULL;
        rr_matmul_fwd(y0, x, w, bb, n, in, out);
        if (rr) rr_add_fwd(y0, y0, rr, (size_t)n * out);
        rr_dense_fwd(variant & 1 ? pool : NULL, y1, x, w, bb, rr, n, in, out);
        CHECK(max_rel(y1, y0, (size_t)n * out) < 1e-5, "variant %d", variant);
    }
    memcpy(y1, res, (size_t)n * out * 4); /* y may be the residual */
    rr_dense_fwd(pool, y1, x, w, b, y1, n, in, out);
    CHECK(max_rel(y1, y0, (size_t)n * out) < 1e-5);
    float *dx0 = rand_vec((size_t)n * in, 1), *dw0 = rand_vec((size_t)out * in, 1), *db0 = rand_vec((size_t)out, 1);
    float *dx1 = malloc((size_t)n * in * 4), *dw1 = malloc((size_t)out * in * 4), *db1 = malloc((size_t)out * 4);
    memcpy(dx1, dx0, (size_t)n * in * 4), memcpy(dw1, dw0, (size_t)out * in * 4), memcpy(db1, db0, (size_t)out * 4);
    rr_matmul_bwd(dx0, dw0, db0, dy, x, w, n, in, out); /* both accumulate onto the same random start */
    rr_dense_bwd(pool, dx1, dw1, db1, dy, x, w, n, in, out);
    CHECK(max_rel(dx1, dx0, (size_t)n * in) < 1e-5);
    CHECK(max_rel(dw1, dw0, (size_t)out * in) < 1e-5);
    CHECK(max_rel(db1, db0, (size_t)out) < 1e-6);
    rr_dense_bwd(pool, NULL, NULL, NULL, dy, x, w, n, in, out);
    free(x), free(w), free(b), free(res), free(dy), free(y0), free(y1), free(dx0), free(dw0), free(db0), free(dx1),
        free(dw1), free(db1);
    rr_pool_free(pool);
}

TEST(train_fast_layernorm_gelu) {
    rr_pool *pool = rr_pool_new(3);
    int n = 50, dim = 33; /* more rows than the 16 blocks of partial sums */
    float *x = rand_vec((size_t)n * dim, 2), *w = rand_vec((size_t)dim, 1), *dy = rand_vec((size_t)n * dim, 1);
    float *dx0 = rand_vec((size_t)n * dim, 1), *dw0 = rand_vec((size_t)dim, 1), *db0 = rand_vec((size_t)dim, 1);
    float *dx1 = malloc((size_t)n * dim * 4), *dw1 = malloc((size_t)dim * 4), *db1 = malloc((size_t)dim * 4);
    float *scratch = malloc(rr_layernorm_bwd_fast_scratch(dim) * 4);
    memcpy(dx1, dx0, (size_t)n * dim * 4), memcpy(dw1, dw0, (size_t)dim * 4), memcpy(db1, db0, (size_t)dim * 4);
    rr_layernorm_bwd(dx0, dw0, db0, dy, x, w, n, dim, 1e-5f);
    rr_layernorm_bwd_fast(pool, scratch, dx1, dw1, db1, dy, x, w, n, dim, 1e-5f);
    CHECK(max_rel(dx1, dx0, (size_t)n * dim) < 1e-5);
    CHECK(max_rel(dw1, dw0, (size_t)dim) < 1e-5);
    CHECK(max_rel(db1, db0, (size_t)dim) < 1e-5);
    size_t ne = (size_t)n * dim;
    float *g0 = rand_vec(ne, 1), *g1 = malloc(ne * 4), *xg = rand_vec(ne, 4);
    memcpy(g1, g0, ne * 4);
    rr_gelu_bwd(g0, dy, xg, ne);
    rr_gelu_bwd_fast(pool, g1, dy, xg, ne);
    CHECK(max_rel(g1, g0, ne) < 1e-5);
    free(x), free(w), free(dy), free(dx0), free(dw0), free(db0), free(dx1), free(dw1), free(db1), free(scratch);
    free(g0), free(g1), free(xg);
    rr_pool_free(pool);
}

/* A packed batch of three sequences (one of a single token), rows strided wider than the heads. */
enum { AT_SEQS = 3, AT_HEADS = 3, AT_HD = 4, AT_LD = AT_HEADS * AT_HD + 2 };
static const size_t at_off[AT_SEQS + 1] = {0, 5, 14, 15};

TEST(train_fast_attention) {
    rr_pool *pool = rr_pool_new(3);
    size_t N = at_off[AT_SEQS], nf = N * AT_LD;
    rr_attn_shape s = {0, AT_HEADS, AT_HEADS, AT_HD, AT_LD, AT_LD, AT_LD, false, false};
    float *q = rand_vec(nf, 1.5f), *k = rand_vec(nf, 1.5f), *v = rand_vec(nf, 1), *dout = rand_vec(nf, 1);
    float *o0 = calloc(nf, 4), *o1 = calloc(nf, 4), *ref_scratch = malloc(rr_attention_bwd_scratch(9) * 4);
    float *scratch = malloc(rr_attention_train_scratch(rr_pool_size(pool), 9) * 4);
    float *d0[3], *d1[3];
    for (int i = 0; i < 3; i++) d0[i] = calloc(nf, 4), d1[i] = calloc(nf, 4);
    for (int i = 0; i < AT_SEQS; i++) {
        size_t o = at_off[i] * AT_LD;
        rr_attn_shape si = s;
        si.n_tokens = (int)(at_off[i + 1] - at_off[i]);
        rr_attention_fwd(o0 + o, q + o, k + o, v + o, ref_scratch, &si);
        rr_attention_bwd(d0[0] + o, d0[1] + o, d0[2] + o, dout + o, q + o, k + o, v + o, ref_scratch, &si);
    }
    rr_attention_train_fwd(pool, scratch, o1, q, k, v, at_off, AT_SEQS, &s, NULL);
    rr_attention_train_bwd(pool, scratch, d1[0], d1[1], d1[2], dout, q, k, v, at_off, AT_SEQS, &s, NULL);
    CHECK(max_rel(o1, o0, nf) < 1e-5);
    for (int i = 0; i < 3; i++) CHECK(max_rel(d1[i], d0[i], nf) < 1e-5, "d%c", "qkv"[i]);
    for (int i = 0; i < 3; i++) free(d0[i]), free(d1[i]);
    free(q), free(k), free(v), free(dout), free(o0), free(o1), free(ref_scratch), free(scratch);
    rr_pool_free(pool);
}

/* With dropout on the probabilities: the backward against finite differences of the same masked forward. */
typedef struct { float *q, *k, *v, *out, *scratch, *r; rr_attn_shape s; rr_dropout_at drop; } atd_ctx;
static double atd_f(void *c) {
    atd_ctx *m = c;
    rr_attention_train_fwd(NULL, m->scratch, m->out, m->q, m->k, m->v, at_off, AT_SEQS, &m->s, &m->drop);
    return dotd(m->out, m->r, at_off[AT_SEQS] * AT_LD);
}
TEST(train_fast_attention_dropout_fd) {
    size_t nf = at_off[AT_SEQS] * AT_LD;
    atd_ctx m = {.s = {0, AT_HEADS, AT_HEADS, AT_HD, AT_LD, AT_LD, AT_LD, false}, .drop = {0.3f, 42, 7, 0}};
    m.q = rand_vec(nf, 1.5f), m.k = rand_vec(nf, 1.5f), m.v = rand_vec(nf, 1), m.out = calloc(nf, 4);
    m.r = rand_vec(nf, 1), m.scratch = malloc(rr_attention_train_scratch(1, 9) * 4);
    float *dq = calloc(nf, 4), *dk = calloc(nf, 4), *dv = calloc(nf, 4), *o_nodrop = calloc(nf, 4);
    rr_attention_train_bwd(NULL, m.scratch, dq, dk, dv, m.r, m.q, m.k, m.v, at_off, AT_SEQS, &m.s, &m.drop);
    CHECK(fd_check(atd_f, &m, m.q, dq, nf, 1e-2f) < 2e-3);
    CHECK(fd_check(atd_f, &m, m.k, dk, nf, 1e-2f) < 2e-3);
    CHECK(fd_check(atd_f, &m, m.v, dv, nf, 1e-2f) < 2e-3);
    /* The masks change the output: it differs from the undropped attention. */
    atd_f(&m);
    rr_attention_train_fwd(NULL, m.scratch, o_nodrop, m.q, m.k, m.v, at_off, AT_SEQS, &m.s, NULL);
    CHECK(max_rel(m.out, o_nodrop, nf) > 1e-3);
    /* seq0 shifts the masks: the last two sequences alone, cut from the batch, draw the batch's masks. */
    size_t sub_off[3] = {0, at_off[2] - at_off[1], at_off[3] - at_off[1]}, o1 = at_off[1] * AT_LD;
    rr_dropout_at shifted = {0.3f, 42, 7, 1};
    rr_attention_train_fwd(NULL, m.scratch, o_nodrop, m.q + o1, m.k + o1, m.v + o1, sub_off, 2, &m.s, &shifted);
    CHECK(memcmp(o_nodrop, m.out + o1, (nf - o1) * sizeof(float)) == 0);
    free(m.q), free(m.k), free(m.v), free(m.out), free(m.r), free(m.scratch), free(dq), free(dk), free(dv), free(o_nodrop);
}

/* Masks: a pure function of the key (seed, site, sequence) and (token, element); about p dropped. */
TEST(train_dropout_masks) {
    int T = 200, D = 500;
    size_t n = (size_t)T * D;
    float *a = malloc(n * 4), *b = malloc(n * 4);
    float p = 0.1f;
    for (size_t i = 0; i < n; i++) a[i] = b[i] = 1.0f;
    rr_dropout_rows(a, T, D, D, rr_dropout_key(1234, 3, 5), p);
    rr_dropout_rows(b, T, D, D, rr_dropout_key(1234, 3, 5), p);
    CHECK(memcmp(a, b, n * 4) == 0, "same key, same mask");
    size_t dropped = 0, bad = 0;
    for (size_t i = 0; i < n; i++) {
        dropped += a[i] == 0.0f;
        bad += a[i] != 0.0f && a[i] != 1.0f / (1.0f - p);
    }
    CHECK(bad == 0, "%zu kept elements not scaled by 1/(1-p)", bad);
    CHECK(fabs((double)dropped / n - p) < 0.005, "dropped %.4f, p %.2f", (double)dropped / n, p);
    /* Another seed, site or sequence draws another mask (agreement only by chance, about 82% at p = 0.1). */
    unsigned long long seeds[3] = {1235, 1234, 1234};
    unsigned sites[3] = {3, 4, 3};
    size_t seqs[3] = {5, 5, 6};
    for (int c = 0; c < 3; c++) {
        for (size_t i = 0; i < n; i++) b[i] = 1.0f;
        rr_dropout_rows(b, T, D, D, rr_dropout_key(seeds[c], sites[c], seqs[c]), p);
        size_t same = 0;
        for (size_t i = 0; i < n; i++) same += (a[i] == 0.0f) == (b[i] == 0.0f);
        CHECK(fabs((double)same / n - 0.82) < 0.01, "case %d: masks agree on %.3f", c, (double)same / n);
    }
    /* A row stride wider than the row leaves the gap alone; p = 0 is the identity. */
    for (size_t i = 0; i < n; i++) b[i] = 2.0f;
    rr_dropout_rows(b, 10, 7, 9, rr_dropout_key(1, 0, 0), 0.5f);
    CHECK(b[7] == 2.0f && b[8] == 2.0f && b[10 * 9] == 2.0f);
    for (size_t i = 0; i < n; i++) b[i] = 2.0f;
    rr_dropout_rows(b, T, D, D, rr_dropout_key(1, 0, 0), 0.0f);
    CHECK(b[0] == 2.0f && b[n - 1] == 2.0f);
    /* The fraction holds at other rates too. */
    for (int i = 0; i < 3; i++) {
        float pp = (float[]){0.02f, 0.5f, 0.9f}[i];
        for (size_t e = 0; e < n; e++) b[e] = 1.0f;
        rr_dropout_rows(b, T, D, D, rr_dropout_key(99, 1, 2), pp);
        size_t z = 0;
        for (size_t e = 0; e < n; e++) z += b[e] == 0.0f;
        CHECK(fabs((double)z / n - pp) < 0.005, "p %.2f: dropped %.4f", pp, (double)z / n);
    }
    free(a), free(b);
}
