/* xlmr.c - XLMRobertaForSequenceClassification (bge-reranker-base/large/v2-m3): the shared post-LN encoder
 * under "roberta.", RoBERTa position ids starting at pad+1, classification head dense->tanh->out_proj. */
#include "arch/arch.h"

const rr_encoder_spec rr_xlmr_spec = {
    .prefix = "roberta.",
    .positions = RR_POS_ROBERTA,
    .head_dense = "classifier.dense",
    .head_out = "classifier.out_proj",
    .head_input_dropout = true,
};
