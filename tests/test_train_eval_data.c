/* test_train_eval_data.c - `rerank train --eval-data DEV --eval-steps N`: held-out nDCG@10 / MRR@10 / MAP
 * before training, every N steps and at the end, equal to `rerank eval --model` of the trained model; and the
 * loud warning of both commands when a model scores every passage of a query the same. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "golden.h"
#include "test.h"

#define TOY "data/flagembedding/old_examples_reranker_toy_finetune_data.jsonl"

static int run_cli(const char *args, char **out, char **err) {
    const char *c = getenv("RERANK_CLI");
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s %s", c && *c ? c : "build/rerank", args);
    return run_command(cmd, NULL, out, err);
}

static double num(const json_t *o, const char *key) { return json_number_value(json_object_get(o, key)); }

TEST(train_eval_data_every_n_steps_and_at_the_end) {
    char outdir[] = "/tmp/rr_train_evaldata_XXXXXX";
    REQUIRE(mkdtemp(outdir));
    const char *model = rr_shared_path("testdata/xlmr-seqcls-tiny"), *data = rr_shared_path(TOY);
    char args[2048], *out, *err;
    snprintf(args, sizeof args,
             "train --model %s --train-data %s --output-dir %s --batch-size 5 --train-group-size 4 --epochs 4 "
             "--query-max-len 16 --passage-max-len 32 --learning-rate 1e-3 --save-steps 0 --no-dropout "
             "--eval-data %s --eval-steps 3",
             model, data, outdir, data);
    REQUIRE(run_cli(args, &out, &err) == 0, "%s", err);
    CHECK(strstr(err, "eval step 0/8 on ") && strstr(err, "eval step 3/8 on ") && strstr(err, "eval step 6/8 on ") &&
              strstr(err, "eval step 8/8 on ") && !strstr(err, "eval step 9"),
          "%s", err);
    CHECK(!strstr(err, "WARNING"), "%s", err);
    json_t *summary = json_loads(out, JSON_DISABLE_EOF_CHECK, NULL), *ev = json_object_get(summary, "eval");
    REQUIRE(json_is_object(ev), "summary without eval: %s", out);
    free(out), free(err);
    /* the last evaluation is `rerank eval` of the saved model with the training lengths (16 + 32 tokens) */
    snprintf(args, sizeof args, "eval --model %s --data %s --max-length 48", outdir, data);
    REQUIRE(run_cli(args, &out, &err) == 0, "%s", err);
    json_t *direct = json_loads(out, 0, NULL);
    CHECK_NEAR(num(ev, "ndcg@10"), num(direct, "ndcg@10"), 1e-9);
    CHECK_NEAR(num(ev, "mrr@10"), num(direct, "mrr@10"), 1e-9);
    CHECK_NEAR(num(ev, "map"), num(direct, "map"), 1e-9);
    CHECK(num(ev, "rows") == num(direct, "rows") && num(ev, "collapsed_rows") == 0);
    json_decref(direct);
    json_decref(summary);
    free(out), free(err);
    snprintf(args, sizeof args, "%s/eval-model", outdir);
    CHECK(access(args, F_OK) != 0, "the evaluation's model copy is removed");
    /* --eval-steps alone, and a bad dev file, fail before training */
    snprintf(args, sizeof args, "train --model %s --train-data %s --output-dir %s --eval-steps 2", model, data, outdir);
    CHECK(run_cli(args, &out, &err) == 2 && strstr(err, "--eval-data"), "%s", err);
    free(out), free(err);
    snprintf(args, sizeof args, "train --model %s --train-data %s --output-dir %s --eval-data /nonexistent.jsonl", model,
             data, outdir);
    CHECK(run_cli(args, &out, &err) == 1 && strstr(err, "--eval-data") && !strstr(err, "step 1/"), "%s", err);
    free(out), free(err);
    snprintf(args, sizeof args, "rm -rf '%s'", outdir);
    CHECK(system(args) == 0);
}

/* A copy of the tiny model whose classifier output weights are zero: every pair scores the bias. */
static int make_collapsed_model(const char *src, const char *dst) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cp -r '%s/.' '%s/'", src, dst);
    if (system(cmd) != 0) return 0;
    char path[1024];
    snprintf(path, sizeof path, "%s/model.safetensors", dst);
    FILE *f = fopen(path, "r+b");
    if (!f) return 0;
    unsigned char len8[8];
    int ok = fread(len8, 1, 8, f) == 8;
    unsigned long long n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | len8[i];
    char *header = ok && n < (1u << 24) ? calloc(1, n + 1) : NULL;
    ok = header && fread(header, 1, n, f) == n;
    json_t *h = ok ? json_loads(header, 0, NULL) : NULL;
    json_t *offsets = json_object_get(json_object_get(h, "classifier.out_proj.weight"), "data_offsets");
    long begin = (long)json_integer_value(json_array_get(offsets, 0)), end = (long)json_integer_value(json_array_get(offsets, 1));
    ok = ok && offsets && end > begin && fseek(f, 8 + (long)n + begin, SEEK_SET) == 0;
    for (long i = begin; ok && i < end; i++) ok = fputc(0, f) != EOF;
    json_decref(h);
    free(header);
    return fclose(f) == 0 && ok;
}

TEST(collapsed_scores_warn_loudly) {
    char dir[] = "/tmp/rr_collapsed_model_XXXXXX", outdir[] = "/tmp/rr_collapsed_train_XXXXXX";
    REQUIRE(mkdtemp(dir) && mkdtemp(outdir));
    REQUIRE(make_collapsed_model(rr_shared_path("testdata/xlmr-seqcls-tiny"), dir));
    const char *data = rr_shared_path(TOY);
    char args[2048], *out, *err;
    snprintf(args, sizeof args, "eval --model %s --data %s", dir, data);
    CHECK(run_cli(args, &out, &err) == 0 && strstr(err, "WARNING") && strstr(err, "score all their passages the same"),
          "%s", err);
    free(out), free(err);
    snprintf(args, sizeof args,
             "train --model %s --train-data %s --output-dir %s --batch-size 5 --train-group-size 4 --max-steps 1 "
             "--query-max-len 16 --passage-max-len 32 --learning-rate 0 --save-steps 0 --no-dropout --eval-data %s",
             dir, data, outdir, data);
    CHECK(run_cli(args, &out, &err) == 0, "%s", err);
    CHECK(strstr(err, "WARNING: COLLAPSED SCORES at step 0") && strstr(err, "WARNING: COLLAPSED SCORES at step 1"),
          "%s", err);
    json_t *summary = json_loads(out, JSON_DISABLE_EOF_CHECK, NULL);
    json_t *ev = json_object_get(summary, "eval");
    CHECK(num(ev, "collapsed_rows") == num(ev, "rows") && num(ev, "rows") > 0, "%s", out);
    json_decref(summary);
    free(out), free(err);
    snprintf(args, sizeof args, "rm -rf '%s' '%s'", dir, outdir);
    CHECK(system(args) == 0);
}
