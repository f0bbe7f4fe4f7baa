/* test_kernels_fast_decoder.c - the decoder fast paths on every instruction set (forced in turn) and 1 / 2
 * threads against the scalar reference: RMSNorm (both weight styles), RoPE over packed sequences with a
 * position offset, gated activations, scaled adds, and attention after a cached prefix (with and without a
 * prefix, causal and not, grouped heads, last-token-only queries) on awkward shapes. */
#include <stdint.h>

#include "base/threadpool.h"
#include "kernels/kernels.h"
#include "test.h"

static unsigned rnd_state = 777;
static float rnd(void) {
    rnd_state = rnd_state * 1103515245u + 12345u;
    return (float)((rnd_state >> 8) & 0xffff) / 32768.0f - 1.0f;
}
static float *rand_vec(size_t n, float scale) {
    float *v = malloc((n ? n : 1) * sizeof *v);
    for (size_t i = 0; i < n; i++) v[i] = rnd() * scale;
    return v;
}
static float *copy_vec(const float *x, size_t n) {
    float *v = malloc((n ? n : 1) * sizeof *v);
    memcpy(v, x, n * sizeof *v);
    return v;
}

static double max_rel_diff(const float *a, const float *b, size_t n) {
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]) / (1.0 + fabs((double)b[i]));
        if (!(d <= worst)) worst = d;
    }
    return worst;
}

#define WHERE rr_isa_name(rr_isa_get()), rr_pool_size(pool)

static void check_rows(rr_pool *pool, int n, int dim) {
    float *x = rand_vec((size_t)n * dim, 3), *w = rand_vec((size_t)dim, 1);
    float *want = malloc((size_t)n * dim * sizeof *want), *got = copy_vec(x, (size_t)n * dim);
    for (int off = 0; off <= 1; off++) {
        rr_rmsnorm_fwd(want, x, w, (float)off, n, dim, 1e-6f);
        memcpy(got, x, (size_t)n * dim * sizeof *got);
        rr_rmsnorm_fast(pool, got, got, w, (float)off, n, dim, 1e-6f); /* in place */
        double d = max_rel_diff(got, want, (size_t)n * dim);
        CHECK(d < 2e-6, "isa %s threads %d rmsnorm %dx%d offset %d: diff %g", WHERE, n, dim, off, d);
    }
    /* with a bf16 copy: the same rows, and the copy is exactly their rounding */
    uint16_t *gb = malloc((size_t)n * dim * sizeof *gb), *wantb = malloc((size_t)n * dim * sizeof *wantb);
    float *got2 = malloc((size_t)n * dim * sizeof *got2);
    rr_rmsnorm_fast_bf16(pool, got2, gb, x, w, 1.0f, n, dim, 1e-6f);
    rr_to_bf16_row(wantb, got2, n * dim);
    CHECK(memcmp(got2, got, (size_t)n * dim * sizeof *got) == 0 && memcmp(gb, wantb, (size_t)n * dim * sizeof *gb) == 0,
          "isa %s threads %d rmsnorm bf16 copy %dx%d", WHERE, n, dim);
    free(gb), free(wantb), free(got2);
    free(x), free(w), free(want), free(got);
}

static void check_elementwise(rr_pool *pool, size_t n) {
    float *g = rand_vec(n, 12), *u = rand_vec(n, 2), *want = malloc(n * sizeof *want), *got = malloc(n * sizeof *got);
    g[0] = -95.0f, g[1 % n] = 95.0f; /* exp's clamps */
    for (int act = RR_GLU_SILU; act <= RR_GLU_GELU; act++) {
        if (act == RR_GLU_SILU) rr_silu_fwd(want, g, n);
        else if (act == RR_GLU_GELU_TANH) rr_gelu_tanh_fwd(want, g, n);
        else rr_gelu_fwd(want, g, n);
        rr_mul_fwd(want, want, u, n);
        float *y = copy_vec(u, n);
        rr_glu_fast(pool, y, g, y, n, (rr_glu)act); /* y aliases up */
        double d = max_rel_diff(y, want, n);
        CHECK(d < 2e-6, "isa %s threads %d glu %d n %zu: diff %g", WHERE, act, n, d);
        float *y2 = malloc(n * sizeof *y2);
        uint16_t *yb = malloc(n * sizeof *yb), *wantb = malloc(n * sizeof *wantb);
        rr_glu_fast_bf16(pool, y2, yb, g, u, n, (rr_glu)act);
        rr_to_bf16_row(wantb, y2, (int)n);
        CHECK(memcmp(y2, y, n * sizeof *y) == 0 && memcmp(yb, wantb, n * sizeof *yb) == 0, "isa %s threads %d glu %d bf16",
              WHERE, act);
        free(y), free(y2), free(yb), free(wantb);
    }
    rr_scale_fwd(want, u, 0.37f, n);
    rr_add_fwd(want, g, want, n);
    memcpy(got, g, n * sizeof *got);
    rr_add_scaled_fast(pool, got, got, u, 0.37f, n);
    CHECK(max_rel_diff(got, want, n) == 0, "isa %s threads %d add_scaled n %zu", WHERE, n);
    free(g), free(u), free(want), free(got);
}

static void check_rope(rr_pool *pool, int n_heads, int hd, size_t pos0) {
    size_t offs[] = {0, 1, 9, 300, 333}, n_seqs = 4, N = offs[n_seqs];
    int ld = n_heads * hd + 5, half = hd / 2;
    size_t n_pos = pos0 + 300;
    float *c = malloc(n_pos * half * sizeof *c), *s = malloc(n_pos * half * sizeof *s);
    rr_rope_table(c, s, (int)n_pos, hd, 10000.0f);
    float *x = rand_vec(N * ld, 2), *want = copy_vec(x, N * ld);
    for (size_t q = 0; q < n_seqs; q++)
        rr_rope_fwd(want + offs[q] * ld, c + pos0 * half, s + pos0 * half, (int)(offs[q + 1] - offs[q]), n_heads, hd, ld);
    rr_rope_seqs_fast(pool, x, c, s, offs, n_seqs, pos0, n_heads, hd, ld);
    double d = max_rel_diff(x, want, N * ld);
    CHECK(d == 0, "isa %s threads %d rope heads %d hd %d pos0 %zu: diff %g", WHERE, n_heads, hd, pos0, d);
    free(c), free(s), free(x), free(want);
}

/* Attention of 4 sequences after n_past cached keys against rr_attention_past_fwd per sequence. */
static void check_attention_p(rr_pool *pool, int n_heads, int n_kv, int hd, int n_past, bool causal, bool last_only,
                              bool bf16) {
    size_t offs[] = {0, 1, 40, 170, 183}, n_seqs = 4, N = offs[n_seqs];
    int ldq = n_heads * hd, ldkv = n_kv * hd;
    float *q = rand_vec(N * ldq, 1), *k = rand_vec(N * ldkv, 1), *v = rand_vec(N * ldkv, 1);
    float *kp = rand_vec((size_t)n_past * ldkv, 1), *vp = rand_vec((size_t)n_past * ldkv, 1);
    float *want = calloc(N * ldq, sizeof *want), *scores = malloc((N + n_past) * sizeof *scores);
    for (size_t s = 0; s < n_seqs; s++) {
        rr_attn_shape sh = {(int)(offs[s + 1] - offs[s]), n_heads, n_kv, hd, ldq, ldkv, ldq, causal, false};
        rr_attention_past_fwd(want + offs[s] * ldq, q + offs[s] * ldq, kp, vp, n_past, k + offs[s] * ldkv,
                              v + offs[s] * ldkv, scores, &sh);
    }
    size_t rows = last_only ? n_seqs : N;
    float *qc = q, *got = calloc(rows * ldq, sizeof *got);
    if (last_only) { /* one query row per sequence, its last, compacted */
        qc = malloc(n_seqs * ldq * sizeof *qc);
        for (size_t s = 0; s < n_seqs; s++) memcpy(qc + s * ldq, q + (offs[s + 1] - 1) * ldq, ldq * sizeof *qc);
    }
    rr_attn_shape sh = {0, n_heads, n_kv, hd, ldq, ldkv, ldq, causal, bf16};
    float *scratch = malloc(rr_attention_past_scratch(rr_pool_size(pool), n_past + 130, hd) * sizeof *scratch);
    rr_attention_past_seqs_fwd(pool, scratch, got, qc, kp, vp, n_past, k, v, offs, n_seqs, &sh, last_only);
    double d = 0;
    for (size_t s = 0; s < n_seqs; s++) {
        size_t from = last_only ? offs[s + 1] - 1 : offs[s], n = last_only ? 1 : offs[s + 1] - offs[s];
        double ds = max_rel_diff(got + (last_only ? s : offs[s]) * ldq, want + from * ldq, n * ldq);
        if (!(ds <= d)) d = ds;
    }
    /* bf16 (AMX where present): q, k, v and the weights rounded to 8 bits of mantissa */
    if (getenv("RR_TEST_VERBOSE")) fprintf(stderr, "    attention hd %d past %d bf16 %d: diff %g\n", hd, n_past, bf16, d);
    CHECK(d < (bf16 ? 1e-2 : 1e-5), "isa %s threads %d attention heads %d/%d hd %d past %d causal %d last %d bf16 %d: diff %g",
          WHERE, n_heads, n_kv, hd, n_past, causal, last_only, bf16, d);
    if (last_only) free(qc);
    free(q), free(k), free(v), free(kp), free(vp), free(want), free(scores), free(got), free(scratch);
}

static void check_attention(rr_pool *pool, int n_heads, int n_kv, int hd, int n_past, bool causal, bool last_only) {
    check_attention_p(pool, n_heads, n_kv, hd, n_past, causal, last_only, false);
}

TEST(fast_decoder_kernels_match_reference_on_every_isa) {
    rr_isa before = rr_isa_get();
    rr_pool *pool2 = rr_pool_new(2);
    REQUIRE(pool2);
    int n_isas = 0;
    for (int isa = 0; isa < RR_ISA_COUNT; isa++) {
        if (!rr_isa_set((rr_isa)isa)) continue;
        n_isas++;
        rr_pool *pools[] = {NULL, pool2};
        for (int p = 0; p < 2; p++) {
            rr_pool *pool = pools[p];
            check_rows(pool, 37, 64);
            check_rows(pool, 5, 1000);  /* tails */
            check_rows(pool, 300, 16);  /* per-head q/k norm shape, many rows per task */
            check_elementwise(pool, 1);
            check_elementwise(pool, 20011);
            check_rope(pool, 4, 16, 0);
            check_rope(pool, 3, 40, 17); /* half = 20: a masked tail */
            check_rope(pool, 1, 256, 5);
            check_attention(pool, 4, 2, 16, 0, true, false);
            check_attention(pool, 4, 2, 16, 23, true, false);
            check_attention(pool, 8, 1, 128, 70, true, false);   /* multi-query, 2 PV chunks */
            check_attention(pool, 3, 3, 40, 5, false, false);    /* masked head_dim tail, not causal */
            check_attention(pool, 4, 4, 24, 33, true, true);     /* last token only */
            check_attention(pool, 2, 1, 256, 0, true, true);
            /* bf16 products (the AMX path on head sizes that are multiples of 32) */
            check_attention_p(pool, 4, 2, 64, 0, true, false, true);
            check_attention_p(pool, 8, 2, 128, 70, true, false, true);
            check_attention_p(pool, 3, 3, 32, 5, false, false, true);
            check_attention_p(pool, 4, 4, 64, 33, true, true, true);
            check_attention_p(pool, 2, 1, 256, 9, true, false, true); /* Gemma's head size: 4 passes of 64 */
        }
    }
    fprintf(stderr, "    decoder fast kernels checked on %d instruction sets\n", n_isas);
    rr_isa_set(before);
    rr_pool_free(pool2);
}

/* ---- whole decoders: golden logits on every instruction set and thread count; bf16 / int8 weights ---- */

#include "arch/model.h"
#include "base/file.h"
#include "base/json.h"

typedef struct golden_rows {
    int32_t *ids;
    size_t *offsets, n_seqs;
    double *logits; /* [n_seqs][n_out] */
} golden_rows;

/* The first max_rows rows of golden_fast.jsonl: input_ids and their n_out golden 'logits'. */
static bool read_golden_rows(const char *dir, size_t n_out, size_t max_rows, golden_rows *g) {
    char path[1024];
    snprintf(path, sizeof path, "%s/golden_fast.jsonl", dir);
    char *buf;
    size_t len;
    rerank_error err;
    memset(g, 0, sizeof *g);
    if (rr_file_read(path, 1 << 27, &buf, &len, &err)) return false;
    size_t cap = 0;
    for (char *line = buf, *nl; line < buf + len && g->n_seqs < max_rows; line = nl + 1) {
        nl = memchr(line, '\n', (size_t)(buf + len - line));
        if (!nl) nl = buf + len;
        json_t *row;
        if (nl == line || rr_json_parse(line, (size_t)(nl - line), path, &row, &err)) continue;
        const json_t *ids = json_object_get(row, "input_ids"), *lg = json_object_get(row, "logits");
        size_t at = g->n_seqs ? g->offsets[g->n_seqs] : 0, n = json_array_size(ids);
        g->offsets = realloc(g->offsets, (g->n_seqs + 2) * sizeof *g->offsets);
        g->logits = realloc(g->logits, (g->n_seqs + 1) * n_out * sizeof *g->logits);
        if (at + n > cap) g->ids = realloc(g->ids, (cap = 2 * (at + n)) * sizeof *g->ids);
        g->offsets[0] = 0;
        for (size_t t = 0; t < n; t++) g->ids[at + t] = (int32_t)json_integer_value(json_array_get(ids, t));
        for (size_t j = 0; j < n_out; j++) g->logits[g->n_seqs * n_out + j] = json_number_value(json_array_get(lg, j));
        g->offsets[++g->n_seqs] = at + n;
        json_decref(row);
    }
    free(buf);
    return g->n_seqs > 0;
}

static rr_model *load_dtype(const char *dir, rerank_dtype dtype, rerank_error *err) {
    char path[1024];
    snprintf(path, sizeof path, "%s/config.json", dir);
    json_t *config;
    rr_model *m = NULL;
    if (rr_json_load_file(path, 1 << 20, &config, err)) return NULL;
    if (rr_model_load(dir, config, dtype, &m, err)) m = NULL;
    json_decref(config);
    return m;
}

/* The decoder test models with the vocabulary rows their golden_fast.jsonl logits read. */
static const struct {
    const char *dir;
    int32_t score[2];
    size_t n_score;
} dec_models[] = {
    {"testdata/qwen3-causal-tiny", {0}, 2},
    {"testdata/qwen2-causal-tiny", {0}, 2},
    {"testdata/gemma-causal-tiny-bf16", {0}, 1},
    {"testdata/minicpm-layerwise-tiny", {0}, 0},
};

static int oracle_id(const char *dir, const char *key) {
    char path[1024];
    snprintf(path, sizeof path, "%s/oracle_info.json", dir);
    json_t *o;
    rerank_error err;
    if (rr_json_load_file(path, 1 << 24, &o, &err)) return -1;
    int v = (int)json_integer_value(json_object_get(o, key));
    json_decref(o);
    return v;
}

/* Runs all golden rows packed (max |diff| vs golden into *gold) and writes the outputs to out. */
static bool run_rows(rr_model *m, const golden_rows *g, size_t i, int threads, float *out, double *gold) {
    rr_batch b = {.ids = g->ids, .offsets = g->offsets, .n_seqs = g->n_seqs};
    int32_t score[2] = {-1, -1};
    if (dec_models[i].n_score == 2) {
        score[0] = oracle_id(rr_shared_path(dec_models[i].dir), "no_token_id");
        score[1] = oracle_id(rr_shared_path(dec_models[i].dir), "yes_token_id");
    } else if (dec_models[i].n_score == 1) {
        score[0] = oracle_id(rr_shared_path(dec_models[i].dir), "yes_token_id");
    }
    b.score_tokens = dec_models[i].n_score ? score : NULL;
    b.n_score_tokens = dec_models[i].n_score;
    rr_workspace *ws = rr_workspace_new();
    rr_workspace_set_threads(ws, threads);
    rerank_error err;
    bool ok = rr_model_forward(m, &b, ws, out, &err) == RERANK_OK;
    CHECK(ok, "%s", err.message);
    size_t n_out = rr_model_n_outputs(m, &b);
    *gold = 0;
    for (size_t k = 0; ok && k < g->n_seqs * n_out; k++)
        if (!(fabs(out[k] - g->logits[k]) <= *gold)) *gold = fabs(out[k] - g->logits[k]);
    rr_workspace_free(ws);
    return ok;
}

TEST(decoder_golden_on_every_isa_and_thread_count) {
    rr_isa before = rr_isa_get();
    for (size_t i = 0; i < sizeof dec_models / sizeof *dec_models; i++) {
        const char *dir = rr_shared_path(dec_models[i].dir);
        size_t n_out = dec_models[i].n_score ? dec_models[i].n_score : 1;
        golden_rows g; /* 16 rows (of 44): every isa x threads pass of all of them is slow under sanitizers */
        REQUIRE(read_golden_rows(dir, n_out, 16, &g), "%s", dir);
        rerank_error err;
        rr_model *m = load_dtype(dir, RERANK_DTYPE_AUTO, &err);
        REQUIRE(m, "%s", err.message);
        float *out = calloc(g.n_seqs * n_out, sizeof *out);
        double worst = 0;
        for (int isa = 0; isa < RR_ISA_COUNT; isa++) {
            if (!rr_isa_set((rr_isa)isa)) continue;
            for (int threads = 1; threads <= 2; threads++) {
                double d;
                if (!run_rows(m, &g, i, threads, out, &d)) continue;
                CHECK(d <= 1e-4, "%s isa %s threads %d: max |diff| %g", dec_models[i].dir, rr_isa_name((rr_isa)isa),
                      threads, d);
                if (d > worst) worst = d;
            }
        }
        rr_isa_set(before);
        fprintf(stderr, "    %s: %zu rows, every isa and 1/2 threads, max |diff| vs golden %.3g\n",
                strrchr(dec_models[i].dir, '/') + 1, g.n_seqs, worst);
        rr_model_free(m);
        free(out), free(g.ids), free(g.offsets), free(g.logits);
    }
}

/* Score of a row: the Qwen3 log-odds yes - no, else the one logit. */
static double row_score(const float *out, size_t n_out, size_t s) {
    return n_out == 2 ? (double)out[s * 2 + 1] - out[s * 2] : out[s];
}

/* bf16 / int8 decoder weights (where the CPU runs them) stay close to fp32: every normalized score within
 * 0.02 (bf16) / 0.08 (int8) of it, and the order kept of rows whose fp32 normalized scores differ by more than
 * 0.02 / 0.1. (int8 rounds each token's 64-wide activations of these tiny models coarsely: observed 0.016 to
 * 0.054.) */
TEST(decoder_low_precision_stays_close) {
    const rerank_dtype dtypes[] = {RERANK_DTYPE_BF16, RERANK_DTYPE_INT8};
    for (size_t i = 0; i < sizeof dec_models / sizeof *dec_models; i++) {
        const char *dir = rr_shared_path(dec_models[i].dir);
        size_t n_out = dec_models[i].n_score ? dec_models[i].n_score : 1;
        golden_rows g;
        REQUIRE(read_golden_rows(dir, n_out, SIZE_MAX, &g), "%s", dir);
        rerank_error err;
        float *f32 = calloc(g.n_seqs * n_out, sizeof *f32), *low = calloc(g.n_seqs * n_out, sizeof *low);
        double d;
        rr_model *m = load_dtype(dir, RERANK_DTYPE_F32, &err);
        REQUIRE(m && run_rows(m, &g, i, 2, f32, &d), "%s", err.message);
        rr_model_free(m);
        for (int t = 0; t < 2; t++) {
            m = load_dtype(dir, dtypes[t], &err);
            REQUIRE(m && run_rows(m, &g, i, 2, low, &d), "%s", m ? "" : err.message);
            rr_model_free(m);
            double worst = 0;
            int swapped = 0;
            for (size_t s = 0; s < g.n_seqs; s++) {
                double a = row_score(f32, n_out, s), b = row_score(low, n_out, s);
                double dd = fabs(1 / (1 + exp(-a)) - 1 / (1 + exp(-b)));
                if (dd > worst) worst = dd;
                for (size_t r = 0; r < s; r++) {
                    double fa = row_score(f32, n_out, r), fb = row_score(low, n_out, r);
                    double ga = 1 / (1 + exp(-fa)) - 1 / (1 + exp(-a));
                    if (fabs(ga) > (t ? 0.1 : 0.02) && (fa < a) != (fb < b)) swapped++;
                }
            }
            fprintf(stderr, "    %s %s: max |sigmoid diff| %.4f vs fp32, %d pairs out of order\n",
                    strrchr(dec_models[i].dir, '/') + 1, t ? "int8" : "bf16", worst, swapped);
            CHECK(worst <= (t ? 0.08 : 0.02) && swapped == 0, "%s dtype %d: sigmoid diff %g, %d swaps", dec_models[i].dir,
                  (int)dtypes[t], worst, swapped);
        }
        free(f32), free(low), free(g.ids), free(g.offsets), free(g.logits);
    }
}
