/* decoder.h - private to src/arch and the LoRA trainer: the shared pre-norm decoder block family (decoder.c) and
 * the plain data each architecture drives it with (gemma.c, qwen.c, minicpm.c, llama.c define one rr_decoder_spec
 * each; the rows of registry.c name them). */
#ifndef RR_ARCH_DECODER_H
#define RR_ARCH_DECODER_H

#include <stdbool.h>
#include "arch/arch.h"

typedef enum rr_dec_emb_scale {
    RR_DEC_EMB_NONE,        /* embeddings as stored */
    RR_DEC_EMB_SQRT_HIDDEN, /* Gemma: × sqrt(hidden_size), rounded to fp32 */
    RR_DEC_EMB_CONFIG,      /* MiniCPM: × config 'scale_emb' */
} rr_dec_emb_scale;

typedef enum rr_dec_head {
    RR_DEC_HEAD_LM,        /* rows of lm_head.weight (or embed_tokens when tied) at the last token */
    RR_DEC_HEAD_LAYERWISE, /* MiniCPM layerwise: lm_head.{L-start_layer}.linear_head.weight [1,H] on norm(h_L) */
} rr_dec_head;

/* What differs between decoder architectures. Everything else (pre-norm blocks, rotate-half RoPE, causal
 * grouped-query attention, gated MLP, final RMSNorm) is shared. */
typedef struct rr_decoder_spec {
    float norm_offset;          /* every RMSNorm is x̂ * (w + norm_offset): 0, or 1 for Gemma's (1 + w) */
    rr_dec_emb_scale emb_scale;
    bool residual_scale;        /* MiniCPM: each residual branch × scale_depth / sqrt(num_hidden_layers) */
    bool qk_norm;               /* Qwen3: per-head RMSNorm self_attn.{q,k}_norm [head_dim] before RoPE */
    bool qkv_bias;              /* Qwen2: q/k/v projections always have biases; others follow 'attention_bias' */
    const char *act_field;      /* config field naming the MLP activation ("hidden_act", Gemma "hidden_activation") */
    const char *act_default;    /* used when that field is absent or null */
    bool tie_default;           /* transformers' default for 'tie_word_embeddings' of this config class */
    rr_dec_head head;
} rr_decoder_spec;

/* The tensors of one decoder layer, under model.layers.<i>., in rr_decoder_layers' order. */
enum {
    RR_DEC_LN1, RR_DEC_QW, RR_DEC_QB, RR_DEC_KW, RR_DEC_KB, RR_DEC_VW, RR_DEC_VB, RR_DEC_OW, RR_DEC_OB, RR_DEC_QNORM,
    RR_DEC_KNORM, RR_DEC_LN2, RR_DEC_GATEW, RR_DEC_UPW, RR_DEC_DOWNW, RR_DEC_N
};
extern const rr_layer_table rr_decoder_layers;

/* The tensors around the layers. */
typedef struct rr_dec_outer {
    const float *embed;      /* [vocab,H] model.embed_tokens.weight */
    const float *final_norm; /* [H] model.norm.weight */
    const float *lm_head;    /* [vocab,H] lm_head.weight, or embed when tied (RR_DEC_HEAD_LM) */
    const float **heads;     /* RR_DEC_HEAD_LAYERWISE: [n_layers - start_layer + 1] of [1,H]
                              * lm_head.<k>.linear_head.weight (allocated: free it) */
} rr_dec_outer;

/* Binds a decoder checkpoint as scoring reads it, for scoring and training alike: embed_tokens and the final
 * norm, every layer's tensors of rr_decoder_layers (into `layers` or `views`, as rr_layers_bind; skip_dense for a
 * converted model), then the output head. */
rerank_status rr_decoder_bind(rr_weights *w, const rr_decoder_spec *sp, const rr_model_config *c, rr_dec_outer *o,
                              void *layers, const float **views, bool skip_dense, rerank_error *err);

/* x[N,H] = the embeddings of ids[0..N), times the config's emb_scale (the frozen embeddings of training too). */
void rr_decoder_embed_fwd(const rr_dec_outer *o, const rr_model_config *c, const int32_t *ids, size_t N, float *x);

extern const rr_family rr_decoder_family;

#endif
