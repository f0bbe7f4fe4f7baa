/* gemma.c - GemmaForCausalLM (bge-reranker-v2-gemma): RMSNorm x*(1+w), embeddings × sqrt(hidden), GeGLU with
 * tanh GELU, multi-query attention, output head tied to embed_tokens. Score = "Yes" logit at the last token. */
#include "arch/decoder.h"

const rr_decoder_spec rr_gemma_spec = {
    .norm_offset = 1.0f,
    .emb_scale = RR_DEC_EMB_SQRT_HIDDEN,
    .act_field = "hidden_activation",
    .act_default = "gelu_pytorch_tanh",
    .tie_default = true,
    .head = RR_DEC_HEAD_LM,
};
