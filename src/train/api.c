/* api.c - the public face of src/train (rerank.h): rerank_train over the training loop (loop.h),
 * rerank_merge_lora over the decoder adapter merge, and rerank_evaluate, which ranks training-format rows
 * through the public rerank_score and averages the metrics of eval.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "rerank.h"
#include "train/data.h"
#include "train/eval.h"
#include "train/loop.h"
#include "train/train_decoder.h"

rerank_train_params rerank_train_default_params(void) {
    rr_train_args a;
    rr_train_args_default(&a);
    return (rerank_train_params){
        .group_size = a.group_size, .query_max_len = a.query_max_len, .passage_max_len = a.passage_max_len,
        .batch_size = a.batch_size, .grad_accum = a.grad_accum, .learning_rate = a.learning_rate,
        .epochs = a.epochs, .max_steps = a.max_steps, .warmup_ratio = a.warmup_ratio,
        .weight_decay = a.weight_decay, .max_grad_norm = a.max_grad_norm, .seed = a.seed,
        .save_steps = a.save_steps, .threads = a.threads, .dropout = a.trainer.dropout,
        .lora_rank = a.trainer.lora.rank, .lora_alpha = a.trainer.lora.alpha, .lora_dropout = a.trainer.lora.dropout,
        .lora_targets = a.trainer.lora.targets, .lora_train_heads = a.trainer.lora.train_heads};
}

rerank_status rerank_train(const rerank_train_params *p, rerank_train_result *out, rerank_error *err) {
    if (!p) return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "rerank_train: params is NULL");
    rr_train_args a;
    rr_train_args_default(&a); /* the Adam constants, which the public params do not expose */
    a.model = p->model, a.train_data = p->train_data, a.output_dir = p->output_dir;
    a.group_size = p->group_size, a.query_max_len = p->query_max_len, a.passage_max_len = p->passage_max_len;
    a.batch_size = p->batch_size, a.grad_accum = p->grad_accum, a.learning_rate = p->learning_rate;
    a.epochs = p->epochs, a.max_steps = p->max_steps, a.warmup_ratio = p->warmup_ratio;
    a.weight_decay = p->weight_decay, a.max_grad_norm = p->max_grad_norm;
    a.knowledge_distillation = p->knowledge_distillation, a.seed = p->seed, a.save_steps = p->save_steps;
    a.resume = p->resume, a.skip_bad_lines = p->skip_bad_lines, a.threads = p->threads, a.merge = p->merge;
    a.trainer.lora = (rr_lora_opts){p->lora_rank, p->lora_alpha, p->lora_dropout, p->lora_targets, p->lora_train_heads};
    a.trainer.seed = p->seed;
    a.trainer.dropout = p->dropout;
    a.log = p->log, a.log_ctx = p->log_ctx;
    rr_train_result r;
    rerank_status st = rr_train_run(&a, &r, err);
    if (st == RERANK_OK && out)
        *out = (rerank_train_result){r.steps_run, r.total_steps, r.first_loss, r.last_loss, r.seconds,
                                     r.n_rows, r.n_skipped, r.rank};
    return st;
}

rerank_status rerank_merge_lora(const char *adapter_dir, const char *base_dir, const char *out_dir, rerank_error *err) {
    if (!adapter_dir || !out_dir)
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "rerank_merge_lora: adapter_dir and out_dir are required");
    return rr_decoder_merge_adapter(adapter_dir, base_dir, out_dir, err);
}

/* Scores one row's pos + neg passages and adds its metrics to sum. */
static rerank_status eval_row(rerank_session *s, const rerank_score_params *params, size_t n_out,
                              const rr_train_data *data, const rr_train_row *r, double sum[3], rerank_error *err) {
    size_t n = r->n_pos + r->n_neg;
    rerank_pair *pairs = malloc(n * sizeof *pairs);
    float *scores = malloc(n * n_out * sizeof *scores), *best = malloc(n * sizeof *best);
    bool *rel = malloc(n * sizeof *rel);
    rerank_status st = RERANK_OK;
    if (!pairs || !scores || !best || !rel) st = rr_fail(err, RERANK_ERR_NOMEM, "out of memory");
    for (size_t k = 0; !st && k < n; k++) {
        bool pos = k < r->n_pos;
        size_t j = pos ? k : k - r->n_pos;
        pairs[k] = (rerank_pair){r->query, r->query_len, pos ? r->pos[j] : r->neg[j], pos ? r->pos_len[j] : r->neg_len[j]};
        rel[k] = pos;
    }
    rerank_score_params sp = *params;
    if (r->prompt) sp.prompt = r->prompt; /* LLM rerankers: the row's prompt, else the caller's or the default */
    if (!st && (st = rerank_score(s, &sp, pairs, n, scores, err)) != RERANK_OK)
        rr_error_prefix(err, "%s:%ld", data->files[r->file], r->line);
    if (!st) {
        for (size_t k = 0; k < n; k++) best[k] = scores[k * n_out + n_out - 1]; /* the highest cutoff layer */
        rr_rank_metrics m;
        rr_rank_metrics_compute(best, rel, n, &m);
        sum[0] += m.mrr10, sum[1] += m.ndcg10, sum[2] += m.map;
    }
    free(pairs), free(scores), free(best), free(rel);
    return st;
}

rerank_status rerank_evaluate(const rerank_model *model, const rerank_score_params *params, const char *data_path,
                              bool skip_bad_lines, rerank_log_fn log, void *log_ctx, rerank_eval_result *out,
                              rerank_error *err) {
    if (!model || !params || !data_path || !out)
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "rerank_evaluate: model, params, data_path and out are required");
    rr_train_data *data = NULL;
    rr_train_data_opts o = {false, skip_bad_lines};
    rerank_status st = rr_train_data_load(data_path, &o, &data, err);
    if (data && log)
        for (size_t i = 0; i < data->n_bad && i < RR_TRAIN_MAX_BAD_KEPT; i++) {
            char line[1200];
            snprintf(line, sizeof line, "%s%s", skip_bad_lines ? "skipped: " : "", data->bad[i]);
            log(log_ctx, line);
        }
    size_t n_out = 1;
    rerank_session *session = NULL;
    if (!st) st = rerank_score_n_outputs(model, params, &n_out, err);
    if (!st) st = rerank_session_new(model, &session, err);
    double sum[3] = {0, 0, 0};
    for (size_t i = 0; !st && i < data->n_rows; i++) st = eval_row(session, params, n_out, data, &data->rows[i], sum, err);
    if (!st) {
        double n = (double)data->n_rows;
        *out = (rerank_eval_result){data->n_rows, sum[0] / n, sum[1] / n, sum[2] / n};
    }
    rerank_session_free(session);
    rr_train_data_free(data);
    return st;
}
