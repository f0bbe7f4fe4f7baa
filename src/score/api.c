/* api.c - model and session lifetimes, model info and single-pair tokenization (rerank.h). */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/error.h"
#include "base/file.h"
#include "base/json.h"
#include "hub/hub.h"
#include "score/internal.h"
#include "score/score.h"

rerank_model_params rerank_model_default_params(void) {
    rerank_model_params p = {.dtype = RERANK_DTYPE_AUTO};
    return p;
}

rerank_score_params rerank_score_default_params(void) {
    rerank_score_params p = {
        .max_length = 512,
        .query_max_length = 0,
        .batch_size = 32,
        .normalize = false,
        .n_threads = 0,
        .long_doc = RERANK_LONG_DOC_TRUNCATE,
        .chunk_overlap = 32,
        .prefix_reuse = true,
    };
    return p;
}

/* dir/config.json as a JSON object (*config NULL on failure). */
static rerank_status load_config(const char *dir, json_t **config, rerank_error *err) {
    *config = NULL;
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return rr_fail(err, RERANK_ERR_IO, "%s: not a model directory (expected config.json, *.safetensors and "
                       "tokenizer files)", dir);
    char path[4096];
    if (!rr_path_join(path, sizeof path, dir, "config.json"))
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "%s: path too long", dir);
    rerank_status s = rr_json_load_file(path, 16u << 20, config, err);
    if (!s && !json_is_object(*config)) s = rr_fail(err, RERANK_ERR_FORMAT, "%s: not a JSON object", path);
    if (s) {
        json_decref(*config);
        *config = NULL;
    }
    return s;
}

rerank_status rerank_model_load(const char *dir, const rerank_model_params *params, rerank_model **out,
                                rerank_error *err) {
    if (!out) return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "rerank_model_load: out is NULL");
    *out = NULL;
    if (!dir) return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "rerank_model_load: dir is NULL");
    rerank_model_params defaults = rerank_model_default_params();
    if (!params) params = &defaults;
    /* a hub id becomes its snapshot directory in the cache (an existing local path always wins) */
    char resolved[4096];
    rr_hub_opts hub = {params->progress, params->progress_user};
    rerank_status s = rr_hub_resolve_model(dir, &hub, resolved, sizeof resolved, err);
    if (s) return s;
    dir = resolved;
    rerank_model *m = calloc(1, sizeof *m);
    if (!m) return rr_fail(err, RERANK_ERR_NOMEM, "rerank_model_load: out of memory");
    char adapter[4096]; /* an adapter may be a hub id too */
    const char *adapter_dir = params->adapter;
    if (adapter_dir && !(s = rr_hub_resolve_model(adapter_dir, &hub, adapter, sizeof adapter, err))) adapter_dir = adapter;
    if (!s) s = load_config(dir, &m->config, err);
    if (!s) s = rr_model_load_adapted(dir, m->config, params->dtype, adapter_dir, &m->net, err);
    if (!s) s = rr_tokenizer_load(dir, &m->tok, err);
    if (!s && !(m->dir = strdup(dir))) s = rr_fail(err, RERANK_ERR_NOMEM, "rerank_model_load: out of memory");
    if (!s) s = rr_recipe_prepare(m, params->recipe, err);
    if (s) {
        rerank_model_free(m);
        return s;
    }
    *out = m;
    return RERANK_OK;
}

rerank_status rerank_model_convert(const char *dir, const char *out_dir, rerank_dtype dtype, rerank_error *err) {
    if (!dir || !out_dir) return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "rerank_model_convert: NULL directory");
    if (dtype != RERANK_DTYPE_BF16 && dtype != RERANK_DTYPE_INT8)
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "rerank_model_convert: dtype must be bf16 or int8");
    char resolved[4096];
    rerank_status s = rr_hub_resolve_model(dir, NULL, resolved, sizeof resolved, err);
    if (s) return s;
    dir = resolved;
    json_t *config = NULL;
    rr_model *net = NULL;
    s = load_config(dir, &config, err);
    if (!s) s = rr_model_load(dir, config, dtype, &net, err); /* converts, exactly as for scoring */
    if (!s) s = rr_model_save_converted(net, config, dir, out_dir, err);
    rr_model_free(net);
    json_decref(config);
    return s;
}

void rerank_model_free(rerank_model *model) {
    if (!model) return;
    rr_recipe_free(&model->recipe);
    rr_tokenizer_free(model->tok);
    rr_model_free(model->net);
    free(model->dir);
    json_decref(model->config);
    free(model);
}

void rerank_model_get_info(const rerank_model *model, rerank_model_info *info) {
    const rr_model_desc *d = rr_model_describe(model->net);
    info->kind = d->kind;
    info->architecture = d->architecture;
    info->n_layers = d->n_layers;
    info->hidden_size = d->hidden_size;
    info->vocab_size = d->vocab_size;
    info->max_tokens = d->max_tokens;
}

rerank_status rerank_session_new(const rerank_model *model, rerank_session **out, rerank_error *err) {
    if (!out) return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "rerank_session_new: out is NULL");
    *out = NULL;
    if (!model) return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "rerank_session_new: model is NULL");
    rerank_session *s = calloc(1, sizeof *s);
    if (!s) return rr_fail(err, RERANK_ERR_NOMEM, "rerank_session_new: out of memory");
    s->model = model;
    s->ws = rr_workspace_new();
    if (!s->ws) {
        free(s);
        return rr_fail(err, RERANK_ERR_NOMEM, "rerank_session_new: out of memory");
    }
    *out = s;
    return RERANK_OK;
}

void rerank_session_free(rerank_session *s) {
    if (!s) return;
    rr_workspace_free(s->ws);
    rr_input_scratch_free(&s->scratch);
    rr_i32vec_free(&s->ends);
    rr_i32vec_free(&s->tokens);
    rr_i32vec_free(&s->types);
    rr_i32vec_free(&s->batch_ids);
    rr_i32vec_free(&s->batch_types);
    free(s->seqs);
    free(s->order);
    free(s->offsets);
    free(s->logits);
    free(s->out_buf);
    rr_prefix_free(s->prefix);
    free(s);
}

void rerank_session_last_stats(const rerank_session *session, rerank_score_stats *stats) {
    *stats = session->stats;
}

rerank_status rerank_tokenize(const rerank_model *model, const rerank_score_params *params, const rerank_pair *pair,
                              rerank_encoding *out, rerank_error *err) {
    if (!out) return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "rerank_tokenize: out is NULL");
    out->ids = out->type_ids = NULL;
    out->n_tokens = 0;
    if (!model || !pair) return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "rerank_tokenize: model or pair is NULL");
    rerank_score_params defaults = rerank_score_default_params();
    if (!params) params = &defaults;
    rr_input_scratch sc = {0};
    rr_call call;
    rr_i32vec ids = {0}, types = {0}, ends = {0};
    rerank_status s = rr_call_begin(model, params, &sc, &call, err);
    if (!s) s = rr_inputs_add_pair(model, params, &call, pair, 0, &sc, &ids, &types, &ends, err);
    /* a chunked pair yields several windows: show the first, which is the truncated input */
    if (!s && ends.n > 1) ids.n = types.n = (size_t)ends.data[0];
    rr_input_scratch_free(&sc);
    rr_i32vec_free(&ends);
    if (s) {
        rr_i32vec_free(&ids);
        rr_i32vec_free(&types);
        if (!strncmp(err ? err->message : "", "pair 0: ", 8)) memmove(err->message, err->message + 8, strlen(err->message + 8) + 1);
        return s;
    }
    out->ids = ids.data;
    out->type_ids = types.data;
    out->n_tokens = ids.n;
    return RERANK_OK;
}

void rerank_encoding_free(rerank_encoding *enc) {
    if (!enc) return;
    free(enc->ids);
    free(enc->type_ids);
    enc->ids = enc->type_ids = NULL;
    enc->n_tokens = 0;
}
