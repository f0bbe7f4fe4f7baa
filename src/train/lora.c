/* lora.c - LoRA adapters on Linear modules (lora.h): target names, PEFT's initialisation, and the forward and
 * backward of one adapted projection through rr_sgemm. Dropout masks are recomputed in the backward from a
 * counter-based hash instead of being stored. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "kernels/kernels_bwd.h" /* rr_dropout_mix: splitmix64 */
#include "base/error.h"
#include "train/lora.h"

const char *const rr_lora_module_names[RR_LORA_N_MODULES] = {"q_proj",    "k_proj",  "v_proj",   "o_proj",
                                                             "gate_proj", "up_proj", "down_proj"};
const char *const rr_lora_module_paths[RR_LORA_N_MODULES] = {
    "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
    "mlp.gate_proj",    "mlp.up_proj",      "mlp.down_proj"};

rerank_status rr_lora_parse_targets(const char *targets, bool on[RR_LORA_N_MODULES], rerank_error *err) {
    bool any = false;
    for (int i = 0; i < RR_LORA_N_MODULES; i++) on[i] = false;
    for (const char *p = targets ? targets : ""; *p;) {
        while (*p == ' ' || *p == ',') p++;
        size_t n = strcspn(p, ", ");
        if (!n) break;
        int hit = -1;
        for (int i = 0; i < RR_LORA_N_MODULES; i++)
            if (strlen(rr_lora_module_names[i]) == n && !strncmp(p, rr_lora_module_names[i], n)) hit = i;
        if (hit < 0)
            return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT,
                           "LoRA target '%.*s' is not a decoder projection (supported: q_proj, k_proj, v_proj, "
                           "o_proj, gate_proj, up_proj, down_proj)",
                           (int)(n > 64 ? 64 : n), p);
        on[hit] = any = true;
        p += n;
    }
    if (!any)
        for (int i = 0; i < RR_LORA_N_MODULES; i++) on[i] = true;
    return RERANK_OK;
}


/* Uniform in [0, 1) from 53 bits. */
static double unit(unsigned long long seed, unsigned long long i) {
    return (double)(rr_dropout_mix(seed ^ rr_dropout_mix(i)) >> 11) * 0x1p-53;
}

void rr_lora_init_a(float *a, int r, int in, unsigned long long seed, unsigned long long stream) {
    /* kaiming_uniform_(a=sqrt(5)): gain sqrt(2/(1+5)), bound = gain * sqrt(3 / fan_in) = 1 / sqrt(in) */
    double bound = 1.0 / sqrt((double)in);
    unsigned long long s = rr_dropout_mix(seed ^ rr_dropout_mix(stream + 0x51ed270b27ull));
    size_t n = (size_t)r * (size_t)in;
    for (size_t i = 0; i < n; i++) a[i] = (float)((2.0 * unit(s, i) - 1.0) * bound);
}

static bool adapted(const rr_lora_linear *l) { return l->a && l->b; }

/* The dropped-out input: x * keep / (1 - p), keep ~ Bernoulli(1 - p) from the hash (torch's nn.Dropout). */
static void dropout(const rr_lora_linear *l, float *xd, const float *x, int n) {
    size_t total = (size_t)n * (size_t)l->in;
    float keep_scale = (float)(1.0 / (1.0 - (double)l->p));
    for (size_t i = 0; i < total; i++) xd[i] = unit(l->mask_seed, i) >= (double)l->p ? x[i] * keep_scale : 0.0f;
}

void rr_lora_fwd(rr_pool *pool, const rr_lora_linear *l, float *y, const float *x, float *u, float *scratch, int n) {
    rr_sgemm(pool, false, true, n, l->out, l->in, 1.0f, x, l->in, l->w, l->in, 0.0f, y, l->out);
    if (l->bias)
        for (int i = 0; i < n; i++)
            for (int o = 0; o < l->out; o++) y[(size_t)i * (size_t)l->out + (size_t)o] += l->bias[o];
    if (!adapted(l)) return;
    const float *xin = x;
    if (l->p > 0.0f) {
        dropout(l, scratch, x, n);
        xin = scratch;
    }
    rr_sgemm(pool, false, true, n, l->r, l->in, 1.0f, xin, l->in, l->a, l->in, 0.0f, u, l->r);
    rr_sgemm(pool, false, true, n, l->out, l->r, l->scale, u, l->r, l->b, l->r, 1.0f, y, l->out);
}

void rr_lora_bwd(rr_pool *pool, const rr_lora_linear *l, float *dx, const float *dy, const float *x, const float *u,
                 float *scratch, int n) {
    if (dx) rr_sgemm(pool, false, false, n, l->in, l->out, 1.0f, dy, l->out, l->w, l->in, 1.0f, dx, l->in);
    if (!adapted(l)) return;
    float *xd = scratch, *du = scratch + (size_t)n * (size_t)l->in;
    const float *xin = x;
    if (l->p > 0.0f) {
        dropout(l, xd, x, n);
        xin = xd;
    }
    /* dB += s dy^T u; du = s dy B; dA += du^T dropout(x); d dropout(x) = du A */
    rr_sgemm(pool, true, false, l->out, l->r, n, l->scale, dy, l->out, u, l->r, 1.0f, l->db, l->r);
    rr_sgemm(pool, false, false, n, l->r, l->out, l->scale, dy, l->out, l->b, l->r, 0.0f, du, l->r);
    rr_sgemm(pool, true, false, l->r, l->in, n, 1.0f, du, l->r, xin, l->in, 1.0f, l->da, l->in);
    if (!dx) return;
    if (l->p <= 0.0f) {
        rr_sgemm(pool, false, false, n, l->in, l->r, 1.0f, du, l->r, l->a, l->in, 1.0f, dx, l->in);
        return;
    }
    rr_sgemm(pool, false, false, n, l->in, l->r, 1.0f, du, l->r, l->a, l->in, 0.0f, xd, l->in);
    size_t total = (size_t)n * (size_t)l->in;
    float keep_scale = (float)(1.0 / (1.0 - (double)l->p));
    for (size_t i = 0; i < total; i++)
        if (unit(l->mask_seed, i) >= (double)l->p) dx[i] += xd[i] * keep_scale;
}
