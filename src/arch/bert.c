/* bert.c - BertForSequenceClassification (cross-encoder/ms-marco-MiniLM family): the shared post-LN encoder
 * under "bert.", absolute positions from 0, token type embeddings, pooler dense+tanh then `classifier`. */
#include "arch/arch.h"

const rr_encoder_spec rr_bert_spec = {
    .prefix = "bert.",
    .positions = RR_POS_ABSOLUTE,
    .head_dense = "bert.pooler.dense",
    .head_out = "classifier",
};
