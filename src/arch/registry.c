/* registry.c - the one table from config.json `architectures[0]` to a block family, its spec and how it trains,
 * plus the model object's life cycle (load, describe, forward, free) and forward-pass workspaces. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/adapter.h"
#include "arch/arch.h"
#include "arch/decoder.h"
#include "arch/packed.h"
#include "base/error.h"
#include "base/threadpool.h"


/* The specs, one thin file each (xlmr.c, bert.c, gemma.c, qwen.c, minicpm.c, llama.c). */
extern const rr_encoder_spec rr_xlmr_spec, rr_bert_spec;
extern const rr_decoder_spec rr_gemma_spec, rr_qwen2_spec, rr_qwen3_spec, rr_minicpm_layerwise_spec, rr_llama_spec;

/* Each row: the architecture, the kind of scores it gives, its block family and spec, how `rerank train` fine-tunes
 * it. Scoring and training both find an architecture here and nowhere else: adding one is a spec file, its name
 * above and a row below (README "Adding an architecture"). */
static const rr_arch_row registry[] = {
    {"XLMRobertaForSequenceClassification", RERANK_KIND_CROSS_ENCODER, &rr_encoder_family, &rr_xlmr_spec, RR_TRAIN_FULL},
    {"BertForSequenceClassification", RERANK_KIND_CROSS_ENCODER, &rr_encoder_family, &rr_bert_spec, RR_TRAIN_FULL},
    {"GemmaForCausalLM", RERANK_KIND_LLM, &rr_decoder_family, &rr_gemma_spec, RR_TRAIN_LORA},
    {"Qwen2ForCausalLM", RERANK_KIND_LLM, &rr_decoder_family, &rr_qwen2_spec, RR_TRAIN_LORA},
    {"Qwen3ForCausalLM", RERANK_KIND_QWEN3, &rr_decoder_family, &rr_qwen3_spec, RR_TRAIN_LORA},
    {"LayerWiseMiniCPMForCausalLM", RERANK_KIND_LAYERWISE, &rr_decoder_family, &rr_minicpm_layerwise_spec, RR_TRAIN_LORA},
    {"LlamaForCausalLM", RERANK_KIND_LLM, &rr_decoder_family, &rr_llama_spec, RR_TRAIN_LORA},
};
enum { N_ROWS = sizeof registry / sizeof registry[0] };

rerank_status rr_arch_find(const json_t *config, const rr_arch_row **row, rerank_error *err) {
    if (!json_is_object(config)) return rr_fail(err, RERANK_ERR_FORMAT, "config.json: not a JSON object");
    const json_t *archs = json_object_get(config, "architectures");
    const char *a = json_string_value(json_array_get(archs, 0));
    if (!a) return rr_fail(err, RERANK_ERR_FORMAT, "config.json: field 'architectures' must be a non-empty array of strings");
    for (size_t i = 0; i < N_ROWS; i++)
        if (strcmp(registry[i].architecture, a) == 0) {
            *row = &registry[i];
            return RERANK_OK;
        }
    char list[384] = "";
    size_t at = 0;
    for (size_t i = 0; i < N_ROWS && at < sizeof list; i++)
        at += (size_t)snprintf(list + at, sizeof list - at, "%s%s", i ? ", " : "", registry[i].architecture);
    return rr_fail(err, RERANK_ERR_UNSUPPORTED, "config.json: architecture '%.100s' is not supported (supported: %s)", a,
                   list);
}

/* What rr_model_describe tells, from the parsed config. */
static rr_model_desc describe(const rr_model_config *c) {
    rr_model_desc d = {
        .kind = c->row->kind,
        .architecture = c->row->architecture, /* static storage */
        .n_layers = c->n_layers,
        .hidden_size = c->hidden,
        .vocab_size = c->vocab,
        .type_vocab_size = c->type_vocab,
        .max_tokens = c->max_tokens,
        .pad_token_id = c->pad_id,
        .bos_token_id = c->bos_id,
        .eos_token_id = c->eos_id,
        .start_layer = c->start_layer,
        .converted = c->packed != RERANK_DTYPE_AUTO,
    };
    return d;
}

void rr_model_free(rr_model *m) {
    if (!m) return;
    if (m->row && m->impl) m->row->family->free_impl(m->impl);
    rr_weights_free(m->weights);
    free(m);
}

static rerank_status model_new(const json_t *config, rr_model **out, rerank_error *err) {
    *out = NULL;
    rr_model_config cfg;
    rerank_status st = rr_model_config_parse(config, &cfg, err);
    if (st) return st;
    rr_model *m = calloc(1, sizeof *m);
    if (!m) return rr_fail(err, RERANK_ERR_NOMEM, "out of memory");
    m->row = cfg.row;
    m->cfg = cfg;
    snprintf(m->architecture, sizeof m->architecture, "%s", m->row->architecture);
    m->desc = describe(&cfg);
    m->desc.architecture = m->architecture;
    *out = m;
    return RERANK_OK;
}

rerank_status rr_model_check_config(const json_t *config, rr_model_desc *desc, rerank_error *err) {
    rr_model_config cfg;
    rerank_status st = rr_model_config_parse(config, &cfg, err);
    if (!st && desc) *desc = describe(&cfg);
    return st;
}

rerank_status rr_model_load(const char *dir, const json_t *config, rerank_dtype dtype, rr_model **out,
                            rerank_error *err) {
    return rr_model_load_adapted(dir, config, dtype, NULL, out, err);
}

rerank_status rr_model_load_adapted(const char *dir, const json_t *config, rerank_dtype dtype, const char *adapter,
                                    rr_model **out, rerank_error *err) {
    *out = NULL;
    if (!dir || !config) return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "rr_model_load: NULL directory or config");
    if (dtype != RERANK_DTYPE_AUTO && dtype != RERANK_DTYPE_F32 && dtype != RERANK_DTYPE_BF16 &&
        dtype != RERANK_DTYPE_INT8)
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "%s: unknown dtype %d", dir, (int)dtype);
    rerank_dtype stored;
    rerank_status st = rr_packed_read_config(config, &stored, err);
    if (st) return st;
    /* a converted model computes in its stored precision (AUTO, or the same asked for explicitly) */
    if (stored != RERANK_DTYPE_AUTO && dtype != RERANK_DTYPE_AUTO && dtype != stored)
        return rr_fail(err, RERANK_ERR_UNSUPPORTED,
                       "%s: the model is converted to %s (config.json '%s'); load it with dtype auto or %s, or use "
                       "the original model for %s", dir, stored == RERANK_DTYPE_BF16 ? "bf16" : "int8", RR_PACKED_KEY,
                       stored == RERANK_DTYPE_BF16 ? "bf16" : "int8",
                       dtype == RERANK_DTYPE_F32 ? "f32" : dtype == RERANK_DTYPE_BF16 ? "bf16" : "int8");
    rr_model *m;
    if ((st = model_new(config, &m, err))) return st;
    m->dtype = stored != RERANK_DTYPE_AUTO ? stored : dtype;
    m->packed = m->desc.converted = stored != RERANK_DTYPE_AUTO;
    if (adapter && m->packed)
        st = rr_fail(err, RERANK_ERR_UNSUPPORTED, "%s: a converted model (rerank convert) cannot take a LoRA adapter; "
                     "load the original model with the adapter and --dtype %s", dir,
                     stored == RERANK_DTYPE_BF16 ? "bf16" : "int8");
    if (!st && !(st = rr_weights_open(dir, &m->weights, err)) &&
        !(st = adapter ? rr_adapter_apply(adapter, m->weights, m->architecture, err) : RERANK_OK))
        st = m->row->family->load(m, err);
    if (!st) st = rr_dense_prepare(m, err); /* the dense matrices in m->dtype, for every family alike */
    if (st) {
        rr_model_free(m);
        return st;
    }
    *out = m;
    return RERANK_OK;
}

const rr_model_desc *rr_model_describe(const rr_model *m) { return &m->desc; }

rerank_status rr_model_forward(const rr_model *m, const rr_batch *batch, rr_workspace *ws, float *out,
                               rerank_error *err) {
    if (!m || !batch || !ws || (batch->n_seqs && !out))
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "rr_model_forward: NULL argument");
    if (batch->prefix) {
        if (!m->row->family->prefix_forward)
            return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT,
                           "%s: a bidirectional encoder cannot continue a shared prefix; pass whole sequences",
                           m->architecture);
        if (batch->prefix->model != m)
            return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT,
                           "rr_model_forward: the prefix is empty or was computed by another model");
    }
    return m->row->family->forward(m, batch, ws, out, err);
}

/* ---- shared prefixes ---- */

size_t rr_model_prefix_max_tokens(const rr_model *m) {
    return m && m->row->family->prefix_max_tokens ? m->row->family->prefix_max_tokens(m) : 0;
}

rerank_status rr_model_prefix_forward(const rr_model *m, const int32_t *ids, size_t n, int n_layers,
                                      rr_workspace *ws, rr_prefix **prefix, rerank_error *err) {
    if (!m || !ws || !prefix || (n && !ids))
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "rr_model_prefix_forward: NULL argument");
    if (!m->row->family->prefix_forward)
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT,
                       "%s: a bidirectional encoder has no reusable prefix (every token sees the passage)",
                       m->architecture);
    if (!*prefix && !(*prefix = calloc(1, sizeof **prefix)))
        return rr_fail(err, RERANK_ERR_NOMEM, "rr_model_prefix_forward: out of memory");
    rr_prefix *p = *prefix;
    p->model = NULL;
    p->len = 0;
    rerank_status st = m->row->family->prefix_forward(m, ids, n, n_layers, ws, p, err);
    if (st) {
        p->model = NULL;
        p->len = 0;
        return st;
    }
    p->model = m;
    return RERANK_OK;
}

size_t rr_prefix_len(const rr_prefix *p) { return p && p->model ? p->len : 0; }

void rr_prefix_free(rr_prefix *p) {
    if (!p) return;
    free(p->k);
    free(p->v);
    free(p);
}

/* ---- workspaces ---- */

int rr_mul_size(size_t a, size_t b, size_t *out) {
    if (a && b > SIZE_MAX / a) return 0;
    *out = a * b;
    return 1;
}

rr_workspace *rr_workspace_new(void) { return calloc(1, sizeof(rr_workspace)); }

void rr_workspace_free(rr_workspace *ws) {
    if (!ws) return;
    for (int i = 0; i < RR_WS_SLOTS; i++) free(ws->buf[i]);
    rr_pool_free(ws->pool);
    free(ws);
}

void rr_workspace_set_threads(rr_workspace *ws, int n_threads) {
    if (n_threads <= 0) n_threads = rr_cpu_count();
    if (rr_pool_size(ws->pool) == n_threads) return;
    rr_pool_free(ws->pool);
    ws->pool = n_threads > 1 ? rr_pool_new(n_threads) : NULL;
}

rerank_status rr_workspace_get(rr_workspace *ws, int slot, size_t n, float **out, rerank_error *err) {
    if (slot < 0 || slot >= RR_WS_SLOTS) return rr_fail(err, RERANK_ERR_INTERNAL, "workspace slot %d out of range", slot);
    if (n == 0) n = 1;
    if (n > ws->cap[slot]) {
        if (n > SIZE_MAX / sizeof(float)) return rr_fail(err, RERANK_ERR_NOMEM, "workspace of %zu floats overflows", n);
        /* 64-byte aligned: rows of AMX tiles and vector stores then never straddle a cache line (a
         * malloc'ed buffer sits 16 bytes past one, which cost bf16 reranking ~20%) */
        void *p = NULL;
        if (posix_memalign(&p, 64, n * sizeof(float)))
            return rr_fail(err, RERANK_ERR_NOMEM, "cannot allocate a workspace of %zu floats", n);
        if (ws->buf[slot]) memcpy(p, ws->buf[slot], ws->cap[slot] * sizeof(float));
        free(ws->buf[slot]);
        ws->buf[slot] = p;
        ws->cap[slot] = n;
    }
    *out = ws->buf[slot];
    return RERANK_OK;
}
