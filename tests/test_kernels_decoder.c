/* test_kernels_decoder.c - the decoder kernels (RMSNorm, RoPE, SiLU, tanh-GELU) on hand-checked values:
 * RMSNorm in both weight styles, RoPE identity at position 0, a 90-degree turn and norm preservation. */
#include "kernels/kernels.h"
#include "test.h"

TEST(rmsnorm_plain_and_one_plus_w) {
    const float x[4] = {1, 2, 3, 4}, w[4] = {1, 0.5f, -1, 2};
    float y[4], z[4];
    rr_rmsnorm_fwd(y, x, w, 0.0f, 1, 4, 0.0f);
    rr_rmsnorm_fwd(z, x, w, 1.0f, 1, 4, 0.0f);
    double rms = sqrt((1 + 4 + 9 + 16) / 4.0);
    for (int i = 0; i < 4; i++) {
        CHECK_NEAR(y[i], x[i] / rms * w[i], 1e-6);
        CHECK_NEAR(z[i], x[i] / rms * (1 + w[i]), 1e-6);
    }
}

TEST(rope_rotates_halves) {
    enum { HD = 8, HALF = HD / 2, T = 3 };
    float c[T * HALF], s[T * HALF];
    rr_rope_table(c, s, T, HD, 10000.0f);
    for (int i = 0; i < HALF; i++) CHECK(c[i] == 1.0f && s[i] == 0.0f); /* position 0: identity */
    CHECK_NEAR(c[HALF], cos(1.0), 1e-7);                                  /* position 1, pair 0: angle 1 */
    CHECK_NEAR(s[2 * HALF + 1], sin(2.0 / 10.0), 1e-7);                   /* position 2, pair 1: 2/10000^(2/8) */
    float x[T * HD];
    for (int i = 0; i < T * HD; i++) x[i] = (float)(i % 5) - 1.5f;
    float before[T * HD];
    memcpy(before, x, sizeof x);
    rr_rope_fwd(x, c, s, T, 1, HD, HD);
    for (int t = 0; t < T; t++)
        for (int i = 0; i < HALF; i++) {
            float a = before[t * HD + i], b = before[t * HD + i + HALF];
            float a2 = x[t * HD + i], b2 = x[t * HD + i + HALF];
            CHECK_NEAR(a2 * a2 + b2 * b2, a * a + b * b, 1e-5);
            CHECK_NEAR(a2, a * c[t * HALF + i] - b * s[t * HALF + i], 1e-6);
        }
}

TEST(gated_activations) {
    const float x[4] = {-3.0f, -0.5f, 0.0f, 2.0f};
    float y[4];
    rr_silu_fwd(y, x, 4);
    for (int i = 0; i < 4; i++) CHECK_NEAR(y[i], x[i] / (1 + exp(-x[i])), 1e-6);
    rr_gelu_tanh_fwd(y, x, 4);
    for (int i = 0; i < 4; i++) {
        double v = x[i];
        CHECK_NEAR(y[i], 0.5 * v * (1 + tanh(sqrt(2 / M_PI) * (v + 0.044715 * v * v * v))), 1e-6);
    }
    CHECK_NEAR(rr_dot_fwd(x, x, 4), 9 + 0.25 + 4, 1e-6);
}
