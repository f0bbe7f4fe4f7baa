/* loop.h - the training loop, written once for every rr_trainer (trainer.h): data (data.h), global batches
 * split over processes and gradient-accumulation micro-batches (dist.h), AdamW with the linear warm-up/decay
 * schedule and clipping (optim.h), checkpoints every N steps and at the end, resume, and the final Hugging
 * Face model directory. Defaults follow FlagEmbedding's reranker fine-tuning (HF Trainer arguments).
 *
 * Determinism: the rows of global step s, the group drawn from each row and the dropout stream of each
 * micro-batch are pure functions of (seed, s), so a resumed run repeats an uninterrupted one bit for bit, and
 * N processes with batch b see the same groups as one process with batch N * b. */
#ifndef RR_TRAIN_LOOP_H
#define RR_TRAIN_LOOP_H

#include <stdbool.h>

#include "rerank.h"
#include "train/trainer.h"

/* Receives each progress / report line (no newline); called on rank 0 only. */
typedef void (*rr_train_log_fn)(void *ctx, const char *line);

typedef struct rr_train_args {
    const char *model, *train_data, *output_dir;
    int group_size;          /* train_group_size, default 8 */
    int query_max_len;       /* default 32 */
    int passage_max_len;     /* default 128 */
    int batch_size;          /* groups per process per micro-batch, default 8 (per_device_train_batch_size) */
    int grad_accum;          /* micro-batches per optimizer step, default 1 */
    double learning_rate;    /* default 6e-5 */
    int epochs;              /* default 1; ignored when max_steps > 0 */
    long max_steps;          /* > 0: exactly this many optimizer steps (epochs repeat as needed) */
    double warmup_ratio;     /* default 0.1 */
    double weight_decay;     /* default 0.01 (not on biases and LayerNorm) */
    double max_grad_norm;    /* default 1.0; 0 = no clipping */
    double adam_beta1, adam_beta2, adam_eps; /* 0.9, 0.999, 1e-8 */
    bool knowledge_distillation;
    unsigned long long seed; /* default 42 */
    long save_steps;         /* checkpoint every N steps (default 500; 0 = only at the end) */
    bool resume;             /* continue from the latest checkpoint-N in output_dir */
    bool skip_bad_lines;
    int threads;             /* 0 = all cores */
    bool merge;              /* LoRA: also write output_dir/merged_model */
    rr_trainer_opts trainer; /* LoRA settings, dropout */
    const char *eval_data;   /* held-out rows (training format): nDCG@10 / MRR@10 / MAP before training, every
                                eval_steps steps and at the end, with a warning when a query's scores collapse */
    long eval_steps;         /* 0 = before training and at the end only */
    long stop_after;         /* tests: stop after this many steps as if interrupted (0 = run to the end) */
    rr_train_log_fn log;
    void *log_ctx;
} rr_train_args;

typedef struct rr_train_result {
    long steps_run;        /* optimizer steps taken by this call */
    long total_steps;
    double first_loss, last_loss; /* of the first and last step of this call */
    double seconds;        /* wall time of the steps */
    double tokens;         /* tokens trained on in this call, all processes */
    size_t n_rows, n_skipped;
    int rank;              /* this process's rank in a data-parallel job (0 when alone) */
    size_t n_evals;        /* --eval-data evaluations run (rank 0); the last one's metrics: */
    double eval_ndcg10, eval_mrr10, eval_map;
    size_t eval_rows, eval_collapsed; /* dev rows, and rows whose passages all scored the same */
} rr_train_result;

void rr_train_args_default(rr_train_args *a);

/* Trains; on bad data lines every message goes to a->log before the error returns. */
rerank_status rr_train_run(const rr_train_args *a, rr_train_result *res, rerank_error *err);

/* Where process `rank` of n_procs finds its `batch` groups for micro-batch `micro` within a global batch:
 * offset (micro * n_procs + rank) * batch, so processes and micro-batches partition the global batch the same
 * way for any process count. */
size_t rr_train_shard_offset(int micro, int n_procs, int rank, int batch);

/* The latest complete checkpoint-N under dir: N, or 0 when there is none; its path in path. */
long rr_train_latest_checkpoint(const char *dir, char *path, size_t size);

#endif
