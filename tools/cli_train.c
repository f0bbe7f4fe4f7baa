/* cli_train.c - `rerank train` (fine-tuning, rerank_train), `rerank eval` (MRR@10, nDCG@10 and MAP of a model's
 * ranking of training-format rows, rerank_evaluate; with --qrels --run: cli_eval.c) and `rerank merge-lora` (rerank_merge_lora). A client of
 * rerank.h only; options and --help come from the option table (options.h). Same conventions as rerank.c:
 * exit 0 success, 1 runtime or input error, 2 usage error; errors are one line "rerank: error: ..." on stderr. */
#include "cli_download.h"
#include "cli_train.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli_eval.h"
#include "options.h"
#include "rerank.h"

static void log_line(void *ctx, const char *line) {
    (void)ctx;
    fprintf(stderr, "%s\n", line);
    fflush(stderr);
}

static void print_json(json_t *out, size_t flags) {
    char *s = out ? json_dumps(out, JSON_COMPACT | JSON_REAL_PRECISION(9) | flags) : NULL;
    if (s) puts(s);
    free(s);
    json_decref(out);
}

int rr_cli_train(int argc, char **argv) {
    rr_cli_args a;
    rr_cli_args_init(&a);
    int rc = rr_cli_parse("train", argc, argv, &a);
    if (rc) return rc < 0 ? 0 : rc;
    if (a.train.eval_steps && !a.train.eval_data) return rr_cli_usage_error("train", "--eval-steps needs --eval-data FILE|DIR");
    char fetched[4096];
    rerank_train_params p = a.train;
    if (!(p.model = rr_cli_prefetch(a.model, fetched, sizeof fetched, &rc))) return rc;
    p.output_dir = a.output_dir;
    p.skip_bad_lines = a.skip_bad_lines;
    p.log = log_line;
    rerank_train_result res;
    rerank_error err;
    if (rerank_train(&p, &res, &err)) return rr_cli_runtime_error("%s", err.message);
    if (res.rank != 0) return 0; /* one summary line per job */
    json_t *out = json_pack("{s:I, s:f, s:f, s:f, s:I, s:I}", "steps", (json_int_t)res.steps_run, "first_loss",
                            res.first_loss, "last_loss", res.last_loss, "seconds", res.seconds, "rows",
                            (json_int_t)res.n_rows, "skipped", (json_int_t)res.n_skipped);
    if (out && res.n_evals) /* the last --eval-data evaluation */
        json_object_set_new(out, "eval", json_pack("{s:I, s:f, s:f, s:f, s:I}", "rows", (json_int_t)res.eval_rows,
                                                   "ndcg@10", res.eval_ndcg10, "mrr@10", res.eval_mrr10, "map",
                                                   res.eval_map, "collapsed_rows", (json_int_t)res.eval_collapsed));
    print_json(out, 0);
    return 0;
}

int rr_cli_eval(int argc, char **argv) {
    rr_cli_args a;
    rr_cli_args_init(&a);
    int rc = rr_cli_parse("eval", argc, argv, &a);
    if (rc) return rc < 0 ? 0 : rc;
    if (a.qrels || a.run) return rr_cli_trec_eval(&a); /* the TREC mode, cli_eval.c */
    if (!a.model) return rr_cli_usage_error("eval", "--model DIR is required");
    if (!a.eval_data) return rr_cli_usage_error("eval", "--eval-data FILE|DIR is required");
    rerank_error err;
    rerank_model *model = NULL;
    a.mp.progress = rr_cli_progress_fn();
    rerank_status st = rerank_model_load(a.model, &a.mp, &model, &err);
    rr_cli_progress_done();
    if (st) return rr_cli_runtime_error("%s", err.message);
    rerank_eval_result r;
    if (rerank_evaluate(model, rr_cli_score_params(&a), a.eval_data, a.skip_bad_lines, log_line, NULL, &r, &err)) {
        rerank_model_free(model);
        return rr_cli_runtime_error("%s", err.message);
    }
    if (r.n_collapsed)
        fprintf(stderr, "rerank: WARNING: %zu of %zu rows score all their passages the same (%g): a collapsed model "
                        "ranks arbitrarily\n", r.n_collapsed, r.n_rows, r.collapsed_value);
    print_json(json_pack("{s:I, s:f, s:f, s:f}", "rows", (json_int_t)r.n_rows, "mrr@10", r.mrr10, "ndcg@10",
                         r.ndcg10, "map", r.map),
               JSON_PRESERVE_ORDER);
    rerank_model_free(model);
    return 0;
}

int rr_cli_merge_lora(int argc, char **argv) {
    rr_cli_args a;
    rr_cli_args_init(&a);
    int rc = rr_cli_parse("merge-lora", argc, argv, &a);
    if (rc) return rc < 0 ? 0 : rc;
    char fetched_adapter[4096], fetched_base[4096];
    const char *adapter = rr_cli_prefetch(a.adapter, fetched_adapter, sizeof fetched_adapter, &rc), *base = a.base;
    if (!adapter || (base && !(base = rr_cli_prefetch(base, fetched_base, sizeof fetched_base, &rc)))) return rc;
    rerank_error err;
    if (rerank_merge_lora(adapter, base, a.output_dir, &err)) return rr_cli_runtime_error("%s", err.message);
    fprintf(stderr, "merged model written to %s/merged_model\n", a.output_dir);
    return 0;
}
