/* test_kernels_neon.c - the ARM64 kernels called directly against plain-C sums on awkward shapes (row and column
 * tails, K not a multiple of the vector step): every int8 block (smull, sdot, smmla) bit-identical to the
 * integer sums, bf16 blocks (widening, bfmmla) to float rounding, the fp32 micro-kernel with each epilogue, and
 * softmax / LayerNorm rows. The feature blocks run where the (emulated) CPU has them; elsewhere the test says
 * so. Only compiled into an aarch64 build. */
#if defined(__aarch64__)
#include <stdint.h>

#include "int8_blocks.h"
#include "kernels/arm64/arm64.h"
#include "test.h"

static unsigned rnd_state = 4242;
static float rnd(void) {
    rnd_state = rnd_state * 1103515245u + 12345u;
    return (float)((rnd_state >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static float gelu_ref(float x) { return x * 0.5f * (1.0f + erff(x * (float)M_SQRT1_2)); }

static float f32_of_bf16(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static uint16_t bf16_round(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

enum { OUT = 45, IN_MAX = 70, M_MAX = 7, NP = RR_WMAT_PANEL };

typedef struct lp_case {
    int m, in, nc;
} lp_case;
static const lp_case cases[] = {{1, 4, 5}, {3, 12, 16}, {4, 36, 32}, {5, 68, 45}, {7, 20, 17}, {2, 8, 33}, {6, 64, 45}};

TEST(neon_int8_blocks_match_integer_sums) {
    const rr_test_int8_block blocks[] = {{"neon", rr_block_int8_neon, true},
                                         {"neon_dot", rr_block_int8_neon_dot, rr_neon_has(RR_NEON_DOT)},
                                         {"neon_i8mm", rr_block_int8_neon_i8mm, rr_neon_has(RR_NEON_I8MM)}};
    CHECK(rr_test_int8_blocks(blocks, 3) >= 1);
}

TEST(neon_bf16_blocks_match_float_sums) {
    typedef struct {
        const char *name;
        rr_block_bf16_fn fn;
        bool present;
    } blk;
    blk blocks[] = {{"neon", rr_block_bf16_neon, true}, {"neon_bf16", rr_block_bf16_neon_bf16, rr_neon_has(RR_NEON_BF16)}};
    int ran = 0;
    for (size_t b = 0; b < sizeof blocks / sizeof *blocks; b++) {
        if (!blocks[b].present) {
            printf("     (%s: not on this CPU, skipped)\n", blocks[b].name);
            continue;
        }
        ran++;
        for (size_t t = 0; t < sizeof cases / sizeof *cases; t++) {
            lp_case cs = cases[t];
            cs.in -= cs.in % 4 == 0 && t % 2 ? 2 : 0; /* K = 2 mod 4 too: bfmmla's half step */
            int kp = (cs.in + 1) / 2 * 2;
            float w[OUT * IN_MAX], bias[OUT], res[M_MAX * OUT];
            uint16_t x[M_MAX * IN_MAX];
            for (int i = 0; i < OUT * cs.in; i++) w[i] = rnd();
            for (int i = 0; i < OUT; i++) bias[i] = rnd();
            for (int i = 0; i < M_MAX * OUT; i++) res[i] = rnd();
            for (int r = 0; r < cs.m; r++)
                for (int k = 0; k < kp; k++) x[r * kp + k] = k < cs.in ? bf16_round(rnd() * 4) : 0;
            rr_wmat wm;
            REQUIRE(rr_wmat_init(&wm, RR_W_BF16, w, OUT, cs.in));
            size_t pstride = (size_t)kp * NP;
            for (int variant = 0; variant < 2; variant++) {
                float y[M_MAX * OUT];
                for (int i = 0; i < M_MAX * OUT; i++) y[i] = -7.0f;
                rr_epi e = {variant ? bias : NULL, variant ? res : NULL, OUT, variant ? RR_ACT_GELU : RR_ACT_NONE,
                            true, true, NULL, 0};
                blocks[b].fn(y, OUT, x, kp, wm.packed, pstride, cs.m, kp, cs.nc, &e);
                int bad = 0;
                for (int r = 0; r < cs.m; r++)
                    for (int c = 0; c < OUT; c++) {
                        const uint16_t *p = (const uint16_t *)wm.packed + (size_t)(c / NP) * pstride + (size_t)(c % NP) * 2;
                        double acc = 0, mag = 0;
                        for (int k = 0; k < kp; k++) {
                            double pr = (double)f32_of_bf16(x[r * kp + k]) * f32_of_bf16(p[(size_t)(k / 2) * 2 * NP + (size_t)(k % 2)]);
                            acc += pr, mag += fabs(pr);
                        }
                        double v = acc;
                        if (variant) v = gelu_ref((float)(v + bias[c])) + res[r * OUT + c];
                        if (c >= cs.nc) bad += y[r * OUT + c] != -7.0f;
                        else bad += !(fabs(y[r * OUT + c] - v) <= 1e-5 * (1.0 + mag));
                    }
                CHECK(bad == 0, "%s m=%d in=%d nc=%d variant %d: %d wrong", blocks[b].name, cs.m, cs.in, cs.nc, variant, bad);
            }
            rr_wmat_free(&wm);
        }
    }
    CHECK(ran >= 1);
}

TEST(neon_ukernel_tiles_and_epilogues) {
    enum { MR = 6, NR = 16, KC = 37, LDC = 21 };
    float pa[KC * MR] __attribute__((aligned(64))), pb[KC * NR] __attribute__((aligned(64)));
    for (int i = 0; i < KC * MR; i++) pa[i] = rnd();
    for (int i = 0; i < KC * NR; i++) pb[i] = rnd();
    float bias[NR], res[MR * LDC];
    for (int i = 0; i < NR; i++) bias[i] = rnd();
    for (int i = 0; i < MR * LDC; i++) res[i] = rnd();
    int bad = 0, runs = 0;
    for (int mr = 1; mr <= MR; mr++)
        for (int nr = 1; nr <= NR; nr += 3)
            for (int mode = 0; mode < 4; mode++) {
                /* 0: first, alpha 1; 1: accumulate; 2: alpha 0.5, beta 2; 3: last with bias, GELU, residual */
                float c[MR * LDC], c0[MR * LDC];
                for (int i = 0; i < MR * LDC; i++) c[i] = c0[i] = rnd();
                rr_uepi e = {mode == 3 ? bias : NULL, mode == 3 ? res : NULL, LDC, mode == 3 ? RR_ACT_GELU : RR_ACT_NONE,
                             mode != 1, mode == 3, mode == 2 ? 0.5f : 1.0f, mode == 2 ? 2.0f : 0.0f};
                rr_ukernel_neon(c, LDC, pa, pb, KC, mr, nr, &e);
                runs++;
                for (int r = 0; r < MR; r++)
                    for (int j = 0; j < LDC; j++) {
                        float got = c[r * LDC + j];
                        if (r >= mr || j >= nr) {
                            bad += got != c0[r * LDC + j];
                            continue;
                        }
                        double acc = 0;
                        for (int k = 0; k < KC; k++) acc += (double)pa[k * MR + r] * pb[k * NR + j];
                        double v = e.alpha * acc + (mode == 1 ? c0[r * LDC + j] : e.beta * c0[r * LDC + j]);
                        if (mode == 3) v = gelu_ref((float)(v + bias[j])) + res[r * LDC + j];
                        bad += !(fabs(got - v) <= 1e-5 * (1.0 + fabs(v)) * 4);
                    }
            }
    CHECK(runs == 6 * 6 * 4 && bad == 0, "%d wrong", bad);
}

TEST(neon_softmax_and_layernorm_rows) {
    int bad = 0;
    for (int n = 1; n <= 41; n += 5) {
        float x[48], want[48];
        for (int i = 0; i < n; i++) x[i] = rnd() * 8;
        if (n > 6) x[3] = -INFINITY; /* a masked score: exactly 0 */
        double mx = -INFINITY, sum = 0;
        for (int i = 0; i < n; i++) mx = x[i] > mx ? x[i] : mx;
        for (int i = 0; i < n; i++) sum += want[i] = (float)exp(0.3 * x[i] - 0.3 * mx);
        for (int i = 0; i < n; i++) want[i] = (float)(want[i] / sum);
        rr_softmax_neon(x, n, 0.3f);
        for (int i = 0; i < n; i++) bad += !(fabsf(x[i] - want[i]) <= 2e-6f);
        if (n > 6) bad += x[3] != 0.0f;
        float w[48], b[48], y[48];
        for (int i = 0; i < n; i++) x[i] = rnd() * 3 + 1, w[i] = rnd(), b[i] = rnd();
        double mean = 0, var = 0;
        for (int i = 0; i < n; i++) mean += x[i];
        mean /= n;
        for (int i = 0; i < n; i++) var += (x[i] - mean) * (x[i] - mean);
        double rstd = 1.0 / sqrt(var / n + 1e-5);
        rr_layernorm_row_neon(y, x, w, b, n, 1e-5f);
        for (int i = 0; i < n; i++) bad += !(fabs(y[i] - ((x[i] - mean) * rstd * w[i] + b[i])) <= 2e-5);
    }
    CHECK(bad == 0, "%d wrong", bad);
}
static double rel(double got, double want) { return fabs(got - want) / (1.0 + fabs(want)); }

TEST(neon_decoder_row_ops) {
    const rr_dec_ops *o = &rr_dec_ops_neon;
    enum { DIM = 43, HD = 40, M = 5, NK = 19, LD = 47 };
    double worst = 0;
    float x[DIM], y[DIM], w[DIM], u[DIM];
    for (int i = 0; i < DIM; i++) x[i] = rnd() * 3, w[i] = rnd(), u[i] = rnd();
    o->rmsnorm(y, x, w, 1.0f, DIM, 1e-6f);
    double ss = 0;
    for (int i = 0; i < DIM; i++) ss += (double)x[i] * x[i];
    for (int i = 0; i < DIM; i++) worst = fmax(worst, rel(y[i], x[i] / sqrt(ss / DIM + 1e-6) * (w[i] + 1.0)));
    for (int act = RR_GLU_SILU; act <= RR_GLU_GELU_TANH; act++) {
        o->glu(y, x, u, DIM, (rr_glu)act);
        for (int i = 0; i < DIM; i++) {
            double v = x[i], a = act == RR_GLU_SILU ? v / (1 + exp(-v))
                                                   : 0.5 * v * (1 + tanh(sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
            worst = fmax(worst, rel(y[i], a * u[i]));
        }
    }
    o->add_scaled(y, x, u, 0.75f, DIM);
    for (int i = 0; i < DIM; i++) worst = fmax(worst, rel(y[i], x[i] + u[i] * 0.75));
    float cs[HD / 2], sn[HD / 2], h[2 * HD], h0[2 * HD];
    for (int i = 0; i < HD / 2; i++) cs[i] = cosf((float)i), sn[i] = sinf((float)i);
    for (int i = 0; i < 2 * HD; i++) h[i] = h0[i] = rnd();
    o->rope(h, cs, sn, 2, HD);
    for (int hh = 0; hh < 2; hh++)
        for (int i = 0; i < HD / 2; i++) {
            const float *a = h0 + hh * HD;
            worst = fmax(worst, rel(h[hh * HD + i], (double)a[i] * cs[i] - (double)a[i + HD / 2] * sn[i]));
            worst = fmax(worst, rel(h[hh * HD + i + HD / 2], (double)a[i + HD / 2] * cs[i] + (double)a[i] * sn[i]));
        }
    /* attention pieces: scores from packed K^T panels, softmax, P V (accumulating on a second call) */
    float q[M * HD], k[NK * HD], v[NK * LD], kt[2 * HD * RR_KT_NR] __attribute__((aligned(64)));
    float S[M * 32], out[M * LD];
    for (int i = 0; i < M * HD; i++) q[i] = rnd();
    for (int i = 0; i < NK * HD; i++) k[i] = rnd();
    for (int i = 0; i < NK * LD; i++) v[i] = rnd();
    for (int p = 0; p < 2; p++) {
        const float *rows[RR_KT_NR];
        for (int j = 0; j < RR_KT_NR; j++) rows[j] = p * RR_KT_NR + j < NK ? k + (p * RR_KT_NR + j) * HD : NULL;
        o->pack_panel(kt + p * HD * RR_KT_NR, rows, HD);
    }
    o->scores(S, 32, q, HD, M, kt, HD, 2);
    for (int r = 0; r < M; r++)
        for (int j = 0; j < 32; j++) {
            double d = 0;
            for (int e = 0; e < HD; e++) d += j < NK ? (double)q[r * HD + e] * k[j * HD + e] : 0;
            worst = fmax(worst, rel(S[r * 32 + j], d));
        }
    for (int r = 0; r < M; r++) o->softmax(S + r * 32, NK, 0.5f);
    for (int r = 0; r < M; r++) {
        double sum = 0;
        for (int j = 0; j < NK; j++) sum += S[r * 32 + j];
        worst = fmax(worst, rel(sum, 1.0));
    }
    for (int i = 0; i < M * LD; i++) out[i] = 9.0f; /* columns past HD must stay */
    o->pv(out, LD, S, 32, M, v, LD, NK, HD, false);
    o->pv(out, LD, S, 32, M, v, LD, NK, HD, true);
    int untouched = 0;
    for (int r = 0; r < M; r++)
        for (int e = 0; e < LD; e++) {
            if (e >= HD) {
                untouched += out[r * LD + e] == 9.0f;
                continue;
            }
            double d = 0;
            for (int j = 0; j < NK; j++) d += (double)S[r * 32 + j] * v[j * LD + e];
            worst = fmax(worst, rel(out[r * LD + e], 2 * d));
        }
    CHECK(worst < 1e-5, "worst relative difference %g", worst);
    CHECK(untouched == M * (LD - HD));
}
/* Each ARM64 set the (emulated) CPU has runs its own blocks: neon_dot sdot, neon_i8mm smmla and bfmmla, neon
 * the widening ones; every set the fp32 NEON micro-kernel. */
TEST(neon_sets_run_their_own_kernels) {
    static const struct {
        rr_isa isa;
        const char *f32, *bf16, *int8;
    } sets[] = {{RR_ISA_NEON, "neon", "neon-widen", "neon-smull"},
                {RR_ISA_NEON_DOT, "neon", "neon-widen", "neon_dot-sdot"},
                {RR_ISA_NEON_I8MM, "neon", "neon_i8mm-bfmmla", "neon_i8mm-smmla"}};
    rr_isa before = rr_isa_get();
    CHECK(rr_isa_supported(RR_ISA_NEON) && !rr_isa_supported(RR_ISA_AVX2) && !rr_isa_supported(RR_ISA_AVX512));
    CHECK(rr_isa_supported(RR_ISA_NEON_DOT) == rr_neon_has(RR_NEON_DOT));
    int ran = 0;
    for (size_t i = 0; i < sizeof sets / sizeof *sets; i++) {
        if (!rr_isa_set(sets[i].isa)) {
            printf("     (%s: not on this CPU, skipped)\n", rr_isa_name(sets[i].isa));
            continue;
        }
        ran++;
        const char *want[3] = {sets[i].f32, sets[i].bf16, sets[i].int8};
        for (int t = RR_W_F32; t <= RR_W_INT8; t++) {
            enum { N = 3, IN = 64, NO = 40 };
            float x[N * IN], w[NO * IN], y[N * NO];
            for (int j = 0; j < N * IN; j++) x[j] = rnd();
            for (int j = 0; j < NO * IN; j++) w[j] = rnd() * 0.1f;
            rr_wmat m;
            REQUIRE(rr_wmat_init(&m, (rr_wtype)t, w, NO, IN));
            float *scratch = malloc(rr_linear_w_scratch(&m, 1, N) * sizeof *scratch);
            rr_linear_w_fwd(NULL, scratch, y, x, &m, NULL, NULL, N, RR_ACT_NONE);
            const char *k = rr_kernels_last((rr_wtype)t);
            CHECK(k && !strcmp(k, want[t]), "%s wtype %d ran %s, not %s", rr_isa_name(sets[i].isa), t, k ? k : "nothing",
                  want[t]);
            rr_wmat_free(&m), free(scratch);
        }
    }
    rr_isa_set(before);
    CHECK(ran >= 1);
}
#endif
