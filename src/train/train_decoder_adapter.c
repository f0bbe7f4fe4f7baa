/* train_decoder_adapter.c - reading a PEFT LoRA adapter directory back: its tensors into a trainer's table
 * (resuming, or continuing from a released adapter), and merging it into its base model on disk. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/error.h"
#include "base/file.h"
#include "base/json.h"
#include "hub/hub.h"
#include "io/safetensors.h"
#include "train/train_decoder.h"

rerank_status rr_decoder_trainer_load_adapter(rr_trainer *t, const char *adapter_dir, rerank_error *err) {
    char path[4200];
    if (!rr_path_join(path, sizeof path, adapter_dir, "adapter_model.safetensors"))
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "path too long");
    rr_safetensors *sf;
    rerank_status st = rr_safetensors_open(path, &sf, err);
    if (st) return st;
    if (rr_safetensors_count(sf) != t->n_params)
        st = rr_fail(err, RERANK_ERR_FORMAT, "%s: %zu tensors, the trainer has %zu (targets, heads)", path,
                     rr_safetensors_count(sf), t->n_params);
    for (size_t i = 0; i < t->n_params && !st; i++) {
        const rr_train_param *p = &t->params[i];
        const rr_st_tensor *x = rr_safetensors_find(sf, p->name);
        if (!x || x->n_dims != 2 || x->shape[0] != p->shape[0] || x->shape[1] != p->shape[1]) {
            st = rr_fail(err, RERANK_ERR_FORMAT, "%s: tensor '%s' [%lld,%lld] is missing or has another shape", path,
                         p->name, (long long)p->shape[0], (long long)p->shape[1]);
            break;
        }
        float *w = t->w + p->offset;
        for (size_t k = 0; k < p->size; k++) {
            const unsigned char *e = x->data + k * rr_st_dtype_size(x->dtype);
            uint16_t h;
            if (x->dtype == RR_ST_F32) memcpy(&w[k], e, 4);
            else if (x->dtype == RR_ST_BF16 || x->dtype == RR_ST_F16) {
                memcpy(&h, e, 2);
                w[k] = x->dtype == RR_ST_BF16 ? rr_bf16_to_f32(h) : rr_f16_to_f32(h);
            } else {
                st = rr_fail(err, RERANK_ERR_UNSUPPORTED, "%s: tensor '%s' is %s", path, p->name,
                             rr_st_dtype_name(x->dtype));
                break;
            }
        }
    }
    rr_safetensors_free(sf);
    return st;
}

static bool is_dir(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* target_modules as PEFT writes it: a list of names (or one comma-separated string) into a comma list. */
static rerank_status targets_of(const json_t *c, char *buf, size_t size, rerank_error *err) {
    const json_t *tm = json_object_get(c, "target_modules");
    buf[0] = '\0';
    if (json_is_string(tm)) {
        snprintf(buf, size, "%s", json_string_value(tm));
        return RERANK_OK;
    }
    if (!json_is_array(tm) || !json_array_size(tm))
        return rr_fail(err, RERANK_ERR_FORMAT, "adapter_config.json: 'target_modules' must be a list of module names");
    size_t at = 0, i;
    const json_t *v;
    json_array_foreach(tm, i, v) {
        if (!json_is_string(v) || at + strlen(json_string_value(v)) + 2 > size)
            return rr_fail(err, RERANK_ERR_FORMAT, "adapter_config.json: bad 'target_modules'");
        at += (size_t)snprintf(buf + at, size - at, "%s%s", i ? "," : "", json_string_value(v));
    }
    return RERANK_OK;
}

rerank_status rr_decoder_merge_adapter(const char *adapter_dir, const char *base_dir, const char *out_dir,
                                       rerank_error *err) {
    char path[4200], targets[512], adapter_resolved[4096];
    json_t *c = NULL;
    /* a PEFT adapter published on the hub works by id too */
    rerank_status st0 = rr_hub_resolve_model(adapter_dir, NULL, adapter_resolved, sizeof adapter_resolved, err);
    if (st0) return st0;
    adapter_dir = adapter_resolved;
    if (!rr_path_join(path, sizeof path, adapter_dir, "adapter_config.json"))
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "path too long");
    rerank_status st = rr_json_load_file(path, 1 << 20, &c, err);
    if (st) return st;
    const char *peft_type = json_string_value(json_object_get(c, "peft_type"));
    long long r = 0;
    double alpha = 0;
    if (!peft_type || strcmp(peft_type, "LORA") != 0)
        st = rr_fail(err, RERANK_ERR_UNSUPPORTED, "%s: peft_type must be \"LORA\"", path);
    if (!st && !base_dir)
        st = rr_json_get_str(c, "base_model_name_or_path", true, NULL, &base_dir, NULL, path, err);
    /* the base may be a hub id (PEFT records e.g. "BAAI/bge-reranker-v2-gemma"): use its snapshot directory */
    char base_resolved[4096];
    if (!st && !(st = rr_hub_resolve_model(base_dir, NULL, base_resolved, sizeof base_resolved, err))) {
        base_dir = base_resolved;
        if (!is_dir(base_dir))
            st = rr_fail(err, RERANK_ERR_IO, "%s: the base model '%s' is neither a local directory nor a hub id; pass "
                         "it explicitly", path, base_dir);
    }
    const json_t *save = json_object_get(c, "modules_to_save");
    rr_trainer_opts o = {.lora = {.train_heads = json_is_array(save) && json_array_size(save) > 0}};
    if (!st && !(st = rr_json_get_int(c, "r", true, 0, &r, path, err)) &&
        !(st = rr_json_get_num(c, "lora_alpha", true, 0, &alpha, path, err)) &&
        !(st = targets_of(c, targets, sizeof targets, err))) {
        o.lora.rank = r > 0 && r <= (1 << 16) ? (int)r : 0;
        o.lora.alpha = alpha;
        o.lora.targets = targets;
        if (json_is_true(json_object_get(c, "use_dora")) || json_is_true(json_object_get(c, "use_rslora")))
            st = rr_fail(err, RERANK_ERR_UNSUPPORTED, "%s: DoRA / rsLoRA adapters are not supported", path);
    }
    rr_trainer *t = NULL;
    if (!st && !(st = rr_decoder_trainer_open(base_dir, &o, &t, err)) &&
        !(st = rr_decoder_trainer_load_adapter(t, adapter_dir, err)))
        st = t->ops->save(t, base_dir, out_dir, true, err);
    if (t) t->ops->free(t);
    json_decref(c);
    return st;
}
