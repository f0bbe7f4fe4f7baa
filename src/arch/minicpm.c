/* minicpm.c - LayerWiseMiniCPMForCausalLM (bge-reranker-v2-minicpm-layerwise): embeddings × scale_emb, each
 * residual branch × scale_depth/sqrt(num_hidden_layers), SwiGLU, and one 1-logit head per layer from
 * start_layer on, applied to the shared final RMSNorm of the hidden state after that many layers. */
#include "arch/decoder.h"

const rr_decoder_spec rr_minicpm_layerwise_spec = {
    .emb_scale = RR_DEC_EMB_CONFIG,
    .residual_scale = true,
    .act_field = "hidden_act",
    .act_default = "silu",
    .head = RR_DEC_HEAD_LAYERWISE,
};
