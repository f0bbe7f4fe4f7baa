/* cli_train.c - `rerank train` (fine-tuning through the training loop, src/train/loop.h) and `rerank eval`
 * (MRR@10, nDCG@10 and MAP of a model's ranking of training-format rows, through the public rerank_score).
 * Same conventions as rerank.c: exit 0 success, 1 runtime or input error, 2 usage error; errors are one line
 * "rerank: error: ..." on stderr. */
#include "cli_download.h"
#include "cli_train.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rerank.h"
#include "train/data.h"
#include "train/eval.h"
#include "train/loop.h"
#include "train/train_decoder.h"

const char *const rr_cli_train_usage =
    "usage: rerank train --model DIR|ORG/NAME[@REV] --train-data FILE|DIR --output-dir DIR [options]\n"
    "\n"
    "Fine-tunes a reranker as FlagEmbedding does (flagembedding-spec.md §3): encoder cross-encoders (XLM-R, BERT)\n"
    "fully, decoder LLM rerankers with LoRA adapters. Training data: a .json/.jsonl file, or a directory of them,\n"
    "one JSON object per line (JSON Lines, .json files too): {\"query\": str, \"pos\": [str], \"neg\": [str]} plus \"prompt\" (LLM rerankers) and\n"
    "\"pos_scores\"/\"neg_scores\" (teacher scores for --knowledge-distillation). Every bad line is reported\n"
    "(file:line: field) before training starts.\n"
    "\n"
    "Data:\n"
    "  --train-group-size N     passages per query: 1 positive + N-1 sampled negatives (default 8)\n"
    "  --query-max-len N        query token budget (default 32)\n"
    "  --passage-max-len N      passage token budget (default 128); a pair has at most both, specials included\n"
    "  --knowledge-distillation add the KD loss against softmax(teacher scores); rows must have the scores\n"
    "  --skip-bad-lines         train on the good rows and report how many lines were skipped\n"
    "Optimization (AdamW on fp32 master weights, HF Trainer semantics):\n"
    "  --batch-size N           groups per process per micro-batch (default 8)\n"
    "  --grad-accum N           micro-batches per optimizer step (default 1); the global batch is\n"
    "                           batch-size x processes x grad-accum groups\n"
    "  --learning-rate X        peak learning rate (default 6e-5)\n"
    "  --epochs N               passes over the data (default 1; the last partial global batch is dropped)\n"
    "  --max-steps N            train exactly N optimizer steps instead (epochs repeat as needed)\n"
    "  --warmup-ratio X         linear warm-up over ceil(X * steps) steps, then linear decay to 0 (default 0.1)\n"
    "  --weight-decay X         decoupled weight decay, not on biases and LayerNorm (default 0.01)\n"
    "  --max-grad-norm X        clip the global gradient norm (default 1.0; 0 = off)\n"
    "  --seed N                 data order, group sampling, dropout, LoRA init (default 42)\n"
    "  --no-dropout             train without dropout (default: the config's dropout, as transformers' train())\n"
    "  --threads N              threads of the training step (default: all cores)\n"
    "Output:\n"
    "  --output-dir DIR         the trained model (config.json, model.safetensors, tokenizer files), loadable by\n"
    "                           rerank score and transformers; encoder weights are written as F32\n"
    "  --save-steps N           also write DIR/checkpoint-<step> every N steps (default 500; one at the end)\n"
    "  --resume                 continue from the latest DIR/checkpoint-N (same settings: the result is\n"
    "                           bit-identical to an uninterrupted run)\n"
    "LoRA (decoder LLM rerankers; encoders are fully fine-tuned and ignore these):\n"
    "  --lora-rank N (default 64)  --lora-alpha X (default 16)  --lora-dropout X (default 0.1)\n"
    "  --lora-targets a,b,...   modules (default q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj)\n"
    "  --lora-train-heads       layerwise model: train the per-layer heads too\n"
    "  --merge                  also write DIR/merged_model with the adapters merged\n"
    "\n"
    "Progress goes to stderr (loss, learning rate, gradient norm, tokens/s, ETA); at the end one JSON line on\n"
    "stdout: {\"steps\", \"first_loss\", \"last_loss\", \"seconds\", \"rows\", \"skipped\"}. Several processes train\n"
    "data-parallel when started by mpirun; rank 0 writes the output.\n";

const char *const rr_cli_eval_usage =
    "usage: rerank eval --model DIR|ORG/NAME[@REV] --data FILE|DIR [options]\n"
    "\n"
    "Ranks the pos + neg passages of every row (training data format) with the model and prints one JSON line:\n"
    "{\"rows\": N, \"mrr@10\": ..., \"ndcg@10\": ..., \"map\": ...}, averages over rows with binary relevance\n"
    "(pos relevant). Equal scores rank negatives first (no credit for ties).\n"
    "  --max-length N          token budget of a pair (default 512)\n"
    "  --query-max-length N    query token budget (default max-length*3/4)\n"
    "  --batch-size N          pairs per forward pass (default 32)\n"
    "  --threads N             threads (default: all cores)\n"
    "  --dtype T               compute precision: auto, f32, bf16 or int8 (as rerank score)\n"
    "  --recipe R              flag-llm or qwen3 input layout for a decoder (default: by architecture)\n"
    "  --cutoff-layer N        layerwise model: rank by this layer's score (default: the last)\n"
    "  --skip-bad-lines        evaluate the good rows only\n";

const char *const rr_cli_merge_usage =
    "usage: rerank merge-lora --adapter DIR --output-dir DIR [--base DIR]\n"
    "\n"
    "Merges a PEFT LoRA adapter (adapter_model.safetensors + adapter_config.json, from rerank train or PEFT) into\n"
    "its decoder base model: DIR/merged_model then holds the full model (W + alpha/r * B A, the checkpoint's\n"
    "dtypes, config and tokenizer files), which rerank score loads.\n"
    "  --adapter DIR           the adapter directory [required]\n"
    "  --base DIR              the base model (default: adapter_config.json's base_model_name_or_path)\n"
    "  --output-dir DIR        where to write [required]\n";

static int usage_error(const char *fmt, ...) RR_CLI_PRINTF(1, 2);
static int usage_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("rerank: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs(" (see rerank train --help)\n", stderr);
    va_end(ap);
    return 2;
}

static int runtime_error(const char *fmt, ...) RR_CLI_PRINTF(1, 2);
static int runtime_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("rerank: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

static int get_long(const char *flag, const char *v, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi)
        return usage_error("%s expects an integer in [%ld, %ld], got '%s'", flag, lo, hi, v);
    *out = x;
    return 0;
}

static int get_int(const char *flag, const char *v, long lo, long hi, int *out) {
    long x;
    int rc = get_long(flag, v, lo, hi, &x);
    if (!rc) *out = (int)x;
    return rc;
}

static int get_double(const char *flag, const char *v, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || !(x >= lo && x <= hi))
        return usage_error("%s expects a number in [%g, %g], got '%s'", flag, lo, hi, v);
    *out = x;
    return 0;
}

static void log_line(void *ctx, const char *line) {
    (void)ctx;
    fprintf(stderr, "%s\n", line);
    fflush(stderr);
}

static int parse_train(int argc, char **argv, rr_train_args *a) {
    rr_train_args_default(a);
    a->log = log_line;
    for (int i = 0; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int rc = 0;
        long n;
        /* flags without a value */
        if (!strcmp(f, "--knowledge-distillation")) a->knowledge_distillation = true;
        else if (!strcmp(f, "--resume")) a->resume = true;
        else if (!strcmp(f, "--skip-bad-lines")) a->skip_bad_lines = true;
        else if (!strcmp(f, "--merge")) a->merge = true;
        else if (!strcmp(f, "--no-dropout")) a->trainer.dropout = false;
        else if (!strcmp(f, "--lora-train-heads")) a->trainer.lora.train_heads = true;
        else if (strncmp(f, "--", 2) != 0) return usage_error("unexpected argument '%s'", f);
        else if (!v) return usage_error("option %s needs a value", f);
        else {
            i++;
            if (!strcmp(f, "--model")) a->model = v;
            else if (!strcmp(f, "--train-data")) a->train_data = v;
            else if (!strcmp(f, "--output-dir")) a->output_dir = v;
            else if (!strcmp(f, "--train-group-size")) rc = get_int(f, v, 2, 1 << 16, &a->group_size);
            else if (!strcmp(f, "--query-max-len")) rc = get_int(f, v, 1, 1 << 20, &a->query_max_len);
            else if (!strcmp(f, "--passage-max-len")) rc = get_int(f, v, 1, 1 << 20, &a->passage_max_len);
            else if (!strcmp(f, "--batch-size")) rc = get_int(f, v, 1, 1 << 16, &a->batch_size);
            else if (!strcmp(f, "--grad-accum")) rc = get_int(f, v, 1, 1 << 16, &a->grad_accum);
            else if (!strcmp(f, "--learning-rate")) rc = get_double(f, v, 0, 1e3, &a->learning_rate);
            else if (!strcmp(f, "--epochs")) rc = get_int(f, v, 1, 1 << 20, &a->epochs);
            else if (!strcmp(f, "--max-steps")) rc = get_long(f, v, 1, 1L << 40, &a->max_steps);
            else if (!strcmp(f, "--warmup-ratio")) rc = get_double(f, v, 0, 1, &a->warmup_ratio);
            else if (!strcmp(f, "--weight-decay")) rc = get_double(f, v, 0, 1e3, &a->weight_decay);
            else if (!strcmp(f, "--max-grad-norm")) rc = get_double(f, v, 0, 1e30, &a->max_grad_norm);
            else if (!strcmp(f, "--seed")) {
                rc = get_long(f, v, 0, 1L << 62, &n);
                a->seed = (unsigned long long)n;
            } else if (!strcmp(f, "--save-steps")) rc = get_long(f, v, 0, 1L << 40, &a->save_steps);
            else if (!strcmp(f, "--threads")) rc = get_int(f, v, 0, 1024, &a->threads);
            else if (!strcmp(f, "--lora-rank")) rc = get_int(f, v, 1, 1 << 16, &a->trainer.lora.rank);
            else if (!strcmp(f, "--lora-alpha")) rc = get_double(f, v, 0, 1e6, &a->trainer.lora.alpha);
            else if (!strcmp(f, "--lora-dropout")) rc = get_double(f, v, 0, 0.999, &a->trainer.lora.dropout);
            else if (!strcmp(f, "--lora-targets")) a->trainer.lora.targets = v;
            else return usage_error("unknown option '%s'", f);
        }
        if (rc) return rc;
    }
    if (!a->model) return usage_error("--model DIR is required");
    if (!a->train_data) return usage_error("--train-data FILE|DIR is required");
    if (!a->output_dir) return usage_error("--output-dir DIR is required");
    a->trainer.seed = a->seed;
    return 0;
}

int rr_cli_train(int argc, char **argv) {
    rr_train_args a;
    int rc = parse_train(argc, argv, &a);
    if (rc) return rc;
    char fetched[4096];
    if (!(a.model = rr_cli_prefetch(a.model, fetched, sizeof fetched, &rc))) return rc;
    rr_train_result res;
    rerank_error err;
    if (rr_train_run(&a, &res, &err)) return runtime_error("%s", err.message);
    if (res.rank != 0) return 0; /* one summary line per job */
    json_t *out = json_pack("{s:I, s:f, s:f, s:f, s:I, s:I}", "steps", (json_int_t)res.steps_run, "first_loss",
                            res.first_loss, "last_loss", res.last_loss, "seconds", res.seconds, "rows",
                            (json_int_t)res.n_rows, "skipped", (json_int_t)res.n_skipped);
    char *s = out ? json_dumps(out, JSON_COMPACT | JSON_REAL_PRECISION(9)) : NULL;
    if (s) puts(s);
    free(s);
    json_decref(out);
    return 0;
}

/* ---- eval ---- */

int rr_cli_eval(int argc, char **argv) {
    const char *model_dir = NULL, *data_path = NULL;
    bool skip_bad = false;
    rerank_score_params sp = rerank_score_default_params();
    rerank_model_params mp = rerank_model_default_params();
    int cutoff = 0;
    for (int i = 0; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int rc = 0;
        if (!strcmp(f, "--skip-bad-lines")) {
            skip_bad = true;
            continue;
        }
        if (strncmp(f, "--", 2) != 0) return usage_error("unexpected argument '%s'", f);
        if (!v) return usage_error("option %s needs a value", f);
        i++;
        if (!strcmp(f, "--model")) model_dir = v;
        else if (!strcmp(f, "--data")) data_path = v;
        else if (!strcmp(f, "--max-length")) rc = get_int(f, v, 1, 1 << 20, &sp.max_length);
        else if (!strcmp(f, "--query-max-length")) rc = get_int(f, v, 1, 1 << 20, &sp.query_max_length);
        else if (!strcmp(f, "--batch-size")) rc = get_int(f, v, 1, 256, &sp.batch_size);
        else if (!strcmp(f, "--threads")) rc = get_int(f, v, 0, 1024, &sp.n_threads);
        else if (!strcmp(f, "--recipe")) mp.recipe = v;
        else if (!strcmp(f, "--cutoff-layer")) rc = get_int(f, v, 1, 1 << 16, &cutoff);
        else if (!strcmp(f, "--dtype")) {
            if (!strcmp(v, "auto")) mp.dtype = RERANK_DTYPE_AUTO;
            else if (!strcmp(v, "f32") || !strcmp(v, "fp32")) mp.dtype = RERANK_DTYPE_F32;
            else if (!strcmp(v, "bf16")) mp.dtype = RERANK_DTYPE_BF16;
            else if (!strcmp(v, "int8")) mp.dtype = RERANK_DTYPE_INT8;
            else return usage_error("--dtype must be auto, f32, bf16 or int8, got '%s'", v);
        } else return usage_error("unknown option '%s'", f);
        if (rc) return rc;
    }
    if (!model_dir) return usage_error("--model DIR is required");
    if (!data_path) return usage_error("--data FILE|DIR is required");
    mp.progress = rr_cli_progress_fn();
    rerank_error err;
    rr_train_data *data = NULL;
    rr_train_data_opts o = {false, skip_bad};
    rerank_status st = rr_train_data_load(data_path, &o, &data, &err);
    if (data)
        for (size_t i = 0; i < data->n_bad && i < RR_TRAIN_MAX_BAD_KEPT; i++)
            fprintf(stderr, "%s%s\n", skip_bad ? "skipped: " : "", data->bad[i]);
    if (st) {
        rr_train_data_free(data);
        return runtime_error("%s", err.message);
    }
    rerank_model *model = NULL;
    rerank_session *session = NULL;
    if (cutoff) {
        sp.cutoff_layers = &cutoff;
        sp.n_cutoff_layers = 1;
    }
    rerank_status ls = rerank_model_load(model_dir, &mp, &model, &err);
    rr_cli_progress_done();
    if (ls || rerank_session_new(model, &session, &err)) {
        rerank_model_free(model);
        rr_train_data_free(data);
        return runtime_error("%s", err.message);
    }
    double sum[3] = {0, 0, 0};
    int rc = 0;
    for (size_t i = 0; i < data->n_rows && !rc; i++) {
        const rr_train_row *r = &data->rows[i];
        size_t n = r->n_pos + r->n_neg;
        rerank_pair *pairs = malloc(n * sizeof *pairs);
        float *scores = malloc(n * sizeof *scores);
        bool *rel = malloc(n * sizeof *rel);
        if (!pairs || !scores || !rel) rc = runtime_error("out of memory");
        for (size_t k = 0; !rc && k < n; k++) {
            bool pos = k < r->n_pos;
            size_t j = pos ? k : k - r->n_pos;
            pairs[k] = (rerank_pair){r->query, r->query_len, pos ? r->pos[j] : r->neg[j], pos ? r->pos_len[j] : r->neg_len[j]};
            rel[k] = pos;
        }
        sp.prompt = r->prompt; /* LLM rerankers: the row's prompt, else the default */
        if (!rc && rerank_score(session, &sp, pairs, n, scores, &err))
            rc = runtime_error("%s:%ld: %s", data->files[r->file], r->line, err.message);
        if (!rc) {
            rr_rank_metrics m;
            rr_rank_metrics_compute(scores, rel, n, &m);
            sum[0] += m.mrr10, sum[1] += m.ndcg10, sum[2] += m.map;
        }
        free(pairs), free(scores), free(rel);
    }
    if (!rc) {
        double n = (double)data->n_rows;
        json_t *out = json_pack("{s:I, s:f, s:f, s:f}", "rows", (json_int_t)data->n_rows, "mrr@10", sum[0] / n,
                                "ndcg@10", sum[1] / n, "map", sum[2] / n);
        char *s = out ? json_dumps(out, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9)) : NULL;
        if (s) puts(s);
        free(s);
        json_decref(out);
    }
    rerank_session_free(session);
    rerank_model_free(model);
    rr_train_data_free(data);
    return rc;
}

int rr_cli_merge_lora(int argc, char **argv) {
    const char *adapter = NULL, *base = NULL, *out_dir = NULL;
    for (int i = 0; i < argc; i += 2) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strncmp(f, "--", 2) != 0) return usage_error("unexpected argument '%s'", f);
        if (!v) return usage_error("option %s needs a value", f);
        if (!strcmp(f, "--adapter")) adapter = v;
        else if (!strcmp(f, "--base")) base = v;
        else if (!strcmp(f, "--output-dir")) out_dir = v;
        else return usage_error("unknown option '%s'", f);
    }
    if (!adapter) return usage_error("--adapter DIR is required");
    if (!out_dir) return usage_error("--output-dir DIR is required");
    char fetched_adapter[4096], fetched_base[4096];
    int rc = 0;
    if (!(adapter = rr_cli_prefetch(adapter, fetched_adapter, sizeof fetched_adapter, &rc))) return rc;
    if (base && !(base = rr_cli_prefetch(base, fetched_base, sizeof fetched_base, &rc))) return rc;
    rerank_error err;
    if (rr_decoder_merge_adapter(adapter, base, out_dir, &err)) return runtime_error("%s", err.message);
    fprintf(stderr, "merged model written to %s/merged_model\n", out_dir);
    return 0;
}
