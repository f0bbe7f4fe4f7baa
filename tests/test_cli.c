/* test_cli.c - the rerank CLI contract: JSONL in, one JSON object per line out in input order, exit codes,
 * one-line errors naming the input line and field, and nothing valid lost before a bad line. */
#include <stdlib.h>

#include <unistd.h>

#include "golden.h"
#include "kernels/kernels.h"
#include "rerank.h"
#include "test.h"

static const char *cli(void) {
    const char *c = getenv("RERANK_CLI");
    return c && *c ? c : "build/rerank";
}

static int run_cli(const char *args, const char *input, char **out, char **err) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s %s", cli(), args);
    return run_command(cmd, input, out, err);
}

static size_t count_lines(const char *s) {
    size_t n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

TEST(cli_score_matches_api) {
    const char *model = rr_shared_path("testdata/bert-seqcls-tiny");
    char args[1024];
    snprintf(args, sizeof args, "score --model %s --max-length 64", model);
    char *out, *err;
    const char *input = "{\"query\": \"what is panda?\", \"passage\": \"hi\"}\n"
                        "\n"
                        "{\"query\": \"what is panda?\", \"passage\": \"The giant panda (Ailuropoda melanoleuca), "
                        "sometimes called a panda bear or simply panda, is a bear species endemic to China.\"}\n";
    int rc = run_cli(args, input, &out, &err);
    CHECK(rc == 0, "exit %d, stderr: %s", rc, err);
    CHECK(count_lines(out) == 2, "output: %s", out);
    json_t *rows = golden_load(rr_shared_path("testdata/bert-seqcls-tiny/golden_fast.jsonl"));
    /* golden rows 0 and 1 are these pairs at max_length 64 */
    char *line2 = strchr(out, '\n');
    REQUIRE(line2 != NULL);
    json_t *a = json_loads(out, JSON_DISABLE_EOF_CHECK, NULL), *b = json_loads(line2 + 1, JSON_DISABLE_EOF_CHECK, NULL);
    REQUIRE(a && b, "unparsable output: %s", out);
    CHECK_NEAR(json_number_value(json_object_get(a, "score")), golden_first(json_array_get(rows, 0), "logits"), 1e-4);
    CHECK_NEAR(json_number_value(json_object_get(b, "score")), golden_first(json_array_get(rows, 1), "logits"), 1e-4);
    json_decref(a);
    json_decref(b);
    free(out);
    free(err);
    snprintf(args, sizeof args, "score --model %s --max-length 64 --normalize", model);
    rc = run_cli(args, input, &out, &err);
    a = json_loads(out, JSON_DISABLE_EOF_CHECK, NULL);
    CHECK(rc == 0 && a);
    CHECK_NEAR(json_number_value(json_object_get(a, "score")), json_number_value(json_object_get(json_array_get(rows, 0), "score")), 1e-4);
    json_decref(a);
    json_decref(rows);
    free(out);
    free(err);
}

TEST(cli_bad_line_keeps_earlier_results) {
    char args[1024];
    snprintf(args, sizeof args, "score --model %s", rr_shared_path("testdata/xlmr-seqcls-tiny"));
    const char *cases[][2] = {
        {"{\"query\": \"q\", \"passage\": \"a\"}\n{\"query\": \"q\", \"passage\": \"b\"}\n{\"query\": \"q\"}\n",
         "<stdin>:3: missing field \"passage\""},
        {"{\"query\": \"q\", \"passage\": \"a\"}\n{\"query\": \"q\", \"passage\": \"b\"}\n{\"query\": 5, \"passage\": \"x\"}\n",
         "<stdin>:3: field \"query\" must be a string"},
        {"{\"query\": \"q\", \"passage\": \"a\"}\n{\"query\": \"q\", \"passage\": \"b\"}\n{\"query\": \"q\", \"pass\n",
         "<stdin>:3: invalid JSON"},
        {"{\"query\": \"q\", \"passage\": \"a\"}\n{\"query\": \"q\", \"passage\": \"b\"}\n{\"query\": \"\xff\", \"passage\": \"x\"}\n",
         "<stdin>:3: invalid JSON"},
        {"{\"query\": \"q\", \"passage\": \"a\"}\n{\"query\": \"q\", \"passage\": \"b\"}\n[1, 2]\n",
         "<stdin>:3: expected a JSON object"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *out, *err;
        int rc = run_cli(args, cases[i][0], &out, &err);
        CHECK(rc == 1, "case %zu: exit %d", i, rc);
        CHECK(count_lines(out) == 2, "case %zu: the two valid lines are scored: %s", i, out);
        CHECK(strncmp(err, "rerank: error: ", 15) == 0 && strstr(err, cases[i][1]) && count_lines(err) == 1,
              "case %zu: stderr: %s", i, err);
        free(out);
        free(err);
    }
}

TEST(cli_usage_errors) {
    char *out, *err;
    CHECK(run_cli("score", "", &out, &err) == 2 && strstr(err, "--model DIR is required"), "%s", err);
    free(out), free(err);
    CHECK(run_cli("score --model x --max-length abc", "", &out, &err) == 2 && strstr(err, "--max-length"), "%s", err);
    free(out), free(err);
    CHECK(run_cli("frobnicate", "", &out, &err) == 2 && strstr(err, "unknown command"), "%s", err);
    free(out), free(err);
    CHECK(run_cli("score --model /nonexistent", "", &out, &err) == 1 && strstr(err, "/nonexistent"), "%s", err);
    free(out), free(err);
    CHECK(run_cli("--help", "", &out, &err) == 0 && strstr(out, "Commands:") && strstr(out, "--model DIR"));
    free(out), free(err);
}

/* rerank convert: --help, usage errors, and a converted model scoring exactly as --dtype on the original. */
TEST(cli_convert_then_score) {
    char *out, *err;
    CHECK(run_cli("convert --help", "", &out, &err) == 0 && strstr(out, "usage: rerank convert") && strstr(out, "--out DIR"));
    free(out), free(err);
    CHECK(run_cli("--help", "", &out, &err) == 0 && strstr(out, "convert "), "%s", out);
    free(out), free(err);
    CHECK(run_cli("convert --model x --dtype int8", "", &out, &err) == 2 && strstr(err, "--out DIR is required"), "%s", err);
    free(out), free(err);
    CHECK(run_cli("convert --model x --out y --dtype f32", "", &out, &err) == 2 && strstr(err, "bf16 or int8"), "%s", err);
    free(out), free(err);
    CHECK(run_cli("convert --model x --out y", "", &out, &err) == 2 && strstr(err, "--dtype"), "%s", err);
    free(out), free(err);
    const char *dt = "int8";
    char tmp[] = "/tmp/rerank-cli-convert-XXXXXX";
    REQUIRE(mkdtemp(tmp));
    const char *model = rr_shared_path("testdata/gemma-causal-tiny-bf16");
    char args[2048], dir[256];
    snprintf(dir, sizeof dir, "%s/m", tmp);
    snprintf(args, sizeof args, "convert --model %s --dtype %s --out %s", model, dt, dir);
    int rc = run_cli(args, "", &out, &err);
    CHECK(rc == 0 && strstr(err, "converted model written to"), "exit %d: %s", rc, err);
    free(out), free(err);
    rc = run_cli(args, "", &out, &err); /* again: the directory is no longer empty */
    CHECK(rc == 1 && strstr(err, "exists and is not empty") && count_lines(err) == 1, "exit %d: %s", rc, err);
    free(out), free(err);
    const char *input = "{\"query\": \"what is panda?\", \"passage\": \"hi\"}\n"
                        "{\"query\": \"what is panda?\", \"passage\": \"The giant panda is a bear species.\"}\n";
    char *want, *got;
    snprintf(args, sizeof args, "score --model %s --dtype %s", model, dt);
    CHECK(run_cli(args, input, &want, &err) == 0, "%s", err);
    free(err);
    snprintf(args, sizeof args, "score --model %s", dir);
    CHECK(run_cli(args, input, &got, &err) == 0, "%s", err);
    free(err);
    CHECK(count_lines(got) == 2 && strcmp(got, want) == 0, "converted: %s original: %s", got, want);
    free(want), free(got);
    snprintf(args, sizeof args, "score --model %s --dtype f32", dir);
    rc = run_cli(args, input, &out, &err);
    CHECK(rc == 1 && strstr(err, "the model is converted to") && count_lines(err) == 1, "exit %d: %s", rc, err);
    free(out), free(err);
    snprintf(args, sizeof args, "rm -rf '%s'", tmp);
    CHECK(system(args) == 0);
}

TEST(cli_rank_sorts_and_cuts) {
    char args[1024];
    snprintf(args, sizeof args, "rank --model %s --query 'what is panda?' --top-k 2",
             rr_shared_path("testdata/xlmr-seqcls-tiny"));
    char *out, *err;
    const char *input = "hi\nThe giant panda is a bear species endemic to China.\nParis is in France.\n";
    int rc = run_cli(args, input, &out, &err);
    CHECK(rc == 0, "exit %d: %s", rc, err);
    CHECK(count_lines(out) == 2, "%s", out);
    char *second = strchr(out, '\n');
    REQUIRE(second);
    json_t *a = json_loads(out, JSON_DISABLE_EOF_CHECK, NULL), *b = json_loads(second + 1, JSON_DISABLE_EOF_CHECK, NULL);
    REQUIRE(a && b);
    CHECK(json_number_value(json_object_get(a, "score")) >= json_number_value(json_object_get(b, "score")));
    CHECK(json_is_integer(json_object_get(a, "index")) && json_is_string(json_object_get(a, "passage")));
    json_decref(a);
    json_decref(b);
    free(out);
    free(err);
    /* JSONL passages */
    rc = run_cli(args, "{\"passage\": \"hi\"}\n{\"passage\": \"panda\"}\n", &out, &err);
    CHECK(rc == 0 && count_lines(out) == 2, "exit %d: %s %s", rc, out, err);
    free(out);
    free(err);
}

TEST(cli_tokenize_matches_golden) {
    json_t *rows = golden_load(rr_shared_path("testdata/bert-seqcls-tiny/golden_fast.jsonl"));
    REQUIRE(rows);
    json_t *row = json_array_get(rows, 1);
    char args[1024];
    snprintf(args, sizeof args, "tokenize --model %s --max-length %lld", rr_shared_path("testdata/bert-seqcls-tiny"),
             json_integer_value(json_object_get(row, "max_length")));
    json_t *in = json_pack("{s:O, s:O}", "query", json_object_get(row, "query"), "passage",
                           json_object_get(row, "passage"));
    char *line = json_dumps(in, JSON_COMPACT);
    char *out, *err;
    int rc = run_cli(args, line, &out, &err);
    CHECK(rc == 0, "%s", err);
    json_t *got = json_loads(out, JSON_DISABLE_EOF_CHECK, NULL);
    REQUIRE(got, "%s", out);
    CHECK(json_equal(json_object_get(got, "input_ids"), json_object_get(row, "input_ids")));
    CHECK(json_equal(json_object_get(got, "token_type_ids"), json_object_get(row, "token_type_ids")));
    json_decref(got);
    json_decref(in);
    free(line);
    free(out);
    free(err);
    json_decref(rows);
}

TEST(quickstart_example_model_ranks) {
    const char *maker = getenv("RERANK_MAKE_EXAMPLE");
    REQUIRE(maker && *maker, "RERANK_MAKE_EXAMPLE not set (run through make test)");
    char dir[] = "/tmp/rerank_example_XXXXXX";
    REQUIRE(mkdtemp(dir));
    char cmd[1024], *out, *err;
    snprintf(cmd, sizeof cmd, "%s %s/model", maker, dir);
    CHECK(run_command(cmd, NULL, &out, &err) == 0, "%s", err);
    free(out), free(err);
    snprintf(cmd, sizeof cmd, "rank --model %s/model --query 'What is the capital of France?' --input examples/passages.txt",
             dir);
    CHECK(run_cli(cmd, NULL, &out, &err) == 0, "%s", err);
    CHECK(count_lines(out) == 5, "%s", out);
    free(out), free(err);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
}

TEST(cli_layerwise_scores_and_layers) {
    char args[1024];
    snprintf(args, sizeof args, "score --model %s --cutoff-layers 4,2", rr_shared_path("testdata/minicpm-layerwise-tiny"));
    char *out, *err;
    int rc = run_cli(args, "{\"query\": \"what is panda?\", \"passage\": \"hi\"}\n", &out, &err);
    CHECK(rc == 0, "exit %d: %s", rc, err);
    json_t *j = json_loads(out, JSON_DISABLE_EOF_CHECK, NULL);
    REQUIRE(j, "%s", out);
    const json_t *layers = json_object_get(j, "layers"), *scores = json_object_get(j, "scores");
    CHECK(json_array_size(layers) == 2 && json_integer_value(json_array_get(layers, 0)) == 2 &&
              json_integer_value(json_array_get(layers, 1)) == 4,
          "layers ascending: %s", out);
    /* golden.jsonl row 0 ("what is panda?" / "hi", max_length 64 gives the same ids at 512): layers 2 and 4 */
    CHECK(json_array_size(scores) == 2 && json_object_get(j, "score") == NULL);
    CHECK_NEAR(json_real_value(json_array_get(scores, 0)), 1.4387835264205933, 1e-4);
    CHECK_NEAR(json_real_value(json_array_get(scores, 1)), -1.3321115970611572, 1e-4);
    json_decref(j);
    free(out), free(err);
    snprintf(args, sizeof args, "score --model %s --cutoff-layers 9", rr_shared_path("testdata/minicpm-layerwise-tiny"));
    rc = run_cli(args, "", &out, &err);
    CHECK(rc == 1 && strstr(err, "cutoff layers must be in [2, 4], got 9"), "exit %d: %s", rc, err);
    free(out), free(err);
    snprintf(args, sizeof args, "score --model %s --cutoff-layers 2", rr_shared_path("testdata/xlmr-seqcls-tiny"));
    rc = run_cli(args, "", &out, &err);
    CHECK(rc == 1 && strstr(err, "layerwise"), "exit %d: %s", rc, err);
    free(out), free(err);
}
