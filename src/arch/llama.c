/* llama.c - LlamaForCausalLM: the plain decoder (RMSNorm x*w, SwiGLU, rotate-half RoPE, grouped-query
 * attention); used for generic LLM rerankers and checked against a real trained checkpoint (stories260K). */
#include "arch/decoder.h"

const rr_decoder_spec rr_llama_spec = {
    .act_field = "hidden_act",
    .act_default = "silu",
    .head = RR_DEC_HEAD_LM,
};
