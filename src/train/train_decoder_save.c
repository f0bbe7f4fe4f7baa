/* train_decoder_save.c - the save op of the LoRA trainer: a PEFT adapter directory (adapter_model.safetensors
 * with get_peft_model_state_dict's names, adapter_config.json as LoraConfig writes it, tokenizer files) and,
 * with merge, merged_model/: every tensor of the base checkpoint under its own name and dtype, the targeted
 * projections replaced by W + (alpha/r) B A (PEFT's merge_and_unload) and trained layerwise heads by their
 * new values, with config.json and the tokenizer files copied, so `rerank score` and from_pretrained load it. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/error.h"
#include "base/file.h"
#include "base/json.h"
#include "arch/adapter.h"
#include "io/safetensors.h"
#include "train/train_decoder.h"

/* Copied when present: what transformers' AutoTokenizer / AutoConfig read next to the weights. */
static const char *const tokenizer_files[] = {"tokenizer.json",   "tokenizer.model",         "tokenizer_config.json",
                                              "special_tokens_map.json", "added_tokens.json", "vocab.json",
                                              "merges.txt",        "vocab.txt",               "sentencepiece.bpe.model"};

static rerank_status make_dir(const char *path, rerank_error *err) {
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "output path too long");
    for (char *p = buf + 1;; p++) {
        char c = *p;
        if (c != '/' && c != '\0') continue;
        *p = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return rr_fail(err, RERANK_ERR_IO, "%s: cannot create the directory: %s", buf, strerror(errno));
        *p = c;
        if (!c) break;
    }
    return RERANK_OK;
}

static rerank_status copy_file(const char *src_dir, const char *dst_dir, const char *name, rerank_error *err) {
    char src[4200], dst[4200];
    if (!rr_path_join(src, sizeof src, src_dir, name) || !rr_path_join(dst, sizeof dst, dst_dir, name))
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "path too long");
    if (!rr_file_exists(src)) return RERANK_OK;
    char *buf;
    size_t len;
    rerank_status st = rr_file_read(src, (size_t)1 << 32, &buf, &len, err);
    if (st) return st;
    FILE *f = fopen(dst, "wb");
    bool ok = f && fwrite(buf, 1, len, f) == len;
    if (f && fclose(f) != 0) ok = false;
    free(buf);
    return ok ? RERANK_OK : rr_fail(err, RERANK_ERR_IO, "%s: cannot write: %s", dst, strerror(errno));
}

static rerank_status copy_tokenizer(const char *src_dir, const char *dst_dir, rerank_error *err) {
    rerank_status st = RERANK_OK;
    for (size_t i = 0; i < sizeof tokenizer_files / sizeof tokenizer_files[0] && !st; i++)
        st = copy_file(src_dir, dst_dir, tokenizer_files[i], err);
    return st;
}

static rerank_status write_json(json_t *j, const char *dir, const char *name, rerank_error *err) {
    char path[4200];
    if (!j) return rr_fail(err, RERANK_ERR_NOMEM, "out of memory");
    if (!rr_path_join(path, sizeof path, dir, name)) {
        json_decref(j);
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "path too long");
    }
    int rc = json_dump_file(j, path, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(15));
    json_decref(j);
    return rc ? rr_fail(err, RERANK_ERR_IO, "%s: cannot write", path) : RERANK_OK;
}

/* A number as PEFT writes it: an integer when it is one (lora_alpha is an int in LoraConfig). */
static json_t *number(double v) { return v == floor(v) && fabs(v) < 1e15 ? json_integer((json_int_t)v) : json_real(v); }

static rerank_status write_adapter_config(const rr_dec_trainer *d, const char *src_dir, const char *out_dir,
                                          rerank_error *err) {
    json_t *targets = json_array();
    for (int m = 0; m < RR_LORA_N_MODULES; m++)
        if (d->target[m]) json_array_append_new(targets, json_string(rr_lora_module_names[m]));
    json_t *save = d->train_heads ? json_pack("[s]", "linear_head") : json_null();
    json_t *c = json_pack("{s:o, s:n, s:s, s:s, s:b, s:b, s:b, s:n, s:n, s:o, s:f, s:o, s:s, s:i, s:o, s:n, s:o, "
                          "s:s, s:b, s:b}",
                          "alpha_pattern", json_object(), "auto_mapping", "base_model_name_or_path", src_dir, "bias",
                          "none", "fan_in_fan_out", 0, "inference_mode", 1, "init_lora_weights", 1, "layers_pattern",
                          "layers_to_transform", "lora_alpha", number(d->alpha), "lora_dropout", d->dropout,
                          "modules_to_save", save, "peft_type", "LORA", "r", d->rank, "rank_pattern", json_object(),
                          "revision", "target_modules", targets, "task_type", "CAUSAL_LM", "use_dora", 0,
                          "use_rslora", 0);
    return write_json(c, out_dir, "adapter_config.json", err);
}

static rerank_status write_adapter(const rr_trainer *t, const char *out_dir, rerank_error *err) {
    char path[4200];
    if (!rr_path_join(path, sizeof path, out_dir, "adapter_model.safetensors"))
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "path too long");
    rr_st_write_tensor *ts = calloc(t->n_params ? t->n_params : 1, sizeof *ts);
    if (!ts) return rr_fail(err, RERANK_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < t->n_params; i++) {
        const rr_train_param *p = &t->params[i];
        ts[i] = (rr_st_write_tensor){.name = p->name, .dtype = RR_ST_F32, .n_dims = p->n_dims, .data = t->w + p->offset};
        ts[i].shape[0] = p->shape[0];
        ts[i].shape[1] = p->shape[1];
    }
    rerank_status st = rr_safetensors_write(path, ts, t->n_params, err);
    free(ts);
    return st;
}

/* ---- merged model ---- */

uint16_t rr_dt_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);               /* round to nearest even */
}

uint16_t rr_dt_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u, a = x & 0x7fffffffu;
    if (a >= 0x7f800000u) return (uint16_t)(sign | 0x7c00u | (a > 0x7f800000u ? 0x200u : 0));
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* rounds past 65504 */
    if (a < 0x38800000u) {                                    /* below 2^-14: a multiple of 2^-24 */
        float v;
        memcpy(&v, &a, 4);
        return (uint16_t)(sign | (uint32_t)lrintf(v * 16777216.0f));
    }
    uint32_t h = (((a >> 23) - 112u) << 10) | ((a & 0x7fffffu) >> 13), rem = a & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) h++;
    return (uint16_t)(sign | h);
}

/* n fp32 values in `dtype` (F32, BF16, F16) in a new buffer. */
static void *convert(const float *x, size_t n, rr_st_dtype dtype) {
    if (dtype == RR_ST_F32) {
        float *y = malloc(n * sizeof *y);
        if (y) memcpy(y, x, n * sizeof *y);
        return y;
    }
    uint16_t *y = malloc(n * sizeof *y);
    if (y)
        for (size_t i = 0; i < n; i++) y[i] = dtype == RR_ST_BF16 ? rr_dt_to_bf16(x[i]) : rr_dt_to_f16(x[i]);
    return y;
}

/* The tensor names of the checkpoint in d->dir: model.safetensors, or the index of a sharded one. */
static rerank_status list_names(const rr_dec_trainer *d, json_t **names, rerank_error *err) {
    char path[4200];
    *names = json_array();
    rerank_status st = RERANK_OK;
    if (!rr_path_join(path, sizeof path, d->dir, "model.safetensors"))
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "path too long");
    if (rr_file_exists(path)) {
        rr_safetensors *sf;
        if ((st = rr_safetensors_open(path, &sf, err))) return st;
        for (size_t i = 0; i < rr_safetensors_count(sf); i++)
            json_array_append_new(*names, json_string(rr_safetensors_at(sf, i)->name));
        rr_safetensors_free(sf);
        return RERANK_OK;
    }
    json_t *index;
    if (!rr_path_join(path, sizeof path, d->dir, "model.safetensors.index.json"))
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "path too long");
    if ((st = rr_json_load_file(path, 1 << 26, &index, err))) return st;
    const char *key;
    json_t *v;
    json_object_foreach(json_object_get(index, "weight_map"), key, v) json_array_append_new(*names, json_string(key));
    json_decref(index);
    return RERANK_OK;
}

/* The merged fp32 value of tensor `name` in a new buffer, or NULL when the tensor is unchanged (*st set on
 * failure). */
static float *merged_value(const rr_dec_trainer *d, const char *name, rerank_status *st, rerank_error *err) {
    const rr_trainer *t = &d->base;
    int l, k, used = 0;
    char rest[128];
    *st = RERANK_OK;
    if (d->train_heads && sscanf(name, "lm_head.%d.linear_head.weight%n", &k, &used) == 1 && !name[used] && k >= 0 &&
        k < rr_dt_n_outputs(d)) {
        float *h = malloc((size_t)d->c.hidden * sizeof *h);
        if (!h) *st = rr_fail(err, RERANK_ERR_NOMEM, "out of memory");
        else memcpy(h, t->w + t->params[d->head_param + (size_t)k].offset, (size_t)d->c.hidden * sizeof *h);
        return h;
    }
    if (sscanf(name, "model.layers.%d.%127s", &l, rest) != 2 || l < 0 || l >= d->c.n_layers) return NULL;
    for (int m = 0; m < RR_LORA_N_MODULES; m++) {
        size_t pa = d->lora_param[(size_t)l * RR_LORA_N_MODULES + (size_t)m];
        size_t n = strlen(rr_lora_module_paths[m]);
        if (pa == SIZE_MAX || strncmp(rest, rr_lora_module_paths[m], n) || strcmp(rest + n, ".weight")) continue;
        const rr_train_param *A = &t->params[pa], *B = &t->params[pa + 1];
        int out = (int)B->shape[0], in = (int)A->shape[1];
        float *w = malloc((size_t)out * (size_t)in * sizeof *w);
        if (!w) {
            *st = rr_fail(err, RERANK_ERR_NOMEM, "out of memory");
            return NULL;
        }
        memcpy(w, d->layers[l].w[m], (size_t)out * (size_t)in * sizeof *w);
        rr_lora_merge(d->pool, w, out, in, t->w + A->offset, t->w + B->offset, d->rank, (float)(d->alpha / d->rank));
        return w;
    }
    return NULL;
}

static rerank_status write_merged(const rr_dec_trainer *d, const char *src_dir, const char *dir, rerank_error *err) {
    json_t *names;
    rerank_status st = list_names(d, &names, err);
    size_t n = json_array_size(names);
    rr_st_write_tensor *ts = calloc(n ? n : 1, sizeof *ts);
    void **owned = calloc(n ? n : 1, sizeof *owned);
    if (!st && (!ts || !owned)) st = rr_fail(err, RERANK_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n && !st; i++) {
        const char *name = json_string_value(json_array_get(names, i)), *file;
        const rr_st_tensor *src = rr_weights_find(d->weights, name, &file);
        if (!src) {
            st = rr_fail(err, RERANK_ERR_FORMAT, "%s: tensor '%s' is listed but not found", d->dir, name);
            break;
        }
        ts[i] = (rr_st_write_tensor){.name = name, .dtype = src->dtype, .n_dims = src->n_dims, .data = src->data};
        memcpy(ts[i].shape, src->shape, sizeof ts[i].shape);
        float *merged = merged_value(d, name, &st, err);
        if (!merged) continue;
        if (src->dtype != RR_ST_F32 && src->dtype != RR_ST_BF16 && src->dtype != RR_ST_F16)
            st = rr_fail(err, RERANK_ERR_UNSUPPORTED, "%s: tensor '%s' is %s", d->dir, name, rr_st_dtype_name(src->dtype));
        else if (!(owned[i] = convert(merged, src->n_elems, src->dtype)))
            st = rr_fail(err, RERANK_ERR_NOMEM, "out of memory");
        ts[i].data = owned[i];
        free(merged);
    }
    char path[4200];
    if (!st && !rr_path_join(path, sizeof path, dir, "model.safetensors"))
        st = rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "path too long");
    if (!st) st = rr_safetensors_write(path, ts, n, err);
    for (size_t i = 0; owned && i < n; i++) free(owned[i]);
    free(owned);
    free(ts);
    json_decref(names);
    if (!st) st = copy_file(src_dir, dir, "config.json", err);
    if (!st) st = copy_file(src_dir, dir, "generation_config.json", err);
    if (!st) st = copy_tokenizer(src_dir, dir, err);
    return st;
}

rerank_status rr_dt_save(const rr_trainer *t, const char *src_dir, const char *out_dir, bool merge, rerank_error *err) {
    const rr_dec_trainer *d = t->impl;
    if (!src_dir) src_dir = d->dir;
    rerank_status st;
    if ((st = make_dir(out_dir, err)) || (st = write_adapter(t, out_dir, err)) ||
        (st = write_adapter_config(d, src_dir, out_dir, err)) || (st = copy_tokenizer(src_dir, out_dir, err)))
        return st;
    if (!merge) return RERANK_OK;
    char dir[4200];
    if (!rr_path_join(dir, sizeof dir, out_dir, "merged_model"))
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "path too long");
    if ((st = make_dir(dir, err))) return st;
    return write_merged(d, src_dir, dir, err);
}
