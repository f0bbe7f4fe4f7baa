/* bench_llm.c - LLM reranker speed on full-size synthetic checkpoints (random weights, the real
 * config.json / safetensors layout, so the normal loader and forward pass run).
 *
 *   bench_llm synth --shape gemma|qwen3|minicpm --out DIR [--vocab N] [--layers N]
 *       gemma:   bge-reranker-v2-gemma (Gemma-2b: hidden 2048, 18 layers, 8 heads / 1 kv head of 256, ffn
 *                16384, vocab 256000, tied embeddings), a BF16 checkpoint (converted to fp32 at load)
 *       qwen3:   Qwen3-Reranker-0.6B (hidden 1024, 28 layers, 16 / 8 heads of 128, ffn 3072, vocab 151669)
 *       minicpm: bge-reranker-v2-minicpm-layerwise (hidden 2304, 40 layers, 36 / 36 heads of 64, ffn 5760,
 *                vocab 122753, per-layer heads from layer 8)
 *       qwen3 / minicpm are F32 (the zero-copy path). --vocab / --layers shrink a shape (small disks, short
 *       runs); the output says so.
 *   bench_llm run --model DIR [--passages N] [--threads N] [--dtype f32|bf16|int8] [--prefix 1|0]
 *                 [--cutoff L] [--reps N] [--scores FILE]
 *       Workload W1 (as bench_rerank's, on token ids, no tokenizer): one query and N passages (default 100),
 *       pair lengths 64-512 tokens (mean ~250) including a shared 32-token prompt+query prefix and a 24-token
 *       prompt tail. Batches as rerank_score forms them (longest first, 32 sequences, 4096 own tokens); with
 *       --prefix 1 (default) the prefix runs once and every batch continues it. --cutoff: layerwise model's
 *       cutoff layer (default 28). Prints one line "key=value ...": pairs/s, tokens/s (pair tokens, prefix
 *       counted in each pair), GFLOP/s (dense + attention work of the tokens actually run), load time, peak RSS. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "arch/model.h"
#include "base/json.h"
#include "kernels/kernels.h"

enum { PREFIX = 32, TAIL = 24, BATCH = 32, BATCH_TOKENS = 4096 };

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static uint64_t rng_state;
static uint64_t rng_next(void) {
    rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17;
    return rng_state;
}
static double rng_uniform(void) { return ((rng_next() >> 11) + 0.5) / 9007199254740992.0; }

typedef struct shape {
    const char *name, *arch;
    int hidden, layers, heads, kv_heads, head_dim, ffn, vocab, max_pos;
    bool bf16;
} shape;

static const shape shapes[] = {
    {"gemma", "GemmaForCausalLM", 2048, 18, 8, 1, 256, 16384, 256000, 8192, true},
    {"qwen3", "Qwen3ForCausalLM", 1024, 28, 16, 8, 128, 3072, 151669, 40960, false},
    {"minicpm", "LayerWiseMiniCPMForCausalLM", 2304, 40, 36, 36, 64, 5760, 122753, 2048, false},
};

/* ---------------------------------------------------------------------------------------------- synth */

typedef struct tdesc {
    char name[96];
    int64_t d0, d1; /* d1 = 0: a vector */
    float a, fill;  /* uniform in [-a, a], or all `fill` when a == 0 */
} tdesc;

static size_t tbytes(const tdesc *t, bool bf16) {
    return (size_t)t->d0 * (size_t)(t->d1 ? t->d1 : 1) * (bf16 ? 2 : 4);
}

static uint16_t to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

/* Streams a safetensors file one tensor at a time (a full-size checkpoint does not fit in memory twice). */
static int write_safetensors(const char *path, const tdesc *t, size_t n, bool bf16) {
    json_t *h = json_object();
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *shp = t[i].d1 ? json_pack("[I,I]", (json_int_t)t[i].d0, (json_int_t)t[i].d1)
                              : json_pack("[I]", (json_int_t)t[i].d0);
        json_object_set_new(h, t[i].name, json_pack("{s:s, s:o, s:[I,I]}", "dtype", bf16 ? "BF16" : "F32", "shape", shp,
                                                    "data_offsets", (json_int_t)off, (json_int_t)(off + tbytes(&t[i], bf16))));
        off += tbytes(&t[i], bf16);
    }
    json_object_set_new(h, "__metadata__", json_pack("{s:s}", "format", "pt"));
    char *hs = json_dumps(h, JSON_COMPACT);
    json_decref(h);
    size_t hl = strlen(hs), padded = (hl + 7) / 8 * 8;
    FILE *f = fopen(path, "wb");
    if (!f) return perror(path), free(hs), 1;
    uint64_t n64 = padded;
    fwrite(&n64, 8, 1, f);
    fwrite(hs, 1, hl, f);
    for (size_t i = hl; i < padded; i++) fputc(' ', f);
    free(hs);
    enum { ROWS = 1 << 20 };
    float *buf = malloc(ROWS * sizeof *buf);
    uint16_t *hb = malloc(ROWS * sizeof *hb);
    for (size_t i = 0; i < n; i++) {
        size_t ne = (size_t)t[i].d0 * (size_t)(t[i].d1 ? t[i].d1 : 1);
        for (size_t at = 0; at < ne; at += ROWS) {
            size_t k = ne - at < ROWS ? ne - at : ROWS;
            for (size_t j = 0; j < k; j++) buf[j] = t[i].a > 0 ? t[i].a * (float)(2 * rng_uniform() - 1) : t[i].fill;
            if (bf16) {
                for (size_t j = 0; j < k; j++) hb[j] = to_bf16(buf[j]);
                fwrite(hb, 2, k, f);
            } else {
                fwrite(buf, 4, k, f);
            }
        }
    }
    free(buf), free(hb);
    if (fclose(f)) return perror(path), 1;
    return 0;
}

static int cmd_synth(const shape *s0, const char *out, int vocab, int layers) {
    shape s = *s0;
    if (vocab > 0) s.vocab = vocab;
    if (layers > 0) s.layers = layers;
    mkdir(out, 0755);
    bool gemma = !strcmp(s.name, "gemma"), qwen = !strcmp(s.name, "qwen3"), cpm = !strcmp(s.name, "minicpm");
    int start_layer = s.layers < 8 ? s.layers : 8;
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", out);
    json_t *c = json_pack("{s:[s], s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:f, s:b, s:b}", "architectures", s.arch,
                          "hidden_size", s.hidden, "num_hidden_layers", s.layers, "num_attention_heads", s.heads,
                          "num_key_value_heads", s.kv_heads, "head_dim", s.head_dim, "intermediate_size", s.ffn,
                          "vocab_size", s.vocab, "max_position_embeddings", s.max_pos, "rms_norm_eps",
                          cpm ? 1e-5 : 1e-6, "tie_word_embeddings", !cpm, "attention_bias", 0);
    json_object_set_new(c, "_comment", json_sprintf("benchmark checkpoint with random weights (%s shape%s)", s.name,
                                                    vocab > 0 || layers > 0 ? ", reduced" : ""));
    json_object_set_new(c, "rope_theta", json_real(qwen ? 1000000.0 : 10000.0));
    json_object_set_new(c, "torch_dtype", json_string(s.bf16 ? "bfloat16" : "float32"));
    json_object_set_new(c, gemma ? "hidden_activation" : "hidden_act", json_string(gemma ? "gelu_pytorch_tanh" : "silu"));
    json_object_set_new(c, "bos_token_id", json_integer(gemma ? 2 : qwen ? (s.vocab > 151643 ? 151643 : 1) : 1));
    json_object_set_new(c, "eos_token_id", json_integer(gemma ? 1 : qwen ? (s.vocab > 151645 ? 151645 : 2) : 2));
    if (cpm) {
        json_object_set_new(c, "scale_emb", json_integer(12));
        json_object_set_new(c, "scale_depth", json_real(1.4));
        json_object_set_new(c, "dim_model_base", json_integer(256));
        json_object_set_new(c, "start_layer", json_integer(start_layer));
        json_object_set_new(c, "head_multi", json_true());
        json_object_set_new(c, "head_type", json_string("simple"));
    }
    int rc = json_dump_file(c, path, JSON_INDENT(1));
    json_decref(c);
    if (rc) return fprintf(stderr, "bench_llm: cannot write %s\n", path), 1;

    rng_state = 0x5eed11aau;
    size_t cap = 16 + (size_t)s.layers * 12 + (size_t)s.layers + 1, n = 0;
    tdesc *t = calloc(cap, sizeof *t);
    const float a = 0.02f * 1.7320508f, norm = gemma ? 0.0f : 1.0f; /* std 0.02; Gemma norms are 1 + w */
    int64_t H = s.hidden, QD = (int64_t)s.heads * s.head_dim, KD = (int64_t)s.kv_heads * s.head_dim;
#define ADD(d0_, d1_, a_, fill_, ...)                                                                      \
    do {                                                                                                  \
        snprintf(t[n].name, sizeof t[n].name, __VA_ARGS__);                                               \
        t[n].d0 = (d0_), t[n].d1 = (d1_), t[n].a = (a_), t[n].fill = (fill_);                             \
        n++;                                                                                              \
    } while (0)
    ADD(s.vocab, H, a, 0, "model.embed_tokens.weight");
    ADD(H, 0, 0, norm, "model.norm.weight");
    for (int l = 0; l < s.layers; l++) {
        ADD(H, 0, 0, norm, "model.layers.%d.input_layernorm.weight", l);
        ADD(H, 0, 0, norm, "model.layers.%d.post_attention_layernorm.weight", l);
        ADD(QD, H, a, 0, "model.layers.%d.self_attn.q_proj.weight", l);
        ADD(KD, H, a, 0, "model.layers.%d.self_attn.k_proj.weight", l);
        ADD(KD, H, a, 0, "model.layers.%d.self_attn.v_proj.weight", l);
        ADD(H, QD, a, 0, "model.layers.%d.self_attn.o_proj.weight", l);
        if (qwen) {
            ADD(s.head_dim, 0, 0, 1, "model.layers.%d.self_attn.q_norm.weight", l);
            ADD(s.head_dim, 0, 0, 1, "model.layers.%d.self_attn.k_norm.weight", l);
        }
        ADD(s.ffn, H, a, 0, "model.layers.%d.mlp.gate_proj.weight", l);
        ADD(s.ffn, H, a, 0, "model.layers.%d.mlp.up_proj.weight", l);
        ADD(H, s.ffn, a, 0, "model.layers.%d.mlp.down_proj.weight", l);
    }
    if (cpm)
        for (int k = 0; k <= s.layers - start_layer; k++) ADD(1, H, a, 0, "lm_head.%d.linear_head.weight", k);
#undef ADD
    snprintf(path, sizeof path, "%s/model.safetensors", out);
    rc = write_safetensors(path, t, n, s.bf16);
    free(t);
    if (!rc)
        printf("synth shape=%s layers=%d vocab=%d dtype=%s%s\n", s.name, s.layers, s.vocab, s.bf16 ? "bf16" : "f32",
               vocab > 0 || layers > 0 ? " (reduced)" : "");
    return rc;
}

/* ------------------------------------------------------------------------------------------------ run */

static long peak_rss_kib(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static int fail(const rerank_error *err) {
    fprintf(stderr, "bench_llm: %s\n", err->message);
    return 1;
}

static int longer_first(const void *a, const void *b) {
    const size_t *x = a, *y = b;
    return x[0] != y[0] ? (x[0] < y[0] ? 1 : -1) : (x[1] > y[1]) - (x[1] < y[1]);
}

typedef struct model_dims {
    int hidden, layers, heads, kv_heads, head_dim, ffn, vocab, start_layer;
    const char *arch;
} model_dims;

/* Multiply-adds x 2 of n tokens through `layers` layers, each token attending to ctx_sum keys in all. */
static double flops(const model_dims *d, int layers, double n, double ctx_sum) {
    double H = d->hidden, QD = (double)d->heads * d->head_dim, KD = (double)d->kv_heads * d->head_dim;
    return layers * (2 * n * (H * QD + 2 * H * KD + QD * H + 3 * H * d->ffn) + 4 * ctx_sum * QD);
}

static int cmd_run(const char *dir, int n_pass, int threads, rerank_dtype dtype, const char *dtype_name, bool reuse,
                   int cutoff, int reps, const char *scores_path) {
    double t0 = now();
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    json_t *config;
    rerank_error err;
    rr_model *m;
    if (rr_json_load_file(path, 1 << 20, &config, &err)) return fail(&err);
    if (rr_model_load(dir, config, dtype, &m, &err)) return fail(&err);
    model_dims md = {0};
    md.hidden = (int)json_integer_value(json_object_get(config, "hidden_size"));
    md.layers = (int)json_integer_value(json_object_get(config, "num_hidden_layers"));
    md.heads = (int)json_integer_value(json_object_get(config, "num_attention_heads"));
    md.kv_heads = (int)json_integer_value(json_object_get(config, "num_key_value_heads"));
    md.head_dim = (int)json_integer_value(json_object_get(config, "head_dim"));
    md.ffn = (int)json_integer_value(json_object_get(config, "intermediate_size"));
    md.vocab = (int)json_integer_value(json_object_get(config, "vocab_size"));
    double load_s = now() - t0;
    const rr_model_desc *desc = rr_model_describe(m);
    bool layerwise = desc->kind == RERANK_KIND_LAYERWISE;
    int top = layerwise ? (cutoff < md.layers ? cutoff : md.layers) : md.layers;
    if (layerwise && top < desc->start_layer) top = desc->start_layer;

    /* W1 lengths, as bench_rerank: 64 + 448 u^1.41 */
    rng_state = 0xbe9c0000u + (uint64_t)'1';
    size_t *len = malloc((size_t)n_pass * sizeof *len), total = 0;
    for (int i = 0; i < n_pass; i++) total += len[i] = 64 + (size_t)(448 * pow(rng_uniform(), 1.41));
    int32_t *prefix = malloc(PREFIX * sizeof *prefix), *ids = malloc(total * sizeof *ids);
    size_t *start = malloc((size_t)n_pass * sizeof *start), (*order)[2] = malloc((size_t)n_pass * sizeof *order);
    rng_state = 0x1d5u;
    for (int i = 0; i < PREFIX; i++) prefix[i] = i == 0 && desc->bos_token_id >= 0 ? desc->bos_token_id
                                                                                   : (int32_t)(3 + rng_next() % (uint64_t)(md.vocab - 3));
    int32_t tail[TAIL];
    for (int i = 0; i < TAIL; i++) tail[i] = (int32_t)(3 + rng_next() % (uint64_t)(md.vocab - 3));
    for (int i = 0, at = 0; i < n_pass; i++) {
        start[i] = (size_t)at;
        order[i][0] = len[i], order[i][1] = (size_t)i;
        for (size_t t = 0; t < len[i]; t++)
            ids[at + (int)t] = t < PREFIX ? prefix[t]
                             : t >= len[i] - TAIL ? tail[t - (len[i] - TAIL)]
                                                  : (int32_t)(3 + rng_next() % (uint64_t)(md.vocab - 3));
        at += (int)len[i];
    }
    qsort(order, (size_t)n_pass, sizeof *order, longer_first);
    int32_t score_tokens[2] = {2, 3};
    int layers_arg[1] = {top};
    rr_workspace *ws = rr_workspace_new();
    rr_workspace_set_threads(ws, threads);
    rr_prefix *pre = NULL;
    size_t n_out = layerwise ? 1 : desc->kind == RERANK_KIND_QWEN3 ? 2 : 1;
    float *scores = calloc((size_t)n_pass, sizeof *scores), *out = malloc(BATCH * n_out * sizeof *out);
    int32_t *bids = malloc(total * sizeof *bids);
    size_t offs[BATCH + 1], skip = reuse ? PREFIX : 0;
    double best = 1e30, run_tokens = 0, ctx_sum = 0;
    for (int rep = 0; rep < reps; rep++) { /* best of reps; the first also grows the workspace (ms) */
        double t1 = now();
        run_tokens = ctx_sum = 0;
        if (reuse) {
            if (rr_model_prefix_forward(m, prefix, PREFIX, layerwise ? top : 0, ws, &pre, &err)) return fail(&err);
            run_tokens += PREFIX, ctx_sum += PREFIX * (PREFIX + 1) / 2.0;
        }
        for (size_t first = 0, nb; first < (size_t)n_pass; first += nb) {
            size_t tok = 0;
            offs[0] = 0;
            for (nb = 0; nb < BATCH && first + nb < (size_t)n_pass; nb++) {
                size_t l = order[first + nb][0] - skip;
                if (nb && tok + l > BATCH_TOKENS) break;
                memcpy(bids + tok, ids + start[order[first + nb][1]] + skip, l * sizeof *bids);
                tok += l;
                offs[nb + 1] = tok;
                run_tokens += (double)l;
                ctx_sum += (double)l * (double)skip + (double)l * (double)(l + 1) / 2.0;
            }
            rr_batch b = {.ids = bids, .offsets = offs, .n_seqs = nb, .prefix = reuse ? pre : NULL};
            if (layerwise) b.layers = layers_arg, b.n_layers = 1;
            else b.score_tokens = score_tokens, b.n_score_tokens = n_out;
            if (rr_model_forward(m, &b, ws, out, &err)) return fail(&err);
            for (size_t j = 0; j < nb; j++)
                scores[order[first + j][1]] = n_out == 2 ? out[j * 2 + 1] - out[j * 2] : out[j];
        }
        if (now() - t1 < best) best = now() - t1;
    }
    if (scores_path) {
        FILE *f = fopen(scores_path, "w");
        for (int i = 0; f && i < n_pass; i++) fprintf(f, "%.9g\n", scores[i]);
        if (f) fclose(f);
    }
    double gf = flops(&md, top, run_tokens, ctx_sum) / best / 1e9;
    printf("model=%s layers_run=%d vocab=%d dtype=%s threads=%d isa=%s prefix_reuse=%d pairs=%d tokens=%zu "
           "tokens_run=%.0f seconds=%.3f pairs_per_s=%.2f tokens_per_s=%.0f gflops=%.1f load_s=%.3f peak_rss_mib=%.0f\n",
           desc->architecture, top, md.vocab, dtype_name, threads, rr_isa_name(rr_isa_get()), reuse, n_pass, total,
           run_tokens, best, n_pass / best, (double)total / best, gf, load_s, peak_rss_kib() / 1024.0);
    json_decref(config);
    rr_prefix_free(pre);
    rr_workspace_free(ws);
    rr_model_free(m);
    free(len), free(prefix), free(ids), free(start), free(order), free(scores), free(out), free(bids);
    return 0;
}

int main(int argc, char **argv) {
    const char *shape_name = NULL, *out = NULL, *model = NULL, *dt = "f32", *scores = NULL;
    int vocab = 0, layers = 0, passages = 100, threads = 0, reuse = 1, cutoff = 28, reps = 1;
    if (argc < 2) return fprintf(stderr, "usage: bench_llm synth|run [options]; see the top of bench_llm.c\n"), 2;
    for (int i = 2; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--shape")) shape_name = v;
        else if (!strcmp(k, "--out")) out = v;
        else if (!strcmp(k, "--vocab")) vocab = atoi(v);
        else if (!strcmp(k, "--layers")) layers = atoi(v);
        else if (!strcmp(k, "--model")) model = v;
        else if (!strcmp(k, "--passages")) passages = atoi(v);
        else if (!strcmp(k, "--threads")) threads = atoi(v);
        else if (!strcmp(k, "--dtype")) dt = v;
        else if (!strcmp(k, "--prefix")) reuse = atoi(v);
        else if (!strcmp(k, "--cutoff")) cutoff = atoi(v);
        else if (!strcmp(k, "--reps")) reps = atoi(v);
        else if (!strcmp(k, "--scores")) scores = v;
        else return fprintf(stderr, "bench_llm: unknown option %s\n", k), 2;
    }
    if (!strcmp(argv[1], "synth")) {
        for (size_t i = 0; shape_name && i < sizeof shapes / sizeof *shapes; i++)
            if (!strcmp(shapes[i].name, shape_name) && out) return cmd_synth(&shapes[i], out, vocab, layers);
        return fprintf(stderr, "bench_llm: synth needs --shape gemma|qwen3|minicpm and --out DIR\n"), 2;
    }
    if (!strcmp(argv[1], "run")) {
        rerank_dtype dtype = !strcmp(dt, "bf16") ? RERANK_DTYPE_BF16 : !strcmp(dt, "int8") ? RERANK_DTYPE_INT8
                           : !strcmp(dt, "f32") ? RERANK_DTYPE_F32 : (rerank_dtype)-1;
        if (!model || (int)dtype < 0 || passages < 1 || reps < 1)
            return fprintf(stderr, "bench_llm: run needs --model DIR (and --dtype f32|bf16|int8)\n"), 2;
        return cmd_run(model, passages, threads, dtype, dt, reuse != 0, cutoff, reps, scores);
    }
    return fprintf(stderr, "bench_llm: unknown command %s\n", argv[1]), 2;
}
