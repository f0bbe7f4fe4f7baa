/* bench_rerank.c - reranking speed on full-size synthetic checkpoints.
 *
 *   bench_rerank synth --shape base|m3 --out DIR   write a checkpoint of that shape with random weights
 *   bench_rerank run --model DIR --workload W [--threads N] [--ids FILE] [--scores FILE] [--raw 1]
 *                    [--dtype f32|bf16|int8]       time one workload; print one line "key=value ..."
 *   bench_rerank peak [--threads N] [--m M --k K --n N] [--dtype f32|bf16|int8] [--gelu 1] [--reps R]
 *                    GFLOP/s of our dense layer (rr_linear_w_fwd, best of R, default 5) on M tokens x K -> N
 *                    (default fp32, 512 x 768 -> 3072, an encoder FFN up-projection; --gelu 1 adds its GELU)
 *
 * --raw 1 skips the tokenizer: each pair becomes random token ids of the length the workload gives it (same
 * seeded lengths), run through the model as rerank_score batches them (longest first, 32 sequences, token
 * budget); the time then excludes tokenization. The scores of the PyTorch baseline match either way.
 *
 * Workloads (seeded, fixed): W1 one query + 100 passages, pair lengths 64-512 tokens (mean ~250);
 * W2 100 pairs of 512 tokens; W3 one query + 10 short passages (latency); W4 8 pairs of 4096 tokens
 * (long-context shapes only). --ids writes the token ids of every pair (JSONL) so the PyTorch baseline
 * (bench/torch_baseline.py) runs exactly the same inputs. bench/run.sh drives all of it and prints the table. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "arch/model.h"
#include "base/json.h"
#include "base/threadpool.h"
#include "io/safetensors.h"
#include "kernels/kernels.h"
#include "rerank.h"

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
    const char *name;
    int hidden, layers, heads, ffn, vocab, positions;
} shape;

static const shape shapes[] = {
    {"base", 768, 12, 12, 3072, 250002, 514},
    {"m3", 1024, 24, 16, 4096, 250002, 8194},
};

static const shape *find_shape(const char *name) {
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++)
        if (!strcmp(shapes[i].name, name)) return &shapes[i];
    return NULL;
}

/* ---------------------------------------------------------------------------------------------- synth */

/* 64-byte aligned, as the library's own workspaces (a row straddling cache lines costs the products ~20%) */
static void *alloc64(size_t bytes) {
    void *p = NULL;
    return posix_memalign(&p, 64, bytes ? bytes : 1) ? NULL : p;
}

static float *random_tensor(size_t n, float sd, float mean) {
    float *t = alloc64(n * sizeof *t);
    if (!t) return NULL;
    for (size_t i = 0; i < n; i += 2) { /* Box-Muller, two at a time */
        double r = sqrt(-2 * log(rng_uniform())), a = 6.283185307179586 * rng_uniform();
        t[i] = mean + sd * (float)(r * cos(a));
        if (i + 1 < n) t[i + 1] = mean + sd * (float)(r * sin(a));
    }
    return t;
}

static int copy_file(const char *from, const char *to) {
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    if (!in || !out) {
        fprintf(stderr, "bench: cannot copy %s to %s\n", from, to);
        if (in) fclose(in);
        if (out) fclose(out);
        return 1;
    }
    char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) fwrite(buf, 1, n, out);
    fclose(in);
    fclose(out);
    return 0;
}

static int cmd_synth(const shape *s, const char *out) {
    mkdir(out, 0755);
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", out);
    FILE *f = fopen(path, "w");
    if (!f) return perror(path), 1;
    fprintf(f,
            "{\"_comment\": \"benchmark checkpoint with random weights (%s shape)\",\n"
            " \"architectures\": [\"XLMRobertaForSequenceClassification\"], \"model_type\": \"xlm-roberta\",\n"
            " \"hidden_size\": %d, \"num_hidden_layers\": %d, \"num_attention_heads\": %d,\n"
            " \"intermediate_size\": %d, \"hidden_act\": \"gelu\", \"vocab_size\": %d,\n"
            " \"max_position_embeddings\": %d, \"type_vocab_size\": 1, \"layer_norm_eps\": 1e-05,\n"
            " \"pad_token_id\": 1, \"bos_token_id\": 0, \"eos_token_id\": 2,\n"
            " \"id2label\": {\"0\": \"LABEL_0\"}, \"label2id\": {\"LABEL_0\": 0}}\n",
            s->name, s->hidden, s->layers, s->heads, s->ffn, s->vocab, s->positions);
    fclose(f);
    /* the tokenizer of the tiny XLM-R test checkpoint: same pipeline, smaller vocabulary */
    const char *shared = getenv("RERANK_SHARED");
    char from[4096];
    snprintf(from, sizeof from, "%s/testdata/xlmr-seqcls-tiny/tokenizer.json", shared && *shared ? shared : "tests/data");
    snprintf(path, sizeof path, "%s/tokenizer.json", out);
    if (copy_file(from, path)) return 1;

    rng_state = 0x5eed0001u;
    enum { MAX_T = 16 * 30 + 16 };
    static rr_st_write_tensor t[MAX_T];
    static char names[MAX_T][128];
    size_t n = 0;
    int h = s->hidden;
#define ADD(d0, d1, sd, mean, ...)                                                                        \
    do {                                                                                                  \
        snprintf(names[n], sizeof names[n], __VA_ARGS__);                                                 \
        size_t ne_ = (size_t)(d0) * ((d1) ? (size_t)(d1) : 1);                                            \
        float *p_ = random_tensor(ne_, sd, mean);                                                         \
        if (!p_) return fprintf(stderr, "bench: out of memory\n"), 1;                                    \
        t[n] = (rr_st_write_tensor){names[n], RR_ST_F32, (d1) ? 2 : 1, {(d0), (d1)}, p_};                \
        n++;                                                                                              \
    } while (0)
    ADD(s->vocab, h, 0.02f, 0, "roberta.embeddings.word_embeddings.weight");
    ADD(s->positions, h, 0.02f, 0, "roberta.embeddings.position_embeddings.weight");
    ADD(1, h, 0.02f, 0, "roberta.embeddings.token_type_embeddings.weight");
    ADD(h, 0, 0.02f, 1, "roberta.embeddings.LayerNorm.weight");
    ADD(h, 0, 0.02f, 0, "roberta.embeddings.LayerNorm.bias");
    for (int l = 0; l < s->layers; l++) {
        const char *p = "roberta.encoder.layer";
        ADD(h, h, 0.02f, 0, "%s.%d.attention.self.query.weight", p, l);
        ADD(h, 0, 0.02f, 0, "%s.%d.attention.self.query.bias", p, l);
        ADD(h, h, 0.02f, 0, "%s.%d.attention.self.key.weight", p, l);
        ADD(h, 0, 0.02f, 0, "%s.%d.attention.self.key.bias", p, l);
        ADD(h, h, 0.02f, 0, "%s.%d.attention.self.value.weight", p, l);
        ADD(h, 0, 0.02f, 0, "%s.%d.attention.self.value.bias", p, l);
        ADD(h, h, 0.02f, 0, "%s.%d.attention.output.dense.weight", p, l);
        ADD(h, 0, 0.02f, 0, "%s.%d.attention.output.dense.bias", p, l);
        ADD(h, 0, 0.02f, 1, "%s.%d.attention.output.LayerNorm.weight", p, l);
        ADD(h, 0, 0.02f, 0, "%s.%d.attention.output.LayerNorm.bias", p, l);
        ADD(s->ffn, h, 0.02f, 0, "%s.%d.intermediate.dense.weight", p, l);
        ADD(s->ffn, 0, 0.02f, 0, "%s.%d.intermediate.dense.bias", p, l);
        ADD(h, s->ffn, 0.02f, 0, "%s.%d.output.dense.weight", p, l);
        ADD(h, 0, 0.02f, 0, "%s.%d.output.dense.bias", p, l);
        ADD(h, 0, 0.02f, 1, "%s.%d.output.LayerNorm.weight", p, l);
        ADD(h, 0, 0.02f, 0, "%s.%d.output.LayerNorm.bias", p, l);
    }
    ADD(h, h, 0.02f, 0, "classifier.dense.weight");
    ADD(h, 0, 0.02f, 0, "classifier.dense.bias");
    ADD(1, h, 0.02f, 0, "classifier.out_proj.weight");
    ADD(1, 0, 0.02f, 0, "classifier.out_proj.bias");
#undef ADD
    snprintf(path, sizeof path, "%s/model.safetensors", out);
    rerank_error err;
    int rc = rr_safetensors_write(path, t, n, &err) ? 1 : 0;
    if (rc) fprintf(stderr, "bench: %s\n", err.message);
    for (size_t i = 0; i < n; i++) free((void *)t[i].data);
    return rc;
}

/* ------------------------------------------------------------------------------------------ workloads */

static const char *const words[] = {
    "the", "of", "and", "river", "panda", "capital", "city", "mountain", "history", "people", "language",
    "science", "computer", "search", "engine", "Paris", "France", "China", "bamboo", "forest", "music",
    "world", "population", "government", "economy", "culture", "century", "museum", "university", "water",
    "energy", "weather", "ocean", "island", "animal", "species", "known", "called", "largest", "famous",
    "important", "between", "during", "several", "because", "although", "different", "development", "system",
    "information", "research", "national", "international", "education", "technology", "medicine", "health",
};

typedef struct workload {
    char **queries, **passages;
    size_t n;
    int max_length;
} workload;

/* Tokens of the pair (query, the first `len` bytes of buf); -1 on error. */
static int pair_tokens(const rerank_model *m, const rerank_score_params *sp, const char *query, char *buf, size_t len) {
    char keep = buf[len];
    buf[len] = '\0';
    rerank_encoding enc;
    rerank_pair pr = RERANK_PAIR(query, buf);
    int got = rerank_tokenize(m, sp, &pr, &enc, NULL) ? -1 : (int)enc.n_tokens;
    if (got >= 0) rerank_encoding_free(&enc);
    buf[len] = keep;
    return got;
}

/* Random words such that the pair (query, passage) tokenizes to target tokens or just over: words are
 * appended, doubling their count, until the target is reached, then the shortest prefix of words that
 * reaches it is found by bisection (a tokenizer splits a word into a varying number of pieces, so stepping
 * by a guessed count overshot: W1 came out at ~365-400 tokens per pair instead of ~250). */
static char *make_passage(const rerank_model *m, const char *query, int target, int max_length) {
    size_t cap = 1 << 16, len = 0, n_words = 0, ends_cap = 1024;
    char *buf = malloc(cap);
    size_t *ends = malloc(ends_cap * sizeof *ends); /* ends[i]: bytes of the first i + 1 words */
    buf[0] = '\0';
    rerank_score_params sp = rerank_score_default_params();
    sp.max_length = max_length;
    sp.query_max_length = max_length;
    for (size_t want = 1;; want *= 2) {
        for (; n_words < want; n_words++) {
            const char *word = words[rng_next() % (sizeof words / sizeof *words)];
            size_t wl = strlen(word);
            if (len + wl + 2 >= cap) buf = realloc(buf, cap *= 2);
            if (n_words == ends_cap) ends = realloc(ends, (ends_cap *= 2) * sizeof *ends);
            if (len) buf[len++] = ' ';
            memcpy(buf + len, word, wl + 1);
            len += wl;
            ends[n_words] = len;
        }
        int got = pair_tokens(m, &sp, query, buf, len);
        if (got < 0 || got >= target || got >= max_length) break;
    }
    size_t lo = 0, hi = n_words - 1; /* hi words + 1 reach the target (or all there is) */
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int got = pair_tokens(m, &sp, query, buf, ends[mid]);
        if (got < 0 || got >= target) hi = mid;
        else lo = mid + 1;
    }
    buf[ends[hi]] = '\0';
    free(ends);
    return buf;
}

static int build_workload(const rerank_model *m, const char *name, workload *w) {
    rng_state = 0xbe9c0000u + (uint64_t)name[1];
    const char *query = "what is the capital city of France and its history";
    w->max_length = 512;
    if (!strcmp(name, "W1") || !strcmp(name, "W2") || !strcmp(name, "W3")) w->n = name[1] == '3' ? 10 : 100;
    else if (!strcmp(name, "W4")) {
        w->n = 8;
        w->max_length = 4096;
    } else return fprintf(stderr, "bench: unknown workload %s\n", name), 1;
    w->queries = calloc(w->n, sizeof *w->queries);
    w->passages = calloc(w->n, sizeof *w->passages);
    for (size_t i = 0; i < w->n; i++) {
        int target;
        if (name[1] == '1') target = 64 + (int)(448 * pow(rng_uniform(), 1.41)); /* mean ~250 */
        else if (name[1] == '3') target = 24 + (int)(rng_next() % 40);
        else target = w->max_length;
        w->queries[i] = (char *)query;
        w->passages[i] = make_passage(m, query, target, w->max_length);
    }
    return 0;
}

/* Token lengths of a workload without the tokenizer: the targets build_workload aims at. */
static size_t raw_lengths(const char *name, int max_tokens, size_t **lens) {
    rng_state = 0xbe9c0000u + (uint64_t)name[1];
    size_t n = name[1] == '3' ? 10 : name[1] == '4' ? 8 : 100;
    int max_length = name[1] == '4' ? 4096 : 512;
    if (max_length > max_tokens) return 0;
    *lens = calloc(n, sizeof **lens);
    for (size_t i = 0; i < n; i++) {
        int target;
        if (name[1] == '1') target = 64 + (int)(448 * pow(rng_uniform(), 1.41));
        else if (name[1] == '3') target = 24 + (int)(rng_next() % 40);
        else target = max_length;
        (*lens)[i] = (size_t)target;
    }
    return n;
}

static int longer_first(const void *a, const void *b) {
    const size_t *x = a, *y = b;
    return x[0] != y[0] ? (x[0] < y[0] ? 1 : -1) : (x[1] > y[1]) - (x[1] < y[1]);
}

static rerank_dtype parse_dtype(const char *s) {
    return !strcmp(s, "bf16") ? RERANK_DTYPE_BF16 : !strcmp(s, "int8") ? RERANK_DTYPE_INT8
         : !strcmp(s, "f32") ? RERANK_DTYPE_F32 : RERANK_DTYPE_AUTO;
}

static double forward_flops(const rerank_model_info *info, int ffn, double n_tokens, double sum_sq_tokens);
static long peak_rss_kib(void);

/* The model alone on random ids (see --raw above). */
static int cmd_run_raw(const char *model_dir, const char *wl_name, int threads, const char *ids_path,
                       const char *scores_path, rerank_dtype dtype) {
    double t0 = now();
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", model_dir);
    json_t *config;
    rerank_error err;
    rr_model *m;
    if (rr_json_load_file(path, 1 << 20, &config, &err) || rr_model_load(model_dir, config, dtype, &m, &err))
        return fprintf(stderr, "bench: %s\n", err.message), 1;
    json_decref(config);
    double load_s = now() - t0;
    const rr_model_desc *d = rr_model_describe(m);
    size_t *lens, n = raw_lengths(wl_name, d->max_tokens, &lens);
    if (!n) {
        printf("workload=%s skipped=model_max_tokens_%d\n", wl_name, d->max_tokens);
        return 0;
    }
    size_t total = 0;
    double sum_sq = 0;
    for (size_t i = 0; i < n; i++) total += lens[i], sum_sq += (double)lens[i] * lens[i];
    int32_t *ids = malloc(total * sizeof *ids);
    size_t *starts = malloc(n * sizeof *starts), (*order)[2] = malloc(n * sizeof *order);
    FILE *f = ids_path ? fopen(ids_path, "w") : NULL;
    for (size_t i = 0, at = 0; i < n; i++) {
        starts[i] = at;
        order[i][0] = lens[i], order[i][1] = i;
        for (size_t t = 0; t < lens[i]; t++)
            ids[at + t] = t == 0 ? 0 : t + 1 == lens[i] ? 2 : 3 + (int32_t)(rng_next() % (uint64_t)(d->vocab_size - 3));
        if (f) {
            fputs("[", f);
            for (size_t t = 0; t < lens[i]; t++) fprintf(f, t ? ",%d" : "%d", ids[at + t]);
            fputs("]\n", f);
        }
        at += lens[i];
    }
    if (f) fclose(f);
    qsort(order, n, sizeof *order, longer_first);
    rr_workspace *ws = rr_workspace_new();
    rr_workspace_set_threads(ws, threads);
    float *scores = calloc(n, sizeof *scores), logits[32];
    int32_t *bids = malloc(total * sizeof *bids);
    size_t offs[33];
    double run_s = 0;
    for (int rep = 0; rep < 2; rep++) { /* the first pass warms the workspace, the second is timed */
        t0 = now();
        for (size_t first = 0, nb; first < n; first += nb) {
            size_t tok = 0;
            offs[0] = 0;
            for (nb = 0; nb < 32 && first + nb < n; nb++) {
                size_t len = order[first + nb][0];
                if (nb && tok + len > 4096) break;
                memcpy(bids + tok, ids + starts[order[first + nb][1]], len * sizeof *bids);
                tok += len;
                offs[nb + 1] = tok;
            }
            rr_batch b = {.ids = bids, .offsets = offs, .n_seqs = nb};
            if (rr_model_forward(m, &b, ws, logits, &err)) return fprintf(stderr, "bench: %s\n", err.message), 1;
            for (size_t j = 0; j < nb; j++) scores[order[first + j][1]] = logits[j];
        }
        run_s = now() - t0;
    }
    if (scores_path && (f = fopen(scores_path, "w"))) {
        for (size_t i = 0; i < n; i++) fprintf(f, "%.9g\n", scores[i]);
        fclose(f);
    }
    rerank_model_info info = {0};
    info.hidden_size = d->hidden_size;
    info.n_layers = d->n_layers;
    double gflops = forward_flops(&info, 4 * d->hidden_size, (double)total, sum_sq) / run_s / 1e9;
    printf("workload=%s pairs=%zu tokens=%zu seconds=%.3f pairs_per_s=%.2f tokens_per_s=%.0f gflops=%.1f "
           "load_s=%.3f isa=%s threads=%d peak_rss_mib=%.0f\n",
           wl_name, n, total, run_s, n / run_s, total / run_s, gflops, load_s, rr_isa_name(rr_isa_get()),
           threads, peak_rss_kib() / 1024.0);
    rr_workspace_free(ws);
    rr_model_free(m);
    free(lens), free(ids), free(starts), free(order), free(scores), free(bids);
    return 0;
}

static double forward_flops(const rerank_model_info *info, int ffn, double n_tokens, double sum_sq_tokens) {
    double h = info->hidden_size;
    /* per layer: q,k,v,o (4 h^2) + FFN (2 h ffn) multiply-adds per token; attention 2 n^2 h per sequence */
    return info->n_layers * (2 * n_tokens * (4 * h * h + 2 * h * ffn) + 4 * sum_sq_tokens * h);
}

/* The resident set now, split into anonymous memory (activations, converted weights) and mapped files (the
 * checkpoint's pages, the embedding rows touched), from /proc/self/status: "anon_mib file_mib" or "- -". */
static void rss_split(char *out, size_t size) {
    FILE *f = fopen("/proc/self/status", "r");
    long anon = -1, file = -1;
    char line[256];
    while (f && fgets(line, sizeof line, f)) {
        if (!strncmp(line, "RssAnon:", 8)) anon = atol(line + 8);
        else if (!strncmp(line, "RssFile:", 8)) file = atol(line + 8);
    }
    if (f) fclose(f);
    if (anon < 0 || file < 0) snprintf(out, size, "rss_anon_mib=- rss_file_mib=-");
    else snprintf(out, size, "rss_anon_mib=%.0f rss_file_mib=%.0f", anon / 1024.0, file / 1024.0);
}

static long peak_rss_kib(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static int cmd_run(const char *model_dir, const char *wl_name, int threads, const char *ids_path,
                   const char *scores_path, rerank_dtype dtype) {
    double t0 = now();
    rerank_error err;
    rerank_model *m;
    rerank_model_params mp = rerank_model_default_params();
    mp.dtype = dtype;
    if (rerank_model_load(model_dir, &mp, &m, &err)) return fprintf(stderr, "bench: %s\n", err.message), 1;
    double load_s = now() - t0;
    rerank_model_info info;
    rerank_model_get_info(m, &info);
    workload w;
    if (build_workload(m, wl_name, &w)) return 1;
    if (w.max_length > info.max_tokens) {
        printf("workload=%s skipped=model_max_tokens_%d\n", wl_name, info.max_tokens);
        return 0;
    }
    rerank_pair *pairs = calloc(w.n, sizeof *pairs);
    double n_tokens = 0, sum_sq = 0;
    rerank_score_params sp = rerank_score_default_params();
    sp.max_length = w.max_length;
    sp.n_threads = threads;
    FILE *ids = ids_path ? fopen(ids_path, "w") : NULL;
    for (size_t i = 0; i < w.n; i++) {
        pairs[i] = RERANK_PAIR(w.queries[i], w.passages[i]);
        rerank_encoding enc;
        if (rerank_tokenize(m, &sp, &pairs[i], &enc, &err)) return fprintf(stderr, "bench: %s\n", err.message), 1;
        n_tokens += enc.n_tokens;
        sum_sq += (double)enc.n_tokens * enc.n_tokens;
        if (ids) {
            fputs("[", ids);
            for (size_t k = 0; k < enc.n_tokens; k++) fprintf(ids, k ? ",%d" : "%d", enc.ids[k]);
            fputs("]\n", ids);
        }
        rerank_encoding_free(&enc);
    }
    if (ids) fclose(ids);
    rerank_session *s;
    if (rerank_session_new(m, &s, &err)) return fprintf(stderr, "bench: %s\n", err.message), 1;
    float *scores = calloc(w.n, sizeof *scores);
    /* first pair latency (cold session), then the timed run */
    t0 = now();
    if (rerank_score(s, &sp, pairs, 1, scores, &err)) return fprintf(stderr, "bench: %s\n", err.message), 1;
    double first_s = now() - t0;
    t0 = now();
    if (rerank_score(s, &sp, pairs, w.n, scores, &err)) return fprintf(stderr, "bench: %s\n", err.message), 1;
    double run_s = now() - t0;
    int ffn = info.hidden_size * 4; /* XLM-R shapes: intermediate = 4 * hidden */
    if (scores_path) {
        FILE *f = fopen(scores_path, "w");
        for (size_t i = 0; f && i < w.n; i++) fprintf(f, "%.9g\n", scores[i]);
        if (f) fclose(f);
    }
    double gflops = forward_flops(&info, ffn, n_tokens, sum_sq) / run_s / 1e9;
    char split[96];
    rss_split(split, sizeof split);
    printf("workload=%s pairs=%zu tokens=%.0f seconds=%.3f pairs_per_s=%.2f tokens_per_s=%.0f gflops=%.1f "
           "load_s=%.3f first_pair_s=%.3f peak_rss_mib=%.0f %s\n",
           wl_name, w.n, n_tokens, run_s, w.n / run_s, n_tokens / run_s, gflops, load_s, first_s,
           peak_rss_kib() / 1024.0, split);
    rerank_session_free(s);
    rerank_model_free(m);
    for (size_t i = 0; i < w.n; i++) free(w.passages[i]);
    free(w.passages);
    free(w.queries);
    free(pairs);
    free(scores);
    return 0;
}

static int cmd_peak(int threads, int n, int in, int out, rerank_dtype dtype, rr_act act, int reps) {
    rng_state = 0x9eac0001u; /* unseeded, every value was the same */
    float *x = random_tensor((size_t)n * in, 1, 0), *wt = random_tensor((size_t)out * in, 0.02f, 0),
          *y = alloc64((size_t)n * out * sizeof *y);
    rr_pool *pool = threads == 1 ? NULL : rr_pool_new(threads);
    rr_wtype type = dtype == RERANK_DTYPE_BF16 ? RR_W_BF16 : dtype == RERANK_DTYPE_INT8 ? RR_W_INT8 : RR_W_F32;
    rr_wmat w;
    if (!rr_wmat_init(&w, type, wt, out, in)) return fprintf(stderr, "bench: out of memory\n"), 1;
    size_t sc = rr_linear_w_scratch(&w, rr_pool_size(pool), n);
    float *scratch = malloc(sc * sizeof *scratch);
    rr_linear_w_fwd(pool, scratch, y, x, &w, NULL, NULL, n, act);
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        rr_linear_w_fwd(pool, scratch, y, x, &w, NULL, NULL, n, act);
        double t = now() - t0;
        if (t < best) best = t;
    }
    const char *kernel = rr_kernels_last(type);
    printf("peak_gflops=%.1f isa=%s kernel=%s threads=%d wtype=%s\n", 2.0 * n * in * out / best / 1e9,
           rr_isa_name(rr_isa_get()), kernel ? kernel : "?", rr_pool_size(pool),
           type == RR_W_BF16 ? "bf16" : type == RR_W_INT8 ? "int8" : "f32");
    rr_wmat_free(&w);
    rr_pool_free(pool);
    free(x), free(wt), free(y), free(scratch);
    return 0;
}

int main(int argc, char **argv) {
    const char *shape_name = "base", *out = NULL, *model = NULL, *wl = "W1", *ids = NULL, *scores = NULL;
    int threads = 0, raw = 0, pm = 512, pk = 768, pn = 3072, gelu = 0, reps = 5;
    rerank_dtype dtype = RERANK_DTYPE_AUTO;
    if (argc < 2) {
        fprintf(stderr, "usage: bench_rerank synth|run|peak [options]; see the comment on top of bench_rerank.c\n");
        return 2;
    }
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--shape")) shape_name = argv[i + 1];
        else if (!strcmp(argv[i], "--out")) out = argv[i + 1];
        else if (!strcmp(argv[i], "--model")) model = argv[i + 1];
        else if (!strcmp(argv[i], "--workload")) wl = argv[i + 1];
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--ids")) ids = argv[i + 1];
        else if (!strcmp(argv[i], "--scores")) scores = argv[i + 1];
        else if (!strcmp(argv[i], "--raw")) raw = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--dtype")) dtype = parse_dtype(argv[i + 1]);
        else if (!strcmp(argv[i], "--m")) pm = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--k")) pk = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--n")) pn = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--gelu")) gelu = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
        else return fprintf(stderr, "bench: unknown option %s\n", argv[i]), 2;
    }
    if (!strcmp(argv[1], "synth")) {
        const shape *s = find_shape(shape_name);
        if (!s || !out) return fprintf(stderr, "bench: synth needs --shape base|m3 and --out DIR\n"), 2;
        return cmd_synth(s, out);
    }
    if (!strcmp(argv[1], "run")) {
        if (!model) return fprintf(stderr, "bench: run needs --model DIR\n"), 2;
        if (raw) return cmd_run_raw(model, wl, threads, ids, scores, dtype);
        return cmd_run(model, wl, threads, ids, scores, dtype);
    }
    if (!strcmp(argv[1], "peak")) {
        if (pm < 1 || pk < 1 || pn < 1) return fprintf(stderr, "bench: peak needs positive --m --k --n\n"), 2;
        return cmd_peak(threads, pm, pk, pn, dtype, gelu ? RR_ACT_GELU : RR_ACT_NONE, reps);
    }
    return fprintf(stderr, "bench: unknown command %s\n", argv[1]), 2;
}
