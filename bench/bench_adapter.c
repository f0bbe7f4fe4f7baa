/* bench_adapter.c - what applying a LoRA adapter at load costs (arch/adapter.c merges it into fp32 copies of
 * the targeted matrices), and what the alternative, keeping A and B beside the base weights and adding
 * (x A^T) B^T in every forward pass, would cost per projection. Writes a random rank-R adapter on every
 * *_proj matrix of MODEL_DIR (a decoder checkpoint with F32 weights, e.g. the one bench_prefix writes), then:
 *   load time and resident memory, base vs with the adapter (best of --reps);
 *   one (warm) forward pass over --tokens tokens, base vs adapted (the same kernels: merging adds nothing);
 *   per projection: x W^T through the inference kernel, and the two extra products the unmerged path needs.
 * Usage: bench_adapter MODEL_DIR [--rank R] [--tokens N] [--reps N] */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "arch/model.h"
#include "base/threadpool.h"
#include "io/safetensors.h"
#include "kernels/kernels.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static unsigned long long rng = 0x9E3779B97F4A7C15ull;
static float rnd(float a) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (float)((rng >> 11) * (1.0 / 9007199254740992.0) * 2.0 - 1.0) * a;
}
static float *randoms(size_t n, float a) {
    float *t = malloc(n * sizeof *t);
    if (!t) exit(1);
    for (size_t i = 0; i < n; i++) t[i] = rnd(a);
    return t;
}

static double resident_mib(void) {
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f && fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    if (f) fclose(f);
    return (double)resident * (double)sysconf(_SC_PAGESIZE) / (1 << 20);
}

typedef struct proj {
    char name[160];
    int out, in;
} proj;

/* A random adapter on every *_proj.weight of the model: adapter_model.safetensors + adapter_config.json. */
static int write_adapter(const char *model, const char *dir, int r, proj *projs, size_t *n_projs) {
    char path[1024];
    rerank_error err;
    rr_safetensors *sf;
    snprintf(path, sizeof path, "%s/model.safetensors", model);
    if (rr_safetensors_open(path, &sf, &err)) return fprintf(stderr, "bench_adapter: %s\n", err.message), 1;
    size_t n = 0, cap = rr_safetensors_count(sf);
    rr_st_write_tensor *w = calloc(2 * cap, sizeof *w);
    char (*names)[200] = calloc(2 * cap, sizeof *names);
    for (size_t i = 0; i < cap; i++) {
        const rr_st_tensor *t = rr_safetensors_at(sf, i);
        size_t len = strlen(t->name);
        if (t->n_dims != 2 || len < 12 || strcmp(t->name + len - 12, "_proj.weight") != 0) continue;
        proj *p = &projs[(*n_projs)++];
        snprintf(p->name, sizeof p->name, "%s", t->name);
        p->out = (int)t->shape[0], p->in = (int)t->shape[1];
        for (int ab = 0; ab < 2; ab++) {
            snprintf(names[n], sizeof names[n], "base_model.model.%.*s.lora_%c.weight", (int)(len - 7), t->name, "AB"[ab]);
            int64_t d0 = ab ? p->out : r, d1 = ab ? r : p->in;
            w[n] = (rr_st_write_tensor){names[n], RR_ST_F32, 2, {d0, d1}, randoms((size_t)(d0 * d1), 0.02f)};
            n++;
        }
    }
    rr_safetensors_free(sf);
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
    int rc = rr_safetensors_write(path, w, n, &err) ? 1 : 0;
    for (size_t i = 0; i < n; i++) free((void *)w[i].data);
    free(w), free(names);
    json_t *c = json_pack("{s:s, s:i, s:i, s:[s,s,s,s,s,s,s], s:s}", "peft_type", "LORA", "r", r, "lora_alpha", 2 * r,
                          "target_modules", "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                          "down_proj", "bias", "none");
    snprintf(path, sizeof path, "%s/adapter_config.json", dir);
    if (json_dump_file(c, path, 0)) rc = 1;
    json_decref(c);
    if (rc) fprintf(stderr, "bench_adapter: cannot write the adapter in %s\n", dir);
    return rc;
}

int main(int argc, char **argv) {
    if (argc < 2) return fprintf(stderr, "usage: bench_adapter MODEL_DIR [--rank R] [--tokens N] [--reps N]\n"), 2;
    const char *model = argv[1], *adapter = "/tmp/bench_adapter_lora";
    int r = 32, n_tok = 512, reps = 3;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--rank")) r = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--tokens")) n_tok = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
    }
    static proj projs[4096];
    size_t n_projs = 0;
    if (r < 1 || n_tok < 1 || reps < 1 || write_adapter(model, adapter, r, projs, &n_projs)) return 1;
    char path[1024];
    snprintf(path, sizeof path, "%s/config.json", model);
    json_t *config = json_load_file(path, 0, NULL);
    if (!config) return fprintf(stderr, "bench_adapter: cannot read %s\n", path), 1;
    int vocab = (int)json_integer_value(json_object_get(config, "vocab_size"));
    int32_t *ids = malloc((size_t)n_tok * sizeof *ids);
    for (int i = 0; i < n_tok; i++) ids[i] = 3 + (int32_t)((unsigned)(rnd(1.0f) * 1e6f + 1e6f) % (unsigned)(vocab - 3));
    size_t offs[2] = {0, (size_t)n_tok};
    int32_t yes = 4;
    rr_batch b = {.ids = ids, .offsets = offs, .n_seqs = 1, .score_tokens = &yes, .n_score_tokens = 1};
    rr_workspace *ws = rr_workspace_new();
    rr_workspace_set_threads(ws, 0);
    printf("model %s, %zu projections, adapter rank %d, %d tokens, %d threads\n", model, n_projs, r, n_tok,
           rr_cpu_count());
    for (int adapted = 0; adapted < 2; adapted++) {
        double best_load = 1e9, best_fwd = 1e9, rss = 0, rss_load = 0;
        float score = 0;
        for (int k = 0; k < reps; k++) {
            rr_model *m;
            rerank_error err;
            double before = resident_mib(), t0 = now();
            if (rr_model_load_adapted(model, config, RERANK_DTYPE_F32, adapted ? adapter : NULL, &m, &err))
                return fprintf(stderr, "bench_adapter: %s\n", err.message), 1;
            double t1 = now();
            rss_load = resident_mib() - before;
            /* the first pass also faults the mapped weights in: time the second */
            if (rr_model_forward(m, &b, ws, &score, &err)) return fprintf(stderr, "bench_adapter: %s\n", err.message), 1;
            rss = resident_mib() - before;
            t1 = now();
            if (rr_model_forward(m, &b, ws, &score, &err)) return fprintf(stderr, "bench_adapter: %s\n", err.message), 1;
            double t2 = now();
            best_load = t1 - t0 < best_load ? t1 - t0 : best_load;
            best_fwd = t2 - t1 < best_fwd ? t2 - t1 : best_fwd;
            rr_model_free(m);
        }
        printf("%-8s load %7.1f ms  resident +%6.1f MiB after load, +%6.1f MiB after a pass  forward %7.1f ms  "
               "score %.5f\n", adapted ? "adapted" : "base", best_load * 1e3, rss_load, rss, best_fwd * 1e3, score);
    }
    /* the unmerged alternative, per projection: y = x W^T (as now) + s (x A^T) B^T (two more products) */
    rr_pool *pool = rr_pool_new(0);
    double t_base = 0, t_extra = 0;
    for (size_t i = 0; i < n_projs; i++) {
        const proj *p = &projs[i];
        float *w = randoms((size_t)p->out * (size_t)p->in, 0.05f), *x = randoms((size_t)n_tok * (size_t)p->in, 1.0f);
        float *a = randoms((size_t)r * (size_t)p->in, 0.05f), *bm = randoms((size_t)p->out * (size_t)r, 0.05f);
        float *y = malloc((size_t)n_tok * (size_t)p->out * sizeof *y), *u = malloc((size_t)n_tok * (size_t)r * sizeof *u);
        rr_wmat wm;
        rr_wmat_init(&wm, RR_W_F32, w, p->out, p->in);
        float *scratch = malloc(rr_linear_w_scratch(&wm, rr_pool_size(pool), n_tok) * sizeof *scratch + 64);
        double best0 = 1e9, best1 = 1e9;
        for (int k = 0; k < reps; k++) {
            double t0 = now();
            rr_linear_w_fwd(pool, scratch, y, x, &wm, NULL, NULL, n_tok, RR_ACT_NONE);
            double t1 = now();
            rr_sgemm(pool, false, true, n_tok, r, p->in, 1.0f, x, p->in, a, p->in, 0.0f, u, r);
            rr_sgemm(pool, false, true, n_tok, p->out, r, 2.0f, u, r, bm, r, 1.0f, y, p->out);
            double t2 = now();
            best0 = t1 - t0 < best0 ? t1 - t0 : best0;
            best1 = t2 - t1 < best1 ? t2 - t1 : best1;
        }
        t_base += best0, t_extra += best1;
        rr_wmat_free(&wm);
        free(w), free(x), free(a), free(bm), free(y), free(u), free(scratch);
    }
    printf("unmerged alternative: the projections take %.1f ms through the kernels, the adapter products %.1f ms "
           "more (+%.0f%%)\n", t_base * 1e3, t_extra * 1e3, 100.0 * t_extra / t_base);
    rr_pool_free(pool);
    rr_workspace_free(ws);
    json_decref(config);
    free(ids);
    return 0;
}
