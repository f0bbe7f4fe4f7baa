/* bench_prefix.c - query-prefix reuse speed: a Qwen3-shaped random decoder (hidden 512, 8 layers), one query
 * prefix of 60 tokens and 100 passages of 100-200 tokens, scored whole and with the prefix run once.
 *   bench_prefix [--out DIR] [--passages N] [--prefix N] [--reps N]     prints the times, speed-up, max diff */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "arch/model.h"
#include "io/safetensors.h"

enum { HIDDEN = 512, LAYERS = 8, HEADS = 8, KV_HEADS = 4, HEAD_DIM = 64, FFN = 1536, VOCAB = 4096, BATCH = 32 };

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t rng_next(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return rng;
}
static float rng_sym(void) { return (float)((rng_next() >> 11) * (1.0 / 9007199254740992.0) * 2.0 - 1.0); }

/* Uniform in [-a, a] (a = 0.05: activations stay O(1) through 8 layers), or all `fill` when a == 0. */
static float *tensor(size_t n, float a, float fill) {
    float *t = malloc(n * sizeof *t);
    if (!t) exit(1);
    for (size_t i = 0; i < n; i++) t[i] = a > 0 ? a * rng_sym() : fill;
    return t;
}

static int synth(const char *dir) {
    mkdir(dir, 0755);
    enum { PER_LAYER = 11, N = 2 + LAYERS * PER_LAYER };
    rr_st_write_tensor w[N];
    char names[N][96];
    size_t k = 0;
#define ADD(nm, a, fill, d0, d1)                                                                              \
    do {                                                                                                      \
        snprintf(names[k], sizeof names[k], "%s", nm);                                                        \
        w[k] = (rr_st_write_tensor){names[k], RR_ST_F32, (d1) ? 2 : 1, {(d0), (d1)}, tensor((size_t)(d0) * ((d1) ? (size_t)(d1) : 1), a, fill)}; \
        k++;                                                                                                  \
    } while (0)
    ADD("model.embed_tokens.weight", 1.0f, 0, VOCAB, HIDDEN);
    ADD("model.norm.weight", 0, 1.0f, HIDDEN, 0);
    char nm[96];
    for (int l = 0; l < LAYERS; l++) {
        static const struct {
            const char *suffix;
            int d0, d1;
            float a, fill;
        } t[PER_LAYER] = {
            {"input_layernorm.weight", HIDDEN, 0, 0, 1},
            {"post_attention_layernorm.weight", HIDDEN, 0, 0, 1},
            {"self_attn.q_proj.weight", HEADS * HEAD_DIM, HIDDEN, 0.05f, 0},
            {"self_attn.k_proj.weight", KV_HEADS * HEAD_DIM, HIDDEN, 0.05f, 0},
            {"self_attn.v_proj.weight", KV_HEADS * HEAD_DIM, HIDDEN, 0.05f, 0},
            {"self_attn.o_proj.weight", HIDDEN, HEADS * HEAD_DIM, 0.05f, 0},
            {"self_attn.q_norm.weight", HEAD_DIM, 0, 0, 1},
            {"self_attn.k_norm.weight", HEAD_DIM, 0, 0, 1},
            {"mlp.gate_proj.weight", FFN, HIDDEN, 0.05f, 0},
            {"mlp.up_proj.weight", FFN, HIDDEN, 0.05f, 0},
            {"mlp.down_proj.weight", HIDDEN, FFN, 0.05f, 0},
        };
        for (int i = 0; i < PER_LAYER; i++) {
            snprintf(nm, sizeof nm, "model.layers.%d.%s", l, t[i].suffix);
            ADD(nm, t[i].a, t[i].fill, t[i].d0, t[i].d1);
        }
    }
#undef ADD
    char path[1024];
    rerank_error err;
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    rerank_status st = rr_safetensors_write(path, w, k, &err);
    for (size_t i = 0; i < k; i++) free((void *)w[i].data);
    if (st) {
        fprintf(stderr, "bench_prefix: %s\n", err.message);
        return 1;
    }
    json_t *c = json_pack("{s:[s], s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:f, s:f, s:b, s:s, s:i, s:i}",
                          "architectures", "Qwen3ForCausalLM", "hidden_size", HIDDEN, "num_hidden_layers", LAYERS,
                          "num_attention_heads", HEADS, "num_key_value_heads", KV_HEADS, "head_dim", HEAD_DIM,
                          "intermediate_size", FFN, "vocab_size", VOCAB, "max_position_embeddings", 40960,
                          "rms_norm_eps", 1e-6, "rope_theta", 1000000.0, "tie_word_embeddings", 1, "hidden_act",
                          "silu", "bos_token_id", 1, "eos_token_id", 2);
    snprintf(path, sizeof path, "%s/config.json", dir);
    int rc = json_dump_file(c, path, JSON_INDENT(2));
    json_decref(c);
    return rc ? 1 : 0;
}

static int fail(const rerank_error *err) {
    fprintf(stderr, "bench_prefix: %s\n", err->message);
    return 1;
}

int main(int argc, char **argv) {
    const char *dir = "bench/out/prefix-qwen3";
    int n_pass = 100, n_pre = 60, reps = 1;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--out")) dir = argv[i + 1];
        else if (!strcmp(argv[i], "--passages")) n_pass = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--prefix")) n_pre = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
    }
    if (n_pass < 1 || n_pre < 1 || reps < 1) return fprintf(stderr, "bench_prefix: bad option\n"), 2;
    mkdir("bench/out", 0755);
    if (synth(dir)) return 1;
    rerank_error err;
    char path[1024];
    snprintf(path, sizeof path, "%s/config.json", dir);
    json_t *config = json_load_file(path, 0, NULL);
    rr_model *m;
    if (!config) return fprintf(stderr, "bench_prefix: cannot read %s\n", path), 1;
    if (rr_model_load(dir, config, RERANK_DTYPE_AUTO, &m, &err)) return fail(&err);
    json_decref(config);

    /* whole sequences (prefix + passage) and the passages alone */
    size_t *lens = malloc((size_t)n_pass * sizeof *lens), total = 0;
    for (int p = 0; p < n_pass; p++) total += lens[p] = 100 + rng_next() % 101;
    int32_t *prefix = malloc((size_t)n_pre * sizeof *prefix), *whole = malloc((total + (size_t)n_pass * n_pre) * sizeof *whole);
    int32_t *suffix = malloc(total * sizeof *suffix);
    size_t *off_w = malloc(((size_t)n_pass + 1) * sizeof *off_w), *off_s = malloc(((size_t)n_pass + 1) * sizeof *off_s);
    prefix[0] = 1;
    for (int i = 1; i < n_pre; i++) prefix[i] = (int32_t)(3 + rng_next() % (VOCAB - 3));
    off_w[0] = off_s[0] = 0;
    for (int p = 0; p < n_pass; p++) {
        memcpy(whole + off_w[p], prefix, (size_t)n_pre * sizeof *prefix);
        for (size_t t = 0; t < lens[p]; t++)
            suffix[off_s[p] + t] = whole[off_w[p] + (size_t)n_pre + t] = (int32_t)(3 + rng_next() % (VOCAB - 3));
        off_w[p + 1] = off_w[p] + (size_t)n_pre + lens[p];
        off_s[p + 1] = off_s[p] + lens[p];
    }
    int32_t no_yes[2] = {10, 11};
    float *out_w = malloc((size_t)n_pass * 2 * sizeof *out_w), *out_s = malloc((size_t)n_pass * 2 * sizeof *out_s);
    rr_workspace *ws = rr_workspace_new();
    rr_prefix *pre = NULL;
    double t_whole = 1e30, t_reuse = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        for (int p = 0; p < n_pass; p += BATCH) { /* batches of 32 whole sequences */
            int n = n_pass - p < BATCH ? n_pass - p : BATCH;
            size_t offs[BATCH + 1];
            for (int j = 0; j <= n; j++) offs[j] = off_w[p + j] - off_w[p];
            rr_batch b = {.ids = whole + off_w[p], .offsets = offs, .n_seqs = (size_t)n, .score_tokens = no_yes,
                          .n_score_tokens = 2};
            if (rr_model_forward(m, &b, ws, out_w + (size_t)p * 2, &err)) return fail(&err);
        }
        double t1 = now();
        if (rr_model_prefix_forward(m, prefix, (size_t)n_pre, 0, ws, &pre, &err)) return fail(&err);
        for (int p = 0; p < n_pass; p += BATCH) { /* the same batches, passages only */
            int n = n_pass - p < BATCH ? n_pass - p : BATCH;
            size_t offs[BATCH + 1];
            for (int j = 0; j <= n; j++) offs[j] = off_s[p + j] - off_s[p];
            rr_batch b = {.ids = suffix + off_s[p], .offsets = offs, .n_seqs = (size_t)n, .score_tokens = no_yes,
                          .n_score_tokens = 2, .prefix = pre};
            if (rr_model_forward(m, &b, ws, out_s + (size_t)p * 2, &err)) return fail(&err);
        }
        double t2 = now();
        if (t1 - t0 < t_whole) t_whole = t1 - t0;
        if (t2 - t1 < t_reuse) t_reuse = t2 - t1;
    }
    double maxdiff = 0;
    for (int p = 0; p < n_pass; p++) { /* Qwen3 score: yes - no log-odds */
        double d = fabs((double)(out_w[2 * p + 1] - out_w[2 * p]) - (double)(out_s[2 * p + 1] - out_s[2 * p]));
        if (!(d <= maxdiff)) maxdiff = d;
    }
    printf("prefix reuse: Qwen3-shaped random decoder (hidden %d, %d layers, %d/%d heads, ffn %d), 1 query prefix of "
           "%d tokens, %d passages of 100-200 tokens (%zu passage tokens), batches of %d, best of %d\n",
           HIDDEN, LAYERS, HEADS, KV_HEADS, FFN, n_pre, n_pass, total, BATCH, reps);
    printf("  without reuse: %.3f s (%zu tokens)\n", t_whole, total + (size_t)n_pass * (size_t)n_pre);
    printf("  with reuse:    %.3f s (%zu tokens)\n", t_reuse, total + (size_t)n_pre);
    printf("  speed-up:      %.2fx\n", t_whole / t_reuse);
    printf("  max |score(reuse) - score(whole)| = %.3g\n", maxdiff);
    rr_prefix_free(pre);
    rr_workspace_free(ws);
    rr_model_free(m);
    free(lens), free(prefix), free(whole), free(suffix), free(off_w), free(off_s), free(out_w), free(out_s);
    return maxdiff <= 1e-4 ? 0 : 1;
}
