/* test_train_decoder.c - LoRA training of the decoder rerankers on the tiny checkpoints: with B = 0 the
 * trainer's scores equal the inference's (rr_model_forward) and the goldens on the same token ids; the
 * gradient of every LoRA tensor (and trained layerwise head) against finite differences of the loss, with
 * dropout masks, teacher scores and layerwise self-distillation; a few AdamW steps lower the loss. */
#include "arch/model.h"
#include "base/json.h"
#include "golden.h"
#include "test.h"
#include "train/train_decoder.h"

static const char *const GEMMA = "testdata/gemma-causal-tiny-bf16", *const QWEN3 = "testdata/qwen3-causal-tiny",
                         *const QWEN2 = "testdata/qwen2-causal-tiny", *const MINICPM = "testdata/minicpm-layerwise-tiny";

static rr_trainer *open_trainer(const char *rel, int rank, double dropout, const char *targets, bool heads,
                                unsigned long long seed) {
    rr_trainer_opts o = {.lora = {rank, 2.0 * rank, dropout, targets, heads}, .seed = seed};
    rr_trainer *t = NULL;
    rerank_error err;
    if (rr_decoder_trainer_open(rr_shared_path(rel), &o, &t, &err)) {
        fprintf(stderr, "    %s\n", err.message);
        return NULL;
    }
    return t;
}

static rr_model *load_model(const char *dir) {
    char path[1024];
    snprintf(path, sizeof path, "%s/config.json", dir);
    json_t *config = NULL;
    rr_model *m = NULL;
    rerank_error err;
    if (rr_json_load_file(path, 1 << 20, &config, &err) || rr_model_load(dir, config, RERANK_DTYPE_AUTO, &m, &err)) {
        fprintf(stderr, "    %s\n", err.message);
        m = NULL;
    }
    json_decref(config);
    return m;
}

/* Golden rows packed into one batch: the first `max_rows` rows of at most `max_len` tokens. */
typedef struct {
    int32_t ids[4096];
    size_t offsets[65], n;
    const json_t *rows[64];
} packed;

static void pack(const json_t *rows, size_t max_rows, size_t max_len, packed *p) {
    p->n = 0;
    p->offsets[0] = 0;
    for (size_t i = 0; i < json_array_size(rows) && p->n < max_rows; i++) {
        size_t n;
        int32_t *ids = golden_ints(json_array_get(rows, i), "input_ids", &n);
        if (n <= max_len && p->offsets[p->n] + n <= 4096) {
            memcpy(p->ids + p->offsets[p->n], ids, n * sizeof *ids);
            p->rows[p->n] = json_array_get(rows, i);
            p->offsets[p->n + 1] = p->offsets[p->n] + n;
            p->n++;
        }
        free(ids);
    }
}

/* With B = 0 the adapters change nothing: trainer scores == inference == goldens. */
static void check_scores(const char *rel, const char *golden, bool layerwise) {
    rr_trainer *t = open_trainer(rel, 4, 0.1, NULL, layerwise, 7);
    REQUIRE(t);
    char gpath[512];
    snprintf(gpath, sizeof gpath, "%s/%s", rel, golden);
    json_t *rows = golden_load(rr_shared_path(gpath));
    rr_model *m = load_model(rr_shared_path(rel));
    REQUIRE(rows && m);
    static packed p;
    pack(rows, 10, 200, &p);
    REQUIRE(p.n >= 4);
    int n_out = rr_dt_n_outputs(t->impl);
    int32_t yes = layerwise ? 0 : rr_decoder_trainer_yes_id(t);
    /* Training reads the last id of "Yes", inference and the goldens the first: the same unless the tokenizer
     * splits "Yes" (the tiny Gemma one does); then only rows with the full last-position row are compared. */
    bool same_yes = layerwise || yes == json_integer_value(json_object_get(p.rows[0], "yes_token_id"));
    int layers[8];
    const rr_model_desc *desc = rr_model_describe(m);
    for (int k = 0; k < n_out; k++) layers[k] = desc->start_layer + k;
    rr_batch b = {.ids = p.ids, .offsets = p.offsets, .n_seqs = p.n, .score_tokens = &yes, .n_score_tokens = 1,
                  .layers = layerwise ? layers : NULL, .n_layers = layerwise ? (size_t)n_out : 0};
    float *mine = calloc(p.n * (size_t)n_out, sizeof *mine), *ref = calloc(p.n * (size_t)n_out, sizeof *ref);
    rerank_error err;
    rr_workspace *ws = rr_workspace_new();
    REQUIRE(rr_decoder_trainer_scores(t, &b, mine, &err) == RERANK_OK, "%s", err.message);
    REQUIRE(rr_model_forward(m, &b, ws, ref, &err) == RERANK_OK, "%s", err.message);
    double worst_ref = 0, worst_gold = 0;
    int n_gold = 0;
    for (size_t s = 0; s < p.n; s++)
        for (int k = 0; k < n_out; k++) {
            double a = mine[s * (size_t)n_out + (size_t)k];
            worst_ref = fmax(worst_ref, fabs(a - ref[s * (size_t)n_out + (size_t)k]));
            const json_t *g = same_yes ? json_array_get(json_object_get(p.rows[s], layerwise ? "logits_per_layer" : "logits"),
                                                        (size_t)k)
                                       : json_array_get(json_object_get(p.rows[s], "last_position_logits"), (size_t)yes);
            if (!g) continue;
            worst_gold = fmax(worst_gold, fabs(a - json_number_value(g)));
            n_gold++;
        }
    printf("    %s: yes id %d, %zu rows, |trainer - rr_model_forward| <= %.2g, |trainer - golden| <= %.2g (%d logits)\n",
           rel, yes, p.n, worst_ref, worst_gold, n_gold);
    CHECK(n_gold >= 3);
    CHECK(worst_ref <= 1e-5, "%g", worst_ref);
    CHECK(worst_gold <= 1e-4, "%g", worst_gold);
    free(mine), free(ref);
    rr_workspace_free(ws);
    rr_model_free(m);
    json_decref(rows);
    t->ops->free(t);
}

TEST(train_dec_scores_gemma) { check_scores(GEMMA, "golden.jsonl", false); }
TEST(train_dec_scores_qwen3) { check_scores(QWEN3, "golden_flagllm.jsonl", false); }
TEST(train_dec_scores_qwen2) { check_scores(QWEN2, "golden_flagllm.jsonl", false); }
TEST(train_dec_scores_minicpm_layerwise) { check_scores(MINICPM, "golden.jsonl", true); }

/* A fixed random batch: n_groups groups of group_size sequences of 3..9 tokens. */
typedef struct {
    int32_t ids[512];
    size_t offsets[33];
    rr_batch b;
    float teacher[32];
} rand_batch;

static unsigned long long rng = 0x853c49e6748fea9bull;
static unsigned rnd(unsigned n) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (unsigned)(rng >> 33) % n;
}

static void make_batch(rand_batch *r, size_t n_seqs, int vocab) {
    r->offsets[0] = 0;
    for (size_t s = 0; s < n_seqs; s++) {
        size_t len = 3 + rnd(7);
        for (size_t i = 0; i < len; i++) r->ids[r->offsets[s] + i] = (int32_t)rnd((unsigned)vocab);
        r->offsets[s + 1] = r->offsets[s] + len;
        r->teacher[s] = (float)rnd(1000) / 250.0f;
    }
    r->b = (rr_batch){.ids = r->ids, .offsets = r->offsets, .n_seqs = n_seqs};
}


#define FD_H 1e-2f /* float forward noise ~1e-6 / h against curvature ~h^2: 1e-2 minimises both here */
static double loss_at(rr_trainer *t, const rr_batch *b, size_t gs, const float *teacher, unsigned long long seed) {
    rr_train_loss l;
    rerank_error err;
    if (rr_dt_pass(t->impl, b, gs, teacher, false, true, seed, 1.0f, NULL, &l, &err)) return NAN;
    return l.loss;
}

/* Every trainable tensor: a few entries, analytic d loss / d w against central differences. Returns the worst
 * |analytic - numeric| / max(|numeric|, 1e-2 * largest |gradient|). */
static double grad_check(const char *rel, double dropout, bool heads, bool with_teacher, int vocab) {
    rr_trainer *t = open_trainer(rel, 2, dropout, NULL, heads, 11);
    if (!t) return INFINITY;
    /* B = 0 would make every d/dA zero: start from a random nonzero B. */
    for (size_t i = 0; i < t->n_params; i++)
        if (strstr(t->params[i].name, "lora_B"))
            for (size_t j = 0; j < t->params[i].size; j++) t->w[t->params[i].offset + j] = ((float)rnd(2001) - 1000) * 2e-4f;
    static rand_batch r;
    size_t gs = 3;
    make_batch(&r, 2 * gs, vocab);
    const float *teacher = with_teacher ? r.teacher : NULL;
    rr_train_micro mb = {.batch = r.b, .group_size = gs, .teacher = teacher, .sample_seed = 99};
    rr_train_loss l;
    rerank_error err;
    memset(t->grad, 0, t->n_floats * sizeof *t->grad);
    if (t->ops->accumulate(t, &mb, 1.0f, &l, NULL, &err)) {
        fprintf(stderr, "    %s\n", err.message);
        t->ops->free(t);
        return INFINITY;
    }
    /* Self-distillation detaches the last layer's logits: differentiate the loss with them held at their
     * value here, which as teacher scores add to the last layer a KD term whose gradient is zero at this point. */
    static float fixed[32];
    int n_out = rr_dt_n_outputs(t->impl);
    if (n_out > 1 && !teacher) {
        static float all[32 * 8];
        if (rr_decoder_trainer_scores(t, &r.b, all, &err)) return INFINITY;
        for (size_t s = 0; s < r.b.n_seqs; s++) fixed[s] = all[s * (size_t)n_out + (size_t)n_out - 1];
        teacher = fixed;
    }
    double gmax = 0;
    for (size_t i = 0; i < t->n_floats; i++) gmax = fmax(gmax, fabs(t->grad[i]));
    double worst = 0;
    for (size_t i = 0; i < t->n_params; i++) {
        const rr_train_param *p = &t->params[i];
        for (int k = 0; k < 3; k++) {
            size_t j = p->offset + rnd((unsigned)p->size);
            float w0 = t->w[j], h = FD_H;
            t->w[j] = w0 + h;
            double hi = (double)t->w[j] - w0, fp = loss_at(t, &r.b, gs, teacher, 99);
            t->w[j] = w0 - h;
            double lo = (double)w0 - t->w[j], fm = loss_at(t, &r.b, gs, teacher, 99);
            t->w[j] = w0;
            double num = (fp - fm) / (hi + lo), e = fabs(t->grad[j] - num) / fmax(fabs(num), 1e-2 * gmax);
            if (getenv("RR_DEBUG_FD") && e > 5e-3)
                printf("      %s[%zu]: analytic %.6g numeric %.6g (gmax %.3g)\n", p->name, j - p->offset, t->grad[j], num, gmax);
            if (e > worst) worst = e;
        }
    }
    printf("    %s (dropout %g%s%s): loss %.6f, %zu tensors, worst relative gradient error %.2g\n", rel, dropout,
           heads ? ", heads" : "", with_teacher ? ", teacher" : "", l.loss, t->n_params, worst);
    t->ops->free(t);
    return worst;
}

TEST(train_dec_grad_fd_gemma) {
    CHECK(grad_check(GEMMA, 0.0, false, false, 4000) < 1e-2);
    CHECK(grad_check(GEMMA, 0.3, false, true, 4000) < 1e-2);
}
TEST(train_dec_grad_fd_qwen3) { CHECK(grad_check(QWEN3, 0.0, false, true, 3286) < 1e-2); }
TEST(train_dec_grad_fd_qwen2) { CHECK(grad_check(QWEN2, 0.1, false, false, 3286) < 1e-2); }
TEST(train_dec_grad_fd_minicpm_layerwise) {
    CHECK(grad_check(MINICPM, 0.0, true, false, 4000) < 1e-2); /* self-distillation */
    CHECK(grad_check(MINICPM, 0.0, true, true, 4000) < 1e-2);  /* teacher scores on every layer */
}
