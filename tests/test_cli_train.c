/* test_cli_train.c - `rerank train` and `rerank eval`: help, usage errors, every bad data line reported
 * before training, skipping, and a short fine-tune of xlmr-seqcls-tiny on FlagEmbedding's toy data that lowers
 * the loss, improves the ranking of the training rows and writes a directory `rerank score` loads. */
#include <stdlib.h>
#include <unistd.h>

#include "golden.h"
#include "rerank.h"
#include "test.h"

#define TOY "data/flagembedding/old_examples_reranker_toy_finetune_data.jsonl"

static int run_cli(const char *args, char **out, char **err) {
    const char *c = getenv("RERANK_CLI");
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s %s", c && *c ? c : "build/rerank", args);
    return run_command(cmd, NULL, out, err);
}

TEST(cli_train_help) {
    char *out, *err;
    CHECK(run_cli("train --help", &out, &err) == 0);
    const char *flags[] = {"--model", "--train-data", "--output-dir", "--train-group-size", "--query-max-len",
                           "--passage-max-len", "--batch-size", "--learning-rate", "--epochs", "--max-steps",
                           "--warmup-ratio", "--weight-decay", "--max-grad-norm", "--grad-accum",
                           "--knowledge-distillation", "--seed", "--save-steps", "--resume", "--skip-bad-lines",
                           "--threads", "--lora-rank", "--lora-alpha", "--lora-dropout", "--lora-targets", "--merge"};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) CHECK(strstr(out, flags[i]), "train --help lacks %s", flags[i]);
    free(out), free(err);
    CHECK(run_cli("eval --help", &out, &err) == 0 && strstr(out, "mrr@10") && strstr(out, "--data"));
    free(out), free(err);
    CHECK(run_cli("--help", &out, &err) == 0 && strstr(out, "train ") && strstr(out, "eval "));
    free(out), free(err);
    /* usage errors: exit 2, one line */
    CHECK(run_cli("train --train-data x --output-dir y", &out, &err) == 2 && strstr(err, "--model DIR is required"), "%s", err);
    free(out), free(err);
    CHECK(run_cli("train --model m --train-data x --output-dir y --learning-rate abc", &out, &err) == 2 &&
              strstr(err, "--learning-rate expects a number"),
          "%s", err);
    free(out), free(err);
    CHECK(run_cli("train --model m --train-data x --output-dir y --train-group-size 1", &out, &err) == 2);
    free(out), free(err);
    CHECK(run_cli("eval --model m --bogus 1", &out, &err) == 2 && strstr(err, "unknown option '--bogus'"), "%s", err);
    free(out), free(err);
}

TEST(cli_train_bad_lines) {
    char path[] = "/tmp/rr_cli_trainXXXXXX", outdir[] = "/tmp/rr_cli_train_outXXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0 && mkdtemp(outdir));
    const char *text = "{\"query\": \"a\", \"pos\": [\"p\"], \"neg\": [\"n\"]}\n"
                       "{\"query\": \"b\", \"pos\": [\"p\"]}\n"
                       "{\"query\": \"c\", \"pos\": [\"p\"], \"neg\": [\"n\", null]}\n"
                       "{\"query\": \"d\", \"pos\": [\"p\"], \"neg\": [\"n\"]}\n";
    REQUIRE(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
    char args[2048], want[700];
    snprintf(args, sizeof args, "train --model %s --train-data %s --output-dir %s --train-group-size 2 --batch-size 1 --max-steps 1",
             rr_shared_path("testdata/bert-seqcls-tiny"), path, outdir);
    char *out, *err;
    CHECK(run_cli(args, &out, &err) == 1);
    snprintf(want, sizeof want, "%s:2: field \"neg\": missing\n%s:3: field \"neg\"[1]: must be a string\n", path, path);
    CHECK(strstr(err, want) != NULL, "stderr: %s", err);
    CHECK(strstr(err, "rerank: error: ") && strstr(err, "(2 bad lines in all"), "%s", err);
    CHECK(strstr(err, "step 1/") == NULL); /* reported before any training */
    free(out), free(err);
    snprintf(args, sizeof args,
             "train --model %s --train-data %s --output-dir %s --train-group-size 2 --batch-size 1 --max-steps 1 "
             "--skip-bad-lines --save-steps 0",
             rr_shared_path("testdata/bert-seqcls-tiny"), path, outdir);
    CHECK(run_cli(args, &out, &err) == 0, "%s", err);
    CHECK(strstr(err, "skipped 2 bad lines") && strstr(out, "\"skipped\":2") && strstr(out, "\"rows\":2"), "%s %s", out,
          err);
    free(out), free(err);
    unlink(path);
    snprintf(args, sizeof args, "rm -rf '%s'", outdir);
    CHECK(system(args) == 0);
}

static double json_num(const char *text, const char *key) {
    json_error_t je;
    json_t *j = json_loads(text, JSON_DISABLE_EOF_CHECK, &je);
    double v = j ? json_number_value(json_object_get(j, key)) : NAN;
    json_decref(j);
    return v;
}

TEST(cli_train_toy_end_to_end) {
    char outdir[] = "/tmp/rr_cli_train_e2eXXXXXX";
    REQUIRE(mkdtemp(outdir));
    const char *model = rr_shared_path("testdata/xlmr-seqcls-tiny"), *data = rr_shared_path(TOY);
    char args[2048], *out, *err;
    snprintf(args, sizeof args, "eval --model %s --data %s", model, data);
    REQUIRE(run_cli(args, &out, &err) == 0, "%s", err);
    double mrr0 = json_num(out, "mrr@10"), map0 = json_num(out, "map"), ndcg0 = json_num(out, "ndcg@10");
    free(out), free(err);
    snprintf(args, sizeof args,
             "train --model %s --train-data %s --output-dir %s --batch-size 5 --train-group-size 4 --epochs 4 "
             "--query-max-len 16 --passage-max-len 32 --learning-rate 1e-3 --save-steps 4 --no-dropout",
             model, data, outdir);
    /* without dropout the run is exact whatever the dropout masks are (the resume test covers dropout) */
    REQUIRE(run_cli(args, &out, &err) == 0, "%s", err);
    double first = json_num(out, "first_loss"), last = json_num(out, "last_loss");
    CHECK(json_num(out, "steps") == 8 && last < 0.6 * first, "%s", out);
    CHECK(strstr(err, "step 8/8 loss ") && strstr(err, "tokens/s ") && strstr(err, " eta "), "%s", err);
    printf("     toy data: loss %.4f -> %.4f (8 steps), %.3f s in all\n", first, last, json_num(out, "seconds"));
    free(out), free(err);
    snprintf(args, sizeof args, "%s/checkpoint-4/optimizer.safetensors", outdir);
    CHECK(access(args, F_OK) == 0);
    snprintf(args, sizeof args, "%s/checkpoint-8/trainer_state.json", outdir);
    CHECK(access(args, F_OK) == 0);
    snprintf(args, sizeof args, "eval --model %s --data %s", outdir, data);
    REQUIRE(run_cli(args, &out, &err) == 0, "%s", err);
    double mrr1 = json_num(out, "mrr@10"), map1 = json_num(out, "map"), ndcg1 = json_num(out, "ndcg@10");
    CHECK(mrr1 > mrr0 + 0.2 && map1 > map0 + 0.2 && ndcg1 > ndcg0 + 0.1, "mrr@10 before %.4f, after: %s", mrr0, out);
    printf("     eval on the training rows: mrr@10 %.4f -> %.4f, ndcg@10 %.4f -> %.4f, map %.4f -> %.4f\n", mrr0, mrr1,
           ndcg0, ndcg1, map0, map1);
    free(out), free(err);
    /* the output scores through the ordinary CLI */
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s score --model %s", getenv("RERANK_CLI") ? getenv("RERANK_CLI") : "build/rerank", outdir);
    CHECK(run_command(cmd, "{\"query\": \"a woman on a cliff\", \"passage\": \"A woman is standing on a cliff.\"}\n", &out,
                      &err) == 0 &&
              strstr(out, "\"score\""),
          "%s", err);
    free(out), free(err);
    snprintf(args, sizeof args, "rm -rf '%s'", outdir);
    CHECK(system(args) == 0);
}
