/* test_trec.c - `rerank trec` on tests/data/beir-tiny (a BEIR folder made from the shared test texts) with the
 * tiny XLM-R model: the output is each run query's top-k, ranked, scored as `rerank score` scores the pairs;
 * TSV inputs give the same bytes; shards (explicit or from Slurm/Kubernetes/MPI variables) merged with
 * `rerank merge` equal the unsharded run byte for byte; --resume after a cut-short output; errors. */
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "golden.h"
#include "test.h"

#define BEIR "tests/data/beir-tiny"

static const char *cli(void) {
    const char *c = getenv("RERANK_CLI");
    return c && *c ? c : "build/rerank";
}

static int run_sh(char **out, char **err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int run_sh(char **out, char **err, const char *fmt, ...) {
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    return run_command(cmd, "", out, err);
}

/* `rerank trec` with the tiny model on the BEIR folder plus extra options; stdout in *out. */
static int trec(char **out, char **err, const char *extra) {
    return run_sh(out, err, "%s trec --model %s --run " BEIR "/run.txt --beir " BEIR " %s", cli(),
                  rr_shared_path("testdata/xlmr-seqcls-tiny"), extra);
}

typedef struct line {
    char qid[64], q0[8], docid[64], tag[32];
    long rank;
    double score;
} line;

static size_t parse_run(const char *text, line *lines, size_t max) {
    size_t n = 0;
    for (const char *p = text; *p && n < max;) {
        line *l = &lines[n];
        if (sscanf(p, "%63s %7s %63s %ld %lf %31s", l->qid, l->q0, l->docid, &l->rank, &l->score, l->tag) == 6) n++;
        const char *nl = strchr(p, '\n');
        if (!nl) break;
        p = nl + 1;
    }
    return n;
}

static json_t *jsonl_by_id(const char *path) {
    json_t *rows = golden_load(path), *by_id = json_object();
    size_t i;
    json_t *r;
    json_array_foreach(rows, i, r) json_object_set(by_id, json_string_value(json_object_get(r, "_id")), r);
    json_decref(rows);
    return by_id;
}

/* The first-stage run's top k of qid, by score then docid descending, as "d1 d2 ..." */
static void first_stage_top(const char *qid, size_t k, char *buf, size_t size) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "(awk '$1==\"%s\"' " BEIR "/run.txt | LC_ALL=C sort -k5,5gr -k3,3r | head -n %zu | awk '{print $3}' | LC_ALL=C sort | tr '\\n' ' ')",
             qid, k);
    char *out, *err;
    run_command(cmd, "", &out, &err);
    snprintf(buf, size, "%s", out);
    free(out);
    free(err);
}

static void check_reranked(const char *out, size_t k) {
    static line lines[1024];
    size_t n = parse_run(out, lines, 1024);
    CHECK(n == 19 * k, "%zu lines for top-%zu", n, k);
    json_t *corpus = jsonl_by_id(BEIR "/corpus.jsonl"), *queries = jsonl_by_id(BEIR "/queries.jsonl");
    /* every line's score is `rerank score` of {query text, title + " " + text} */
    char path[] = "/tmp/rerank_test_trec_pairsXXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    FILE *f = fdopen(fd, "w");
    for (size_t i = 0; i < n; i++) {
        json_t *d = json_object_get(corpus, lines[i].docid), *q = json_object_get(queries, lines[i].qid);
        REQUIRE(d && q, "unknown ids in line %zu", i);
        const char *title = json_string_value(json_object_get(d, "title")), *text = json_string_value(json_object_get(d, "text"));
        char passage[4096];
        snprintf(passage, sizeof passage, "%s%s%s", title, *title ? " " : "", text);
        json_t *pair = json_pack("{s:O, s:s}", "query", json_object_get(q, "text"), "passage", passage);
        char *s = json_dumps(pair, JSON_COMPACT);
        fprintf(f, "%s\n", s);
        free(s);
        json_decref(pair);
    }
    fclose(f);
    char *scored, *err;
    int rc = run_sh(&scored, &err, "%s score --model %s --input %s", cli(), rr_shared_path("testdata/xlmr-seqcls-tiny"), path);
    CHECK(rc == 0, "score: %s", err);
    const char *p = scored;
    for (size_t i = 0; i < n && p && *p; i++) {
        json_t *o = json_loads(p, JSON_DISABLE_EOF_CHECK, NULL);
        double want = json_number_value(json_object_get(o, "score"));
        CHECK(fabs(lines[i].score - want) <= 1e-6 * (fabs(want) > 1 ? fabs(want) : 1), "line %zu: %.9g vs score %.9g",
              i, lines[i].score, want);
        json_decref(o);
        p = strchr(p, '\n');
        if (p) p++;
    }
    free(scored);
    free(err);
    remove(path);
    /* per query: ranks 1..k in order, scores non-increasing, the tag, the run's top-k docids exactly once */
    for (size_t i = 0; i < n; i += k) {
        char want[2048], got[2048] = "";
        first_stage_top(lines[i].qid, k, want, sizeof want);
        const char *ids[1024];
        for (size_t j = 0; j < k; j++) {
            CHECK(!strcmp(lines[i + j].qid, lines[i].qid) && lines[i + j].rank == (long)j + 1, "line %zu", i + j);
            CHECK(!strcmp(lines[i + j].q0, "Q0") && !strcmp(lines[i + j].tag, "rerank"));
            if (j) CHECK(lines[i + j].score <= lines[i + j - 1].score, "line %zu: scores increase", i + j);
            ids[j] = lines[i + j].docid;
        }
        for (size_t a = 0; a < k; a++) /* sort the docids to compare sets */
            for (size_t b = a + 1; b < k; b++)
                if (strcmp(ids[a], ids[b]) > 0) {
                    const char *t = ids[a];
                    ids[a] = ids[b];
                    ids[b] = t;
                }
        for (size_t j = 0; j < k; j++) {
            strncat(got, ids[j], sizeof got - strlen(got) - 2);
            strcat(got, " ");
        }
        CHECK(!strcmp(got, want), "query %s: reranked %s, first-stage top-%zu %s", lines[i].qid, got, k, want);
    }
    json_decref(corpus);
    json_decref(queries);
}

TEST(trec_reranks_each_query_top_k_as_score_does) {
    char *out, *err;
    int rc = trec(&out, &err, "");
    CHECK(rc == 0, "exit %d: %s", rc, err);
    CHECK(strstr(err, "judged queries") && strstr(err, "nDCG@10"), "evaluation at the end: %s", err);
    check_reranked(out, 12);
    /* the evaluation at the end is rerank eval's on the output */
    const char *at = strstr(err, "nDCG@10 ");
    double before = 0, after = -1;
    REQUIRE(at && sscanf(at, "nDCG@10 %lf -> %lf", &before, &after) == 2, "%s", err);
    FILE *f = fopen("/tmp/rerank_test_trec_out", "w");
    REQUIRE(f != NULL);
    fputs(out, f);
    fclose(f);
    char *ev, *everr;
    CHECK(run_sh(&ev, &everr, "%s eval --qrels " BEIR "/qrels/test.tsv --run /tmp/rerank_test_trec_out -m nDCG@10", cli()) == 0,
          "%s", everr);
    char want[64];
    snprintf(want, sizeof want, "\tall\t%.4f\n", after);
    CHECK(strstr(ev, want) != NULL, "trec says %.4f, eval: %s", after, ev);
    free(ev), free(everr);
    remove("/tmp/rerank_test_trec_out");
    CHECK(strstr(out, "unused-1") == NULL, "queries without candidates are not output");
    free(out);
    free(err);
    rc = trec(&out, &err, "--top-k 7");
    CHECK(rc == 0, "exit %d: %s", rc, err);
    check_reranked(out, 7);
    free(out);
    free(err);
}

TEST(trec_tsv_inputs_give_the_same_run) {
    char *a, *b, *err;
    CHECK(trec(&a, &err, "--top-k 7 --quiet") == 0);
    free(err);
    int rc = run_sh(&b, &err, "%s trec --model %s --run " BEIR "/run.txt --queries " BEIR "/queries.tsv --corpus " BEIR
                              "/collection.tsv --top-k 7 --quiet",
                    cli(), rr_shared_path("testdata/xlmr-seqcls-tiny"));
    CHECK(rc == 0, "%s", err);
    CHECK(*a && !strcmp(a, b), "TSV output differs");
    free(a);
    free(b);
    free(err);
}

/* The union of the shards (any way they are chosen) is the unsharded run, byte for byte. */
TEST(trec_shards_merge_to_the_unsharded_run) {
    char *full, *err, *out;
    REQUIRE(trec(&full, &err, "--quiet") == 0, "%s", err);
    free(err);
    const char *ways[][2] = {
        {"", "--shard 0/2"},
        {"", "--shard 1/2"},
        {"SLURM_ARRAY_TASK_ID=5 SLURM_ARRAY_TASK_MIN=5 SLURM_ARRAY_TASK_COUNT=3", ""},
        {"SLURM_ARRAY_TASK_ID=6 SLURM_ARRAY_TASK_MIN=5 SLURM_ARRAY_TASK_COUNT=3", ""},
        {"JOB_COMPLETION_INDEX=2", "--shard-count 3"},
        {"OMPI_COMM_WORLD_RANK=0 OMPI_COMM_WORLD_SIZE=1", ""},
    };
    const char *files[] = {"/tmp/rerank_test_trec_s0", "/tmp/rerank_test_trec_s1", "/tmp/rerank_test_trec_t0",
                           "/tmp/rerank_test_trec_t1", "/tmp/rerank_test_trec_t2", "/tmp/rerank_test_trec_m"};
    for (int i = 0; i < 6; i++) {
        char extra[512];
        snprintf(extra, sizeof extra, "%s --quiet --output %s", ways[i][1], files[i]);
        int rc = run_sh(&out, &err, "env %s %s trec --model %s --run " BEIR "/run.txt --beir " BEIR " %s", ways[i][0],
                        cli(), rr_shared_path("testdata/xlmr-seqcls-tiny"), extra);
        CHECK(rc == 0 && !*out, "way %d: exit %d: %s", i, rc, err);
        free(out);
        free(err);
    }
    run_sh(&out, &err, "%s merge %s %s", cli(), files[1], files[0]);
    CHECK(!strcmp(out, full), "2 shards merged differ from the unsharded run");
    char *s0 = NULL, *e0;
    run_sh(&s0, &e0, "cat %s", files[0]);
    CHECK(strlen(s0) > 0 && strlen(s0) < strlen(full), "shard 0 holds part of the run");
    free(s0);
    free(e0);
    free(out);
    free(err);
    run_sh(&out, &err, "%s merge %s %s %s", cli(), files[2], files[4], files[3]);
    CHECK(!strcmp(out, full), "Slurm + Kubernetes shards merged differ from the unsharded run");
    free(out);
    free(err);
    run_sh(&out, &err, "cat %s", files[5]);
    CHECK(!strcmp(out, full), "a 1-process MPI job does everything");
    free(out);
    free(err);
    int rc = run_sh(&out, &err, "%s merge %s %s", cli(), files[0], files[0]);
    CHECK(rc == 1 && strstr(err, "appears in"), "a query in two outputs: %s", err);
    free(out);
    free(err);
    rc = run_sh(&out, &err, "env JOB_COMPLETION_INDEX=1 %s trec --model x --run " BEIR "/run.txt --beir " BEIR, cli());
    CHECK(rc == 2 && strstr(err, "--shard-count"), "Kubernetes without the count: %s", err);
    free(out);
    free(err);
    rc = trec(&out, &err, "--shard 2/2");
    CHECK(rc == 2 && strstr(err, "index < count"), "%s", err);
    free(out);
    free(err);
    for (int i = 0; i < 6; i++) remove(files[i]);
    free(full);
}

/* A crash leaves complete queries and a partial one: --resume keeps the first, redoes the rest. */
TEST(trec_resume_after_a_cut_short_output) {
    char *full, *err, *out;
    REQUIRE(trec(&full, &err, "--quiet") == 0, "%s", err);
    free(err);
    const char *path = "/tmp/rerank_test_trec_resume";
    FILE *f = fopen(path, "w");
    REQUIRE(f != NULL);
    /* the first 30 lines: 2 complete queries (12 lines each) and 6 lines of the third, the last one cut */
    const char *p = full;
    for (int i = 0; i < 30; i++) p = strchr(p, '\n') + 1;
    fwrite(full, 1, (size_t)(p - full) - 9, f);
    fclose(f);
    int rc = trec(&out, &err, "--resume --output /tmp/rerank_test_trec_resume");
    CHECK(rc == 0, "%s", err);
    free(out);
    free(err);
    run_sh(&out, &err, "cat %s", path);
    CHECK(!strcmp(out, full), "resumed output differs from an uninterrupted run");
    free(out);
    free(err);
    /* complete: a second --resume does nothing */
    rc = trec(&out, &err, "--resume --output /tmp/rerank_test_trec_resume");
    CHECK(rc == 0 && strstr(err, "0/0 queries"), "%s", err);
    free(out);
    free(err);
    run_sh(&out, &err, "cat %s", path);
    CHECK(!strcmp(out, full));
    free(out);
    free(err);
    /* another shard's output is refused */
    rc = trec(&out, &err, "--shard 1/2 --resume --output /tmp/rerank_test_trec_resume");
    CHECK(rc == 1 && strstr(err, "not in this shard"), "%s", err);
    free(out);
    free(err);
    /* another run's output is refused */
    f = fopen(path, "w");
    fputs("zz Q0 d1 1 0.5 rerank\n", f);
    fclose(f);
    rc = trec(&out, &err, "--resume --output /tmp/rerank_test_trec_resume");
    CHECK(rc == 1 && strstr(err, "not an output of this run"), "%s", err);
    free(out);
    free(err);
    remove(path);
    free(full);
}

/* rerank score --shard K/N scores lines K, K+N, ...; merge --lines restores the input order. */
TEST(score_shards_interleave_back) {
    const char *in = "/tmp/rerank_test_score_in.jsonl";
    FILE *f = fopen(in, "w");
    REQUIRE(f != NULL);
    for (int i = 0; i < 7; i++) fprintf(f, "{\"query\": \"what is panda?\", \"passage\": \"passage number %d\"}\n%s", i, i == 2 ? "\n" : "");
    fclose(f);
    char *full, *err, *out;
    const char *model = rr_shared_path("testdata/xlmr-seqcls-tiny");
    REQUIRE(run_sh(&full, &err, "%s score --model %s --input %s", cli(), model, in) == 0, "%s", err);
    free(err);
    for (int k = 0; k < 3; k++) {
        int rc = run_sh(&out, &err, "%s score --model %s --input %s --shard %d/3 > /tmp/rerank_test_score_%d", cli(),
                        model, in, k, k);
        CHECK(rc == 0, "%s", err);
        free(out);
        free(err);
    }
    run_sh(&out, &err, "%s merge --lines /tmp/rerank_test_score_0 /tmp/rerank_test_score_1 /tmp/rerank_test_score_2",
           cli());
    CHECK(!strcmp(out, full), "merged:\n%s\nunsharded:\n%s", out, full);
    free(out);
    free(err);
    int rc = run_sh(&out, &err, "%s merge --lines /tmp/rerank_test_score_2 /tmp/rerank_test_score_0", cli());
    CHECK(rc == 1, "shards out of order are refused");
    free(out);
    free(err);
    for (int k = 0; k < 3; k++) {
        char p[64];
        snprintf(p, sizeof p, "/tmp/rerank_test_score_%d", k);
        remove(p);
    }
    remove(in);
    free(full);
}

TEST(trec_input_errors_name_the_file) {
    const char *run = "/tmp/rerank_test_trec_badrun";
    FILE *f = fopen(run, "w");
    REQUIRE(f != NULL);
    fputs("q0 Q0 d1 1 3.5 bm25\nq0 Q0 d404 2 2.5 bm25\n", f);
    fclose(f);
    char *out, *err;
    const char *model = rr_shared_path("testdata/xlmr-seqcls-tiny");
    int rc = run_sh(&out, &err, "%s trec --model %s --run %s --beir " BEIR, cli(), model, run);
    CHECK(rc == 1 && strstr(err, "no passage with docid 'd404'") && !*out, "%s", err);
    free(out);
    free(err);
    f = fopen(run, "w");
    fputs("nosuchq Q0 d1 1 3.5 bm25\n", f);
    fclose(f);
    rc = run_sh(&out, &err, "%s trec --model %s --run %s --beir " BEIR, cli(), model, run);
    CHECK(rc == 1 && strstr(err, "no text for query 'nosuchq'"), "%s", err);
    free(out);
    free(err);
    f = fopen(run, "w");
    fputs("q0 Q0 d1 1 3.5 bm25\nq0 Q0 d2 1 high bm25\n", f);
    fclose(f);
    rc = run_sh(&out, &err, "%s trec --model %s --run %s --beir " BEIR, cli(), model, run);
    CHECK(rc == 1 && strstr(err, ":2: field score"), "%s", err);
    free(out);
    free(err);
    f = fopen(run, "w");
    fputs("q0 Q0 d1 1 3.5 bm25\nq0 Q0 d1 2 2.5 bm25\n", f);
    fclose(f);
    rc = run_sh(&out, &err, "%s trec --model %s --run %s --beir " BEIR, cli(), model, run);
    CHECK(rc == 1 && strstr(err, "lists docid 'd1' twice"), "%s", err);
    free(out);
    free(err);
    rc = run_sh(&out, &err, "%s trec --model %s --run %s", cli(), model, run);
    CHECK(rc == 2, "missing inputs are a usage error");
    free(out);
    free(err);
    remove(run);
}

TEST(trec_eval_merge_help) {
    char *out, *err;
    CHECK(run_sh(&out, &err, "%s trec --help", cli()) == 0 && strstr(out, "--shard K/N") && strstr(out, "--resume") &&
          strstr(out, "SLURM_ARRAY_TASK_ID") && strstr(out, "JOB_COMPLETION_INDEX") && strstr(out, "OMPI_COMM_WORLD_RANK"));
    free(out), free(err);
    CHECK(run_sh(&out, &err, "%s merge --help", cli()) == 0 && strstr(out, "--lines"));
    free(out), free(err);
    CHECK(run_sh(&out, &err, "%s eval --help", cli()) == 0 && strstr(out, "--qrels") && strstr(out, "--data"));
    free(out), free(err);
    CHECK(run_sh(&out, &err, "%s --help", cli()) == 0 && strstr(out, "  trec ") && strstr(out, "  merge "));
    free(out), free(err);
    CHECK(run_sh(&out, &err, "%s merge", cli()) == 2 && strstr(err, "no shard outputs"), "%s", err);
    free(out), free(err);
    CHECK(run_sh(&out, &err, "%s eval --qrels x", cli()) == 2 && strstr(err, "--run"), "%s", err);
    free(out), free(err);
}
