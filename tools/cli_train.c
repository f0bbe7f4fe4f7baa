/* cli_train.c - `rerank train` (fine-tuning, rerank_train), `rerank eval` (MRR@10, nDCG@10 and MAP of a model's
 * ranking of training-format rows, rerank_evaluate) and `rerank merge-lora` (rerank_merge_lora). A client of
 * rerank.h only; options and --help come from the option table (options.h). Same conventions as rerank.c:
 * exit 0 success, 1 runtime or input error, 2 usage error; errors are one line "rerank: error: ..." on stderr. */
#include "cli_train.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

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
    rerank_train_params p = a.train;
    p.model = a.model;
    p.output_dir = a.output_dir;
    p.skip_bad_lines = a.skip_bad_lines;
    p.log = log_line;
    rerank_train_result res;
    rerank_error err;
    if (rerank_train(&p, &res, &err)) return rr_cli_runtime_error("%s", err.message);
    if (res.rank != 0) return 0; /* one summary line per job */
    print_json(json_pack("{s:I, s:f, s:f, s:f, s:I, s:I}", "steps", (json_int_t)res.steps_run, "first_loss",
                         res.first_loss, "last_loss", res.last_loss, "seconds", res.seconds, "rows",
                         (json_int_t)res.n_rows, "skipped", (json_int_t)res.n_skipped),
               0);
    return 0;
}

int rr_cli_eval(int argc, char **argv) {
    rr_cli_args a;
    rr_cli_args_init(&a);
    int rc = rr_cli_parse("eval", argc, argv, &a);
    if (rc) return rc < 0 ? 0 : rc;
    rerank_error err;
    rerank_model *model = NULL;
    if (rerank_model_load(a.model, &a.mp, &model, &err)) return rr_cli_runtime_error("%s", err.message);
    rerank_eval_result r;
    if (rerank_evaluate(model, rr_cli_score_params(&a), a.eval_data, a.skip_bad_lines, log_line, NULL, &r, &err)) {
        rerank_model_free(model);
        return rr_cli_runtime_error("%s", err.message);
    }
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
    rerank_error err;
    if (rerank_merge_lora(a.adapter, a.base, a.output_dir, &err)) return rr_cli_runtime_error("%s", err.message);
    fprintf(stderr, "merged model written to %s/merged_model\n", a.output_dir);
    return 0;
}
