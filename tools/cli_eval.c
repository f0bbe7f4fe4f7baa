/* cli_eval.c - `rerank eval --qrels Q --run R`: trec_eval's measures of a run, printed as trec_eval 10.0
 * prints them (src/eval/trec_eval.h computes them). The model mode of `rerank eval` is in cli_train.c. */
#include "cli_eval.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/trec_eval.h"
#include "options.h"
#include "rerank.h"

/* The measures of -m (default: trec_eval's base set), in printing order. */
static int measures_of(const rr_cli_args *a, rr_measure_list *ms) {
    static const char *const defaults[] = {"map", "recip_rank", "P.5,10", "recall.100", "ndcg_cut.10"};
    size_t n = a->measures.n ? a->measures.n : sizeof defaults / sizeof defaults[0];
    for (size_t i = 0; i < n; i++) {
        const char *spec = a->measures.n ? a->measures.v[i] : defaults[i];
        bool ignored;
        rerank_error err = {0};
        if (rr_measure_list_add(ms, spec, &ignored, &err)) return rr_cli_usage_error("eval", "%s", err.message);
        if (ignored)
            fprintf(stderr, "rerank: note: -m %s ignored: that measure was already requested (trec_eval keeps the "
                            "first; list cutoffs together, e.g. P.5,10)\n", spec);
    }
    rr_measure_list_finish(ms);
    return 0;
}

static void print_line(const char *name, const char *qid, double v) { printf("%-22s\t%s\t%6.4f\n", name, qid, v); }

int rr_cli_trec_eval(const rr_cli_args *args) {
    if (!args->qrels || !args->run) return rr_cli_usage_error("eval", "--qrels and --run are both required");
    if (args->model || args->eval_data)
        return rr_cli_usage_error("eval", "--qrels --run evaluate a run: no --model or --eval-data with them");
    struct {
        const char *qrels, *run;
        bool per_query, complete, json;
        long relevance_level, max_docs;
        rr_measure_list measures;
    } o = {args->qrels, args->run, args->per_query, args->complete, args->json, args->relevance_level,
           args->max_docs, {0}};
    int rc = measures_of(args, &o.measures);
    if (rc) {
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
