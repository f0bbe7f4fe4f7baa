/* qwen.c - Qwen2ForCausalLM (q/k/v biases) and Qwen3ForCausalLM (Qwen3-Reranker: per-head q/k RMSNorm, no
 * biases): Llama-style blocks with SwiGLU and grouped-query attention. Score = logits of "no"/"yes". */
#include "arch/decoder.h"

const rr_decoder_spec rr_qwen2_spec = {
    .qkv_bias = true,
    .act_field = "hidden_act",
    .act_default = "silu",
    .head = RR_DEC_HEAD_LM,
};

const rr_decoder_spec rr_qwen3_spec = {
    .qk_norm = true,
    .act_field = "hidden_act",
    .act_default = "silu",
    .head = RR_DEC_HEAD_LM,
};
