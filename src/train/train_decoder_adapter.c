/* train_decoder_adapter.c - reading a PEFT LoRA adapter directory back: its tensors into a trainer's table
 * (resuming, or --lora-init: continuing from a released adapter, whose adapter_config.json sets the rank, alpha,
 * targets and heads), and merging it into its base model on disk. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/error.h"
#include "base/file.h"
#include "base/json.h"
#include "arch/adapter.h"
#include "hub/hub.h"
#include "io/safetensors.h"
#include "io/weights.h"
#include "train/train_decoder.h"

/* The trainer parameter p's values from adapter tensor x (same shape checked by the caller). */
static rerank_status copy_param(const rr_trainer *t, const rr_train_param *p, const rr_st_tensor *x, const char *path,
                                rerank_error *err) {
    if (!rr_weights_to_f32(x, t->w + p->offset))
        return rr_fail(err, RERANK_ERR_UNSUPPORTED, "%s: tensor '%s' is %s, expected F32, F16 or BF16", path, p->name,
                       rr_st_dtype_name(x->dtype));
    return RERANK_OK;
}

/* Loads adapter_model.safetensors into t's table; with heads_optional the trained heads may be absent (they
 * keep the base model's values). Every adapter tensor must be a parameter of the table. */
static rerank_status load_tensors(rr_trainer *t, const char *adapter_dir, bool heads_optional, rerank_error *err) {
    const rr_dec_trainer *d = t->impl;
    char path[4200];
    if (!rr_path_join(path, sizeof path, adapter_dir, "adapter_model.safetensors"))
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "path too long");
    rr_safetensors *sf;
    rerank_status st = rr_safetensors_open(path, &sf, err);
    if (st) return st;
    size_t used = 0;
    for (size_t i = 0; i < t->n_params && !st; i++) {
        const rr_train_param *p = &t->params[i];
        const rr_st_tensor *x = rr_safetensors_find(sf, p->name);
        char got[160], want[160];
        if (!x && heads_optional && i >= d->head_param) continue;
        if (!x)
            st = rr_fail(err, RERANK_ERR_FORMAT, "%s: tensor '%s' %s is missing (targets %s, r %d)", path, p->name,
                         rr_st_shape_str(want, sizeof want, p->shape, 2), d->targets_text, d->rank);
        else if (x->n_dims != 2 || x->shape[0] != p->shape[0] || x->shape[1] != p->shape[1])
            st = rr_fail(err, RERANK_ERR_FORMAT, "%s: tensor '%s' is %s, expected %s", path, p->name,
                         rr_st_shape_str(got, sizeof got, x->shape, x->n_dims),
                         rr_st_shape_str(want, sizeof want, p->shape, 2));
        else if (!(st = copy_param(t, p, x, path, err)))
            used++;
    }
    for (size_t i = 0; i < rr_safetensors_count(sf) && !st && used != rr_safetensors_count(sf); i++) {
        const char *name = rr_safetensors_at(sf, i)->name;
        bool known = false;
        for (size_t k = 0; k < t->n_params && !known; k++) known = !strcmp(t->params[k].name, name);
        if (!known)
            st = rr_fail(err, RERANK_ERR_FORMAT, "%s: tensor '%s' is not a LoRA weight or head of this %s (%d layers, "
                         "targets %s)", path, name, d->arch, d->c.n_layers, d->targets_text);
    }
    rr_safetensors_free(sf);
    return st;
}

rerank_status rr_decoder_trainer_load_adapter(rr_trainer *t, const char *adapter_dir, rerank_error *err) {
    return load_tensors(t, adapter_dir, false, err);
}

/* An explicit setting that disagrees with the adapter: an error naming both values. */
static rerank_status same_targets(const char *given, const rr_lora_config *c, rerank_error *err) {
    bool a[RR_LORA_N_MODULES], b[RR_LORA_N_MODULES];
    rerank_status st = rr_lora_parse_targets(given, a, err);
    if (!st) st = rr_lora_parse_targets(c->targets, b, err);
    if (st) return st;
    if (memcmp(a, b, sizeof a) != 0)
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "--lora-targets %s conflicts with target_modules %s of %s",
                       given, c->targets, c->path);
    return RERANK_OK;
}

rerank_status rr_decoder_lora_init_opts(const char *architecture, const rr_lora_opts *in, rr_lora_opts *out,
                                        char *targets, size_t size, rerank_error *err) {
    rr_lora_config c;
    rerank_status st = rr_lora_config_read(in->init, &c, err);
    if (!st) st = rr_lora_config_check_base(&c, architecture, err);
    if (!st && in->rank && in->rank != c.rank)
        st = rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "--lora-rank %d conflicts with r %d of %s", in->rank, c.rank,
                     c.path);
    if (!st && in->alpha != 0 && in->alpha != c.alpha)
        st = rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "--lora-alpha %g conflicts with lora_alpha %g of %s", in->alpha,
                     c.alpha, c.path);
    if (!st && in->targets) st = same_targets(in->targets, &c, err);
    if (!st && snprintf(targets, size, "%s", c.targets) >= (int)size)
        st = rr_fail(err, RERANK_ERR_FORMAT, "%s: 'target_modules' is too long", c.path);
    if (!st) {
        *out = *in;
        out->rank = c.rank;
        out->alpha = c.alpha;
        out->targets = targets;
        out->train_heads = in->train_heads || c.modules_to_save;
    }
    rr_lora_config_free(&c);
    return st;
}

rerank_status rr_decoder_trainer_init_from(rr_trainer *t, const char *adapter_dir, rerank_error *err) {
    return load_tensors(t, adapter_dir, true, err);
}

static bool is_dir(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

rerank_status rr_decoder_merge_adapter(const char *adapter_dir, const char *base_dir, const char *out_dir,
                                       rerank_error *err) {
    char adapter_resolved[4096], base_resolved[4096];
    /* a PEFT adapter published on the hub works by id too */
    rerank_status st0 = rr_hub_resolve_model(adapter_dir, NULL, adapter_resolved, sizeof adapter_resolved, err);
    if (st0) return st0;
    adapter_dir = adapter_resolved;
    rr_lora_config c;
    rerank_status st = rr_lora_config_read(adapter_dir, &c, err);
    if (!st && !base_dir && !(base_dir = c.base))
        st = rr_fail(err, RERANK_ERR_FORMAT, "%s: no 'base_model_name_or_path'; pass the base model", c.path);
    /* the base may be a hub id (PEFT records e.g. "BAAI/bge-reranker-v2-gemma"): use its snapshot directory */
    if (!st && !(st = rr_hub_resolve_model(base_dir, NULL, base_resolved, sizeof base_resolved, err))) {
        base_dir = base_resolved;
        if (!is_dir(base_dir))
            st = rr_fail(err, RERANK_ERR_IO, "%s: the base model '%s' is neither a local directory nor a hub id; pass "
                         "it explicitly", c.path, base_dir);
    }
    /* the adapter's own rank, alpha, targets and heads (rr_decoder_lora_init_opts), its tensors as loaded */
    rr_trainer_opts o = {.lora = {.init = adapter_dir}};
    rr_trainer *t = NULL;
    if (!st && !(st = rr_decoder_trainer_open(base_dir, &o, &t, err)))
        st = t->ops->save(t, base_dir, out_dir, true, err);
    if (t) t->ops->free(t);
    rr_lora_config_free(&c);
    return st;
}
