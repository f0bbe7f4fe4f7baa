/* train_internal.h - private to src/train: the fixed order of the parameter table (embeddings, then the 16
 * tensors per layer of the encoder's layer table, then the head), shared by the loader (train_model.c) and the
 * pass (train_encoder.c). */
#ifndef RR_TRAIN_TRAIN_INTERNAL_H
#define RR_TRAIN_TRAIN_INTERNAL_H

#include "train/train.h"

enum { RR_TP_WORD, RR_TP_POS, RR_TP_TYPE, RR_TP_EMB_LN_W, RR_TP_EMB_LN_B, RR_TP_LAYERS };

/* Tensors of one layer: the encoder's layer table (arch.h), RR_ENC_QW ... RR_ENC_N, the order scoring binds. */

/* Head tensors, in table order after the layers. */
enum { RR_TH_DENSE_W, RR_TH_DENSE_B, RR_TH_OUT_W, RR_TH_OUT_B, RR_TH_COUNT };

static inline size_t rr_train_layer_param(int layer, int t) { return RR_TP_LAYERS + (size_t)layer * RR_ENC_N + (size_t)t; }
static inline size_t rr_train_head_param(int n_layers, int t) { return rr_train_layer_param(n_layers, 0) + (size_t)t; }
static inline size_t rr_train_n_params(int n_layers) { return rr_train_head_param(n_layers, RR_TH_COUNT); }

#endif
