/* test_kernels_fast.c - every instruction-set path of the fast kernels (forced in turn) against the scalar
 * reference: dense layers with bias/GELU/residual on awkward shapes, attention (full, first-token-only,
 * causal, grouped), LayerNorm, 1 and 2 threads; and the thread pool itself. */
#include <stdatomic.h>

#include "base/threadpool.h"
#include "kernels/kernels.h"
#include "test.h"

#include "kernels/fast_impl.h"

static unsigned rnd_state = 12345;
static float rnd(void) {
    rnd_state = rnd_state * 1103515245u + 12345u;
    return (float)((rnd_state >> 8) & 0xffff) / 32768.0f - 1.0f;
}
static float *rand_vec(size_t n, float scale) {
    float *v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++) v[i] = rnd() * scale;
    return v;
}

static double max_rel_diff(const float *a, const float *b, size_t n) {
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]) / (1.0 + fabs((double)b[i]));
        if (d > worst) worst = d;
    }
    return worst;
}

static void check_linear(rr_pool *pool, int n, int in, int out, rr_act act, int with_res) {
    float *x = rand_vec((size_t)n * in, 1), *w = rand_vec((size_t)out * in, 0.1f), *b = rand_vec((size_t)out, 1);
    float *res = with_res ? rand_vec((size_t)n * out, 1) : NULL;
    float *want = malloc((size_t)n * out * sizeof *want), *got = malloc((size_t)n * out * sizeof *got);
    float *scratch = malloc(rr_linear_scratch(rr_pool_size(pool)) * sizeof *scratch);
    rr_matmul_fwd(want, x, w, b, n, in, out);
    if (act == RR_ACT_GELU) rr_gelu_fwd(want, want, (size_t)n * out);
    if (res) rr_add_fwd(want, want, res, (size_t)n * out);
    rr_linear_fwd(pool, scratch, got, x, w, b, res, n, in, out, act);
    double d = max_rel_diff(got, want, (size_t)n * out);
    CHECK(d < 2e-5, "isa %s threads %d linear %dx%d->%d act %d res %d: diff %g", rr_isa_name(rr_isa_get()),
          rr_pool_size(pool), n, in, out, (int)act, with_res, d);
    free(x), free(w), free(b), free(res), free(want), free(got), free(scratch);
}

static void check_layernorm(rr_pool *pool, int n, int dim) {
    float *x = rand_vec((size_t)n * dim, 3), *w = rand_vec((size_t)dim, 1), *b = rand_vec((size_t)dim, 1);
    for (int i = 0; i < n * dim; i++) x[i] += 5.0f; /* an offset the mean must remove */
    float *want = malloc((size_t)n * dim * sizeof *want), *got = malloc((size_t)n * dim * sizeof *got);
    rr_layernorm_fwd(want, x, w, b, n, dim, 1e-5f);
    rr_layernorm_fast(pool, got, x, w, b, n, dim, 1e-5f);
    double d = max_rel_diff(got, want, (size_t)n * dim);
    CHECK(d < 2e-6, "isa %s layernorm %d x %d: diff %g", rr_isa_name(rr_isa_get()), n, dim, d);
    rr_layernorm_fast(pool, x, x, w, b, n, dim, 1e-5f); /* in place */
    CHECK(max_rel_diff(x, got, (size_t)n * dim) == 0, "isa %s layernorm in place", rr_isa_name(rr_isa_get()));
    free(x), free(w), free(b), free(want), free(got);
}

/* GELU far into both tails (y = x through a 1 x 1 weight): the reference's values, and never a subnormal,
 * which would make every later product on it crawl. */
static void check_gelu_tails(rr_pool *pool) {
    enum { N = 241 };
    float x[N], want[N], got[N], one = 1.0f;
    for (int i = 0; i < N; i++) x[i] = -60.0f + 0.5f * (float)i;
    memcpy(want, x, sizeof x);
    rr_gelu_fwd(want, want, N);
    float *scratch = malloc(rr_linear_scratch(rr_pool_size(pool)) * sizeof *scratch);
    rr_linear_fwd(pool, scratch, got, x, &one, NULL, NULL, N, 1, 1, RR_ACT_GELU);
    int subnormal = 0;
    for (int i = 0; i < N; i++) subnormal += fpclassify(got[i]) == FP_SUBNORMAL;
    CHECK(subnormal == 0 && max_rel_diff(got, want, N) < 2e-6, "isa %s gelu tails: %d subnormal, diff %g",
          rr_isa_name(rr_isa_get()), subnormal, max_rel_diff(got, want, N));
    free(scratch);
}

static const size_t default_offs[] = {0, 1, 40, 333, 350};

static void check_attention_seqs_p(rr_pool *pool, int n_heads, int n_kv, int hd, bool causal, bool first_only,
                                   const size_t *offs, size_t n_seqs, bool bf16) {
    size_t N = offs[n_seqs], longest = 0;
    for (size_t s = 0; s < n_seqs; s++) longest = offs[s + 1] - offs[s] > longest ? offs[s + 1] - offs[s] : longest;
    int ldq = n_heads * hd, ldkv = n_kv * hd;
    float *q = rand_vec(N * (size_t)ldq, 1), *k = rand_vec(N * (size_t)ldkv, 1), *v = rand_vec(N * (size_t)ldkv, 1);
    float *want = calloc(N * (size_t)ldq, sizeof *want), *got = calloc(N * (size_t)ldq, sizeof *got);
    float *scores = malloc(N * sizeof *scores);
    for (size_t s = 0; s < n_seqs; s++) {
        rr_attn_shape sh = {(int)(offs[s + 1] - offs[s]), n_heads, n_kv, hd, ldq, ldkv, ldq, causal, false};
        rr_attention_fwd(want + offs[s] * ldq, q + offs[s] * ldq, k + offs[s] * ldkv, v + offs[s] * ldkv, scores, &sh);
    }
    float *qc = q, *gc = got;
    if (first_only) { /* one query row per sequence, compacted */
        qc = malloc(n_seqs * ldq * sizeof *qc);
        gc = malloc(n_seqs * ldq * sizeof *gc);
        for (size_t s = 0; s < n_seqs; s++) memcpy(qc + s * ldq, q + offs[s] * ldq, ldq * sizeof *qc);
    }
    rr_attn_shape sh = {0, n_heads, n_kv, hd, ldq, ldkv, ldq, causal, bf16};
    float *scratch = malloc(rr_attention_scratch(rr_pool_size(pool), (int)longest, hd) * sizeof *scratch);
    rr_attention_seqs_fwd(pool, scratch, gc, qc, k, v, offs, n_seqs, &sh, first_only);
    double d = 0;
    if (first_only) {
        for (size_t s = 0; s < n_seqs; s++) {
            double ds = max_rel_diff(gc + s * ldq, want + offs[s] * ldq, (size_t)ldq);
            if (ds > d) d = ds;
        }
        free(qc), free(gc);
    } else {
        d = max_rel_diff(got, want, N * (size_t)ldq);
    }
    /* bf16: q, k, v and the weights rounded to 8 bits of mantissa (|q.k| <= hd / 3 on average here) */
    if (getenv("RR_TEST_VERBOSE")) fprintf(stderr, "    attention hd %d bf16 %d: diff %g\n", hd, bf16, d);
    CHECK(d < (bf16 ? 1e-2 : 1e-5), "isa %s attention heads %d/%d hd %d causal %d first %d bf16 %d: diff %g",
          rr_isa_name(rr_isa_get()), n_heads, n_kv, hd, causal, first_only, bf16, d);
    free(q), free(k), free(v), free(want), free(got), free(scores), free(scratch);
}

static void check_attention_seqs(rr_pool *pool, int n_heads, int n_kv, int hd, bool causal, bool first_only,
                                 const size_t *offs, size_t n_seqs) {
    check_attention_seqs_p(pool, n_heads, n_kv, hd, causal, first_only, offs, n_seqs, false);
}

static void check_attention(rr_pool *pool, int n_heads, int n_kv, int hd, bool causal, bool first_only) {
    check_attention_seqs(pool, n_heads, n_kv, hd, causal, first_only, default_offs, 4);
}

TEST(fast_kernels_match_reference_on_every_isa) {
    rr_isa before = rr_isa_get();
    rr_pool *pool2 = rr_pool_new(2);
    REQUIRE(pool2);
    REQUIRE(rr_isa_supported(RR_ISA_SCALAR));
    int n_isas = 0;
    for (int isa = 0; isa < RR_ISA_COUNT; isa++) {
        if (!rr_isa_set((rr_isa)isa)) continue;
        CHECK(rr_isa_get() == (rr_isa)isa);
        n_isas++;
        rr_pool *pools[] = {NULL, pool2};
        for (int p = 0; p < 2; p++) {
            check_linear(pools[p], 13, 300, 77, RR_ACT_NONE, 0);
            check_linear(pools[p], 1, 64, 33, RR_ACT_GELU, 0);
            check_linear(pools[p], 37, 520, 96, RR_ACT_GELU, 0);
            check_linear(pools[p], 9, 256, 1000, RR_ACT_NONE, 1);
            check_layernorm(pools[p], 50, 768);
            check_gelu_tails(pools[p]);
            check_layernorm(pools[p], 3, 13);
            check_layernorm(pools[p], 11, 1030);
            check_attention(pools[p], 4, 4, 16, false, false);
            check_attention(pools[p], 3, 3, 40, false, true);
            check_attention(pools[p], 4, 2, 32, true, false);
            /* several row blocks of the packed GEMM; more columns than one shared B block */
            check_linear(pools[p], 700, 70, 45, RR_ACT_GELU, 1);
            check_linear(pools[p], 3, 33, 4160, RR_ACT_NONE, 1);
            /* more keys than one packed block of P, more queries than one query block */
            static const size_t long_offs[] = {0, 7, 1100};
            check_attention_seqs(pools[p], 2, 2, 24, false, false, long_offs, 2);
            check_attention_seqs(pools[p], 2, 1, 16, true, false, long_offs, 2);
        }
    }
    fprintf(stderr, "    fast kernels checked on %d instruction sets (best here: %s)\n", n_isas, rr_isa_name(before));
    CHECK(!rr_isa_set(RR_ISA_COUNT));
    rr_isa_set(before);
    rr_pool_free(pool2);
}

/* The bf16 attention (AMX where present, else the fp32 path): ragged lengths, several query blocks, causal,
 * first-token-only, head sizes 32 / 64 / 128, against the fp32 reference. */
TEST(bf16_attention_is_close_to_reference) {
    rr_isa before = rr_isa_get();
    rr_pool *pool2 = rr_pool_new(2);
    REQUIRE(pool2);
    static const size_t ragged[] = {0, 1, 18, 51, 84, 600};
    for (int isa = 0; isa < RR_ISA_COUNT; isa++) {
        if (!rr_isa_set((rr_isa)isa)) continue;
        check_attention_seqs_p(pool2, 3, 3, 64, false, false, ragged, 5, true);
        check_attention_seqs_p(pool2, 3, 3, 64, false, true, ragged, 5, true);
        check_attention_seqs_p(NULL, 2, 2, 32, false, false, ragged, 5, true);
        check_attention_seqs_p(pool2, 2, 1, 128, true, false, ragged, 5, true);
    }
    fprintf(stderr, "    AMX attention here: %d\n", rr_ops_get()->att_amx != NULL);
    rr_isa_set(before);
    rr_pool_free(pool2);
}

/* Several weights on one input (q, k, v): each output equals its own rr_linear_w_fwd exactly, for every weight
 * type, and a mix of types falls back to one at a time. */
TEST(linear_multi_equals_single_outputs) {
    rr_pool *pool2 = rr_pool_new(2);
    REQUIRE(pool2);
    int n = 45, in = 96, outs_n[] = {64, 33, 100};
    float *x = rand_vec((size_t)n * in, 1), *res = rand_vec((size_t)n * 100, 1);
    for (int t = RR_W_F32; t <= RR_W_INT8 + 1; t++) { /* the last round mixes bf16 and int8 */
        rr_wmat m[3];
        float *w[3], *b[3], *y[3], *want[3];
        rr_linear_out outs[3];
        for (int i = 0; i < 3; i++) {
            rr_wtype type = t <= RR_W_INT8 ? (rr_wtype)t : i == 1 ? RR_W_INT8 : RR_W_BF16;
            w[i] = rand_vec((size_t)outs_n[i] * in, 0.1f), b[i] = rand_vec((size_t)outs_n[i], 1);
            y[i] = malloc((size_t)n * outs_n[i] * sizeof *y[i]), want[i] = malloc((size_t)n * outs_n[i] * sizeof *want[i]);
            REQUIRE(rr_wmat_init(&m[i], type, w[i], outs_n[i], in));
            outs[i] = (rr_linear_out){y[i], &m[i], b[i], i == 2 ? res : NULL, i == 1 ? RR_ACT_GELU : RR_ACT_NONE, NULL};
        }
        size_t sc = 0;
        for (int i = 0; i < 3; i++) {
            size_t si = rr_linear_w_scratch(&m[i], 2, n);
            sc = si > sc ? si : sc;
        }
        float *scratch = malloc(sc * sizeof *scratch);
        for (int i = 0; i < 3; i++)
            rr_linear_w_fwd(pool2, scratch, want[i], x, &m[i], b[i], outs[i].res, n, outs[i].act);
        rr_linear_w_multi(pool2, scratch, x, n, outs, 3);
        for (int i = 0; i < 3; i++)
            CHECK(max_rel_diff(y[i], want[i], (size_t)n * outs_n[i]) == 0, "round %d output %d", t, i);
        CHECK(rr_linear_outs_share(outs, 3) == (t <= RR_W_INT8), "round %d share", t);
        for (int i = 0; i < 3; i++) rr_wmat_free(&m[i]), free(w[i]), free(b[i]), free(y[i]), free(want[i]);
        free(scratch);
    }
    free(x), free(res);
    rr_pool_free(pool2);
}

/* An up-projection writing bf16 straight into the next layer's input gives, through rr_linear_w_bf16_input,
 * exactly what the fp32 output rounded by rr_linear_w_fwd gives (every path: AMX rows, the tail, portable).
 * Where bf16 weights run on the fp32 GEMM (AVX2) a bf16 output falls back to the blocks, whose sums run in
 * another order: there callers keep fp32 outputs (rr_linear_bf16_out_native), and only int8 up-projections,
 * the same kernel either way, are compared. */
TEST(bf16_output_feeds_bf16_input_exactly) {
    rr_isa before = rr_isa_get();
    rr_pool *pool2 = rr_pool_new(2);
    REQUIRE(pool2);
    int n = 77, in = 64, mid = 96, out = 40; /* 77 rows: two AMX groups and a tail */
    float *x = rand_vec((size_t)n * in, 1), *w1 = rand_vec((size_t)mid * in, 0.2f), *b1 = rand_vec((size_t)mid, 1);
    float *w2 = rand_vec((size_t)out * mid, 0.1f), *b2 = rand_vec((size_t)out, 1), *res = rand_vec((size_t)n * out, 1);
    for (int t = RR_W_BF16; t <= RR_W_INT8; t++) {
        rr_wmat up, down;
        REQUIRE(rr_wmat_init(&up, (rr_wtype)t, w1, mid, in) && rr_wmat_init(&down, RR_W_BF16, w2, out, mid));
        for (int isa = 0; isa < RR_ISA_COUNT; isa++) {
            if (!rr_isa_set((rr_isa)isa) || (t == RR_W_BF16 && !rr_linear_bf16_out_native())) continue;
            size_t sc = rr_linear_w_scratch(&up, 2, n) + rr_linear_w_scratch(&down, 2, n);
            float *scratch = malloc(sc * sizeof *scratch), *h = malloc((size_t)n * mid * sizeof *h);
            float *want = malloc((size_t)n * out * sizeof *want), *got = malloc((size_t)n * out * sizeof *got);
            uint16_t *hb = malloc((size_t)n * mid * sizeof *hb);
            rr_linear_w_fwd(pool2, scratch, h, x, &up, b1, NULL, n, RR_ACT_GELU);
            rr_linear_w_fwd(pool2, scratch, want, h, &down, b2, res, n, RR_ACT_NONE);
            rr_linear_out o1 = {NULL, &up, b1, NULL, RR_ACT_GELU, hb}, o2 = {got, &down, b2, res, RR_ACT_NONE, NULL};
            rr_linear_w_multi(pool2, scratch, x, n, &o1, 1);
            rr_linear_w_bf16_input(pool2, scratch, hb, n, &o2, 1);
            CHECK(max_rel_diff(got, want, (size_t)n * out) == 0, "wtype %d isa %s: diff %g", t, rr_isa_name((rr_isa)isa),
                  max_rel_diff(got, want, (size_t)n * out));
            free(scratch), free(h), free(want), free(got), free(hb);
        }
        rr_wmat_free(&up), rr_wmat_free(&down);
    }
    free(x), free(w1), free(b1), free(w2), free(b2), free(res);
    rr_isa_set(before);
    rr_pool_free(pool2);
}

static void count_task(void *ctx, int task, int thread) {
    atomic_int *hits = ctx;
    atomic_fetch_add(&hits[task], 1);
    atomic_fetch_add(&hits[1000 + thread], 1);
}

TEST(thread_pool_runs_every_task_once) {
    static atomic_int hits[1004];
    for (int threads = 1; threads <= 3; threads++) {
        rr_pool *p = rr_pool_new(threads);
        REQUIRE(p);
        CHECK(rr_pool_size(p) == threads);
        for (int round = 0; round < 50; round++) {
            for (int i = 0; i < 1004; i++) atomic_store(&hits[i], 0);
            int n = 1 + round * 19;
            rr_pool_run(p, count_task, hits, n);
            int ok = 1, total = 0;
            for (int i = 0; i < n; i++) ok &= atomic_load(&hits[i]) == 1;
            for (int i = 0; i < 4; i++) total += atomic_load(&hits[1000 + i]);
            CHECK(ok && total == n, "threads %d round %d", threads, round);
        }
        rr_pool_free(p);
    }
    CHECK(rr_pool_size(NULL) == 1);
}

/* bf16 / int8 weights: close to fp32 (a rounding of x and W), and the SIMD and portable paths agree. */
TEST(low_precision_linear_is_close_and_paths_agree) {
    rr_isa before = rr_isa_get();
    rr_pool *pool2 = rr_pool_new(2);
    REQUIRE(pool2);
    /* {70, 512, 96} and {64, 768, 40}: AMX; {6, 4200, 40}: K past AVX2 int8's prepared rows and the GEMM's one-pass K */
    const int shapes[][3] = {{13, 300, 77}, {37, 522, 96}, {5, 64, 1000}, {70, 512, 96}, {64, 768, 40}, {6, 4200, 40}};
    for (int t = RR_W_BF16; t <= RR_W_INT8; t++) {
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
            int n = shapes[s][0], in = shapes[s][1], out = shapes[s][2];
            float *x = rand_vec((size_t)n * in, 1), *w = rand_vec((size_t)out * in, 0.1f), *b = rand_vec((size_t)out, 1);
            float *res = rand_vec((size_t)n * out, 1);
            float *want = malloc((size_t)n * out * sizeof *want), *got[RR_ISA_COUNT] = {0};
            rr_matmul_fwd(want, x, w, b, n, in, out);
            rr_gelu_fwd(want, want, (size_t)n * out);
            rr_add_fwd(want, want, res, (size_t)n * out);
            rr_wmat m;
            REQUIRE(rr_wmat_init(&m, (rr_wtype)t, w, out, in));
            for (int isa = 0; isa < RR_ISA_COUNT; isa++) {
                if (!rr_isa_set((rr_isa)isa)) continue;
                got[isa] = malloc((size_t)n * out * sizeof *got[isa]);
                float *scratch = malloc(rr_linear_w_scratch(&m, 2, n) * sizeof *scratch);
                rr_linear_w_fwd(isa ? pool2 : NULL, scratch, got[isa], x, &m, b, res, n, RR_ACT_GELU);
                free(scratch);
                /* |x| <= 1, |w| <= 0.1: the dot products' rounding error is about 1e-2 * sqrt(in) * 0.05 */
                double d = max_rel_diff(got[isa], want, (size_t)n * out);
                CHECK(d < (t == RR_W_BF16 ? 2e-2 : 4e-2), "wtype %d isa %s %dx%d->%d: diff vs fp32 %g", t,
                      rr_isa_name((rr_isa)isa), n, in, out, d);
                if (isa) {
                    double dp = max_rel_diff(got[isa], got[0], (size_t)n * out);
                    CHECK(dp < 1e-4, "wtype %d isa %s vs scalar: %g", t, rr_isa_name((rr_isa)isa), dp);
                }
            }
            rr_wmat_free(&m);
            for (int isa = 0; isa < RR_ISA_COUNT; isa++) free(got[isa]);
            free(x), free(w), free(b), free(res), free(want);
        }
    }
    rr_isa_set(before);
    rr_pool_free(pool2);
}

/* int8 quantization of values an (int) cast cannot take: a NaN weight is level 0 (max |w| ignores it), an inf one
 * makes the scale inf and every level 0 (inf * 0 is NaN), a row of subnormals whose scale underflows to 0 saturates
 * to +-127. Before rr_q8_level these casts were undefined behaviour (UBSan: fuzz_adapter_dir, a LoRA adapter with
 * an inf in lora_B loaded with --dtype int8). The portable activation quantizer takes a NaN as 0 alike. */
TEST(int8_quantization_of_non_finite_and_tiny_values) {
    const float tiny = 1e-45f; /* the smallest subnormal */
    const float w[3][4] = {{NAN, 2, -2, 0}, {INFINITY, 1, 0, -1}, {tiny, 0, -tiny, 0}};
    const int want[3][4] = {{0, 127, -127, 0}, {0, 0, 0, 0}, {127, 0, -127, 0}};
    rr_wmat m;
    REQUIRE(rr_wmat_init(&m, RR_W_INT8, &w[0][0], 3, 4));
    const int8_t *q = m.packed; /* one panel, one quad: [o * 4 + k] */
    for (int o = 0; o < 3; o++)
        for (int k = 0; k < 4; k++)
            CHECK(q[o * 4 + k] == want[o][k], "row %d col %d: level %d, expected %d", o, k, q[o * 4 + k], want[o][k]);
    CHECK(m.scale[0] == 2.0f / 127.0f && isinf(m.scale[1]) && m.scale[2] == 0.0f, "scales %g %g %g", m.scale[0],
          m.scale[1], m.scale[2]);
    rr_wmat_free(&m);
    /* the scalar pass: an activation row holding a NaN gives what the same row with 0 there gives */
    rr_isa before = rr_isa_get();
    REQUIRE(rr_isa_set(RR_ISA_SCALAR));
    const float wf[2][4] = {{0.5f, -0.25f, 0.125f, 1}, {-1, 0.75f, 0.5f, -0.5f}};
    const float x[2][4] = {{NAN, 1, -3, 2}, {0, 1, -3, 2}};
    float y[2][2], scratch[1024];
    REQUIRE(rr_wmat_init(&m, RR_W_INT8, &wf[0][0], 2, 4) && rr_linear_w_scratch(&m, 1, 2) <= 1024);
    rr_linear_w_fwd(NULL, scratch, &y[0][0], &x[0][0], &m, NULL, NULL, 2, RR_ACT_NONE);
    CHECK(y[0][0] == y[1][0] && y[0][1] == y[1][1], "NaN row %g %g, zero row %g %g", y[0][0], y[0][1], y[1][0],
          y[1][1]);
    rr_wmat_free(&m);
    rr_isa_set(before);
}

/* `make check` runs the suite once per instruction set ($RERANK_ISA): the pass must really run that set's
 * kernels for every weight type, not fall back to another one. */
TEST(isa_pass_runs_its_own_kernels) {
    const char *env = getenv("RERANK_ISA");
    rr_isa isa = rr_isa_get();
    rr_kernel_names k = rr_kernels_active();
    fprintf(stderr, "    isa %s: f32 %s, bf16 %s, int8 %s (RERANK_ISA=%s)\n", k.isa, k.f32, k.bf16, k.int8,
            env ? env : "unset");
    if (env) {
        rr_isa wanted = RR_ISA_COUNT;
        for (int i = 0; i < RR_ISA_COUNT; i++)
            if (!strcmp(env, rr_isa_name((rr_isa)i))) wanted = (rr_isa)i;
        REQUIRE(wanted != RR_ISA_COUNT, "RERANK_ISA=%s names no instruction set", env);
        if (rr_isa_supported(wanted)) CHECK(isa == wanted, "RERANK_ISA=%s but %s runs", env, rr_isa_name(isa));
        else fprintf(stderr, "    this CPU lacks %s: the pass runs %s\n", env, rr_isa_name(isa));
    }
    /* the names of this set's kernels start with its name ("c" for the portable ones), or with the name of the
     * set it extends where it adds nothing of its own: AVX-512 CPUs without AVX512_BF16 / VNNI run AVX2's
     * low-precision blocks, neon_dot and neon_i8mm neon's fp32 kernels (and neon_dot neon's bf16 block);
     * test_kernels_neon.c checks that each ARM64 set runs its own int8 / bf16 blocks */
    const char *own = isa == RR_ISA_SCALAR ? "c" : rr_isa_name(isa);
    const char *base = isa == RR_ISA_AVX512 ? "avx2" : isa == RR_ISA_NEON_DOT || isa == RR_ISA_NEON_I8MM ? "neon-" : NULL;
    CHECK(!strncmp(k.f32, own, strlen(own)) || (base && !strncmp(k.f32, base, 4)), "f32 kernel %s in a %s pass", k.f32, own);
    for (int t = RR_W_F32; t <= RR_W_INT8; t++) {
        int n = 3, in = 64, out = 40;
        float *x = rand_vec((size_t)n * in, 1), *w = rand_vec((size_t)out * in, 0.1f), *y = malloc((size_t)n * out * sizeof *y);
        rr_wmat m;
        REQUIRE(rr_wmat_init(&m, (rr_wtype)t, w, out, in));
        float *scratch = malloc(rr_linear_w_scratch(&m, 1, n) * sizeof *scratch);
        rr_linear_w_fwd(NULL, scratch, y, x, &m, NULL, NULL, n, RR_ACT_NONE);
        const char *ran = rr_kernels_last((rr_wtype)t), *want = t == RR_W_F32 ? k.f32 : t == RR_W_BF16 ? k.bf16 : k.int8;
        CHECK(ran && !strcmp(ran, want), "wtype %d ran %s, the table says %s", t, ran ? ran : "nothing", want);
        CHECK(ran && (!strncmp(ran, own, strlen(own)) || (base && !strncmp(ran, base, t == RR_W_F32 ? 4 : strlen(base)))),
              "wtype %d ran %s in a %s pass", t, ran ? ran : "nothing", own);
        rr_wmat_free(&m), free(scratch), free(x), free(w), free(y);
    }
}
