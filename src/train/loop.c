/* loop.c - the training loop over an rr_trainer; see loop.h. */
#include "train/loop.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/error.h"
#include "base/file.h"
#include "base/json.h"
#include "base/threadpool.h"
#include "hub/hub.h"
#include "io/safetensors.h"
#include "train/data.h"
#include "train/dist.h"
#include "train/eval.h"
#include "train/optim.h"
#include "train/save.h"

void rr_train_args_default(rr_train_args *a) {
    memset(a, 0, sizeof *a);
    a->group_size = 8;
    a->query_max_len = 32;
    a->passage_max_len = 128;
    a->batch_size = 8;
    a->grad_accum = 1;
    a->learning_rate = 6e-5;
    a->epochs = 1;
    a->warmup_ratio = 0.1;
    a->weight_decay = 0.01;
    a->max_grad_norm = 1.0;
    a->adam_beta1 = 0.9;
    a->adam_beta2 = 0.999;
    a->adam_eps = 1e-8;
    a->seed = 42;
    a->save_steps = 500;
    a->trainer.lora = (rr_lora_opts){64, 16.0, 0.1, "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj", false, NULL};
    a->trainer.dropout = true;
}

typedef struct loop {
    const rr_train_args *a;
    rr_dist *dist;
    int rank, n_procs;
    rr_train_data *data;
    rr_train_data *dev;      /* --eval-data rows, or NULL */
    rr_trainer *t;
    rr_train_tok *tok;
    rr_adamw opt;
    rr_pool *pool;           /* the optimizer's and clipping's threads */
    size_t *perm, *neg, *scratch, *offsets;
    long perm_epoch;
    float *teacher;
    rr_i32vec ids, types;
    long steps_per_epoch, total, warmup;
    size_t global_batch;
} loop;

static void say(const loop *L, const char *fmt, ...) RR_PRINTF(2, 3);
static void say(const loop *L, const char *fmt, ...) {
    if (L->rank != 0 || !L->a->log) return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    L->a->log(L->a->log_ctx, buf);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static rerank_status check_args(const rr_train_args *a, rerank_error *err) {
    const char *bad = NULL;
    if (!a->model || !a->train_data || !a->output_dir) bad = "model, train data and output directory are required";
    else if (a->group_size < 2) bad = "train group size must be at least 2 (a positive and a negative)";
    else if (a->query_max_len < 1 || a->passage_max_len < 1) bad = "query and passage max lengths must be >= 1";
    else if (a->batch_size < 1 || a->grad_accum < 1) bad = "batch size and gradient accumulation must be >= 1";
    else if (!(a->learning_rate >= 0) || !(a->weight_decay >= 0) || !(a->max_grad_norm >= 0))
        bad = "learning rate, weight decay and max grad norm must be >= 0";
    else if (!(a->warmup_ratio >= 0 && a->warmup_ratio <= 1)) bad = "warmup ratio must be in [0, 1]";
    else if (a->max_steps <= 0 && a->epochs < 1) bad = "epochs must be >= 1 (or give max steps)";
    else if (a->save_steps < 0 || a->stop_after < 0) bad = "save steps (and stop after) must be >= 0";
    if (bad) return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "%s", bad);
    rr_train_adamw_opts o = {a->learning_rate, a->adam_beta1, a->adam_beta2, a->adam_eps, a->weight_decay, false};
    return rr_adamw_check(&o, err);
}

/* ---- micro-batches ---- */

size_t rr_train_shard_offset(int micro, int n_procs, int rank, int batch) {
    return ((size_t)micro * (size_t)n_procs + (size_t)rank) * (size_t)batch;
}

/* The groups of micro-batch `micro` of optimizer step `step` for this process (rr_train_shard_offset). */
static rerank_status build_micro(loop *L, long step, int micro, rr_train_micro *mb, rerank_error *err) {
    const rr_train_args *a = L->a;
    long epoch = step / L->steps_per_epoch;
    if (epoch != L->perm_epoch) {
        rr_train_epoch_order(L->data->n_rows, a->seed, (uint64_t)epoch, L->perm);
        L->perm_epoch = epoch;
    }
    size_t G = (size_t)a->group_size, b = (size_t)a->batch_size;
    size_t base = (size_t)(step % L->steps_per_epoch) * L->global_batch +
                  rr_train_shard_offset(micro, L->n_procs, L->rank, a->batch_size);
    L->ids.n = L->types.n = 0;
    L->offsets[0] = 0;
    for (size_t i = 0; i < b; i++) {
        size_t ri = L->perm[base + i], pos;
        const rr_train_row *r = &L->data->rows[ri];
        rr_train_pick_group(r, G, rr_train_hash(rr_train_hash(a->seed, (uint64_t)epoch + 1), ri), &pos, L->neg,
                            L->scratch);
        for (size_t j = 0; j < G; j++) {
            size_t k = j ? L->neg[j - 1] : pos;
            const char *text = j ? r->neg[k] : r->pos[k];
            size_t len = j ? r->neg_len[k] : r->pos_len[k];
            rerank_status st = rr_train_tok_pair(L->tok, r, text, len, &L->ids, &L->types, err);
            if (st) {
                rr_error_prefix(err, "%s:%ld: %s[%zu]", L->data->files[r->file], r->line, j ? "neg" : "pos", k);
                return st;
            }
            L->offsets[i * G + j + 1] = L->ids.n;
            if (a->knowledge_distillation) L->teacher[i * G + j] = (float)(j ? r->neg_scores[k] : r->pos_scores[k]);
        }
    }
    memset(mb, 0, sizeof *mb);
    mb->batch.ids = L->ids.data;
    mb->batch.type_ids = L->types.data;
    mb->batch.offsets = L->offsets;
    mb->batch.n_seqs = b * G;
    mb->group_size = G;
    mb->teacher = a->knowledge_distillation ? L->teacher : NULL;
    mb->sample_seed = rr_train_hash(a->seed ^ 0xd50u, (uint64_t)step);
    mb->seq0 = rr_train_shard_offset(micro, L->n_procs, L->rank, a->batch_size) * G;
    return RERANK_OK;
}

/* ---- checkpoints ---- */

long rr_train_latest_checkpoint(const char *dir, char *path, size_t size) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    long best = 0;
    struct dirent *e;
    char state[4096], sub[4096];
    while ((e = readdir(d))) {
        char *end;
        if (strncmp(e->d_name, "checkpoint-", 11) != 0) continue;
        errno = 0;
        long n = strtol(e->d_name + 11, &end, 10);
        if (errno || *end || n <= best || !rr_path_join(sub, sizeof sub, dir, e->d_name) ||
            !rr_path_join(state, sizeof state, sub, "trainer_state.json") || !rr_file_exists(state))
            continue;
        if (rr_path_join(path, size, dir, e->d_name)) best = n;
    }
    closedir(d);
    return best;
}

static rerank_status write_state(const loop *L, const char *dir, long step, double loss, rerank_error *err) {
    char path[4096];
    size_t n = L->t->n_floats;
    rr_st_write_tensor ts[3] = {{"w", RR_ST_F32, 1, {(int64_t)n}, L->t->w},
                                {"exp_avg", RR_ST_F32, 1, {(int64_t)n}, L->opt.m},
                                {"exp_avg_sq", RR_ST_F32, 1, {(int64_t)n}, L->opt.v}};
    if (!rr_path_join(path, sizeof path, dir, "optimizer.safetensors"))
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "%s: path too long", dir);
    rerank_status st = rr_safetensors_write(path, ts, 3, err);
    if (st) return st;
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", L->a->seed); /* a string: JSON integers stop at 2^63 */
    json_t *j = json_pack("{s:I, s:I, s:I, s:i, s:s, s:I, s:I, s:f}", "global_step", (json_int_t)step, "total_steps",
                          (json_int_t)L->total, "global_batch", (json_int_t)L->global_batch, "train_group_size",
                          L->a->group_size, "seed", seed, "n_rows", (json_int_t)L->data->n_rows, "n_floats",
                          (json_int_t)n, "loss", loss);
    if (!j || !rr_path_join(path, sizeof path, dir, "trainer_state.json") ||
        json_dump_file(j, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0)
        st = rr_fail(err, RERANK_ERR_IO, "%s/trainer_state.json: cannot write", dir);
    json_decref(j);
    return st;
}

/* Rank 0 writes output_dir/checkpoint-<step> (model + optimizer state) through a temporary directory, so a
 * checkpoint either exists whole or not at all. */
static rerank_status save_checkpoint(loop *L, long step, double loss, rerank_error *err) {
    rerank_status st = RERANK_OK;
    if (L->rank == 0) {
        char dir[4096], tmp[4200];
        snprintf(dir, sizeof dir, "%s/checkpoint-%ld", L->a->output_dir, step);
        snprintf(tmp, sizeof tmp, "%s.tmp", dir);
        if (!(st = rr_train_rmdir_flat(tmp, err)) && !(st = rr_train_mkdirs(tmp, err)) &&
            !(st = L->t->ops->save(L->t, L->a->model, tmp, false, err)) && !(st = write_state(L, tmp, step, loss, err)) &&
            !(st = rr_train_rmdir_flat(dir, err)) && rename(tmp, dir) != 0)
            st = rr_fail(err, RERANK_ERR_IO, "%s: %s", dir, strerror(errno));
        if (!st) say(L, "saved %s", dir);
    }
    rerank_status b = rr_dist_barrier(L->dist, err);
    return st ? st : b;
}

static rerank_status state_int(const json_t *j, const char *key, long long want, const char *path, rerank_error *err) {
    long long v;
    rerank_status st = rr_json_get_int(j, key, true, 0, &v, path, err);
    if (!st && v != want)
        st = rr_fail(err, RERANK_ERR_INVALID_ARGUMENT,
                     "%s: \"%s\" is %lld but this run's is %lld; resume with the settings the checkpoint was made with",
                     path, key, v, want);
    return st;
}

/* Loads checkpoint `dir` into the trainer and the optimizer (rank 0; the caller broadcasts). */
static rerank_status load_checkpoint(loop *L, const char *dir, long step, rerank_error *err) {
    char path[4096];
    json_t *j = NULL;
    rr_safetensors *s = NULL;
    if (!rr_path_join(path, sizeof path, dir, "trainer_state.json"))
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "%s: path too long", dir);
    rerank_status st = rr_json_load_file(path, 1 << 20, &j, err);
    const char *seed = NULL;
    char want_seed[32];
    snprintf(want_seed, sizeof want_seed, "%llu", L->a->seed);
    if (!st && !(st = state_int(j, "global_step", step, path, err)) && !(st = state_int(j, "total_steps", L->total, path, err)) &&
        !(st = state_int(j, "global_batch", (long long)L->global_batch, path, err)) &&
        !(st = state_int(j, "train_group_size", L->a->group_size, path, err)) &&
        !(st = state_int(j, "n_rows", (long long)L->data->n_rows, path, err)) &&
        !(st = state_int(j, "n_floats", (long long)L->t->n_floats, path, err)) &&
        !(st = rr_json_get_str(j, "seed", true, NULL, &seed, NULL, path, err)) && strcmp(seed, want_seed) != 0)
        st = rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "%s: \"seed\" is %s but this run's is %s", path, seed, want_seed);
    if (!st && !rr_path_join(path, sizeof path, dir, "optimizer.safetensors"))
        st = rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "%s: path too long", dir);
    if (!st) st = rr_safetensors_open(path, &s, err);
    const char *names[3] = {"w", "exp_avg", "exp_avg_sq"};
    float *dst[3] = {L->t->w, L->opt.m, L->opt.v};
    for (int i = 0; !st && i < 3; i++) {
        const rr_st_tensor *x = rr_safetensors_find(s, names[i]);
        if (!x || x->dtype != RR_ST_F32 || x->n_elems != L->t->n_floats)
            st = rr_fail(err, RERANK_ERR_FORMAT, "%s: tensor '%s' missing or not F32 [%zu]", path, names[i],
                         L->t->n_floats);
        else memcpy(dst[i], x->data, x->n_bytes);
    }
    if (!st) L->opt.step = step;
    rr_safetensors_free(s);
    json_decref(j);
    return st;
}

/* --resume: every process continues from rank 0's latest checkpoint. Returns the step to start at. */
static rerank_status resume(loop *L, long *start, rerank_error *err) {
    long hdr[2] = {RERANK_OK, 0}; /* status, step */
    char dir[4096];
    rerank_error local = {0};
    if (L->rank == 0) {
        long n = rr_train_latest_checkpoint(L->a->output_dir, dir, sizeof dir);
        if (n == 0) say(L, "no checkpoint in %s: starting at step 0", L->a->output_dir);
        else if ((hdr[0] = load_checkpoint(L, dir, n, &local)) == RERANK_OK) say(L, "resuming from %s", dir);
        hdr[1] = n;
    }
    rerank_status st = rr_dist_broadcast(L->dist, hdr, sizeof hdr, err);
    if (st) return st;
    if (hdr[0] != RERANK_OK) {
        if (err) *err = local;
        return L->rank == 0 ? (rerank_status)hdr[0] : rr_fail(err, (rerank_status)hdr[0], "rank 0 could not resume");
    }
    if (hdr[1] > 0 && ((st = rr_dist_broadcast(L->dist, L->t->w, L->t->n_floats * sizeof(float), err)) ||
                       (st = rr_dist_broadcast(L->dist, L->opt.m, L->t->n_floats * sizeof(float), err)) ||
                       (st = rr_dist_broadcast(L->dist, L->opt.v, L->t->n_floats * sizeof(float), err))))
        return st;
    L->opt.step = hdr[1];
    *start = hdr[1];
    return RERANK_OK;
}

/* ---- the loop ---- */

static rerank_status load_data(loop *L, rr_train_result *res, rerank_error *err) {
    rr_train_data_opts o = {L->a->knowledge_distillation, L->a->skip_bad_lines};
    rerank_status st = rr_train_data_load(L->a->train_data, &o, &L->data, err);
    if (L->data && L->data->n_bad) {
        size_t kept = L->data->n_bad < RR_TRAIN_MAX_BAD_KEPT ? L->data->n_bad : RR_TRAIN_MAX_BAD_KEPT;
        for (size_t i = 0; i < kept; i++) say(L, "%s%s", L->a->skip_bad_lines ? "skipped: " : "", L->data->bad[i]);
        if (L->data->n_bad > kept) say(L, "... and %zu more bad lines", L->data->n_bad - kept);
        if (L->a->skip_bad_lines) say(L, "skipped %zu bad line%s", L->data->n_bad, L->data->n_bad == 1 ? "" : "s");
    }
    if (st) return st;
    res->n_rows = L->data->n_rows;
    res->n_skipped = L->data->n_bad;
    return RERANK_OK;
}

/* The trainer, with the loop's thread count. */
static rerank_status open_trainer(const rr_train_args *a, rr_trainer **out, rerank_error *err) {
    rr_trainer_opts o = a->trainer;
    o.threads = a->threads;
    return rr_trainer_open(a->model, &o, out, err);
}

/* The held-out rows; a bad line fails here, before any training. */
static rerank_status load_dev(loop *L, rerank_error *err) {
    if (!L->a->eval_data) return RERANK_OK;
    rr_train_data_opts o = {false, false};
    rerank_status st = rr_train_data_load(L->a->eval_data, &o, &L->dev, err);
    if (st) rr_error_prefix(err, "--eval-data");
    return st;
}

/* Rank 0 saves the current weights to output_dir/eval-model (for LoRA the adapter only, which the load applies
 * to the base model: no merged copy is written), loads them through the scoring API and ranks the held-out
 * rows; the directory is removed afterwards. Costs a save and a load: the trainer's own forward pass runs in
 * training mode and accumulates gradients. */
static rerank_status evaluate(loop *L, long step, rr_train_result *res, rerank_error *err) {
    rerank_status st = RERANK_OK;
    if (L->rank == 0) {
        const rr_train_args *a = L->a;
        bool lora = L->t->kind != RERANK_KIND_CROSS_ENCODER;
        char dir[4096], merged[4200];
        snprintf(dir, sizeof dir, "%s/eval-model", a->output_dir);
        snprintf(merged, sizeof merged, "%s/merged_model", dir);
        double t0 = now_s();
        rerank_model *model = NULL;
        rerank_session *session = NULL;
        rr_rows_metrics m;
        rerank_model_params mp = rerank_model_default_params();
        if (lora) mp.recipe = "flag-llm", mp.adapter = dir; /* the layout the LoRA trainer trains with */
        rerank_score_params sp = rerank_score_default_params();
        sp.max_length = a->query_max_len + a->passage_max_len;
        sp.n_threads = a->threads;
        if (!(st = rr_train_rmdir_flat(merged, err)) && !(st = rr_train_rmdir_flat(dir, err)) &&
            !(st = rr_train_mkdirs(dir, err)) && !(st = L->t->ops->save(L->t, a->model, dir, false, err)) &&
            !(st = rerank_model_load(lora ? a->model : dir, &mp, &model, err)) &&
            !(st = rerank_session_new(model, &session, err)))
            st = rr_eval_rows(session, &sp, 1, L->dev, &m, err);
        rerank_session_free(session);
        rerank_model_free(model);
        if (!st) st = rr_train_rmdir_flat(merged, err);
        if (!st) st = rr_train_rmdir_flat(dir, err);
        if (!st) {
            res->n_evals++;
            res->eval_ndcg10 = m.mean.ndcg10, res->eval_mrr10 = m.mean.mrr10, res->eval_map = m.mean.map;
            res->eval_rows = m.n_rows, res->eval_collapsed = m.n_collapsed;
            say(L, "eval step %ld/%ld on %zu held-out rows: ndcg@10 %.4f mrr@10 %.4f map %.4f (%.1f s)", step, L->total,
                m.n_rows, m.mean.ndcg10, m.mean.mrr10, m.mean.map, now_s() - t0);
            if (m.n_collapsed)
                say(L, "WARNING: COLLAPSED SCORES at step %ld: %zu of %zu held-out queries score all their passages the "
                       "same (%g); such a model ranks arbitrarily. Lower the learning rate, check the data (positives "
                       "at index 0, enough negatives), or keep an earlier checkpoint",
                    step, m.n_collapsed, m.n_rows, m.collapsed_value);
        } else
            rr_error_prefix(err, "--eval-data at step %ld", step);
    }
    rerank_status b = rr_dist_barrier(L->dist, err);
    return st ? st : b;
}

static rerank_status setup(loop *L, rr_train_result *res, rerank_error *err) {
    const rr_train_args *a = L->a;
    rerank_status st;
    if ((st = load_data(L, res, err)) || (st = load_dev(L, err)) || (st = open_trainer(a, &L->t, err)) ||
        (st = rr_train_tok_open(a->model, L->t->kind, (size_t)a->query_max_len, (size_t)a->passage_max_len, &L->tok,
                                err)) ||
        (st = rr_adamw_init(&L->opt, L->t->n_floats, err)))
        return st;
    /* the optimizer's threads: as many as the step's (the cores, shared among an mpirun job's processes here);
     * without them the update runs in the caller */
    int threads = a->threads > 0 ? a->threads : rr_cpu_count() / rr_dist_local_procs();
    L->pool = threads > 1 ? rr_pool_new(threads) : NULL;
    size_t pair_len = (size_t)a->query_max_len + (size_t)a->passage_max_len;
    if (L->tok->max_tokens && pair_len > L->tok->max_tokens)
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT,
                       "query max len %d + passage max len %d = %zu tokens, more than the model's %zu", a->query_max_len,
                       a->passage_max_len, pair_len, L->tok->max_tokens);
    L->global_batch = (size_t)a->batch_size * (size_t)L->n_procs * (size_t)a->grad_accum;
    L->steps_per_epoch = (long)(L->data->n_rows / L->global_batch); /* dataloader_drop_last, as FlagEmbedding */
    if (L->steps_per_epoch == 0)
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT,
                       "%zu training rows do not fill one global batch of %zu groups (batch size %d x %d processes x "
                       "grad accum %d)",
                       L->data->n_rows, L->global_batch, a->batch_size, L->n_procs, a->grad_accum);
    L->total = a->max_steps > 0 ? a->max_steps : L->steps_per_epoch * a->epochs;
    L->warmup = rr_warmup_steps(a->warmup_ratio, L->total);
    size_t G = (size_t)a->group_size, b = (size_t)a->batch_size, max_neg = 0;
    for (size_t i = 0; i < L->data->n_rows; i++)
        if (L->data->rows[i].n_neg > max_neg) max_neg = L->data->rows[i].n_neg;
    L->perm = malloc(L->data->n_rows * sizeof *L->perm);
    L->neg = malloc(G * sizeof *L->neg);
    L->scratch = malloc((max_neg + G) * sizeof *L->scratch);
    L->offsets = malloc((b * G + 1) * sizeof *L->offsets);
    L->teacher = malloc(b * G * sizeof *L->teacher);
    L->perm_epoch = -1;
    if (!L->perm || !L->neg || !L->scratch || !L->offsets || !L->teacher)
        return rr_fail(err, RERANK_ERR_NOMEM, "out of memory");
    return RERANK_OK;
}

static void format_eta(double s, char *buf, size_t size) {
    long t = s > 0 && s < 1e9 ? (long)(s + 0.5) : 0;
    snprintf(buf, size, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
}

/* One optimizer step: micro-batches into t->grad, the average over processes, clipping, AdamW. */
static rerank_status train_step(loop *L, long step, double *loss, double *tokens, double *grad_norm, double *lr,
                                rerank_error *err) {
    const rr_train_args *a = L->a;
    rr_trainer *t = L->t;
    memset(t->grad, 0, t->n_floats * sizeof *t->grad);
    double sums[2] = {0, 0}; /* loss, tokens */
    float scale = 1.0f / (float)a->grad_accum;
    rerank_status st;
    for (int micro = 0; micro < a->grad_accum; micro++) {
        rr_train_micro mb;
        rr_train_loss l;
        if ((st = build_micro(L, step, micro, &mb, err)) || (st = t->ops->accumulate(t, &mb, scale, &l, NULL, err)))
            return st;
        sums[0] += l.loss / a->grad_accum;
        sums[1] += (double)mb.batch.offsets[mb.batch.n_seqs];
    }
    if (L->n_procs > 1) {
        if ((st = rr_dist_allreduce_sum_f32(L->dist, t->grad, t->n_floats, err))) return st;
        float inv = 1.0f / (float)L->n_procs;
        for (size_t i = 0; i < t->n_floats; i++) t->grad[i] *= inv;
    }
    if ((st = rr_dist_allreduce_sum_f64(L->dist, sums, 2, err))) return st;
    *loss = sums[0] / L->n_procs;
    *tokens = sums[1];
    *grad_norm = rr_clip_grad_norm(L->pool, t->grad, t->n_floats, a->max_grad_norm);
    *lr = rr_lr_at(a->learning_rate, step, L->warmup, L->total);
    rr_train_adamw_opts o = {*lr, a->adam_beta1, a->adam_beta2, a->adam_eps, a->weight_decay, false};
    rr_adamw_step(L->pool, &L->opt, t->params, t->n_params, t->w, t->grad, &o);
    return RERANK_OK;
}

static rerank_status run(loop *L, rr_train_result *res, rerank_error *err) {
    const rr_train_args *a = L->a;
    rerank_status st;
    if ((st = setup(L, res, err))) return st;
    res->total_steps = L->total;
    res->rank = L->rank;
    if (L->rank == 0 && (st = rr_train_mkdirs(a->output_dir, err))) return st;
    long start = 0;
    if (a->resume && (st = resume(L, &start, err))) return st;
    say(L, "training %s on %zu rows (%zu files): %ld steps of %zu groups of %d (batch %d x %d processes x grad accum %d), "
           "warm-up %ld steps",
        a->model, L->data->n_rows, L->data->n_files, L->total, L->global_batch, a->group_size, a->batch_size,
        L->n_procs, a->grad_accum, L->warmup);
    if (L->dev && (st = evaluate(L, start, res, err))) return st; /* the baseline */
    double t0 = now_s(), loss = 0;
    long step = start, last_saved = start;
    for (; step < L->total; step++) {
        if (a->stop_after > 0 && step - start >= a->stop_after) break;
        double tokens, gn, lr;
        if ((st = train_step(L, step, &loss, &tokens, &gn, &lr, err))) return st;
        if (res->steps_run++ == 0) res->first_loss = loss;
        res->last_loss = loss;
        res->tokens += tokens;
        res->seconds = now_s() - t0;
        char eta[32];
        format_eta(res->seconds / (double)res->steps_run * (double)(L->total - step - 1), eta, sizeof eta);
        say(L, "step %ld/%ld loss %.6f lr %.3e grad_norm %.4f tokens/s %.0f s/step %.3f eta %s", step + 1, L->total,
            loss, lr, gn, res->tokens / (res->seconds > 0 ? res->seconds : 1e-9), res->seconds / (double)res->steps_run,
            eta);
        if (a->save_steps > 0 && (step + 1) % a->save_steps == 0) {
            if ((st = save_checkpoint(L, step + 1, loss, err))) return st;
            last_saved = step + 1;
        }
        if (L->dev && a->eval_steps > 0 && (step + 1) % a->eval_steps == 0 && step + 1 < L->total &&
            (st = evaluate(L, step + 1, res, err)))
            return st;
    }
    if (step < L->total) return RERANK_OK; /* stopped early (tests): as if interrupted */
    if (last_saved != L->total && (st = save_checkpoint(L, L->total, loss, err))) return st;
    if (L->dev && (st = evaluate(L, L->total, res, err))) return st;
    if (L->rank == 0) {
        if ((st = L->t->ops->save(L->t, a->model, a->output_dir, a->merge, err))) return st;
        say(L, "saved the model to %s", a->output_dir);
    }
    return rr_dist_barrier(L->dist, err);
}

rerank_status rr_train_run(const rr_train_args *a, rr_train_result *res, rerank_error *err) {
    rr_train_result local;
    if (!res) res = &local;
    memset(res, 0, sizeof *res);
    rerank_status st = check_args(a, err);
    if (st) return st;
    /* --model may be a hub id: train on its snapshot directory */
    char model_dir[4096];
    rr_train_args resolved = *a;
    if ((st = rr_hub_resolve_model(a->model, NULL, model_dir, sizeof model_dir, err))) return st;
    resolved.model = model_dir;
    a = &resolved;
    loop L = {.a = a};
    if ((st = rr_dist_open(&L.dist, err))) return st;
    L.rank = rr_dist_rank(L.dist);
    L.n_procs = rr_dist_size(L.dist);
    st = run(&L, res, err);
    rr_adamw_free(&L.opt);
    rr_pool_free(L.pool);
    rr_train_tok_free(L.tok);
    rr_trainer_free(L.t);
    rr_train_data_free(L.data);
    rr_train_data_free(L.dev);
    free(L.perm), free(L.neg), free(L.scratch), free(L.offsets), free(L.teacher);
    rr_i32vec_free(&L.ids);
    rr_i32vec_free(&L.types);
    rr_dist_close(L.dist);
    return st;
}
