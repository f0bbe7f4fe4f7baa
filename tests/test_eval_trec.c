/* test_eval_trec.c - `rerank eval --qrels --run` against NIST trec_eval 10.0: every invocation of
 * tests/data/eval/invocations.json (a copy of shared/testdata/eval) byte for byte, the ir_measures aliases,
 * --json, the error cases, and the measure-list rules and ranking order of src/eval directly. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "eval/trec_eval.h"
#include "golden.h"
#include "test.h"

#define EVAL_DIR "tests/data/eval"

static const char *cli(void) {
    const char *c = getenv("RERANK_CLI");
    return c && *c ? c : "build/rerank";
}

static char *read_all(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) n = 0;
    if (s) s[n] = '\0';
    fclose(f);
    return s;
}

/* Runs `rerank eval --qrels Q --run R ARGS [extra]` in EVAL_DIR (paths in invocations.json are relative). */
static int run_eval(const json_t *inv, const char *extra, char **out, char **err) {
    char cmd[4096];
    int n = snprintf(cmd, sizeof cmd, "cd " EVAL_DIR " && %s%s eval --qrels %s --run %s", cli()[0] == '/' ? "" : "../../../",
                     cli(), json_string_value(json_object_get(inv, "qrels")),
                     json_string_value(json_object_get(inv, "run")));
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(inv, "args"), i, a) n += snprintf(cmd + n, sizeof cmd - (size_t)n, " '%s'",
                                                                         json_string_value(a));
    if (extra) snprintf(cmd + n, sizeof cmd - (size_t)n, " %s", extra);
    return run_command(cmd, "", out, err);
}

static json_t *invocations(void) {
    json_t *root = json_load_file(EVAL_DIR "/invocations.json", 0, NULL);
    json_t *list = root ? json_incref(json_object_get(root, "invocations")) : NULL;
    json_decref(root);
    return list;
}

static char *golden_path(const json_t *inv, const char *key) {
    static char buf[512];
    snprintf(buf, sizeof buf, EVAL_DIR "/%s", json_string_value(json_object_get(inv, key)));
    return buf;
}

/* Every plain (non-alias, non-error) invocation prints exactly trec_eval's stdout. */
TEST(eval_trec_matches_trec_eval_byte_for_byte) {
    json_t *list = invocations();
    REQUIRE(list && json_array_size(list) > 30, "cannot read " EVAL_DIR "/invocations.json");
    size_t i, n_checked = 0;
    json_t *inv;
    json_array_foreach(list, i, inv) {
        if (json_is_true(json_object_get(inv, "expect_error")) || json_is_true(json_object_get(inv, "alias"))) continue;
        const char *id = json_string_value(json_object_get(inv, "id"));
        char *expected = read_all(golden_path(inv, "golden"));
        char *out, *err;
        int rc = run_eval(inv, NULL, &out, &err);
        CHECK(rc == 0, "%s: exit %d: %s", id, rc, err);
        CHECK(expected && !strcmp(out, expected), "%s: output differs from trec_eval:\n%s\nexpected:\n%s", id, out,
              expected ? expected : "(missing golden)");
        n_checked++;
        free(expected);
        free(out);
        free(err);
    }
    CHECK(n_checked == 32, "checked %zu goldens", n_checked);
    json_decref(list);
}

/* ir_measures names: every expected (name, qid) once, equal as 4-decimal strings, nothing else printed. */
TEST(eval_trec_ir_measures_aliases) {
    json_t *list = invocations();
    REQUIRE(list != NULL);
    size_t i, n_checked = 0;
    json_t *inv;
    json_array_foreach(list, i, inv) {
        if (!json_is_true(json_object_get(inv, "alias"))) continue;
        const char *id = json_string_value(json_object_get(inv, "id"));
        json_t *expected = json_load_file(golden_path(inv, "golden"), 0, NULL);
        REQUIRE(expected != NULL, "%s: golden unreadable", id);
        char *out, *err;
        int rc = run_eval(inv, NULL, &out, &err);
        CHECK(rc == 0, "%s: exit %d: %s", id, rc, err);
        size_t n_expected = 0, n_lines = 0;
        const char *name;
        json_t *by_qid;
        json_object_foreach(expected, name, by_qid) {
            const char *qid;
            json_t *value;
            json_object_foreach(by_qid, qid, value) {
                char want[256];
                snprintf(want, sizeof want, "%-22s\t%s\t%s\n", name, qid, json_string_value(value));
                CHECK(strstr(out, want) != NULL, "%s: no line '%s' in:\n%s", id, want, out);
                n_expected++;
            }
        }
        for (const char *p = out; *p; p++) n_lines += *p == '\n';
        CHECK(n_lines == n_expected, "%s: %zu lines, expected %zu", id, n_lines, n_expected);
        n_checked++;
        json_decref(expected);
        free(out);
        free(err);
    }
    CHECK(n_checked == 8, "checked %zu alias goldens", n_checked);
    json_decref(list);
}

/* --json: one object whose values are the golden's (within 5e-5), per query under per_query.<qid>. */
TEST(eval_trec_json_holds_the_golden_values) {
    json_t *list = invocations();
    REQUIRE(list != NULL);
    size_t i;
    json_t *inv;
    int n_checked = 0;
    json_array_foreach(list, i, inv) {
        const char *id = json_string_value(json_object_get(inv, "id"));
        if (strcmp(id, "dl.cq") && strcmp(id, "ties.order-q") && strcmp(id, "missing.base-c")) continue;
        char *out, *err;
        int rc = run_eval(inv, "--json", &out, &err);
        CHECK(rc == 0, "%s: exit %d: %s", id, rc, err);
        json_t *obj = json_loads(out, 0, NULL);
        REQUIRE(json_is_object(obj), "%s: not one JSON object: %s", id, out);
        char *golden = read_all(golden_path(inv, "golden"));
        REQUIRE(golden != NULL);
        size_t n_lines = 0;
        for (char *line = strtok(golden, "\n"); line; line = strtok(NULL, "\n")) {
            char name[64], qid[64];
            double v;
            REQUIRE(sscanf(line, "%63s %63s %lf", name, qid, &v) == 3, "%s: golden line '%s'", id, line);
            json_t *where = !strcmp(qid, "all") ? json_object_get(obj, "all")
                                                : json_object_get(json_object_get(obj, "per_query"), qid);
            json_t *got = json_object_get(where, name);
            CHECK(json_is_number(got) && fabs(json_number_value(got) - v) <= 5e-5, "%s: %s %s = %g, expected %g", id,
                  name, qid, json_number_value(got), v);
            n_lines++;
        }
        CHECK(n_lines > 0);
        n_checked++;
        json_decref(obj);
        free(golden);
        free(out);
        free(err);
    }
    CHECK(n_checked == 3);
    json_decref(list);
}

/* Duplicates stop with a one-line error naming the docno; a qrels query absent from the run without -c is
 * skipped as trec_eval 9.0.8 does (10.0's regression stops): the output is 9.0.8's exactly. */
TEST(eval_trec_error_cases) {
    json_t *list = invocations();
    REQUIRE(list != NULL);
    size_t i;
    json_t *inv;
    int n_checked = 0;
    json_array_foreach(list, i, inv) {
        if (!json_is_true(json_object_get(inv, "expect_error"))) continue;
        const char *id = json_string_value(json_object_get(inv, "id"));
        char *out, *err;
        int rc = run_eval(inv, NULL, &out, &err);
        if (json_object_get(inv, "alt_golden")) {
            char *alt = read_all(golden_path(inv, "alt_golden"));
            CHECK(rc == 0 && alt && !strcmp(out, alt), "%s: exit %d, output:\n%s\nexpected 9.0.8's:\n%s", id, rc, out,
                  alt ? alt : "");
            CHECK(strstr(err, "absent from the run") != NULL, "%s: stderr %s", id, err);
            free(alt);
        } else {
            CHECK(rc == 1, "%s: exit %d", id, rc);
            CHECK(strstr(err, "rerank: error: ") == err && strstr(err, "twice") && strchr(err, '\n') == err + strlen(err) - 1,
                  "%s: stderr '%s'", id, err);
        }
        n_checked++;
        free(out);
        free(err);
    }
    CHECK(n_checked == 5, "checked %d error cases", n_checked);
    json_decref(list);
}

TEST(eval_trec_measure_list_rules) {
    rr_measure_list l = {0};
    bool ignored;
    rerank_error err;
    CHECK(rr_measure_list_add(&l, "P.10,5", &ignored, &err) == RERANK_OK && !ignored);
    CHECK(rr_measure_list_add(&l, "P.20", &ignored, &err) == RERANK_OK && ignored, "a second P is ignored");
    CHECK(rr_measure_list_add(&l, "map", &ignored, &err) == RERANK_OK);
    CHECK(rr_measure_list_add(&l, "nDCG@10", &ignored, &err) == RERANK_OK);
    CHECK(rr_measure_list_add(&l, "rr@10", &ignored, &err) == RERANK_OK, "aliases are case-insensitive");
    CHECK(rr_measure_list_add(&l, "P.5,5", &ignored, &err) == RERANK_ERR_INVALID_ARGUMENT);
    CHECK(strstr(err.message, "twice") != NULL, "%s", err.message);
    CHECK(rr_measure_list_add(&l, "P.0", &ignored, &err) == RERANK_ERR_INVALID_ARGUMENT);
    CHECK(rr_measure_list_add(&l, "map.5", &ignored, &err) == RERANK_ERR_INVALID_ARGUMENT);
    CHECK(rr_measure_list_add(&l, "nDCG@x", &ignored, &err) == RERANK_ERR_INVALID_ARGUMENT);
    CHECK(rr_measure_list_add(&l, "bpref", &ignored, &err) == RERANK_ERR_INVALID_ARGUMENT);
    rr_measure_list_finish(&l);
    const char *order[] = {"map", "recip_rank" /* placeholder */, "P_5", "P_10", "nDCG@10"};
    REQUIRE(l.n == 5, "%zu measures", l.n);
    CHECK(!strcmp(l.items[0].name, order[0]));
    CHECK(!strcmp(l.items[1].name, "rr@10") && l.items[1].rank_cut == 10, "%s", l.items[1].name);
    CHECK(!strcmp(l.items[2].name, order[2]) && !strcmp(l.items[3].name, order[3]), "cutoffs ascending");
    CHECK(!strcmp(l.items[4].name, order[4]) && l.items[4].kind == RR_MEASURE_NDCG_CUT && l.items[4].cutoff == 10);
    rr_measure_list_free(&l);
    CHECK(rr_measure_list_add(&l, "ndcg_cut", &ignored, &err) == RERANK_OK && l.n == 9, "default cutoffs");
    CHECK(l.items[8].cutoff == 1000);
    rr_measure_list_free(&l);
}

/* The ranking: score as a double descending, then docno descending in byte order; rank column ignored. */
TEST(eval_trec_ranking_and_measures) {
    const char *run_path = "/tmp/rerank_test_eval_run.txt", *qrels_path = "/tmp/rerank_test_eval_qrels.txt";
    FILE *f = fopen(run_path, "w");
    REQUIRE(f != NULL);
    fputs("q 0 D1 1 1.0 t\r\nq Q0 D10 9 +1 t\n\nq Q0 D9 3 10e-1 t\nq Q0 b 2 0.30000000000000004 t\n"
          "q Q0 a 2 0.3 t\nq Q0 Z 7 -0 t\n# a comment\nq Q0 z 7 0 t",
          f);
    fclose(f);
    f = fopen(qrels_path, "w");
    REQUIRE(f != NULL);
    fputs("q 0 D10 2\nq 0 a 1\nq 0 z 3\nq 0 never 1\nother 0 x 1\n", f);
    fclose(f);
    rr_run run;
    rr_qrels qrels;
    rerank_error err;
    REQUIRE(rr_run_read(run_path, &run, &err) == RERANK_OK, "%s", err.message);
    REQUIRE(rr_qrels_read(qrels_path, &qrels, &err) == RERANK_OK, "%s", err.message);
    CHECK(qrels.n_queries == 2 && !strcmp(qrels.queries[0].qid, "other") && !strcmp(qrels.queries[1].qid, "q"));
    const rr_run_query *rq = rr_run_find(&run, "q");
    REQUIRE(rq && rq->n_docs == 7);
    const char *order[] = {"D9", "D10", "D1", "b", "a", "z", "Z"};
    for (int i = 0; i < 7; i++) CHECK(!strcmp(rq->docs[i].docno, order[i]), "rank %d: %s", i + 1, rq->docs[i].docno);
    rr_ranked r;
    REQUIRE(rr_eval_rank(rq, rr_qrels_find(&qrels, "q"), 0, &r, &err) == RERANK_OK, "%s", err.message);
    rr_measure m = {.kind = RR_MEASURE_RECIP_RANK};
    CHECK_NEAR(rr_measure_value(&m, &r, 1), 0.5, 0);
    CHECK_NEAR(rr_measure_value(&m, &r, 3), 1.0 / 6, 0);
    m = (rr_measure){.kind = RR_MEASURE_P, .cutoff = 10};
    CHECK_NEAR(rr_measure_value(&m, &r, 1), 0.3, 0); /* 3 relevant in 7 retrieved, over 10 */
    m = (rr_measure){.kind = RR_MEASURE_RECALL, .cutoff = 5};
    CHECK_NEAR(rr_measure_value(&m, &r, 1), 0.5, 0); /* D10, a of 4 relevant */
    m = (rr_measure){.kind = RR_MEASURE_MAP};
    CHECK_NEAR(rr_measure_value(&m, &r, 1), (1.0 / 2 + 2.0 / 5 + 3.0 / 6) / 4, 1e-15);
    m = (rr_measure){.kind = RR_MEASURE_NDCG_CUT, .cutoff = 2};
    double ideal = 3 + 2 / log2(3);
    CHECK_NEAR(rr_measure_value(&m, &r, 1), (2 / log2(3)) / ideal, 1e-15);
    CHECK_NEAR(rr_measure_value(&m, &r, 3), (2 / log2(3)) / ideal, 1e-15); /* -l leaves nDCG gains alone */
    rr_ranked_free(&r);
    REQUIRE(rr_eval_rank(rq, rr_qrels_find(&qrels, "q"), 2, &r, &err) == RERANK_OK);
    CHECK(r.n_ret == 2, "-M 2 keeps 2 docs");
    rr_ranked_free(&r);
    rr_run_free(&run);
    rr_qrels_free(&qrels);

    f = fopen(run_path, "w");
    fputs("q Q0 d 1 nan t\n", f);
    fclose(f);
    CHECK(rr_run_read(run_path, &run, &err) == RERANK_ERR_FORMAT && strstr(err.message, ":1: field score"), "%s",
          err.message);
    f = fopen(qrels_path, "w");
    fputs("q 0 d 1\nq 0 e 1.5\n", f);
    fclose(f);
    CHECK(rr_qrels_read(qrels_path, &qrels, &err) == RERANK_ERR_FORMAT && strstr(err.message, ":2: field rel"), "%s",
          err.message);
    remove(run_path);
    remove(qrels_path);
}

/* trec_eval's getopt spellings: combined flags (-cq) and attached values (-mP.10, -l2, -M10). */
TEST(eval_trec_option_spellings) {
    char *expected = read_all(EVAL_DIR "/goldens/dl.cq.out"), *out, *err;
    REQUIRE(expected != NULL);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "cd " EVAL_DIR " && %s%s eval -cq -mmap -m ndcg_cut.10 -mrecip_rank -mP.10 --qrels dl/qrels.txt "
             "--run dl/run.txt", cli()[0] == '/' ? "" : "../../../", cli());
    CHECK(run_command(cmd, "", &out, &err) == 0 && !strcmp(out, expected), "%s%s", out, err);
    free(out), free(err), free(expected);
    expected = read_all(EVAL_DIR "/goldens/dl.l2-c.out");
    snprintf(cmd, sizeof cmd, "cd " EVAL_DIR " && %s%s eval -c -l2 -m map -m P.10 -m recall.100 -m recip_rank -m ndcg_cut.10 "
             "--qrels dl/qrels.txt --run dl/run.txt -M1000", cli()[0] == '/' ? "" : "../../../", cli());
    CHECK(run_command(cmd, "", &out, &err) == 0 && expected && !strcmp(out, expected), "%s%s", out, err);
    free(out), free(err), free(expected);
}
