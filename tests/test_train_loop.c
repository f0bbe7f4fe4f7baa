/* test_train_loop.c - the training loop (src/train/loop.h) and what it drives: the LR schedule, the optimizer
 * over the flat table, gradient accumulation through rr_trainer, resume bit-exactness, checkpoints, the saved
 * model directory, and the ranking metrics of `rerank eval`. */
#include <stdbool.h>
#include <unistd.h>

#include "base/json.h"
#include "io/safetensors.h"
#include "base/threadpool.h"
#include "test.h"
#include "train/data.h"
#include "train/eval.h"
#include "train/loop.h"
#include "train/optim.h"

#define TOY "data/flagembedding/old_examples_reranker_toy_finetune_data.jsonl"

TEST(train_lr_schedule) {
    /* get_linear_schedule_with_warmup(total 10, warmup 2): 0, lr/2, lr, then lr * (10 - s) / 8 */
    const double want[11] = {0, 0.5, 1, 7.0 / 8, 6.0 / 8, 5.0 / 8, 4.0 / 8, 3.0 / 8, 2.0 / 8, 1.0 / 8, 0};
    for (long s = 0; s <= 10; s++) CHECK_NEAR(rr_lr_at(2e-5, s, 2, 10), 2e-5 * want[s], 1e-18);
    CHECK_NEAR(rr_lr_at(1.0, 0, 0, 4), 1.0, 0);   /* no warm-up: full rate at step 0 */
    CHECK_NEAR(rr_lr_at(1.0, 3, 0, 4), 0.25, 0);
    CHECK_NEAR(rr_lr_at(1.0, 12, 2, 10), 0.0, 0); /* never negative */
    CHECK(rr_warmup_steps(0.1, 15) == 2 && rr_warmup_steps(0.1, 10) == 1 && rr_warmup_steps(0.0, 10) == 0);
    CHECK(rr_warmup_steps(1.0, 7) == 7);
}

TEST(train_optimizer_no_decay_and_clip) {
    rr_train_param p[2] = {{.name = "w", .n_dims = 2, .shape = {1, 2}, .offset = 0, .size = 2, .no_decay = false},
                           {.name = "b", .n_dims = 1, .shape = {2}, .offset = 2, .size = 2, .no_decay = true}};
    float w[4] = {1, 1, 1, 1}, g[4] = {0, 0, 0, 0};
    rr_adamw s;
    rerank_error err;
    REQUIRE(rr_adamw_init(&s, 4, &err) == RERANK_OK);
    rr_train_adamw_opts o = {0.1, 0.9, 0.999, 1e-8, 0.5, false};
    rr_adamw_step(NULL, &s, p, 2, w, g, &o);
    CHECK_NEAR(w[0], 0.95, 1e-7); /* decayed by lr * wd */
    CHECK(w[2] == 1.0f && w[3] == 1.0f && s.step == 1);
    o.decay_all = true;
    rr_adamw_step(NULL, &s, p, 2, w, g, &o);
    CHECK_NEAR(w[2], 0.95, 1e-7);
    rr_adamw_free(&s);
    float c[2] = {3, 4};
    CHECK_NEAR(rr_clip_grad_norm(NULL, c, 2, 1.0), 5.0, 1e-12);
    CHECK_NEAR(c[0], 0.6, 1e-6);
    CHECK_NEAR(rr_clip_grad_norm(NULL, c, 2, 0.0), 1.0, 1e-6); /* 0: no clipping */
    rr_train_adamw_opts bad = {0.1, 1.0, 0.999, 1e-8, 0, false};
    CHECK(rr_adamw_check(&bad, &err) == RERANK_ERR_INVALID_ARGUMENT);
}

/* Groups [first, first + n) of the toy data (positive + first G-1 negatives) as one micro-batch. */
typedef struct micro_buf {
    rr_i32vec ids, types;
    size_t offsets[65];
} micro_buf;

static bool build(rr_train_tok *t, const rr_train_data *d, size_t first, size_t n, size_t G, micro_buf *b,
                  rr_train_micro *mb) {
    rerank_error err;
    b->ids.n = b->types.n = 0;
    b->offsets[0] = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < G; j++) {
            const rr_train_row *r = &d->rows[first + i];
            if (rr_train_tok_pair(t, r, j ? r->neg[j - 1] : r->pos[0], j ? r->neg_len[j - 1] : r->pos_len[0], &b->ids,
                                  &b->types, &err))
                return false;
            b->offsets[i * G + j + 1] = b->ids.n;
        }
    memset(mb, 0, sizeof *mb);
    mb->batch = (rr_batch){.ids = b->ids.data, .type_ids = b->types.data, .offsets = b->offsets, .n_seqs = n * G};
    mb->group_size = G;
    return true;
}

/* One micro-batch of 4 groups == two of 2 groups, each scaled by 1/2 (up to float summation order). */
TEST(train_grad_accumulation) {
    rerank_error err;
    rr_trainer_opts o = {0};
    rr_trainer *t = NULL;
    rr_train_tok *tok = NULL;
    rr_train_data *d = NULL;
    rr_train_data_opts dopts = {false, false};
    REQUIRE(rr_trainer_open(rr_shared_path("testdata/xlmr-seqcls-tiny"), &o, &t, &err) == RERANK_OK, "%s", err.message);
    REQUIRE(t->kind == RERANK_KIND_CROSS_ENCODER && t->n_floats > 0);
    REQUIRE(rr_train_tok_open(rr_shared_path("testdata/xlmr-seqcls-tiny"), t->kind, 16, 32, &tok, &err) == RERANK_OK);
    REQUIRE(rr_train_data_load(rr_shared_path(TOY), &dopts, &d, &err) == RERANK_OK, "%s", err.message);
    micro_buf b = {0};
    rr_train_micro mb;
    rr_train_loss la, l1, l2;
    float *ga = malloc(t->n_floats * sizeof *ga);
    REQUIRE(ga && build(tok, d, 0, 4, 4, &b, &mb));
    memset(t->grad, 0, t->n_floats * sizeof *t->grad);
    REQUIRE(t->ops->accumulate(t, &mb, 1.0f, &la, NULL, &err) == RERANK_OK, "%s", err.message);
    memcpy(ga, t->grad, t->n_floats * sizeof *ga);
    memset(t->grad, 0, t->n_floats * sizeof *t->grad);
    REQUIRE(build(tok, d, 0, 2, 4, &b, &mb) && t->ops->accumulate(t, &mb, 0.5f, &l1, NULL, &err) == RERANK_OK);
    REQUIRE(build(tok, d, 2, 2, 4, &b, &mb) && t->ops->accumulate(t, &mb, 0.5f, &l2, NULL, &err) == RERANK_OK);
    CHECK_NEAR(la.loss, 0.5 * (l1.loss + l2.loss), 1e-6);
    double worst = 0;
    for (size_t k = 0; k < t->n_params; k++) {
        const rr_train_param *p = &t->params[k];
        double dn = 0, gn = 0, dmax = 0;
        for (size_t i = p->offset; i < p->offset + p->size; i++) {
            double dd = fabs((double)ga[i] - t->grad[i]);
            dn += dd * dd, gn += (double)ga[i] * ga[i];
            dmax = dd > dmax ? dd : dmax;
        }
        double rel = gn > 0 ? sqrt(dn / gn) : sqrt(dn);
        worst = rel > worst ? rel : worst;
        CHECK(dmax <= 1e-6 && sqrt(dn) <= 1e-5 * sqrt(gn) + 1e-9, "%s: max|d| %.3g rel %.3g", p->name, dmax, rel);
    }
    printf("     batch 4 vs 2 x 2: loss %.8f vs %.8f, worst per-tensor relative gradient difference %.3g\n", la.loss,
           0.5 * (l1.loss + l2.loss), worst);
    free(ga);
    rr_i32vec_free(&b.ids), rr_i32vec_free(&b.types);
    rr_train_data_free(d);
    rr_train_tok_free(tok);
    rr_trainer_free(t);
}

/* ---- runs of the loop ---- */

static void quiet(void *ctx, const char *line) { (void)ctx, (void)line; }

static void small_args(rr_train_args *a, const char *out) {
    rr_train_args_default(a);
    a->model = rr_shared_path("testdata/xlmr-seqcls-tiny");
    a->train_data = rr_shared_path(TOY);
    a->output_dir = out;
    a->group_size = 4;
    a->query_max_len = 16;
    a->passage_max_len = 32;
    a->batch_size = 2;
    a->max_steps = 4;
    a->save_steps = 2;
    a->learning_rate = 1e-3;
    a->log = quiet;
}

static char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)len + 1);
    *n = b ? fread(b, 1, (size_t)len, f) : 0;
    fclose(f);
    return b;
}

static bool same_file(const char *a, const char *b) {
    size_t na = 0, nb = 0;
    char *x = slurp(a, &na), *y = slurp(b, &nb);
    bool same = x && y && na == nb && memcmp(x, y, na) == 0;
    free(x), free(y);
    return same;
}

static void rm_tree(const char *dir) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

/* Stopped after step 3 (checkpoint-2 on disk), then --resume: the same bytes as an uninterrupted run. */
TEST(train_resume_bit_exact) {
    char d1[] = "/tmp/rr_train_fullXXXXXX", d2[] = "/tmp/rr_train_resumeXXXXXX";
    REQUIRE(mkdtemp(d1) && mkdtemp(d2));
    rr_train_args a;
    rr_train_result r1, r2, r3;
    rerank_error err;
    small_args(&a, d1);
    REQUIRE(rr_train_run(&a, &r1, &err) == RERANK_OK, "%s", err.message);
    CHECK(r1.steps_run == 4 && r1.total_steps == 4 && isfinite(r1.last_loss));
    small_args(&a, d2);
    a.stop_after = 3;
    REQUIRE(rr_train_run(&a, &r2, &err) == RERANK_OK, "%s", err.message);
    CHECK(r2.steps_run == 3);
    char path[600], p2[600];
    CHECK(rr_train_latest_checkpoint(d2, path, sizeof path) == 2, "%s", path);
    snprintf(path, sizeof path, "%s/model.safetensors", d2);
    CHECK(access(path, F_OK) != 0); /* interrupted: no final model */
    a.stop_after = 0;
    a.resume = true;
    REQUIRE(rr_train_run(&a, &r3, &err) == RERANK_OK, "%s", err.message);
    CHECK(r3.steps_run == 2, "%ld", r3.steps_run);
    CHECK_NEAR(r3.last_loss, r1.last_loss, 0);
    const char *files[3] = {"model.safetensors", "checkpoint-4/model.safetensors", "checkpoint-4/optimizer.safetensors"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", d1, files[i]);
        snprintf(p2, sizeof p2, "%s/%s", d2, files[i]);
        CHECK(same_file(path, p2), "%s differs after resume", files[i]);
    }
    /* resuming a finished run takes no step and rewrites the same model */
    REQUIRE(rr_train_run(&a, &r3, &err) == RERANK_OK, "%s", err.message);
    CHECK(r3.steps_run == 0);
    /* other settings than the checkpoint's: refused, naming the field */
    a.group_size = 3;
    CHECK(rr_train_run(&a, &r3, &err) == RERANK_ERR_INVALID_ARGUMENT && strstr(err.message, "train_group_size"), "%s",
          err.message);
    rm_tree(d1);
    rm_tree(d2);
}

/* The whole loop (data -> groups -> tokens -> loss -> clip -> AdamW without decay on biases/LayerNorm -> saved
 * model) against FlagEmbedding's first HF Trainer step (the training goldens: 2 rows, group 4 = all 3
 * negatives, lengths 32/64, one batch of both groups, lr 1e-3), CE and KD. */
static void check_first_step(const char *model) {
    char rel[256], out[] = "/tmp/rr_train_goldXXXXXX";
    REQUIRE(mkdtemp(out));
    rerank_error err;
    json_t *g = NULL;
    snprintf(rel, sizeof rel, "testdata/train/%s/golden.json", model);
    REQUIRE(rr_json_load_file(rr_shared_path(rel), 1 << 24, &g, &err) == RERANK_OK, "%s", err.message);
    const char *variants[2] = {"ce", "kd"};
    for (int kd = 0; kd < 2; kd++) {
        rr_train_args a;
        rr_train_result r;
        small_args(&a, out);
        char model_dir[256], data[256];
        snprintf(rel, sizeof rel, "testdata/%s", model);
        snprintf(model_dir, sizeof model_dir, "%s", rr_shared_path(rel));
        snprintf(rel, sizeof rel, "testdata/train/%s/%s", model, kd ? "train_data_kd.jsonl" : "train_data.jsonl");
        snprintf(data, sizeof data, "%s", rr_shared_path(rel));
        a.model = model_dir;
        a.train_data = data;
        a.query_max_len = 32;
        a.passage_max_len = 64;
        a.max_steps = 1;
        a.save_steps = 0;
        a.knowledge_distillation = kd;
        a.trainer.dropout = false; /* the goldens have dropout off */
        a.learning_rate = 1e-3;    /* the HF Trainer step of the golden: no warm-up, clip 1.0, decay 0.01 */
        a.warmup_ratio = 0;
        REQUIRE(rr_train_run(&a, &r, &err) == RERANK_OK, "%s", err.message);
        const json_t *var = json_object_get(json_object_get(g, "variants"), variants[kd]);
        CHECK_NEAR(r.first_loss, json_number_value(json_object_get(var, "loss")), 1e-5);
        /* the saved model against the golden parameters after that step (compare_train.py's classes) */
        const json_t *files = json_object_get(var, "files");
        char path[600];
        rr_safetensors *mine = NULL, *gold = NULL, *grads = NULL;
        snprintf(path, sizeof path, "%s/model.safetensors", out);
        REQUIRE(rr_safetensors_open(path, &mine, &err) == RERANK_OK, "%s", err.message);
        snprintf(rel, sizeof rel, "testdata/train/%s/%s", model,
                 json_string_value(json_object_get(json_object_get(files, "params_after_hf_trainer"), "name")));
        REQUIRE(rr_safetensors_open(rr_shared_path(rel), &gold, &err) == RERANK_OK, "%s", err.message);
        snprintf(rel, sizeof rel, "testdata/train/%s/%s", model,
                 json_string_value(json_object_get(json_object_get(files, "grads"), "name")));
        REQUIRE(rr_safetensors_open(rr_shared_path(rel), &grads, &err) == RERANK_OK, "%s", err.message);
        double worst[3] = {0, 0, 0}; /* |g| >= 1e-6, g == 0, 0 < |g| < 1e-6 */
        for (size_t i = 0; i < rr_safetensors_count(gold); i++) {
            const rr_st_tensor *t = rr_safetensors_at(gold, i), *m = rr_safetensors_find(mine, t->name),
                               *gr = rr_safetensors_find(grads, t->name);
            CHECK(m && gr && m->dtype == RR_ST_F32 && m->n_elems == t->n_elems && gr->n_elems == t->n_elems, "%s", t->name);
            if (!m || !gr || m->dtype != RR_ST_F32 || m->n_elems != t->n_elems || gr->n_elems != t->n_elems) continue;
            for (size_t k = 0; k < t->n_elems; k++) {
                float x, y, gv;
                memcpy(&x, m->data + 4 * k, 4), memcpy(&y, t->data + 4 * k, 4), memcpy(&gv, gr->data + 4 * k, 4);
                int c = gv == 0.0f ? 1 : fabs(gv) >= 1e-6 ? 0 : 2;
                worst[c] = fmax(worst[c], fabs((double)x - y));
            }
        }
        CHECK(worst[0] <= 5e-6 && worst[1] <= 1e-6 && worst[2] <= 2.05 * a.learning_rate, "%s %s: %.3g %.3g %.3g", model,
              variants[kd], worst[0], worst[1], worst[2]);
        printf("     %s %s: first loop step vs FlagEmbedding: max|d| of parameters %.3g (|g| >= 1e-6)\n", model,
               variants[kd], worst[0]);
        rr_safetensors_free(mine), rr_safetensors_free(gold), rr_safetensors_free(grads);
    }
    json_decref(g);
    rm_tree(out);
}

TEST(train_first_step_matches_flagembedding) {
    check_first_step("xlmr-seqcls-tiny");
    check_first_step("bert-seqcls-tiny");
}

/* The output directory: the input checkpoint's tensor names and shapes, F32 (an F16 input too, with
 * config.json saying float32), the tokenizer files, and it loads for scoring. */
static void check_saved(const char *model) {
    char out[] = "/tmp/rr_train_saveXXXXXX";
    REQUIRE(mkdtemp(out));
    rr_train_args a;
    rr_train_result r;
    rerank_error err;
    small_args(&a, out);
    a.model = rr_shared_path(model);
    a.max_steps = 1;
    a.save_steps = 0;
    REQUIRE(rr_train_run(&a, &r, &err) == RERANK_OK, "%s: %s", model, err.message);
    char in_path[600], out_path[600];
    snprintf(in_path, sizeof in_path, "%s/model.safetensors", a.model);
    snprintf(out_path, sizeof out_path, "%s/model.safetensors", out);
    rr_safetensors *in = NULL, *o = NULL;
    REQUIRE(rr_safetensors_open(in_path, &in, &err) == RERANK_OK && rr_safetensors_open(out_path, &o, &err) == RERANK_OK,
            "%s", err.message);
    CHECK(rr_safetensors_count(in) == rr_safetensors_count(o));
    for (size_t i = 0; i < rr_safetensors_count(in); i++) {
        const rr_st_tensor *x = rr_safetensors_at(in, i), *y = rr_safetensors_find(o, x->name);
        CHECK(y && y->n_dims == x->n_dims && !memcmp(y->shape, x->shape, sizeof x->shape), "%s %s", model, x->name);
        bool is_float = x->dtype == RR_ST_F32 || x->dtype == RR_ST_F16 || x->dtype == RR_ST_BF16;
        if (y) CHECK(y->dtype == (is_float ? RR_ST_F32 : x->dtype), "%s %s", model, x->name);
    }
    rr_safetensors_free(in);
    rr_safetensors_free(o);
    json_t *cfg = NULL;
    snprintf(out_path, sizeof out_path, "%s/config.json", out);
    REQUIRE(rr_json_load_file(out_path, 1 << 20, &cfg, &err) == RERANK_OK, "%s", err.message);
    const char *dt = json_string_value(json_object_get(cfg, "torch_dtype"));
    CHECK(!dt || !strcmp(dt, "float32"), "%s", dt);
    json_decref(cfg);
    snprintf(out_path, sizeof out_path, "%s/tokenizer.json", out);
    CHECK(access(out_path, F_OK) == 0);
    rerank_model *m = NULL;
    rerank_model_params mp = rerank_model_default_params();
    CHECK(rerank_model_load(out, &mp, &m, &err) == RERANK_OK, "%s", err.message);
    rerank_model_free(m);
    rm_tree(out);
}

TEST(train_saved_model_xlmr_f16) { check_saved("testdata/xlmr-seqcls-tiny-f16"); }
TEST(train_saved_model_bert) { check_saved("testdata/bert-seqcls-tiny"); }

TEST(train_loop_errors) {
    char out[] = "/tmp/rr_train_errXXXXXX";
    REQUIRE(mkdtemp(out));
    rr_train_args a;
    rerank_error err;
    small_args(&a, out);
    a.batch_size = 11; /* 10 rows */
    CHECK(rr_train_run(&a, NULL, &err) == RERANK_ERR_INVALID_ARGUMENT && strstr(err.message, "10 training rows"), "%s",
          err.message);
    small_args(&a, out);
    a.passage_max_len = 500; /* 16 + 500 > 512 */
    CHECK(rr_train_run(&a, NULL, &err) == RERANK_ERR_INVALID_ARGUMENT && strstr(err.message, "more than the model's 512"),
          "%s", err.message);
    small_args(&a, out);
    a.group_size = 1;
    CHECK(rr_train_run(&a, NULL, &err) == RERANK_ERR_INVALID_ARGUMENT);
    small_args(&a, out);
    a.knowledge_distillation = true; /* the toy rows have no teacher scores */
    CHECK(rr_train_run(&a, NULL, &err) == RERANK_ERR_INPUT && strstr(err.message, ":1: field \"pos_scores\": missing"),
          "%s", err.message);
    small_args(&a, out);
    a.model = rr_shared_path("testdata/no-such-model");
    CHECK(rr_train_run(&a, NULL, &err) != RERANK_OK);
    /* decoders go to the LoRA trainer (train_decoder.c): trained, or refused with a message; never a crash */
    rr_trainer *t = NULL;
    rr_trainer_opts o = {.lora = {8, 16, 0, "q_proj", false}};
    rerank_status st = rr_trainer_open(rr_shared_path("testdata/qwen2-causal-tiny"), &o, &t, &err);
    CHECK((st == RERANK_OK && t && t->kind == RERANK_KIND_LLM) || (st == RERANK_ERR_UNSUPPORTED && !t), "%s",
          err.message);
    rr_trainer_free(t);
    rm_tree(out);
}

/* Processes x micro-batches partition each global batch of 8 groups exactly once, for 1, 2, 4 or 8 processes
 * (so mpirun -np 2 --batch-size 1 trains on the groups of one process with --batch-size 2). */
TEST(train_shards_partition_global_batch) {
    for (int P = 1; P <= 8; P *= 2)
        for (int accum = 1; accum <= 2; accum++) {
            int b = 8 / P / accum;
            if (b < 1) continue;
            int hit[8] = {0};
            for (int micro = 0; micro < accum; micro++)
                for (int rank = 0; rank < P; rank++)
                    for (int i = 0; i < b; i++) {
                        size_t at = rr_train_shard_offset(micro, P, rank, b) + (size_t)i;
                        CHECK(at < 8);
                        if (at < 8) hit[at]++;
                    }
            for (int k = 0; k < 8; k++) CHECK(hit[k] == 1, "P %d accum %d: group %d taken %d times", P, accum, k, hit[k]);
        }
}

TEST(train_eval_metrics) {
    rr_rank_metrics m;
    float s1[4] = {0.9f, 0.1f, 0.5f, 0.3f};
    bool r1[4] = {true, false, false, false};
    rr_rank_metrics_compute(s1, r1, 4, &m);
    CHECK(m.mrr10 == 1.0 && m.ndcg10 == 1.0 && m.map == 1.0);
    bool r2[4] = {false, false, true, true}; /* relevant at ranks 2 (0.5) and 3 (0.3) */
    rr_rank_metrics_compute(s1, r2, 4, &m);
    CHECK_NEAR(m.mrr10, 0.5, 1e-12);
    CHECK_NEAR(m.map, (1.0 / 2 + 2.0 / 3) / 2, 1e-12);
    CHECK_NEAR(m.ndcg10, (1 / log2(3.0) + 1 / log2(4.0)) / (1 + 1 / log2(3.0)), 1e-12);
    float tie[3] = {1, 1, 1};
    bool r3[3] = {true, false, false};
    rr_rank_metrics_compute(tie, r3, 3, &m); /* ties give no credit: the positive ranks last */
    CHECK_NEAR(m.mrr10, 1.0 / 3, 1e-12);
    float many[12];
    bool r4[12] = {false};
    for (int i = 0; i < 12; i++) many[i] = (float)(12 - i);
    r4[11] = true; /* rank 12: outside the top 10 */
    rr_rank_metrics_compute(many, r4, 12, &m);
    CHECK(m.mrr10 == 0 && m.ndcg10 == 0);
    CHECK_NEAR(m.map, 1.0 / 12, 1e-12);
}

/* AdamW and the gradient norm run in fixed chunks: 1 and 2 threads give bit-identical results on a table
 * larger than a chunk, with parameters straddling chunk borders. */
TEST(train_optimizer_threads_bit_identical) {
    enum { N = 200003 };
    rr_train_param p[3] = {{.offset = 0, .size = 70001, .no_decay = false},
                           {.offset = 70001, .size = 3, .no_decay = true},
                           {.offset = 70004, .size = N - 70004, .no_decay = false}};
    float *w[2], *g[2], *m[2], *v[2];
    for (int k = 0; k < 2; k++) {
        w[k] = malloc(N * sizeof(float)), g[k] = malloc(N * sizeof(float));
        m[k] = calloc(N, sizeof(float)), v[k] = calloc(N, sizeof(float));
        for (int i = 0; i < N; i++) w[k][i] = (float)sin(i * 0.37), g[k][i] = (float)cos(i * 0.11) * 0.01f;
    }
    rr_train_adamw_opts o = {1e-3, 0.9, 0.999, 1e-8, 0.01, false};
    rr_pool *two = rr_pool_new(2);
    double n0 = rr_clip_grad_norm(NULL, g[0], N, 0.5), n1 = rr_clip_grad_norm(two, g[1], N, 0.5);
    CHECK(n0 == n1 && n0 > 0.5, "norm %.17g vs %.17g", n0, n1);
    for (long step = 1; step <= 3; step++) {
        rr_adamw_apply(NULL, p, 3, w[0], g[0], m[0], v[0], step, &o);
        rr_adamw_apply(two, p, 3, w[1], g[1], m[1], v[1], step, &o);
    }
    CHECK(memcmp(g[0], g[1], N * sizeof(float)) == 0 && memcmp(w[0], w[1], N * sizeof(float)) == 0 &&
          memcmp(m[0], m[1], N * sizeof(float)) == 0 && memcmp(v[0], v[1], N * sizeof(float)) == 0);
    CHECK(w[0][5] != (float)sin(5 * 0.37)); /* the update did something */
    rr_pool_free(two);
    for (int k = 0; k < 2; k++) free(w[k]), free(g[k]), free(m[k]), free(v[k]);
}
