/* test_kernels_fast_decoder.c - the decoder fast paths on every instruction set (forced in turn) and 1 / 2
 * threads against the scalar reference: RMSNorm (both weight styles), RoPE over packed sequences with a
 * position offset, gated activations, scaled adds, and attention after a cached prefix (with and without a
 * prefix, causal and not, grouped heads, last-token-only queries) on awkward shapes. */
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
        free(y);
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
static void check_attention(rr_pool *pool, int n_heads, int n_kv, int hd, int n_past, bool causal, bool last_only) {
    size_t offs[] = {0, 1, 40, 170, 183}, n_seqs = 4, N = offs[n_seqs];
    int ldq = n_heads * hd, ldkv = n_kv * hd;
    float *q = rand_vec(N * ldq, 1), *k = rand_vec(N * ldkv, 1), *v = rand_vec(N * ldkv, 1);
    float *kp = rand_vec((size_t)n_past * ldkv, 1), *vp = rand_vec((size_t)n_past * ldkv, 1);
    float *want = calloc(N * ldq, sizeof *want), *scores = malloc((N + n_past) * sizeof *scores);
    for (size_t s = 0; s < n_seqs; s++) {
        rr_attn_shape sh = {(int)(offs[s + 1] - offs[s]), n_heads, n_kv, hd, ldq, ldkv, ldq, causal};
        rr_attention_past_fwd(want + offs[s] * ldq, q + offs[s] * ldq, kp, vp, n_past, k + offs[s] * ldkv,
                              v + offs[s] * ldkv, scores, &sh);
    }
    size_t rows = last_only ? n_seqs : N;
    float *qc = q, *got = calloc(rows * ldq, sizeof *got);
    if (last_only) { /* one query row per sequence, its last, compacted */
        qc = malloc(n_seqs * ldq * sizeof *qc);
        for (size_t s = 0; s < n_seqs; s++) memcpy(qc + s * ldq, q + (offs[s + 1] - 1) * ldq, ldq * sizeof *qc);
    }
    rr_attn_shape sh = {0, n_heads, n_kv, hd, ldq, ldkv, ldq, causal};
    float *scratch = malloc(rr_attention_past_scratch(rr_pool_size(pool), n_past + 130, hd) * sizeof *scratch);
    rr_attention_past_seqs_fwd(pool, scratch, got, qc, kp, vp, n_past, k, v, offs, n_seqs, &sh, last_only);
    double d = 0;
    for (size_t s = 0; s < n_seqs; s++) {
        size_t from = last_only ? offs[s + 1] - 1 : offs[s], n = last_only ? 1 : offs[s + 1] - offs[s];
        double ds = max_rel_diff(got + (last_only ? s : offs[s]) * ldq, want + from * ldq, n * ldq);
        if (!(ds <= d)) d = ds;
    }
    CHECK(d < 1e-5, "isa %s threads %d attention heads %d/%d hd %d past %d causal %d last %d: diff %g", WHERE,
          n_heads, n_kv, hd, n_past, causal, last_only, d);
    if (last_only) free(qc);
    free(q), free(k), free(v), free(kp), free(vp), free(want), free(scores), free(got), free(scratch);
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
        }
    }
    fprintf(stderr, "    decoder fast kernels checked on %d instruction sets\n", n_isas);
    rr_isa_set(before);
    rr_pool_free(pool2);
}
