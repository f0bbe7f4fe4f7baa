/* train_decoder.c - opening a decoder LLM reranker for LoRA fine-tuning: config.json (parsed by the parser scoring
 * uses, arch/config.h), the frozen weights in fp32 (a bf16
 * checkpoint is converted at load by rr_weights), the "Yes" token, and the trainable table: lora_A / lora_B
 * per target projection per layer under their PEFT names, plus the layerwise heads when trained. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels_bwd.h"
#include "base/error.h"
#include "tok/tokenizer.h"
#include "train/train_decoder.h"

int rr_dt_n_outputs(const rr_dec_trainer *d) {
    return d->spec->head == RR_DEC_HEAD_LAYERWISE ? d->c.n_layers - d->c.start_layer + 1 : 1;
}

/* Each LoRA module's weight and bias (-1: none) in the decoder's layer table (arch/decoder.h). */
static const int weight_of[RR_LORA_N_MODULES] = {RR_DEC_QW, RR_DEC_KW, RR_DEC_VW, RR_DEC_OW,
                                                 RR_DEC_GATEW, RR_DEC_UPW, RR_DEC_DOWNW};
static const int bias_of[RR_LORA_N_MODULES] = {RR_DEC_QB, RR_DEC_KB, RR_DEC_VB, RR_DEC_OB, -1, -1, -1};

void rr_dt_module_dims(const rr_dec_trainer *d, int m, int *out, int *in) {
    const rr_layer_tensor *t = &rr_decoder_layers.t[weight_of[m]];
    *out = (int)rr_config_dim(&d->c, t->d0);
    *in = (int)rr_config_dim(&d->c, t->d1);
}

/* The frozen base, bound by scoring's binder (arch/decoder.h) from the decoder's layer table, then each
 * projection's weight and bias by LoRA module. */
static rerank_status bind_weights(rr_dec_trainer *d, rerank_error *err) {
    size_t n = (size_t)d->c.n_layers;
    d->layers = calloc(n, sizeof *d->layers);
    const float **views = calloc(n * RR_DEC_N, sizeof *views);
    rerank_status st = RERANK_OK;
    if (!d->layers || !views) st = rr_fail(err, RERANK_ERR_NOMEM, "out of memory for %d layers", d->c.n_layers);
    if (!st) st = rr_decoder_bind(d->weights, d->spec, &d->c, &d->o, NULL, views, false, err);
    for (size_t l = 0; !st && l < n; l++) {
        const float **v = views + l * RR_DEC_N;
        rr_dt_layer *L = &d->layers[l];
        L->ln1 = v[RR_DEC_LN1], L->ln2 = v[RR_DEC_LN2], L->q_norm = v[RR_DEC_QNORM], L->k_norm = v[RR_DEC_KNORM];
        for (int m = 0; m < RR_LORA_N_MODULES; m++) {
            L->w[m] = v[weight_of[m]];
            L->bias[m] = bias_of[m] >= 0 ? v[bias_of[m]] : NULL;
        }
    }
    free(views);
    return st;
}

/* FlagEmbedding's training reads yes_loc = tokenizer('Yes', add_special_tokens=False)['input_ids'][-1]. */
static rerank_status find_yes(rr_dec_trainer *d, rerank_error *err) {
    rr_tokenizer *tok;
    rerank_status st = rr_tokenizer_load(d->dir, &tok, err);
    if (st) return st;
    rr_i32vec ids = {0};
    st = rr_tokenizer_encode(tok, "Yes", 3, &ids, err);
    if (!st && ids.n == 0) st = rr_fail(err, RERANK_ERR_FORMAT, "%s: the tokenizer gives no token for 'Yes'", d->dir);
    if (!st) d->yes_id = ids.data[ids.n - 1];
    if (!st && (d->yes_id < 0 || d->yes_id >= d->c.vocab))
        st = rr_fail(err, RERANK_ERR_FORMAT, "%s: the 'Yes' token %d is outside the vocabulary", d->dir, d->yes_id);
    rr_i32vec_free(&ids);
    rr_tokenizer_free(tok);
    return st;
}

static void add_param(rr_trainer *t, size_t *at, const char *name, int64_t d0, int64_t d1) {
    rr_train_param *p = &t->params[t->n_params++];
    snprintf(p->name, sizeof p->name, "%s", name);
    p->n_dims = 2;
    p->shape[0] = d0;
    p->shape[1] = d1;
    p->size = (size_t)d0 * (size_t)d1;
    p->offset = *at;
    p->no_decay = false; /* HF Trainer decays every weight that is not a bias or a norm */
    *at += p->size;
}

/* The trainable table: per layer, per target projection in module order, lora_A [r,in] then lora_B [out,r];
 * then the trained heads. A starts kaiming-uniform (seeded per tensor), B and so the update at zero. */
static rerank_status build_table(rr_dec_trainer *d, rerank_error *err) {
    rr_trainer *t = &d->base;
    size_t n_mod = (size_t)d->c.n_layers * RR_LORA_N_MODULES, cap = 2 * n_mod + (size_t)rr_dt_n_outputs(d);
    t->params = calloc(cap, sizeof *t->params);
    d->lora_param = malloc(n_mod * sizeof *d->lora_param);
    if (!t->params || !d->lora_param) return rr_fail(err, RERANK_ERR_NOMEM, "out of memory");
    size_t at = 0;
    char name[128];
    for (int l = 0; l < d->c.n_layers; l++)
        for (int m = 0; m < RR_LORA_N_MODULES; m++) {
            size_t slot = (size_t)l * RR_LORA_N_MODULES + (size_t)m;
            d->lora_param[slot] = SIZE_MAX;
            if (!d->target[m]) continue;
            int out, in;
            rr_dt_module_dims(d, m, &out, &in);
            d->lora_param[slot] = t->n_params;
            snprintf(name, sizeof name, "base_model.model.model.layers.%d.%s.lora_A.weight", l, rr_lora_module_paths[m]);
            add_param(t, &at, name, d->rank, in);
            snprintf(name, sizeof name, "base_model.model.model.layers.%d.%s.lora_B.weight", l, rr_lora_module_paths[m]);
            add_param(t, &at, name, out, d->rank);
        }
    d->head_param = t->n_params;
    if (d->train_heads)
        for (int k = 0; k < rr_dt_n_outputs(d); k++) {
            snprintf(name, sizeof name, "base_model.model.lm_head.%d.linear_head.weight", k);
            add_param(t, &at, name, 1, d->c.hidden);
        }
    t->n_floats = at;
    t->w = calloc(at ? at : 1, sizeof *t->w);
    t->grad = calloc(at ? at : 1, sizeof *t->grad);
    if (!t->w || !t->grad) return rr_fail(err, RERANK_ERR_NOMEM, "out of memory for %zu trainable parameters", at);
    for (size_t i = 0; i < d->head_param; i += 2) {
        const rr_train_param *a = &t->params[i];
        rr_lora_init_a(t->w + a->offset, (int)a->shape[0], (int)a->shape[1], d->seed, i);
    }
    for (size_t i = d->head_param; i < t->n_params; i++)
        memcpy(t->w + t->params[i].offset, d->o.heads[i - d->head_param], (size_t)d->c.hidden * sizeof *t->w);
    return RERANK_OK;
}

static rerank_status check_opts(const rr_dec_trainer *d, const rr_trainer_opts *o, rerank_error *err) {
    if (o->lora.rank < 1 || o->lora.rank > (1 << 16))
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "--lora-rank must be in [1, 65536], not %d", o->lora.rank);
    if (!(o->lora.alpha > 0.0 && isfinite(o->lora.alpha)))
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "--lora-alpha must be positive, not %g", o->lora.alpha);
    if (!(o->lora.dropout >= 0.0 && o->lora.dropout < 1.0))
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "--lora-dropout must be in [0, 1), not %g", o->lora.dropout);
    if (o->lora.train_heads && d->spec->head != RR_DEC_HEAD_LAYERWISE)
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "%s: only the layerwise model has per-layer heads to train",
                       d->arch);
    return RERANK_OK;
}

/* The LoRA dropout stream of a micro-batch: its masks are keyed by position in the packed micro-batch, so each
 * micro-batch of a step (same sample_seed) gets its own stream through seq0. Unlike the encoder's, these masks
 * depend on how a global batch is split over processes. */
static unsigned long long lora_stream(const rr_train_micro *mb) {
    if (!mb->seq0) return mb->sample_seed; /* the first micro-batch: sample_seed as it is (rr_dt_pass callers) */
    return rr_dropout_mix(mb->sample_seed ^ rr_dropout_mix(mb->seq0));
}

static rerank_status accumulate(rr_trainer *t, const rr_train_micro *mb, float scale, rr_train_loss *loss,
                                float *logits, rerank_error *err) {
    rr_dec_trainer *d = t->impl;
    int n_out = rr_dt_n_outputs(d);
    float *scores = NULL;
    if (logits && n_out > 1 && !(scores = malloc(mb->batch.n_seqs * (size_t)n_out * sizeof *scores)))
        return rr_fail(err, RERANK_ERR_NOMEM, "out of memory");
    rerank_status st = rr_dt_pass(d, &mb->batch, mb->group_size, mb->teacher, true, true, lora_stream(mb), scale,
                                  n_out > 1 ? scores : logits, loss, err);
    if (!st && scores) /* the layerwise model reports its last layer */
        for (size_t s = 0; s < mb->batch.n_seqs; s++) logits[s] = scores[s * (size_t)n_out + (size_t)n_out - 1];
    free(scores);
    return st;
}

static void trainer_free(rr_trainer *t) {
    if (!t) return;
    rr_dec_trainer *d = t->impl;
    free(t->params);
    free(t->w);
    free(t->grad);
    free(d->layers);
    free(d->o.heads);
    free(d->lora_param);
    rr_weights_free(d->weights);
    rr_pool_free(d->pool);
    free(d);
}

static const rr_trainer_ops ops = {.accumulate = accumulate, .save = rr_dt_save, .free = trainer_free};

rerank_status rr_decoder_trainer_open(const char *dir, const rr_trainer_opts *opts, rr_trainer **out,
                                      rerank_error *err) {
    *out = NULL;
    rr_dec_trainer *d = calloc(1, sizeof *d);
    if (!d) return rr_fail(err, RERANK_ERR_NOMEM, "out of memory");
    d->base.ops = &ops;
    d->base.impl = d;
    rerank_status st;
    if (snprintf(d->dir, sizeof d->dir, "%s", dir) >= (int)sizeof d->dir) {
        st = rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "model path too long");
        goto done;
    }
    if ((st = rr_model_config_load(dir, &d->c, err))) goto done;
    snprintf(d->arch, sizeof d->arch, "%s", d->c.row->architecture);
    if (d->c.row->train != RR_TRAIN_LORA) {
        st = rr_fail(err, RERANK_ERR_UNSUPPORTED, "%s: LoRA training supports decoder LLM rerankers, not '%s'", dir,
                     d->arch);
        goto done;
    }
    d->spec = d->c.row->spec;
    /* FlagEmbedding's decoder training feeds every LLM reranker its prompt layout (spec 3.4) and reads the
     * "Yes" logit, Qwen3 included; only the layerwise model keeps its own kind (always a BOS, per-layer heads). */
    d->base.kind = d->c.row->kind == RERANK_KIND_LAYERWISE ? RERANK_KIND_LAYERWISE : RERANK_KIND_LLM;
    rr_trainer_opts resolved = *opts;
    char init_targets[512];
    if (opts->lora.init && (st = rr_decoder_lora_init_opts(d->arch, &opts->lora, &resolved.lora, init_targets,
                                                           sizeof init_targets, err)))
        goto done;
    opts = &resolved;
    if ((st = check_opts(d, opts, err))) goto done;
    if (opts->dropout && d->c.p_attn > 0.0f) {
        st = rr_fail(err, RERANK_ERR_UNSUPPORTED, "%s: attention_dropout %g in config.json is not implemented", dir,
                     (double)d->c.p_attn);
        goto done;
    }
    if ((st = rr_lora_parse_targets(opts->lora.targets, d->target, err))) goto done;
    snprintf(d->targets_text, sizeof d->targets_text, "%s", opts->lora.targets ? opts->lora.targets : "(all)");
    d->rank = opts->lora.rank;
    d->alpha = opts->lora.alpha;
    d->dropout = opts->lora.dropout;
    d->train_heads = opts->lora.train_heads;
    d->seed = opts->seed;
    if ((st = rr_weights_open(dir, &d->weights, err)) || (st = bind_weights(d, err))) goto done;
    if (d->spec->head != RR_DEC_HEAD_LAYERWISE && (st = find_yes(d, err))) goto done;
    if ((st = build_table(d, err))) goto done;
    if (opts->lora.init && (st = rr_decoder_trainer_init_from(&d->base, opts->lora.init, err))) goto done;
    d->pool = rr_pool_new(opts->threads); /* NULL (threads unavailable) runs on the caller alone */
    d->recompute_bytes = 2.0 * (1 << 30);
done:
    if (st) trainer_free(&d->base);
    else *out = &d->base;
    return st;
}

rerank_status rr_decoder_trainer_scores(rr_trainer *t, const rr_batch *b, float *scores, rerank_error *err) {
    return rr_dt_pass(t->impl, b, 0, NULL, false, false, 0, 1.0f, scores, NULL, err);
}

int rr_decoder_trainer_yes_id(const rr_trainer *t) { return ((const rr_dec_trainer *)t->impl)->yes_id; }

void rr_decoder_trainer_set_recompute(rr_trainer *t, double bytes) { ((rr_dec_trainer *)t->impl)->recompute_bytes = bytes; }
