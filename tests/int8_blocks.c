/* int8_blocks.c - see int8_blocks.h. */
#include "int8_blocks.h"

#include <stdint.h>

#include "test.h"

static unsigned rnd_state = 4242;
static unsigned rnd_u(void) { return rnd_state = rnd_state * 1103515245u + 12345u; }
static float rnd(void) { return (float)((rnd_u() >> 8) & 0xffff) / 32768.0f - 1.0f; }

static float gelu_ref(float x) { return x * 0.5f * (1.0f + erff(x * (float)M_SQRT1_2)); }

static float f32_of_bf16(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

enum { OUT = 45, NP = RR_WMAT_PANEL };

typedef struct lp_case {
    int m, in, nc;
} lp_case;
/* {5, 4100, 45}: K past AVX2's prepared rows (4096) */
static const lp_case cases[] = {{1, 4, 5},  {3, 12, 16}, {4, 36, 32}, {5, 68, 45},
                                {7, 20, 17}, {2, 8, 33},  {6, 64, 45}, {5, 4100, 45}};

/* One block on one shape, three epilogues: plain (exact), bias + GELU + residual, and bf16 output. */
static void check_case(const rr_test_int8_block *b, const lp_case *cs) {
    int kq = (cs->in + 3) / 4 * 4;
    float *w = malloc(sizeof *w * OUT * (size_t)cs->in), bias[OUT], *res = malloc(sizeof *res * (size_t)cs->m * OUT);
    float *y = malloc(sizeof *y * (size_t)cs->m * OUT), *xscale = malloc(sizeof *xscale * (size_t)cs->m);
    uint8_t *x = malloc((size_t)cs->m * (size_t)kq);
    uint16_t *ybf = malloc(sizeof *ybf * (size_t)cs->m * OUT);
    REQUIRE(w && res && y && xscale && x && ybf);
    for (int i = 0; i < OUT * cs->in; i++) w[i] = rnd();
    for (int i = 0; i < OUT; i++) bias[i] = rnd();
    for (int i = 0; i < cs->m * OUT; i++) res[i] = rnd();
    for (int r = 0; r < cs->m; r++) {
        /* powers of two: acc * xscale * wscale then rounds once in any order, as blocks order it differently */
        xscale[r] = ldexpf(1.0f, -6 - r % 4);
        for (int k = 0; k < kq; k++) /* the whole u8 range a quantised row uses: 1 .. 255, 128 past in */
            x[r * kq + k] = k < cs->in ? (uint8_t)(1 + rnd_u() % 255u) : 128;
    }
    rr_wmat wm;
    REQUIRE(rr_wmat_init(&wm, RR_W_INT8, w, OUT, cs->in));
    size_t pstride = (size_t)kq * NP;
    for (int variant = 0; variant < 3; variant++) {
        rr_epi e = {variant ? bias : NULL, variant ? res : NULL, OUT, variant ? RR_ACT_GELU : RR_ACT_NONE, true, true,
                    variant == 2 ? ybf : NULL, OUT};
        for (int i = 0; i < cs->m * OUT; i++) y[i] = -7.0f, ybf[i] = 0xdead;
        b->fn(y, OUT, x, kq, xscale, wm.packed, pstride, wm.scale, wm.colsum, cs->m, kq, cs->nc, &e);
        int bad = 0;
        for (int r = 0; r < cs->m; r++)
            for (int c = 0; c < OUT; c++) {
                const int8_t *p = (const int8_t *)wm.packed + (size_t)(c / NP) * pstride + (size_t)(c % NP) * 4;
                int32_t acc = 0;
                for (int k = 0; k < kq; k++) acc += (int32_t)x[r * kq + k] * p[(size_t)(k / 4) * 4 * NP + (size_t)(k % 4)];
                float v = (float)(acc - 128 * wm.colsum[c]) * xscale[r] * wm.scale[c];
                if (variant) v = gelu_ref(v + bias[c]) + res[r * OUT + c];
                if (c >= cs->nc) { /* columns past nc are never written */
                    bad += variant == 2 ? ybf[r * OUT + c] != 0xdead : y[r * OUT + c] != -7.0f;
                    continue;
                }
                if (variant == 0) bad += y[r * OUT + c] != v; /* exact: the integer sums are the same */
                else if (variant == 1) bad += !(fabsf(y[r * OUT + c] - v) <= 1e-5f * (1.0f + fabsf(v)));
                else bad += !(fabsf(f32_of_bf16(ybf[r * OUT + c]) - v) <= 8e-3f * (1.0f + fabsf(v)));
            }
        CHECK(bad == 0, "%s m=%d in=%d nc=%d variant %d: %d wrong", b->name, cs->m, cs->in, cs->nc, variant, bad);
    }
    rr_wmat_free(&wm);
    free(w), free(res), free(y), free(xscale), free(x), free(ybf);
}

int rr_test_int8_blocks(const rr_test_int8_block *blocks, int n) {
    int ran = 0;
    for (int b = 0; b < n; b++) {
        if (!blocks[b].present) {
            printf("     (%s: not on this CPU, skipped)\n", blocks[b].name);
            continue;
        }
        ran++;
        for (size_t t = 0; t < sizeof cases / sizeof *cases; t++) check_case(&blocks[b], &cases[t]);
    }
    return ran;
}
