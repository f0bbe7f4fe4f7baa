/* adapter.c - PEFT LoRA adapters applied at load (adapter.h): adapter_config.json checks, the merge of one
 * projection, and the tensor-by-tensor walk over adapter_model.safetensors that replaces base tensors.
 *
 * DESIGN: merged at load rather than run beside the base weights (x W^T + s (x A^T) B^T per projection): the
 * forward pass, its kernels, prefix reuse and --dtype conversion stay as they are, scores equal a merged
 * checkpoint's, and the memory cost is one fp32 copy of each targeted matrix only (the base matrix's mapped
 * pages are released). bench/RESULTS.md has the figures behind the choice. */
#include "arch/adapter.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/error.h"
#include "base/file.h"
#include "base/json.h"
#include "io/safetensors.h"
#include "kernels/kernels.h"

#define PEFT_PREFIX "base_model.model."

void rr_lora_config_free(rr_lora_config *c) {
    if (!c) return;
    json_decref(c->json);
    c->json = NULL;
}

/* A field that changes the arithmetic of a LoRA adapter to something we do not compute: an error naming it. */
static rerank_status refuse_variant(const rr_lora_config *c, rerank_error *err) {
    static const char *const flags[][2] = {{"use_dora", "DoRA (weight-decomposed) adapters"},
                                           {"use_rslora", "rsLoRA scaling (alpha / sqrt(r))"},
                                           {"fan_in_fan_out", "fan_in_fan_out (Conv1D) weights"}};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        const json_t *v = json_object_get(c->json, flags[i][0]);
        if (v && !json_is_boolean(v) && !json_is_null(v))
            return rr_fail(err, RERANK_ERR_FORMAT, "%s: '%s' must be true or false", c->path, flags[i][0]);
        if (json_is_true(v))
            return rr_fail(err, RERANK_ERR_UNSUPPORTED, "%s: '%s' is true: %s are not supported", c->path, flags[i][0],
                           flags[i][1]);
    }
    static const char *const per_module[] = {"rank_pattern", "alpha_pattern", "layer_replication"};
    for (size_t i = 0; i < sizeof per_module / sizeof per_module[0]; i++) {
        const json_t *v = json_object_get(c->json, per_module[i]);
        if (v && !json_is_null(v) && !(json_is_object(v) && json_object_size(v) == 0) &&
            !(json_is_array(v) && json_array_size(v) == 0))
            return rr_fail(err, RERANK_ERR_UNSUPPORTED, "%s: '%s' is set: per-module ranks, alphas and replicated "
                           "layers are not supported", c->path, per_module[i]);
    }
    const char *bias = json_string_value(json_object_get(c->json, "bias"));
    if (json_object_get(c->json, "bias") && !json_is_null(json_object_get(c->json, "bias")) &&
        (!bias || strcmp(bias, "none") != 0))
        return rr_fail(err, RERANK_ERR_UNSUPPORTED, "%s: 'bias' is %s%s%s: only \"none\" (no trained biases) is "
                       "supported", c->path, bias ? "\"" : "not a string", bias ? bias : "", bias ? "\"" : "");
    return RERANK_OK;
}

/* target_modules: a list of names into "a,b" (or one string, PEFT's regex form, kept as it is). */
static rerank_status read_targets(rr_lora_config *c, rerank_error *err) {
    const json_t *tm = json_object_get(c->json, "target_modules");
    c->targets[0] = '\0';
    if (json_is_string(tm)) {
        if (snprintf(c->targets, sizeof c->targets, "%s", json_string_value(tm)) >= (int)sizeof c->targets)
            return rr_fail(err, RERANK_ERR_FORMAT, "%s: 'target_modules' is too long", c->path);
        c->targets_regex = true;
        return RERANK_OK;
    }
    if (!json_is_array(tm) || !json_array_size(tm))
        return rr_fail(err, RERANK_ERR_FORMAT, "%s: 'target_modules' must be a non-empty list of module names", c->path);
    size_t at = 0, i;
    const json_t *v;
    json_array_foreach(tm, i, v) {
        const char *s = json_string_value(v);
        if (!s || !*s || strchr(s, ',') || at + strlen(s) + 2 > sizeof c->targets)
            return rr_fail(err, RERANK_ERR_FORMAT, "%s: 'target_modules'[%zu] is not a module name", c->path, i);
        at += (size_t)snprintf(c->targets + at, sizeof c->targets - at, "%s%s", i ? "," : "", s);
    }
    return RERANK_OK;
}

rerank_status rr_lora_config_read(const char *adapter_dir, rr_lora_config *c, rerank_error *err) {
    memset(c, 0, sizeof *c);
    if (!adapter_dir || !rr_path_join(c->path, sizeof c->path, adapter_dir, "adapter_config.json"))
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "adapter directory path missing or too long");
    rerank_status st = rr_json_load_file(c->path, 1 << 20, &c->json, err);
    if (st) return st;
    if (!json_is_object(c->json)) return rr_fail(err, RERANK_ERR_FORMAT, "%s: not a JSON object", c->path);
    const char *type;
    if ((st = rr_json_get_str(c->json, "peft_type", true, NULL, &type, NULL, c->path, err))) return st;
    if (strcmp(type, "LORA") != 0)
        return rr_fail(err, RERANK_ERR_UNSUPPORTED, "%s: 'peft_type' is \"%.40s\": only LoRA adapters (\"LORA\") are "
                       "supported", c->path, type);
    long long r;
    if ((st = rr_json_get_int(c->json, "r", true, 0, &r, c->path, err)) ||
        (st = rr_json_get_num(c->json, "lora_alpha", true, 0, &c->alpha, c->path, err)))
        return st;
    if (r < 1 || r > (1 << 16)) return rr_fail(err, RERANK_ERR_FORMAT, "%s: 'r' is %lld, not in [1, 65536]", c->path, r);
    if (!(c->alpha > 0 && isfinite(c->alpha)))
        return rr_fail(err, RERANK_ERR_FORMAT, "%s: 'lora_alpha' is %g, not a positive number", c->path, c->alpha);
    c->rank = (int)r;
    const json_t *save = json_object_get(c->json, "modules_to_save");
    if (save && !json_is_null(save) && !json_is_array(save))
        return rr_fail(err, RERANK_ERR_FORMAT, "%s: 'modules_to_save' must be a list of module names or null", c->path);
    c->modules_to_save = json_is_array(save) && json_array_size(save) ? save : NULL;
    const json_t *base = json_object_get(c->json, "base_model_name_or_path");
    c->base = json_string_value(base);
    if ((st = refuse_variant(c, err))) return st;
    return read_targets(c, err);
}

static bool is_dir(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

rerank_status rr_lora_config_check_base(const rr_lora_config *c, const char *architecture, rerank_error *err) {
    const char *cls = json_string_value(json_object_get(json_object_get(c->json, "auto_mapping"), "base_model_class"));
    if (cls && strcmp(cls, architecture) != 0)
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "%s: 'auto_mapping.base_model_class' is %.100s but the model "
                       "is a %s", c->path, cls, architecture);
    char path[4200];
    if (!c->base || !is_dir(c->base) || !rr_path_join(path, sizeof path, c->base, "config.json") ||
        !rr_file_exists(path))
        return RERANK_OK;
    json_t *config;
    rerank_error local;
    if (rr_json_load_file(path, 1 << 20, &config, &local)) return RERANK_OK; /* not ours to judge: shapes decide */
    const char *arch = json_string_value(json_array_get(json_object_get(config, "architectures"), 0));
    rerank_status st = RERANK_OK;
    if (arch && strcmp(arch, architecture) != 0)
        st = rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "%s: 'base_model_name_or_path' %.200s is a %.100s but the model "
                     "is a %s", c->path, c->base, arch, architecture);
    json_decref(config);
    return st;
}

void rr_lora_merge(rr_pool *pool, float *w, int out, int in, const float *a, const float *b, int r, float scale) {
    rr_sgemm(pool, false, false, out, in, r, scale, b, r, a, in, 1.0f, w, in);
}

/* ---- applying ---- */

typedef struct apply {
    const rr_lora_config *c;
    rr_weights *w;
    rr_safetensors *sf;
    const char *file; /* adapter_model.safetensors' path, for messages */
    rr_pool *pool;
} apply;

static bool ends_with(const char *s, size_t n, const char *suffix) {
    size_t k = strlen(suffix);
    return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

/* Does module path `module` (n bytes) end with the component(s) `name`, as PEFT matches a target? */
static bool module_matches(const char *module, size_t n, const char *name, size_t k) {
    return (n == k && !memcmp(module, name, k)) || (n > k && module[n - k - 1] == '.' && !memcmp(module + n - k, name, k));
}

/* Every listed target module names a weight of the base model. */
static rerank_status check_targets(const apply *A, rerank_error *err) {
    if (A->c->targets_regex) return RERANK_OK; /* a regex: the tensors below are checked one by one */
    for (const char *p = A->c->targets; *p;) {
        size_t k = strcspn(p, ",");
        bool found = false;
        for (size_t i = 0; i < rr_weights_count(A->w) && !found; i++) {
            const char *name = rr_weights_at(A->w, i, NULL)->name;
            size_t n = strlen(name);
            found = ends_with(name, n, ".weight") && module_matches(name, n - 7, p, k);
        }
        if (!found)
            return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "%s: 'target_modules' names '%.*s', which the base model "
                           "does not have", A->c->path, (int)(k > 100 ? 100 : k), p);
        p += k;
        if (*p == ',') p++;
    }
    return RERANK_OK;
}

/* The adapter tensor `name` as fp32 in a new buffer, after checking it is 2-D [d0, d1]. */
static rerank_status adapter_f32(const apply *A, const char *name, int64_t d0, int64_t d1, const char *what,
                                 float **out, rerank_error *err) {
    *out = NULL;
    const rr_st_tensor *t = rr_safetensors_find(A->sf, name);
    char got[160], want[160];
    int64_t shape[2] = {d0, d1};
    if (!t) return rr_fail(err, RERANK_ERR_FORMAT, "%s: tensor '%s' is missing (%s)", A->file, name, what);
    if (t->n_dims != 2 || t->shape[0] != d0 || t->shape[1] != d1)
        return rr_fail(err, RERANK_ERR_FORMAT, "%s: tensor '%s' is %s, expected %s (%s)", A->file, name,
                       rr_st_shape_str(got, sizeof got, t->shape, t->n_dims), rr_st_shape_str(want, sizeof want, shape, 2),
                       what);
    if (!(*out = malloc(t->n_elems ? t->n_elems * sizeof **out : 1)))
        return rr_fail(err, RERANK_ERR_NOMEM, "%s: out of memory for tensor '%s'", A->file, name);
    if (!rr_weights_to_f32(t, *out)) {
        free(*out);
        *out = NULL;
        return rr_fail(err, RERANK_ERR_UNSUPPORTED, "%s: tensor '%s' is %s, expected F32, F16 or BF16", A->file, name,
                       rr_st_dtype_name(t->dtype));
    }
    return RERANK_OK;
}

/* The base tensor `base` (2-D float) as a private fp32 copy; its mapped pages are released afterwards. */
static rerank_status base_copy(const apply *A, const char *adapter_name, const char *base, const rr_st_tensor **bt,
                               float **out, rerank_error *err) {
    *out = NULL;
    const rr_st_tensor *t = *bt = rr_weights_find(A->w, base, NULL);
    if (!t) return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "%s: tensor '%s' adapts '%s', which the base model does "
                           "not have", A->file, adapter_name, base);
    if (t->n_dims != 2 || t->shape[0] < 1 || t->shape[1] < 1 || t->shape[0] > (1 << 24) || t->shape[1] > (1 << 24))
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "%s: tensor '%s' adapts '%s', which is not a matrix", A->file,
                       adapter_name, base);
    if (!(*out = malloc(t->n_elems * sizeof **out)))
        return rr_fail(err, RERANK_ERR_NOMEM, "out of memory for a copy of '%s'", base);
    if (!rr_weights_to_f32(t, *out)) {
        free(*out);
        *out = NULL;
        return rr_fail(err, RERANK_ERR_UNSUPPORTED, "base tensor '%s' is %s, expected F32, F16 or BF16", base,
                       rr_st_dtype_name(t->dtype));
    }
    if (t->dtype == RR_ST_F32 && (uintptr_t)t->data % sizeof(float) == 0) /* not read again: leave the resident set */
        rr_weights_release(A->w, (const float *)(const void *)t->data, t->n_elems);
    return RERANK_OK;
}

/* base_model.model.<module>.lora_A.weight (and its lora_B): <module>.weight := W + (alpha / r) B A. */
static rerank_status apply_lora(const apply *A, const char *name, const char *module, size_t n, rerank_error *err) {
    char base[512], b_name[600];
    if (n + 8 > sizeof base || strlen(name) + 2 > sizeof b_name)
        return rr_fail(err, RERANK_ERR_FORMAT, "%s: tensor name '%.100s...' too long", A->file, name);
    snprintf(base, sizeof base, "%.*s.weight", (int)n, module);
    snprintf(b_name, sizeof b_name, "%.*slora_B.weight", (int)(strlen(name) - strlen("lora_A.weight")), name);
    const rr_st_tensor *bt;
    float *w = NULL, *a = NULL, *b = NULL;
    rerank_status st = base_copy(A, name, base, &bt, &w, err);
    int r = A->c->rank, out = w ? (int)bt->shape[0] : 0, in = w ? (int)bt->shape[1] : 0;
    char what[700];
    snprintf(what, sizeof what, "r %d of adapter_config.json, '%s' is [%d,%d]", r, base, out, in);
    if (!st && !(st = adapter_f32(A, name, r, in, what, &a, err)) && !(st = adapter_f32(A, b_name, out, r, what, &b, err))) {
        rr_lora_merge(A->pool, w, out, in, a, b, r, (float)(A->c->alpha / r));
        st = rr_weights_override(A->w, base, w, err); /* owns w from here */
        if (st) rr_error_prefix(err, "%s: tensor '%s'", A->file, name); /* e.g. a base tensor replaced twice */
        w = NULL;
    }
    free(w), free(a), free(b);
    return st;
}

/* base_model.model.<module>.weight of a modules_to_save module: replaces the base tensor as it is. */
static rerank_status apply_saved(const apply *A, const rr_st_tensor *t, const char *rest, rerank_error *err) {
    size_t n = strlen(rest), i;
    const char *dot = strrchr(rest, '.');
    size_t module_len = dot ? (size_t)(dot - rest) : n;
    bool listed = false;
    const json_t *v;
    json_array_foreach(A->c->modules_to_save, i, v) { /* the module or one of its parents ("classifier") */
        const char *m = json_string_value(v);
        for (size_t end = 0; m && end <= module_len; end++)
            if (end == module_len || rest[end] == '.') listed |= module_matches(rest, end, m, strlen(m));
    }
    if (!listed)
        return rr_fail(err, RERANK_ERR_UNSUPPORTED, "%s: tensor '%s' is neither a lora_A/lora_B weight nor in "
                       "'modules_to_save' of adapter_config.json", A->file, t->name);
    const rr_st_tensor *bt = rr_weights_find(A->w, rest, NULL);
    if (!bt) return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "%s: tensor '%s' replaces '%s', which the base model "
                            "does not have", A->file, t->name, rest);
    bool same = t->n_dims == bt->n_dims;
    for (int d = 0; same && d < t->n_dims; d++) same = t->shape[d] == bt->shape[d];
    char got[160], want[160];
    if (!same)
        return rr_fail(err, RERANK_ERR_FORMAT, "%s: tensor '%s' is %s, but '%s' of the base model is %s", A->file,
                       t->name, rr_st_shape_str(got, sizeof got, t->shape, t->n_dims), rest,
                       rr_st_shape_str(want, sizeof want, bt->shape, bt->n_dims));
    float *w = malloc(t->n_elems ? t->n_elems * sizeof *w : 1);
    if (!w) return rr_fail(err, RERANK_ERR_NOMEM, "%s: out of memory for tensor '%s'", A->file, t->name);
    if (!rr_weights_to_f32(t, w)) {
        free(w);
        return rr_fail(err, RERANK_ERR_UNSUPPORTED, "%s: tensor '%s' is %s, expected F32, F16 or BF16", A->file,
                       t->name, rr_st_dtype_name(t->dtype));
    }
    rerank_status st = rr_weights_override(A->w, rest, w, err);
    if (st) rr_error_prefix(err, "%s: tensor '%s'", A->file, t->name);
    return st;
}

static rerank_status apply_all(apply *A, rerank_error *err) {
    size_t n_tensors = rr_safetensors_count(A->sf), n_lora = 0;
    const size_t plen = strlen(PEFT_PREFIX);
    rerank_status st = RERANK_OK;
    for (size_t i = 0; i < n_tensors && !st; i++) {
        const rr_st_tensor *t = rr_safetensors_at(A->sf, i);
        if (strncmp(t->name, PEFT_PREFIX, plen) != 0) {
            st = rr_fail(err, RERANK_ERR_FORMAT, "%s: tensor '%s' does not start with '" PEFT_PREFIX "' as PEFT's "
                         "names do", A->file, t->name);
            break;
        }
        const char *rest = t->name + plen;
        size_t n = strlen(rest);
        if (ends_with(rest, n, ".lora_A.weight")) {
            st = apply_lora(A, t->name, rest, n - strlen(".lora_A.weight"), err);
            n_lora++;
        } else if (ends_with(rest, n, ".lora_B.weight")) {
            char a_name[600];
            snprintf(a_name, sizeof a_name, "%.*slora_A.weight", (int)(strlen(t->name) - strlen("lora_B.weight")), t->name);
            if (!rr_safetensors_find(A->sf, a_name))
                st = rr_fail(err, RERANK_ERR_FORMAT, "%s: tensor '%s' has no lora_A beside it", A->file, t->name);
        } else if (strstr(rest, "lora_")) {
            st = rr_fail(err, RERANK_ERR_UNSUPPORTED, "%s: tensor '%s' is not supported (LoRA on Linear layers only: "
                         "lora_A / lora_B)", A->file, t->name);
        } else {
            st = apply_saved(A, t, rest, err);
        }
    }
    if (!st && n_lora == 0)
        st = rr_fail(err, RERANK_ERR_FORMAT, "%s: no lora_A / lora_B tensors", A->file);
    return st;
}

rerank_status rr_adapter_apply(const char *adapter_dir, rr_weights *w, const char *architecture, rerank_error *err) {
    rr_lora_config c;
    char file[4200];
    apply A = {.c = &c, .w = w, .file = file};
    rerank_status st = rr_lora_config_read(adapter_dir, &c, err);
    if (!st) st = rr_lora_config_check_base(&c, architecture, err);
    if (!st) st = check_targets(&A, err);
    if (!st && !rr_path_join(file, sizeof file, adapter_dir, "adapter_model.safetensors"))
        st = rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "adapter directory path too long");
    if (!st) st = rr_safetensors_open(file, &A.sf, err);
    if (!st) {
        A.pool = rr_pool_new(0); /* NULL (no threads) merges in the caller */
        st = apply_all(&A, err);
    }
    rr_pool_free(A.pool);
    rr_safetensors_free(A.sf);
    rr_lora_config_free(&c);
    return st;
}
