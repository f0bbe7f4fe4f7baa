/* cli_eval.c - `rerank eval --qrels Q --run R`: trec_eval's measures of a run, printed as trec_eval 10.0
 * prints them (src/eval/trec_eval.h computes them). The model mode of `rerank eval` is in cli_train.c. */
#include "cli_eval.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/trec_eval.h"
#include "rerank.h"

const char *const rr_cli_trec_eval_usage =
    "usage: rerank eval --qrels QRELS --run RUN [-m MEASURE]... [-q] [-c] [-l N] [-M N] [--json]\n"
    "\n"
    "Evaluates a TREC run against relevance judgements, computing and printing what NIST trec_eval 10.0 does:\n"
    "QRELS lines are `qid iter docid rel` (graded; a QRELS ending in .tsv is BEIR's `query-id corpus-id score`\n"
    "after a header line), RUN lines `qid Q0 docid rank score tag`. Each query's docs\n"
    "are ranked by score (a double) with ties broken by docid in descending byte order, as trec_eval; the rank\n"
    "column and the line order are ignored. qids and docids are strings. Only queries in QRELS are evaluated.\n"
    "\n"
    "  -m MEASURE   trec_eval names, with optional cutoffs: map, recip_rank, P[.k,..], recall[.k,..], ndcg,\n"
    "               ndcg_cut[.k,..], map_cut[.k,..] (without cutoffs 5,10,15,20,30,100,200,500,1000); or\n"
    "               ir_measures names: nDCG@k, nDCG, RR@k (recip_rank within the top k), RR, AP, AP@k, P@k, R@k.\n"
    "               Default: -m map -m recip_rank -m P.5,10 -m recall.100 -m ndcg_cut.10. Output order is\n"
    "               trec_eval's (map, recip_rank, P, recall, ndcg, ndcg_cut, map_cut; cutoffs ascending);\n"
    "               as in trec_eval a second -m of a trec_eval measure is ignored (give P.5,10, not P.5 -m P.10).\n"
    "  -q           also print every query's values (before the averages)\n"
    "  -c           average over every qrels query: one absent from the run counts 0 (and with -q prints 0s);\n"
    "               without -c such a query is skipped (trec_eval 9.0.8 and pytrec_eval; 10.0 stops instead)\n"
    "  -l N         relevance level: rel >= N is relevant (default 1); ndcg gains stay the qrels values\n"
    "  -M N         evaluate only the first N ranked docs of each query\n"
    "  --json       one JSON object: {\"queries\": n, \"all\": {name: value}, \"per_query\": {qid: {name: value}}}\n"
    "\n"
    "Text output is trec_eval's: `name<pad to 22>\\tqid|all\\tvalue` with 4 decimals. A docid listed twice for\n"
    "an evaluated query (in the run or in the qrels) is an error, as in trec_eval.\n";

bool rr_cli_eval_is_trec(int argc, char **argv) {
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "--qrels") || !strncmp(argv[i], "--qrels=", 8) || !strcmp(argv[i], "--run") ||
            !strncmp(argv[i], "--run=", 6))
            return true;
    return false;
}

static int usage(const char *msg, const char *arg) {
    fprintf(stderr, "rerank: error: %s%s%s\n%s", msg, arg ? " " : "", arg ? arg : "",
            "see rerank eval --qrels --help\n");
    return 2;
}

static bool parse_long(const char *s, long *out) {
    char *e;
    long v = strtol(s, &e, 10);
    if (e == s || *e) return false;
    *out = v;
    return true;
}

typedef struct eval_opts {
    const char *qrels, *run;
    bool per_query, complete, json;
    long relevance_level, max_docs;
    rr_measure_list measures;
} eval_opts;

static int add_measure(eval_opts *o, const char *spec) {
    bool ignored;
    rerank_error err = {0};
    if (rr_measure_list_add(&o->measures, spec, &ignored, &err)) return usage(err.message, NULL);
    if (ignored)
        fprintf(stderr, "rerank: note: -m %s ignored: that measure was already requested (trec_eval keeps the first; "
                        "list cutoffs together, e.g. P.5,10)\n", spec);
    return 0;
}

/* Returns -1 when parsed, else the exit status. Accepts trec_eval's attached forms (-mP.10, -l2, -M10). */
static int parse_args(int argc, char **argv, eval_opts *o) {
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *val = NULL;
        char opt = 0;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(rr_cli_trec_eval_usage, stdout);
            return 0;
        }
        if (!strcmp(a, "--qrels") || !strcmp(a, "--run")) {
            if (i + 1 >= argc) return usage("missing value of", a);
            *(a[2] == 'q' ? &o->qrels : &o->run) = argv[++i];
            continue;
        }
        if (!strncmp(a, "--qrels=", 8)) { o->qrels = a + 8; continue; }
        if (!strncmp(a, "--run=", 6)) { o->run = a + 6; continue; }
        if (!strcmp(a, "--json")) { o->json = true; continue; }
        if (a[0] == '-' && a[1] && strspn(a + 1, "qc") == strlen(a + 1)) { /* -q, -c, -cq as getopt takes them */
            o->per_query |= strchr(a, 'q') != NULL;
            o->complete |= strchr(a, 'c') != NULL;
            continue;
        }
        if (!strcmp(a, "--measure")) opt = 'm';
        else if (a[0] == '-' && (a[1] == 'm' || a[1] == 'l' || a[1] == 'M')) {
            opt = a[1];
            if (a[2]) val = a + 2;
        } else
            return usage("unknown option", a);
        if (!val) {
            if (i + 1 >= argc) return usage("missing value of", a);
            val = argv[++i];
        }
        if (opt == 'm') {
            int rc = add_measure(o, val);
            if (rc) return rc;
        } else if (opt == 'l') {
            if (!parse_long(val, &o->relevance_level)) return usage("-l takes an integer, not", val);
        } else if (!parse_long(val, &o->max_docs) || o->max_docs <= 0)
            return usage("-M takes a positive integer, not", val);
    }
    if (!o->qrels || !o->run) return usage("--qrels and --run are required", NULL);
    if (o->measures.n == 0) {
        static const char *const defaults[] = {"map", "recip_rank", "P.5,10", "recall.100", "ndcg_cut.10"};
        for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++) add_measure(o, defaults[i]);
    }
    rr_measure_list_finish(&o->measures);
    return -1;
}

static void print_line(const char *name, const char *qid, double v) { printf("%-22s\t%s\t%6.4f\n", name, qid, v); }

int rr_cli_trec_eval(int argc, char **argv) {
    eval_opts o = {.relevance_level = 1};
    int rc = parse_args(argc, argv, &o);
    if (rc >= 0) {
        rr_measure_list_free(&o.measures);
        return rc;
    }
    rr_qrels qrels;
    rr_run run;
    rerank_error err = {0};
    size_t qlen = strlen(o.qrels);
    bool beir = qlen > 4 && !strcmp(o.qrels + qlen - 4, ".tsv"); /* BEIR qrels/test.tsv */
    if (beir ? rr_qrels_read_beir(o.qrels, &qrels, &err) : rr_qrels_read(o.qrels, &qrels, &err)) {
        fprintf(stderr, "rerank: error: %s\n", err.message);
        rr_measure_list_free(&o.measures);
        return 1;
    }
    if (rr_run_read(o.run, &run, &err)) {
        fprintf(stderr, "rerank: error: %s\n", err.message);
        rr_qrels_free(&qrels);
        rr_measure_list_free(&o.measures);
        return 1;
    }
    const rr_measure_list *ms = &o.measures;
    double *sums = calloc(ms->n, sizeof *sums);
    json_t *root = json_object(), *per_query = json_object();
    size_t n_evaluated = 0, n_skipped = 0;
    rc = sums && root && per_query ? 0 : 1;
    for (size_t qi = 0; !rc && qi < qrels.n_queries; qi++) {
        const rr_qrels_query *judged = &qrels.queries[qi];
        const rr_run_query *ranked_run = rr_run_find(&run, judged->qid);
        if (!ranked_run && !o.complete) {
            n_skipped++;
            continue;
        }
        rr_ranked ranked;
        if (rr_eval_rank(ranked_run, judged, o.max_docs, &ranked, &err)) {
            fflush(stdout);
            fprintf(stderr, "rerank: error: %s\n", err.message);
            rc = 1;
            break;
        }
        json_t *qobj = o.per_query && o.json ? json_object() : NULL;
        for (size_t m = 0; m < ms->n; m++) {
            double v = rr_measure_value(&ms->items[m], &ranked, o.relevance_level);
            sums[m] += v;
            if (!o.per_query) continue;
            if (qobj)
                json_object_set_new(qobj, ms->items[m].name, json_real(v));
            else
                print_line(ms->items[m].name, judged->qid, v);
        }
        if (qobj) json_object_set_new(per_query, judged->qid, qobj);
        rr_ranked_free(&ranked);
        n_evaluated++;
    }
    if (!rc && n_evaluated == 0) {
        fprintf(stderr, "rerank: error: %s: no query of %s has results in %s\n", o.run, o.qrels, o.run);
        rc = 1;
    }
    if (!rc) {
        if (n_skipped)
            fprintf(stderr, "rerank: note: %zu qrels quer%s absent from the run, not averaged (-c counts them as 0)\n",
                    n_skipped, n_skipped == 1 ? "y is" : "ies are");
        double n_avg = (double)(o.complete ? qrels.n_queries : n_evaluated);
        json_t *all = json_object();
        for (size_t m = 0; m < ms->n; m++) {
            double v = sums[m] / n_avg;
            if (o.json)
                json_object_set_new(all, ms->items[m].name, json_real(v));
            else
                print_line(ms->items[m].name, "all", v);
        }
        if (o.json) {
            json_object_set_new(root, "queries", json_integer((json_int_t)n_avg));
            json_object_set_new(root, "all", all);
            if (o.per_query) json_object_set(root, "per_query", per_query);
            char *s = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(15));
            if (s) puts(s);
            free(s);
        } else
            json_decref(all);
    }
    if (fflush(stdout) || ferror(stdout)) {
        fprintf(stderr, "rerank: error: writing standard output failed\n");
        rc = 1;
    }
    json_decref(per_query);
    json_decref(root);
    free(sums);
    rr_run_free(&run);
    rr_qrels_free(&qrels);
    rr_measure_list_free(&o.measures);
    return rc;
}
