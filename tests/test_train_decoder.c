/* test_train_decoder.c - LoRA training of the decoder rerankers on the tiny checkpoints: with B = 0 the
 * trainer's scores equal the inference's (rr_model_forward) and the goldens on the same token ids; the
 * gradient of every LoRA tensor (and trained layerwise head) against finite differences of the loss, with
 * dropout masks, teacher scores and layerwise self-distillation; a few AdamW steps lower the loss. */
#include "arch/model.h"
#include "base/file.h"
#include "base/json.h"
#include "io/safetensors.h"
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

/* ---- a few optimizer steps, then the adapter and merged model on disk ---- */

/* torch.optim.AdamW (betas 0.9/0.999, eps 1e-8, no decay) on the trainer's table: what the loop does. */
static void adam_step(rr_trainer *t, float *m, float *v, int step, double lr) {
    double bc1 = 1 - pow(0.9, step), bc2 = 1 - pow(0.999, step);
    for (size_t i = 0; i < t->n_floats; i++) {
        double g = t->grad[i];
        m[i] = (float)(0.9 * m[i] + 0.1 * g);
        v[i] = (float)(0.999 * v[i] + 0.001 * g * g);
        t->w[i] -= (float)(lr / bc1 * m[i] / (sqrt(v[i] / bc2) + 1e-8));
    }
}

/* n_steps AdamW steps on a fixed batch; returns the first and last loss. */
static void train_steps(rr_trainer *t, rand_batch *r, size_t gs, int n_steps, double lr, double *first, double *last) {
    float *m = calloc(t->n_floats, sizeof *m), *v = calloc(t->n_floats, sizeof *v);
    rr_train_micro mb = {.batch = r->b, .group_size = gs, .sample_seed = 5};
    rerank_error err;
    for (int s = 1; s <= n_steps; s++) {
        rr_train_loss l;
        memset(t->grad, 0, t->n_floats * sizeof *t->grad);
        mb.sample_seed = 5 + (unsigned)s;
        if (t->ops->accumulate(t, &mb, 1.0f, &l, NULL, &err)) {
            fprintf(stderr, "    %s\n", err.message);
            *first = *last = NAN;
            break;
        }
        if (s == 1) *first = l.loss;
        *last = l.loss;
        adam_step(t, m, v, s, lr);
    }
    free(m), free(v);
}

static bool file_in(const char *dir, const char *name) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return rr_file_exists(path);
}

/* `rerank score` on the merged directory gives the trainer's (last-layer) score on the ids `rerank tokenize` makes. */
static void check_cli(rr_trainer *t, const char *merged) {
    const char *pair = "{\"query\": \"what is panda?\", \"passage\": \"The giant panda is a bear.\"}\n";
    char cmd[512], *out = NULL, *errout = NULL, *out2 = NULL, *err2 = NULL;
    snprintf(cmd, sizeof cmd, "%s tokenize --model %s", getenv("RERANK_CLI"), merged);
    int rc1 = run_command(cmd, pair, &out, &errout);
    snprintf(cmd, sizeof cmd, "%s score --model %s", getenv("RERANK_CLI"), merged);
    int rc2 = run_command(cmd, pair, &out2, &err2);
    CHECK(rc1 == 0 && rc2 == 0, "%s%s", errout ? errout : "", err2 ? err2 : "");
    json_t *tok = NULL, *score = NULL;
    rerank_error err;
    if (rc1 == 0 && rc2 == 0 && !rr_json_parse(out, strlen(out), "tokenize", &tok, &err) &&
        !rr_json_parse(out2, strlen(out2), "score", &score, &err)) {
        size_t n;
        int32_t *ids = golden_ints(tok, "input_ids", &n);
        size_t offs[2] = {0, n};
        rr_batch b = {.ids = ids, .offsets = offs, .n_seqs = 1};
        float mine[8];
        int n_out = rr_dt_n_outputs(t->impl);
        CHECK(rr_decoder_trainer_scores(t, &b, mine, &err) == RERANK_OK, "%s", err.message);
        double cli = json_number_value(json_object_get(score, "score"));
        printf("    rerank score --model merged_model: %.7f, trainer %.7f\n", cli, mine[n_out - 1]);
        CHECK_NEAR(cli, mine[n_out - 1], 1e-4);
        free(ids);
    } else {
        CHECK(0, "unparsable CLI output");
    }
    json_decref(tok), json_decref(score);
    free(out), free(errout), free(out2), free(err2);
}

static char *slurp(const char *dir, const char *name, size_t *len) {
    char path[1024], *buf = NULL;
    rerank_error err;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return rr_file_read(path, 1 << 28, &buf, len, &err) ? NULL : buf;
}

/* The saved adapter read back: into a fresh trainer (the same weights), and merged on its own (the same file). */
static void check_adapter_roundtrip(const rr_trainer *t, const char *rel, const char *dir, bool heads) {
    rerank_error err;
    rr_trainer *u = open_trainer(rel, 4, 0.0, heads ? "q_proj,v_proj,down_proj" : NULL, heads, 12345);
    REQUIRE(u);
    REQUIRE(rr_decoder_trainer_load_adapter(u, dir, &err) == RERANK_OK, "%s", err.message);
    CHECK(u->n_floats == t->n_floats && !memcmp(u->w, t->w, t->n_floats * sizeof *t->w));
    u->ops->free(u);
    char out[] = "/tmp/rr_lora_merge_XXXXXX", merged[64], cmd[128];
    REQUIRE(mkdtemp(out));
    CHECK(rr_decoder_merge_adapter(dir, NULL, out, &err) == RERANK_OK, "%s", err.message);
    snprintf(merged, sizeof merged, "%s/merged_model", dir);
    size_t n1 = 0, n2 = 1;
    char *a = slurp(merged, "model.safetensors", &n1);
    snprintf(merged, sizeof merged, "%s/merged_model", out);
    char *b = slurp(merged, "model.safetensors", &n2);
    CHECK(a && b && n1 == n2 && !memcmp(a, b, n1), "merging the saved adapter gives another checkpoint");
    free(a), free(b);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", out);
    CHECK(system(cmd) == 0);
}

/* Trains a few steps, saves with merge, and checks the adapter files and that the merged checkpoint scores
 * like the trainer. tol: the merged weights are rounded to the checkpoint's dtype. */
static void check_train_save(const char *rel, int vocab, bool heads, double tol) {
    rr_trainer *t = open_trainer(rel, 4, 0.1, heads ? "q_proj,v_proj,down_proj" : NULL, heads, 3);
    REQUIRE(t);
    static rand_batch r;
    size_t gs = 4;
    make_batch(&r, 2 * gs, vocab);
    double first = NAN, last = NAN;
    train_steps(t, &r, gs, 8, 1e-2, &first, &last);
    printf("    %s: loss %.4f -> %.4f after 8 AdamW steps (lr 1e-2, rank 4, dropout 0.1)\n", rel, first, last);
    CHECK(last < 0.5 * first, "%g -> %g", first, last);

    char dir[] = "/tmp/rr_lora_XXXXXX", merged[64];
    REQUIRE(mkdtemp(dir));
    rerank_error err;
    REQUIRE(t->ops->save(t, rr_shared_path(rel), dir, true, &err) == RERANK_OK, "%s", err.message);
    snprintf(merged, sizeof merged, "%s/merged_model", dir);
    CHECK(file_in(dir, "adapter_model.safetensors") && file_in(dir, "adapter_config.json") &&
          file_in(dir, "tokenizer.json"));
    CHECK(file_in(merged, "model.safetensors") && file_in(merged, "config.json") && file_in(merged, "tokenizer.json"));

    /* The adapter: every trainable tensor under its PEFT name, fp32, equal to the trainer's weights. */
    char path[256];
    snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
    rr_safetensors *sf = NULL;
    REQUIRE(rr_safetensors_open(path, &sf, &err) == RERANK_OK, "%s", err.message);
    CHECK(rr_safetensors_count(sf) == t->n_params);
    for (size_t i = 0; i < t->n_params; i++) {
        const rr_st_tensor *x = rr_safetensors_find(sf, t->params[i].name);
        CHECK(x && x->dtype == RR_ST_F32 && x->n_elems == t->params[i].size &&
                  !memcmp(x->data, t->w + t->params[i].offset, x->n_bytes),
              "%s", t->params[i].name);
    }
    CHECK(rr_safetensors_find(sf, "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight") != NULL);
    if (heads) CHECK(rr_safetensors_find(sf, "base_model.model.lm_head.0.linear_head.weight") != NULL);
    rr_safetensors_free(sf);
    snprintf(path, sizeof path, "%s/adapter_config.json", dir);
    json_t *c = NULL;
    REQUIRE(rr_json_load_file(path, 1 << 20, &c, &err) == RERANK_OK, "%s", err.message);
    CHECK(!strcmp(json_string_value(json_object_get(c, "peft_type")), "LORA"));
    CHECK(!strcmp(json_string_value(json_object_get(c, "task_type")), "CAUSAL_LM"));
    CHECK(json_integer_value(json_object_get(c, "r")) == 4 && json_integer_value(json_object_get(c, "lora_alpha")) == 8);
    CHECK(json_array_size(json_object_get(c, "target_modules")) == (heads ? 3u : 7u));
    CHECK(heads ? json_is_array(json_object_get(c, "modules_to_save")) : json_is_null(json_object_get(c, "modules_to_save")));
    json_decref(c);

    /* The merged checkpoint through the inference scores as the trained adapters do. */
    rr_model *m = load_model(merged);
    REQUIRE(m);
    int n_out = rr_dt_n_outputs(t->impl), layers[8];
    for (int k = 0; k < n_out; k++) layers[k] = rr_model_describe(m)->start_layer + k;
    int32_t yes = rr_decoder_trainer_yes_id(t);
    rr_batch b = r.b;
    b.score_tokens = &yes, b.n_score_tokens = 1;
    if (heads) b.layers = layers, b.n_layers = (size_t)n_out;
    float mine[64], ref[64];
    rr_workspace *ws = rr_workspace_new();
    REQUIRE(rr_decoder_trainer_scores(t, &b, mine, &err) == RERANK_OK, "%s", err.message);
    REQUIRE(rr_model_forward(m, &b, ws, ref, &err) == RERANK_OK, "%s", err.message);
    double worst = 0, moved = 0;
    for (size_t i = 0; i < b.n_seqs * (size_t)n_out; i++) worst = fmax(worst, fabs(mine[i] - ref[i]));
    rr_model *base = load_model(rr_shared_path(rel));
    float orig[64];
    REQUIRE(base && rr_model_forward(base, &b, ws, orig, &err) == RERANK_OK);
    for (size_t i = 0; i < b.n_seqs * (size_t)n_out; i++) moved = fmax(moved, fabs(mine[i] - orig[i]));
    printf("    merged model: |trainer - rr_model_forward(merged)| <= %.2g (scores moved by up to %.2g)\n", worst, moved);
    CHECK(worst <= tol, "%g", worst);
    CHECK(moved > 1.0, "training moved the scores by %g only", moved);
    if (heads && getenv("RERANK_CLI")) check_cli(t, merged);
    check_adapter_roundtrip(t, rel, dir, heads);
    rr_model_free(base);
    rr_model_free(m);
    rr_workspace_free(ws);
    t->ops->free(t);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

TEST(train_dec_steps_save_qwen3) { check_train_save(QWEN3, 3286, false, 1e-4); }
TEST(train_dec_steps_save_minicpm_layerwise) { check_train_save(MINICPM, 4000, true, 1e-4); }
/* BF16 checkpoint: the merged weights are rounded to bf16 (relative 2^-9) as PEFT's merge into a bf16 model
 * does; after training moved the scores by ~14 that is ~0.1 on a score. */
TEST(train_dec_steps_save_gemma_bf16) { check_train_save(GEMMA, 4000, false, 0.2); }

/* ---- refused options and inputs ---- */
TEST(train_dec_errors) {
    rerank_error err;
    rr_trainer *t = NULL;
    rr_trainer_opts o = {.lora = {8, 16, 0.1, "q_proj,lm_head", false}};
    CHECK(rr_decoder_trainer_open(rr_shared_path(QWEN3), &o, &t, &err) == RERANK_ERR_INVALID_ARGUMENT && !t);
    CHECK(strstr(err.message, "lm_head") != NULL, "%s", err.message);
    o.lora.targets = NULL, o.lora.rank = 0;
    CHECK(rr_decoder_trainer_open(rr_shared_path(QWEN3), &o, &t, &err) == RERANK_ERR_INVALID_ARGUMENT);
    o.lora.rank = 8, o.lora.dropout = 1.0;
    CHECK(rr_decoder_trainer_open(rr_shared_path(QWEN3), &o, &t, &err) == RERANK_ERR_INVALID_ARGUMENT);
    o.lora.dropout = 0.1, o.lora.train_heads = true; /* only the layerwise model has heads to train */
    CHECK(rr_decoder_trainer_open(rr_shared_path(GEMMA), &o, &t, &err) == RERANK_ERR_INVALID_ARGUMENT);
    o.lora.train_heads = false;
    CHECK(rr_decoder_trainer_open(rr_shared_path("testdata/xlmr-seqcls-tiny"), &o, &t, &err) == RERANK_ERR_UNSUPPORTED);
    REQUIRE(rr_decoder_trainer_open(rr_shared_path(QWEN3), &o, &t, &err) == RERANK_OK, "%s", err.message);
    CHECK(t->n_params == 2 * 2 * 7 && t->kind == RERANK_KIND_LLM);
    int32_t ids[6] = {1, 2, 3, 4, 5, 99999};
    size_t offs[4] = {0, 2, 4, 6};
    rr_train_micro mb = {.batch = {.ids = ids, .offsets = offs, .n_seqs = 3}, .group_size = 2};
    rr_train_loss l;
    CHECK(t->ops->accumulate(t, &mb, 1.0f, &l, NULL, &err) == RERANK_ERR_INVALID_ARGUMENT); /* 3 % 2 */
    mb.group_size = 3;
    CHECK(t->ops->accumulate(t, &mb, 1.0f, &l, NULL, &err) == RERANK_ERR_INPUT); /* id out of range */
    ids[5] = 6;
    float logits[3];
    CHECK(t->ops->accumulate(t, &mb, 1.0f, &l, logits, &err) == RERANK_OK, "%s", err.message);
    CHECK(isfinite(l.loss) && l.kd == 0.0 && fabs(l.loss - l.ce) < 1e-12);
    float eval[3];
    CHECK(rr_decoder_trainer_scores(t, &mb.batch, eval, &err) == RERANK_OK);
    for (int i = 0; i < 3; i++) CHECK(logits[i] == eval[i], "dropout 0.1 acts on the LoRA path only, and B = 0");
    t->ops->free(t);
}

/* accumulate ADDS scale * gradient: two calls at 0.25 give half of one call at 1. */
TEST(train_dec_accumulate_scale) {
    rr_trainer *t = open_trainer(MINICPM, 4, 0.0, NULL, true, 2);
    REQUIRE(t);
    for (size_t i = 0; i < t->n_floats; i++) t->w[i] += 1e-3f * (float)((int)(i * 7919 % 201) - 100);
    static rand_batch r;
    make_batch(&r, 4, 4000);
    rr_train_micro mb = {.batch = r.b, .group_size = 2, .sample_seed = 8};
    rr_train_loss l;
    rerank_error err;
    float logits[4], eval[4 * 3];
    REQUIRE(t->ops->accumulate(t, &mb, 1.0f, &l, logits, &err) == RERANK_OK, "%s", err.message);
    float *g1 = malloc(t->n_floats * sizeof *g1);
    memcpy(g1, t->grad, t->n_floats * sizeof *g1);
    memset(t->grad, 0, t->n_floats * sizeof *t->grad);
    for (int k = 0; k < 2; k++) REQUIRE(t->ops->accumulate(t, &mb, 0.25f, &l, NULL, &err) == RERANK_OK);
    double worst = 0, gmax = 0;
    for (size_t i = 0; i < t->n_floats; i++) {
        worst = fmax(worst, fabs(t->grad[i] - 0.5 * g1[i]));
        gmax = fmax(gmax, fabs(g1[i]));
    }
    CHECK(gmax > 0 && worst <= 1e-6 * gmax, "%g of %g", worst, gmax);
    /* The layerwise model reports its last layer's logits. */
    REQUIRE(rr_decoder_trainer_scores(t, &r.b, eval, &err) == RERANK_OK);
    for (int i = 0; i < 4; i++) CHECK(logits[i] == eval[i * 3 + 2]);
    free(g1);
    t->ops->free(t);
}

/* Gradient checkpointing recomputes each layer in the backward: the same floats, so the same gradients. */
static void check_recompute(const char *rel, int vocab, bool heads) {
    static rand_batch r;
    size_t gs = 3;
    make_batch(&r, 2 * gs, vocab);
    rr_train_micro mb = {.batch = r.b, .group_size = gs, .sample_seed = 42};
    float *grads[2] = {NULL, NULL};
    double losses[2] = {0, 0};
    size_t n = 0;
    for (int k = 0; k < 2; k++) {
        rr_trainer *t = open_trainer(rel, 4, 0.2, NULL, heads, 9);
        REQUIRE(t);
        for (size_t i = 0; i < t->n_floats; i++) t->w[i] += 1e-3f * (float)((int)(i * 7919 % 201) - 100); /* B != 0 */
        rr_decoder_trainer_set_recompute(t, k ? 0.0 : INFINITY);
        rr_train_loss l;
        rerank_error err;
        REQUIRE(t->ops->accumulate(t, &mb, 0.5f, &l, NULL, &err) == RERANK_OK, "%s", err.message);
        losses[k] = l.loss;
        n = t->n_floats;
        grads[k] = malloc(n * sizeof(float));
        memcpy(grads[k], t->grad, n * sizeof(float));
        t->ops->free(t);
    }
    double gnorm = 0;
    for (size_t i = 0; i < n; i++) gnorm += (double)grads[0][i] * grads[0][i];
    CHECK(gnorm > 0);
    CHECK(losses[0] == losses[1], "%.9g vs %.9g", losses[0], losses[1]);
    CHECK(!memcmp(grads[0], grads[1], n * sizeof(float)), "%s: gradients differ with recomputation", rel);
    free(grads[0]), free(grads[1]);
}

TEST(train_dec_recompute_same_grads) {
    check_recompute(QWEN3, 3286, false);
    check_recompute(MINICPM, 4000, true);
    check_recompute(GEMMA, 4000, false);
}

/* The dtype conversions of the merged checkpoint: every half / bfloat16 survives f32 and back, and ties round
 * to even. */
TEST(train_dec_half_conversions) {
    int bad_f16 = 0, bad_bf16 = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = rr_f16_to_f32((uint16_t)h), g = rr_bf16_to_f32((uint16_t)h);
        if (f == f && rr_dt_to_f16(f) != h) bad_f16++;
        if (g == g && rr_dt_to_bf16(g) != h) bad_bf16++;
        if (f != f) CHECK(rr_dt_to_f16(f) >= 0x7c01 || (rr_dt_to_f16(f) & 0x7fff) > 0x7c00);
    }
    CHECK(bad_f16 == 0 && bad_bf16 == 0, "%d, %d", bad_f16, bad_bf16);
    CHECK(rr_dt_to_f16(1.0f + 0x1p-11f) == 0x3c00);           /* tie, even below */
    CHECK(rr_dt_to_f16(1.0f + 3 * 0x1p-11f) == 0x3c02);       /* tie, even above */
    CHECK(rr_dt_to_f16(65520.0f) == 0x7c00 && rr_dt_to_f16(65519.0f) == 0x7bff);
    CHECK(rr_dt_to_f16(0x1p-25f) == 0 && rr_dt_to_f16(0x1.8p-25f) == 1); /* subnormal rounding */
    CHECK(rr_dt_to_bf16(1.0f + 0x1p-8f) == 0x3f80 && rr_dt_to_bf16(1.0f + 3 * 0x1p-8f) == 0x3f82);
}

/* A sharded checkpoint (model-0000k-of-00002.safetensors + index): trained and merged into one file. */
static bool copy_to(const char *src_dir, const char *dst_dir, const char *name) {
    size_t n;
    char *buf = slurp(src_dir, name, &n), path[1024];
    if (!buf) return false;
    snprintf(path, sizeof path, "%s/%s", dst_dir, name);
    FILE *f = fopen(path, "wb");
    bool ok = f && fwrite(buf, 1, n, f) == n;
    if (f) fclose(f);
    free(buf);
    return ok;
}

TEST(train_dec_sharded_checkpoint) {
    const char *src = rr_shared_path(QWEN3);
    char dir[] = "/tmp/rr_lora_shard_XXXXXX", path[1024];
    REQUIRE(mkdtemp(dir));
    rerank_error err;
    snprintf(path, sizeof path, "%s/model.safetensors", src);
    rr_safetensors *sf;
    REQUIRE(rr_safetensors_open(path, &sf, &err) == RERANK_OK, "%s", err.message);
    size_t n = rr_safetensors_count(sf), half = n / 2;
    rr_st_write_tensor *ts = calloc(n, sizeof *ts);
    json_t *map = json_object();
    for (size_t i = 0; i < n; i++) {
        const rr_st_tensor *x = rr_safetensors_at(sf, i);
        ts[i] = (rr_st_write_tensor){.name = x->name, .dtype = x->dtype, .n_dims = x->n_dims, .data = x->data};
        memcpy(ts[i].shape, x->shape, sizeof ts[i].shape);
        json_object_set_new(map, x->name, json_string(i < half ? "model-00001-of-00002.safetensors"
                                                               : "model-00002-of-00002.safetensors"));
    }
    snprintf(path, sizeof path, "%s/model-00001-of-00002.safetensors", dir);
    CHECK(rr_safetensors_write(path, ts, half, &err) == RERANK_OK);
    snprintf(path, sizeof path, "%s/model-00002-of-00002.safetensors", dir);
    CHECK(rr_safetensors_write(path, ts + half, n - half, &err) == RERANK_OK);
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    json_t *index = json_pack("{s:{}, s:o}", "metadata", "weight_map", map);
    CHECK(json_dump_file(index, path, 0) == 0);
    json_decref(index);
    free(ts);
    rr_safetensors_free(sf);
    static const char *const files[] = {"config.json", "tokenizer.json", "tokenizer_config.json", "vocab.json",
                                        "merges.txt"};
    for (size_t i = 0; i < 5; i++) CHECK(copy_to(src, dir, files[i]), "%s", files[i]);

    rr_trainer_opts o = {.lora = {4, 8, 0.0, "q_proj,o_proj,up_proj", false}, .seed = 1};
    rr_trainer *t = NULL;
    REQUIRE(rr_decoder_trainer_open(dir, &o, &t, &err) == RERANK_OK, "%s", err.message);
    static rand_batch r;
    make_batch(&r, 4, 3286);
    double first = NAN, last = NAN;
    train_steps(t, &r, 2, 4, 1e-2, &first, &last);
    CHECK(last < first);
    char out[1100], merged[1200];
    snprintf(out, sizeof out, "%s/out", dir);
    REQUIRE(t->ops->save(t, dir, out, true, &err) == RERANK_OK, "%s", err.message);
    snprintf(merged, sizeof merged, "%s/merged_model", out);
    snprintf(path, sizeof path, "%s/model.safetensors", merged);
    REQUIRE(rr_safetensors_open(path, &sf, &err) == RERANK_OK, "%s", err.message);
    CHECK(rr_safetensors_count(sf) == n);
    rr_safetensors_free(sf);
    rr_model *m = load_model(merged);
    REQUIRE(m);
    int32_t yes = rr_decoder_trainer_yes_id(t);
    rr_batch b = r.b;
    b.score_tokens = &yes, b.n_score_tokens = 1;
    float mine[8], ref[8];
    rr_workspace *ws = rr_workspace_new();
    REQUIRE(rr_decoder_trainer_scores(t, &b, mine, &err) == RERANK_OK, "%s", err.message);
    REQUIRE(rr_model_forward(m, &b, ws, ref, &err) == RERANK_OK, "%s", err.message);
    for (size_t i = 0; i < b.n_seqs; i++) CHECK_NEAR(mine[i], ref[i], 1e-4);
    rr_workspace_free(ws);
    rr_model_free(m);
    t->ops->free(t);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}
