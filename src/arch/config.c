/* config.c - the one parser of config.json (config.h): the converted-model key, the architecture's row of the
 * table, then the section of the row's block family (encoder or decoder), steered by the row's spec. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "arch/config.h"
#include "arch/decoder.h"
#include "arch/packed.h"
#include "base/error.h"
#include "base/file.h"
#include "base/json.h"

#define CONFIG "config.json"

/* An integer field in [lo, hi]; a missing optional field gives dflt. */
static rerank_status get_int(const json_t *c, const char *key, bool required, long long dflt, long long lo,
                             long long hi, int *out, rerank_error *err) {
    return rr_json_get_int_in(c, key, required, dflt, lo, hi, out, CONFIG, err);
}

/* A number field in (0, 1): a norm epsilon. */
static rerank_status get_eps(const json_t *c, const char *key, double dflt, float *out, rerank_error *err) {
    double eps;
    rerank_status st = rr_json_get_num(c, key, false, dflt, &eps, CONFIG, err);
    if (st) return st;
    if (!(eps > 0.0 && eps < 1.0))
        return rr_fail(err, RERANK_ERR_FORMAT, "%s: field '%s' is %g, must be in (0, 1)", CONFIG, key, eps);
    *out = (float)eps;
    return RERANK_OK;
}

/* A positive finite float field. */
static rerank_status get_pos(const json_t *c, const char *key, double dflt, double hi, float *out, rerank_error *err) {
    double v;
    rerank_status st = rr_json_get_num(c, key, false, dflt, &v, CONFIG, err);
    if (st) return st;
    if (!(v > 0.0 && v <= hi))
        return rr_fail(err, RERANK_ERR_FORMAT, "%s: field '%s' is %g, must be in (0, %g]", CONFIG, key, v, hi);
    *out = (float)v;
    return RERANK_OK;
}

/* A dropout probability, read as given; the trainers check its range (scoring ignores it). */
static rerank_status get_prob(const json_t *c, const char *key, double dflt, float *out, rerank_error *err) {
    double v;
    rerank_status st = rr_json_get_num(c, key, false, dflt, &v, CONFIG, err);
    if (!st) *out = (float)v;
    return st;
}

/* The sizes both families have, in the order they are checked; a decoder has num_key_value_heads (default: the
 * heads) and positions up to 2^24, an encoder type_vocab_size (default 2) and positions up to 2^20. */
static rerank_status get_sizes(const json_t *c, bool decoder, rr_model_config *m, rerank_error *err) {
    rerank_status st;
    if ((st = get_int(c, "hidden_size", true, 0, 1, 1 << 16, &m->hidden, err)) ||
        (st = get_int(c, "num_hidden_layers", true, 0, 1, 1024, &m->n_layers, err)) ||
        (st = get_int(c, "num_attention_heads", true, 0, 1, 1024, &m->n_heads, err)))
        return st;
    m->n_kv_heads = m->n_heads;
    if (decoder && (st = get_int(c, "num_key_value_heads", false, m->n_heads, 1, 1024, &m->n_kv_heads, err))) return st;
    if ((st = get_int(c, "intermediate_size", true, 0, 1, 1 << 20, &m->ffn, err)) ||
        (st = get_int(c, "vocab_size", true, 0, 1, 1 << 24, &m->vocab, err)))
        return st;
    m->type_vocab = 1;
    if (!decoder && (st = get_int(c, "type_vocab_size", false, 2, 1, 1 << 16, &m->type_vocab, err))) return st;
    return get_int(c, "max_position_embeddings", true, 0, 1, decoder ? 1 << 24 : 1 << 20, &m->max_pos, err);
}

/* ---- the encoder section (BERT / RoBERTa / XLM-R names) ---- */

rerank_status rr_config_parse_encoder(const json_t *c, const void *spec, rr_model_config *e, rerank_error *err) {
    const rr_encoder_spec *sp = spec;
    rerank_status st;
    if ((st = get_sizes(c, false, e, err))) return st;
    if (e->hidden % e->n_heads != 0)
        return rr_fail(err, RERANK_ERR_FORMAT, "%s: field 'hidden_size' (%d) is not a multiple of 'num_attention_heads' (%d)",
                       CONFIG, e->hidden, e->n_heads);
    e->head_dim = e->hidden / e->n_heads;
    bool roberta = sp->positions == RR_POS_ROBERTA;
    if ((st = get_int(c, "pad_token_id", roberta, 0, 0, 1 << 24, &e->pad_id, err))) return st;
    e->max_tokens = roberta ? e->max_pos - e->pad_id - 1 : e->max_pos;
    if (e->max_tokens < 1)
        return rr_fail(err, RERANK_ERR_FORMAT,
                       "%s: field 'max_position_embeddings' (%d) leaves no positions after 'pad_token_id' (%d)", CONFIG,
                       e->max_pos, e->pad_id);
    if ((st = get_eps(c, "layer_norm_eps", 1e-12, &e->eps, err))) return st;
    const char *act, *pos_type;
    if ((st = rr_json_get_str(c, "hidden_act", false, "gelu", &act, NULL, CONFIG, err))) return st;
    if (strcmp(act, "gelu") != 0)
        return rr_fail(err, RERANK_ERR_UNSUPPORTED, "%s: field 'hidden_act' is '%.64s'; only 'gelu' (erf) is supported",
                       CONFIG, act);
    e->act = RR_GLU_GELU;
    if ((st = rr_json_get_str(c, "position_embedding_type", false, "absolute", &pos_type, NULL, CONFIG, err)))
        return st;
    if (strcmp(pos_type, "absolute") != 0)
        return rr_fail(err, RERANK_ERR_UNSUPPORTED,
                       "%s: field 'position_embedding_type' is '%.64s'; only 'absolute' is supported", CONFIG, pos_type);
    /* Labels: id2label decides when present (as in transformers), else num_labels, else transformers' 2. */
    const json_t *id2label = json_object_get(c, "id2label");
    const char *field = "id2label";
    int n_labels;
    if (json_is_object(id2label)) {
        n_labels = json_object_size(id2label) > 1000000 ? 1000000 : (int)json_object_size(id2label);
    } else {
        if (id2label && !json_is_null(id2label))
            return rr_fail(err, RERANK_ERR_FORMAT, "%s: field 'id2label' must be an object", CONFIG);
        field = "num_labels";
        if ((st = get_int(c, "num_labels", false, 2, 0, 1000000, &n_labels, err))) return st;
    }
    if (n_labels != 1)
        return rr_fail(err, RERANK_ERR_UNSUPPORTED,
                       "%s: field '%s' gives %d labels; only single-logit rerankers (num_labels 1) are supported",
                       CONFIG, field, n_labels);
    e->emb_scale = e->res_scale = 1.0f;
    if ((st = get_prob(c, "hidden_dropout_prob", 0.1, &e->p_hidden, err)) ||
        (st = get_prob(c, "attention_probs_dropout_prob", 0.1, &e->p_attn, err)))
        return st;
    return RERANK_OK;
}

/* ---- the decoder section (Llama-style names) ---- */

/* A special-token id: an integer, the first of a list (Llama 3 style eos lists), or -1 when absent/null. */
static rerank_status get_token_id(const json_t *c, const char *key, int vocab, int *out, rerank_error *err) {
    const json_t *v = json_object_get(c, key);
    if (json_is_array(v)) v = json_array_size(v) ? json_array_get(v, 0) : NULL;
    *out = -1;
    if (!v || json_is_null(v)) return RERANK_OK;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= vocab)
        return rr_fail(err, RERANK_ERR_FORMAT, "%s: field '%s' must be a token id in [0, %d)", CONFIG, key, vocab);
    *out = (int)json_integer_value(v);
    return RERANK_OK;
}

/* Shapes: head_dim given or hidden / heads, even (RoPE), and not too large. */
static rerank_status decoder_heads(const json_t *c, rr_model_config *d, rerank_error *err) {
    rerank_status st;
    if (d->n_heads % d->n_kv_heads != 0)
        return rr_fail(err, RERANK_ERR_FORMAT,
                       "%s: field 'num_key_value_heads' (%d) does not divide 'num_attention_heads' (%d)", CONFIG,
                       d->n_kv_heads, d->n_heads);
    const json_t *hd = json_object_get(c, "head_dim");
    if (!hd || json_is_null(hd)) {
        if (d->hidden % d->n_heads != 0)
            return rr_fail(err, RERANK_ERR_FORMAT,
                           "%s: field 'hidden_size' (%d) is not a multiple of 'num_attention_heads' (%d) and no "
                           "'head_dim' is given",
                           CONFIG, d->hidden, d->n_heads);
        d->head_dim = d->hidden / d->n_heads;
    } else if ((st = get_int(c, "head_dim", true, 0, 1, 1 << 12, &d->head_dim, err))) {
        return st;
    }
    if (d->head_dim % 2 != 0)
        return rr_fail(err, RERANK_ERR_FORMAT, "%s: field 'head_dim' (%d) must be even for rotary embeddings", CONFIG,
                       d->head_dim);
    if ((long long)d->head_dim * d->n_heads > (1 << 20))
        return rr_fail(err, RERANK_ERR_FORMAT, "%s: fields 'head_dim' * 'num_attention_heads' (%d * %d) are too large",
                       CONFIG, d->head_dim, d->n_heads);
    return RERANK_OK;
}

/* The features the shared block does not have are refused by name. */
static rerank_status decoder_refusals(const json_t *c, rerank_error *err) {
    const json_t *rs = json_object_get(c, "rope_scaling");
    if (rs && !json_is_null(rs))
        return rr_fail(err, RERANK_ERR_UNSUPPORTED, "%s: field 'rope_scaling' is set; only plain RoPE is supported",
                       CONFIG);
    bool flag;
    rerank_status st;
    if ((st = rr_json_get_bool(c, "use_sliding_window", false, false, &flag, CONFIG, err))) return st;
    if (flag)
        return rr_fail(err, RERANK_ERR_UNSUPPORTED, "%s: field 'use_sliding_window' is true; not supported", CONFIG);
    if ((st = rr_json_get_bool(c, "mlp_bias", false, false, &flag, CONFIG, err))) return st;
    if (flag) return rr_fail(err, RERANK_ERR_UNSUPPORTED, "%s: field 'mlp_bias' is true; not supported", CONFIG);
    return RERANK_OK;
}

/* The MLP activation, from the field the spec names. */
static rerank_status decoder_act(const json_t *c, const rr_decoder_spec *sp, rr_glu *out, rerank_error *err) {
    const char *act;
    rerank_status st = rr_json_get_str(c, sp->act_field, false, sp->act_default, &act, NULL, CONFIG, err);
    if (st) return st;
    if (strcmp(act, "silu") == 0 || strcmp(act, "swish") == 0)
        *out = RR_GLU_SILU;
    else if (strcmp(act, "gelu_pytorch_tanh") == 0)
        *out = RR_GLU_GELU_TANH;
    else if (strcmp(act, "gelu") == 0)
        *out = RR_GLU_GELU;
    else
        return rr_fail(err, RERANK_ERR_UNSUPPORTED,
                       "%s: field '%s' is '%.64s'; supported: 'silu', 'gelu_pytorch_tanh', 'gelu'", CONFIG,
                       sp->act_field, act);
    return RERANK_OK;
}

/* Embedding and residual scalings the spec asks for, and the layerwise heads' fields. */
static rerank_status decoder_extras(const json_t *c, const rr_decoder_spec *sp, rr_model_config *d, rerank_error *err) {
    rerank_status st;
    d->emb_scale = 1.0f;
    d->res_scale = 1.0f;
    if (sp->emb_scale == RR_DEC_EMB_SQRT_HIDDEN) d->emb_scale = (float)sqrt((double)d->hidden);
    if (sp->emb_scale == RR_DEC_EMB_CONFIG && (st = get_pos(c, "scale_emb", 1.0, 1e6, &d->emb_scale, err))) return st;
    if (sp->residual_scale) {
        /* transformers multiplies by the Python double scale_depth / sqrt(n); PyTorch rounds it to fp32 */
        double depth;
        if ((st = rr_json_get_num(c, "scale_depth", false, 1.0, &depth, CONFIG, err))) return st;
        if (!(depth > 0.0 && depth <= 1e6))
            return rr_fail(err, RERANK_ERR_FORMAT, "%s: field 'scale_depth' is %g, must be in (0, 1e6]", CONFIG, depth);
        d->res_scale = (float)(depth / sqrt((double)d->n_layers));
    }
    if (sp->head == RR_DEC_HEAD_LAYERWISE) {
        const char *type;
        bool flag;
        if ((st = get_int(c, "start_layer", false, 8, 0, d->n_layers, &d->start_layer, err))) return st;
        if ((st = rr_json_get_bool(c, "head_multi", false, true, &flag, CONFIG, err))) return st;
        if (!flag)
            return rr_fail(err, RERANK_ERR_UNSUPPORTED, "%s: field 'head_multi' is false; only per-layer heads are supported",
                           CONFIG);
        if ((st = rr_json_get_str(c, "head_type", false, "simple", &type, NULL, CONFIG, err))) return st;
        if (strcmp(type, "simple") != 0)
            return rr_fail(err, RERANK_ERR_UNSUPPORTED, "%s: field 'head_type' is '%.64s'; only 'simple' is supported",
                           CONFIG, type);
    }
    return RERANK_OK;
}

rerank_status rr_config_parse_decoder(const json_t *c, const void *spec, rr_model_config *d, rerank_error *err) {
    const rr_decoder_spec *sp = spec;
    rerank_status st;
    if ((st = get_sizes(c, true, d, err)) || (st = decoder_heads(c, d, err)) || (st = get_eps(c, "rms_norm_eps", 1e-6, &d->eps, err)) ||
        (st = get_pos(c, "rope_theta", 10000.0, 1e12, &d->rope_theta, err)) || (st = decoder_refusals(c, err)))
        return st;
    bool attn_bias;
    if ((st = rr_json_get_bool(c, "attention_bias", false, false, &attn_bias, CONFIG, err)) ||
        (st = rr_json_get_bool(c, "tie_word_embeddings", false, sp->tie_default, &d->tied, CONFIG, err)) ||
        (st = decoder_act(c, sp, &d->act, err)) ||
        (st = get_token_id(c, "bos_token_id", d->vocab, &d->bos_id, err)) ||
        (st = get_token_id(c, "eos_token_id", d->vocab, &d->eos_id, err)) ||
        (st = get_token_id(c, "pad_token_id", d->vocab, &d->pad_id, err)) || (st = decoder_extras(c, sp, d, err)) ||
        (st = get_prob(c, "attention_dropout", 0.0, &d->p_attn, err)))
        return st;
    d->qkv_bias = sp->qkv_bias || attn_bias;
    d->qk_norm = sp->qk_norm;
    d->o_bias = attn_bias;
    d->max_tokens = d->max_pos;
    return RERANK_OK;
}

/* ---- what the layer tables (arch.h) ask of a config ---- */

int64_t rr_config_dim(const rr_model_config *c, char code) {
    switch (code) {
    case 'H': return c->hidden;
    case 'F': return c->ffn;
    case 'Q': return (int64_t)c->n_heads * c->head_dim;
    case 'K': return (int64_t)c->n_kv_heads * c->head_dim;
    case 'D': return c->head_dim;
    default: return 0;
    }
}

bool rr_config_has(const rr_model_config *c, char cond) {
    switch (cond) {
    case 'b': return c->qkv_bias;
    case 'o': return c->o_bias;
    case 'n': return c->qk_norm;
    default: return true;
    }
}

/* ---- the whole document ---- */

rerank_status rr_model_config_parse(const json_t *config, rr_model_config *out, rerank_error *err) {
    memset(out, 0, sizeof *out);
    rerank_status st = rr_packed_read_config(config, &out->packed, err);
    if (st || (st = rr_arch_find(config, &out->row, err))) return st;
    return out->row->family->parse_config(config, out->row->spec, out, err);
}

rerank_status rr_model_config_load(const char *dir, rr_model_config *out, rerank_error *err) {
    char path[4096];
    if (!rr_path_join(path, sizeof path, dir, CONFIG))
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "%s: path too long", dir);
    json_t *config;
    rerank_status st = rr_json_load_file(path, 1 << 20, &config, err);
    if (st) return st;
    st = rr_model_config_parse(config, out, err);
    json_decref(config);
    return st;
}
