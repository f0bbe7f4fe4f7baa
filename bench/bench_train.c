/* bench_train.c - encoder training speed (forward + backward + AdamW) on a synthetic bge-reranker-base-shaped
 * checkpoint with random weights.
 *
 *   bench_train synth --out DIR [--layers L]     write an XLM-R checkpoint of bge-reranker-base's shape (768
 *                                                hidden, 12 heads, 3072 FFN, 250002 vocabulary) with L layers
 *                                                (default 12)
 *   bench_train run --model DIR [--threads N] [--steps S] [--warmup W] [--group G] [--groups K] [--seq T]
 *                   [--reference 0|1] [--dropout 0|1]
 *
 * run times S steps after W untimed ones (default 2 and 1) on K groups (default 1) of G sequences (default 8)
 * of T random tokens (default 256), and prints one line "key=value ...": tokens/s over the timed steps, the
 * seconds of one step split into forward+backward and AdamW, and the losses. --reference 1 runs the scalar
 * reference kernels (the speed before the fast path); --dropout 1 (default) trains with dropout as
 * transformers' train() does. bench/run_train.sh drives it next to the PyTorch baseline. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "io/safetensors.h"
#include "train/train.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static unsigned long long rng = 0x7a11e5eedull;
static unsigned long long rng_next(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return rng;
}
static double rng_uniform(void) { return ((double)(rng_next() >> 11) + 0.5) / 9007199254740992.0; }

enum { HIDDEN = 768, HEADS = 12, FFN = 3072, VOCAB = 250002, POSITIONS = 514 };

static float *normal(size_t n, float sd, float mean) {
    float *t = malloc(n * sizeof *t);
    if (!t) return NULL;
    for (size_t i = 0; i < n; i += 2) { /* Box-Muller, two at a time */
        double r = sqrt(-2 * log(rng_uniform())), a = 6.283185307179586 * rng_uniform();
        t[i] = mean + sd * (float)(r * cos(a));
        if (i + 1 < n) t[i + 1] = mean + sd * (float)(r * sin(a));
    }
    return t;
}

static int synth(const char *out, int layers) {
    mkdir(out, 0755);
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", out);
    FILE *f = fopen(path, "w");
    if (!f) return perror(path), 1;
    fprintf(f,
            "{\"_comment\": \"training benchmark checkpoint, random weights, bge-reranker-base shape\",\n"
            " \"architectures\": [\"XLMRobertaForSequenceClassification\"], \"model_type\": \"xlm-roberta\",\n"
            " \"hidden_size\": %d, \"num_hidden_layers\": %d, \"num_attention_heads\": %d,\n"
            " \"intermediate_size\": %d, \"hidden_act\": \"gelu\", \"vocab_size\": %d,\n"
            " \"max_position_embeddings\": %d, \"type_vocab_size\": 1, \"layer_norm_eps\": 1e-05,\n"
            " \"hidden_dropout_prob\": 0.1, \"attention_probs_dropout_prob\": 0.1,\n"
            " \"pad_token_id\": 1, \"bos_token_id\": 0, \"eos_token_id\": 2,\n"
            " \"id2label\": {\"0\": \"LABEL_0\"}, \"label2id\": {\"LABEL_0\": 0}}\n",
            HIDDEN, layers, HEADS, FFN, VOCAB, POSITIONS);
    fclose(f);
    size_t max_t = 16 * (size_t)layers + 16, n = 0;
    rr_st_write_tensor *t = calloc(max_t, sizeof *t);
    char(*names)[128] = calloc(max_t, sizeof *names);
    if (!t || !names) return fprintf(stderr, "bench_train: out of memory\n"), 1;
    int h = HIDDEN;
#define ADD(d0, d1, mean, ...)                                                                           \
    do {                                                                                                 \
        snprintf(names[n], sizeof names[n], __VA_ARGS__);                                                \
        float *p_ = normal((size_t)(d0) * ((d1) ? (size_t)(d1) : 1), 0.02f, mean);                       \
        if (!p_) return fprintf(stderr, "bench_train: out of memory\n"), 1;                              \
        t[n] = (rr_st_write_tensor){names[n], RR_ST_F32, (d1) ? 2 : 1, {(d0), (d1)}, p_};               \
        n++;                                                                                             \
    } while (0)
    ADD(VOCAB, h, 0, "roberta.embeddings.word_embeddings.weight");
    ADD(POSITIONS, h, 0, "roberta.embeddings.position_embeddings.weight");
    ADD(1, h, 0, "roberta.embeddings.token_type_embeddings.weight");
    ADD(h, 0, 1, "roberta.embeddings.LayerNorm.weight");
    ADD(h, 0, 0, "roberta.embeddings.LayerNorm.bias");
    static const char *lin[6] = {"attention.self.query", "attention.self.key", "attention.self.value",
                                 "attention.output.dense", "intermediate.dense", "output.dense"};
    for (int l = 0; l < layers; l++) {
        for (int k = 0; k < 6; k++) {
            int d0 = k == 4 ? FFN : h, d1 = k == 5 ? FFN : h;
            ADD(d0, d1, 0, "roberta.encoder.layer.%d.%s.weight", l, lin[k]);
            ADD(d0, 0, 0, "roberta.encoder.layer.%d.%s.bias", l, lin[k]);
            if (k == 3 || k == 5) {
                const char *ln = k == 3 ? "attention.output.LayerNorm" : "output.LayerNorm";
                ADD(h, 0, 1, "roberta.encoder.layer.%d.%s.weight", l, ln);
                ADD(h, 0, 0, "roberta.encoder.layer.%d.%s.bias", l, ln);
            }
        }
    }
    ADD(h, h, 0, "classifier.dense.weight");
    ADD(h, 0, 0, "classifier.dense.bias");
    ADD(1, h, 0, "classifier.out_proj.weight");
    ADD(1, 0, 0, "classifier.out_proj.bias");
#undef ADD
    snprintf(path, sizeof path, "%s/model.safetensors", out);
    rerank_error err;
    int rc = rr_safetensors_write(path, t, n, &err) ? 1 : 0;
    if (rc) fprintf(stderr, "bench_train: %s\n", err.message);
    for (size_t i = 0; i < n; i++) free((void *)t[i].data);
    free(t), free(names);
    return rc;
}

static int run(const char *dir, int threads, int steps, int warmup, int group, int groups, int seq, int reference,
               int dropout) {
    rerank_error err;
    rr_train_model *m = NULL;
    double t0 = now();
    if (rr_train_model_load(dir, &m, &err)) return fprintf(stderr, "bench_train: %s\n", err.message), 1;
    double load_s = now() - t0;
    m->n_threads = threads, m->reference = reference, m->dropout = dropout;
    size_t n_seqs = (size_t)group * (size_t)groups, n_tok = n_seqs * (size_t)seq;
    int32_t *ids = malloc(n_tok * sizeof *ids);
    size_t *off = malloc((n_seqs + 1) * sizeof *off);
    for (size_t s = 0; s <= n_seqs; s++) off[s] = s * (size_t)seq;
    for (size_t s = 0; s < n_seqs; s++)
        for (int i = 0; i < seq; i++) /* <s> random tokens </s>, never the pad id */
            ids[s * (size_t)seq + (size_t)i] = i == 0 ? 0 : i == seq - 1 ? 2 : 3 + (int32_t)(rng_next() % (VOCAB - 3));
    rr_batch b = {.ids = ids, .offsets = off, .n_seqs = n_seqs};
    rr_train_adamw_opts o = {1e-5, 0.9, 0.999, 1e-8, 0.01, false};
    double fb = 0.0, opt = 0.0, first = NAN, last = NAN;
    for (int st = 0; st < warmup + steps; st++) {
        rr_train_loss loss;
        m->dropout_seed = (unsigned long long)st;
        double a = now();
        if (rr_train_step(m, &b, (size_t)group, NULL, NULL, &loss, &err))
            return fprintf(stderr, "bench_train: %s\n", err.message), 1;
        double c = now();
        rr_train_clip_grad_norm(m, 1.0);
        if (rr_train_adamw(m, &o, &err)) return fprintf(stderr, "bench_train: %s\n", err.message), 1;
        double e = now();
        if (st >= warmup) fb += c - a, opt += e - c;
        if (st == 0) first = loss.loss;
        last = loss.loss;
        fprintf(stderr, "bench_train: step %d: loss %.6f, %.2f s + %.2f s\n", st, loss.loss, c - a, e - c);
    }
    double per = (fb + opt) / steps;
    printf("layers=%d threads=%d reference=%d dropout=%d tokens_per_step=%zu steps=%d tokens_per_s=%.1f step_s=%.3f "
           "fwd_bwd_s=%.3f adamw_s=%.3f load_s=%.1f loss_first=%.6f loss_last=%.6f\n",
           m->d.n_layers, threads, reference, dropout, n_tok, steps, (double)n_tok / per, per, fb / steps, opt / steps,
           load_s, first, last);
    free(ids), free(off);
    rr_train_model_free(m);
    return 0;
}

int main(int argc, char **argv) {
    const char *out = NULL, *model = NULL;
    int layers = 12, threads = 0, steps = 2, warmup = 1, group = 8, groups = 1, seq = 256, reference = 0, dropout = 1;
    for (int i = 2; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--out")) out = v;
        else if (!strcmp(k, "--model")) model = v;
        else if (!strcmp(k, "--layers")) layers = atoi(v);
        else if (!strcmp(k, "--threads")) threads = atoi(v);
        else if (!strcmp(k, "--steps")) steps = atoi(v);
        else if (!strcmp(k, "--warmup")) warmup = atoi(v);
        else if (!strcmp(k, "--group")) group = atoi(v);
        else if (!strcmp(k, "--groups")) groups = atoi(v);
        else if (!strcmp(k, "--seq")) seq = atoi(v);
        else if (!strcmp(k, "--reference")) reference = atoi(v);
        else if (!strcmp(k, "--dropout")) dropout = atoi(v);
        else return fprintf(stderr, "bench_train: unknown option %s\n", k), 2;
    }
    if (argc >= 2 && !strcmp(argv[1], "synth") && out && layers >= 1) return synth(out, layers);
    if (argc >= 2 && !strcmp(argv[1], "run") && model && steps >= 1 && warmup >= 0 && group >= 2 && groups >= 1 &&
        seq >= 2 && seq <= POSITIONS - 2)
        return run(model, threads, steps, warmup, group, groups, seq, reference, dropout);
    fprintf(stderr, "usage: bench_train synth --out DIR [--layers L] | run --model DIR [options]; see bench_train.c\n");
    return 2;
}
