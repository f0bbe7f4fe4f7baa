/* config.h - private to src/arch and its users (score, train): a model's config.json parsed once, by one parser
 * (config.c), into a typed description that scoring (the block families), training (the trainers) and the data
 * pipeline all read. Nothing else reads config.json's hyper-parameters.
 *
 * The parser looks the architecture up in the one table (registry.c) and lets the row's family say which
 * fields apply: the encoder section (BERT-style names) or the decoder section (Llama-style names), each
 * steered by the row's spec (e.g. which field names the activation, whether RoBERTa positions need a pad id). */
#ifndef RR_ARCH_CONFIG_H
#define RR_ARCH_CONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include "kernels/kernels.h"
#include "rerank.h"

typedef struct rr_arch_row rr_arch_row; /* arch.h */

typedef struct rr_model_config {
    const rr_arch_row *row; /* the architecture's row of the table: kind, family, spec, how it trains */
    int hidden, n_layers, n_heads, n_kv_heads, head_dim, ffn, vocab, max_pos;
    int max_tokens;  /* longest sequence: encoders max_pos (RoBERTa: max_pos - pad - 1), decoders max_pos */
    int type_vocab;  /* encoders: type_vocab_size (default 2); decoders 1 */
    int pad_id;      /* encoders: pad_token_id (BERT default 0); decoders: the id or -1 */
    int bos_id, eos_id; /* decoders: the id (the first of a list) or -1; encoders 0 */
    int start_layer; /* layerwise heads: the lowest cutoff layer with a head; 0 otherwise */
    float eps;       /* layer_norm_eps (encoders) / rms_norm_eps (decoders) */
    rr_glu act;      /* the MLP activation (encoders: GELU, erf); decoders gate with it */
    /* decoders only: */
    float rope_theta;
    float emb_scale, res_scale; /* embeddings and residual branches are multiplied by these (1 = none) */
    bool qkv_bias, o_bias;      /* q/k/v projections (spec qkv_bias or attention_bias), o_proj (attention_bias) */
    bool qk_norm;               /* per-head q/k RMSNorms (the spec's qk_norm) */
    bool tied;                  /* the output head is embed_tokens (tie_word_embeddings, the spec's default) */
    /* training: dropout probabilities as transformers' train() applies them (encoders hidden_dropout_prob and
     * attention_probs_dropout_prob, default 0.1; decoders attention_dropout, default 0) */
    float p_hidden, p_attn;
    rerank_dtype packed; /* RERANK_DTYPE_AUTO, or the stored dtype of a converted model (packed.h) */
} rr_model_config;

/* Parses a config.json document (borrowed) into *out. Every error is one line naming config.json and the
 * field, e.g. "config.json: field 'hidden_size' is 0, must be in [1, 65536]". */
rerank_status rr_model_config_parse(const json_t *config, rr_model_config *out, rerank_error *err);

/* Reads and parses dir/config.json. */
rerank_status rr_model_config_load(const char *dir, rr_model_config *out, rerank_error *err);

/* The family sections of the parser (rr_family.parse_config): the fields of one block family, steered by its
 * spec. */
rerank_status rr_config_parse_encoder(const json_t *c, const void *spec, rr_model_config *cfg, rerank_error *err);
rerank_status rr_config_parse_decoder(const json_t *c, const void *spec, rr_model_config *cfg, rerank_error *err);

#endif
