/* decoder.h - private to src/arch: the shared pre-norm decoder block family (decoder.c) and the plain data
 * each architecture drives it with (gemma.c, qwen.c, minicpm.c, llama.c define one rr_decoder_spec each). */
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

extern const rr_family rr_decoder_family;
extern const rr_decoder_spec rr_gemma_spec;               /* gemma.c */
extern const rr_decoder_spec rr_qwen2_spec, rr_qwen3_spec; /* qwen.c */
extern const rr_decoder_spec rr_minicpm_layerwise_spec;   /* minicpm.c */
extern const rr_decoder_spec rr_llama_spec;               /* llama.c */

#endif
