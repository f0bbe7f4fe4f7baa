/* arch.h - private to src/arch (src/train reads the table row and the specs): the model object, the block
 * families and the per-architecture data they are driven by.
 *
 * DESIGN: a registry row (registry.c) names a config.json architecture and pairs a block family (its
 * parse/load/forward/free functions) with a family-specific spec: plain data such as tensor-name prefixes,
 * position rule, head tensors, norm offset. The row also says how `rerank train` fine-tunes the architecture,
 * and the trainers read the same spec and the same parsed config (config.h) as scoring. Adding an
 * architecture of an existing family is one spec + one row, for scoring and training both; adding a family
 * is one more rr_family (and a trainer for it). */
#ifndef RR_ARCH_ARCH_H
#define RR_ARCH_ARCH_H

#include <jansson.h>
#include "arch/config.h"
#include "arch/model.h"
#include "io/weights.h"
#include "kernels/kernels.h"

typedef struct rr_family rr_family;
typedef struct rr_dense rr_dense;

/* How `rerank train` fine-tunes an architecture; src/train picks its trainer by this column alone. */
typedef enum rr_train_method {
    RR_TRAIN_NONE, /* scoring only */
    RR_TRAIN_FULL, /* every parameter (the encoder family: train_model.c, train_encoder.c) */
    RR_TRAIN_LORA, /* LoRA adapters on the frozen base (the decoder family: train_decoder*.c) */
} rr_train_method;

/* One row of the registry. */
struct rr_arch_row {
    const char *architecture; /* config.json architectures[0] */
    rerank_model_kind kind;
    const rr_family *family;
    const void *spec;         /* family-specific data, e.g. const rr_encoder_spec * */
    rr_train_method train;
};

/* The row of config.json's architectures[0]; an unknown one is an error listing the supported ones. */
rerank_status rr_arch_find(const json_t *config, const rr_arch_row **row, rerank_error *err);

struct rr_model {
    const rr_arch_row *row;
    rr_model_config cfg; /* config.json, parsed (cfg.row == row) */
    rr_model_desc desc;
    char architecture[128];
    rr_weights *weights; /* the checkpoint's tensors */
    void *impl;          /* the family's state (tensor views; it reads its hyper-parameters from cfg) */
    rerank_dtype dtype;  /* compute precision of the dense weights: asked for at load, or a converted model's */
    bool packed;         /* a converted model (packed.h): the dense weights are stored packed in `dtype` */
};

/* Keys/values of a shared prompt prefix (model.h). Filled by a family's prefix_forward. */
struct rr_prefix {
    const rr_model *model; /* the model that computed it; NULL while it holds no prefix */
    size_t len;            /* tokens */
    int n_layers;          /* layers whose keys/values are held (1..n_layers of the model) */
    size_t kv_dim;         /* floats per token and layer: n_kv_heads * head_dim */
    float *k, *v;          /* [n_layers][len][kv_dim] keys (after RoPE) and values */
    size_t cap;            /* floats allocated in each of k and v */
};

/* A block family. parse_config() is its section of the config parser (config.c); load() builds m->impl from
 * m->cfg and binds and shape-checks every tensor of m->weights (the loader then converts the dense matrices
 * it lists: rr_dense_prepare). */
struct rr_family {
    rerank_status (*parse_config)(const json_t *config, const void *spec, rr_model_config *cfg, rerank_error *err);
    rerank_status (*load)(rr_model *m, rerank_error *err);
    rerank_status (*forward)(const rr_model *m, const rr_batch *batch, rr_workspace *ws, float *out,
                             rerank_error *err);
    void (*free_impl)(void *impl);
    /* Causal families only (NULL for encoders): fill p with the keys/values of ids[0..n) (model.h), and
     * the longest prefix p may hold. */
    rerank_status (*prefix_forward)(const rr_model *m, const int32_t *ids, size_t n, int n_layers, rr_workspace *ws,
                                    rr_prefix *p, rerank_error *err);
    size_t (*prefix_max_tokens)(const rr_model *m);
    /* The dense matrices of a bound model (rr_dense): fills out[0..n) when out is not NULL, returns n. */
    size_t (*dense)(rr_model *m, rr_dense *out);
};

/* ---- dense matrices (dense.c) ----
 * A family binds every tensor except, in a converted model, its dense weights, lists its dense matrices, and
 * hands them to rr_dense_prepare, which makes each the rr_wmat the kernels read in one place for all families:
 * converted at load, or borrowed from a converted model's file. rerank convert writes the same list (packed.c). */
struct rr_dense {
    char name[160];   /* checkpoint tensor name of W[out,in], e.g. "model.layers.0.mlp.down_proj.weight" */
    const float *src; /* its fp32 view; NULL in a converted model */
    rr_wmat *mat;     /* filled by rr_dense_prepare */
    int out, in;
    bool down;        /* an FFN/MLP down-projection: kept bf16 under int8 (see dense.c) */
};

/* Fills every dense matrix of m in m->dtype. */
rerank_status rr_dense_prepare(rr_model *m, rerank_error *err);

/* ---- layer tensor tables (layers.c) ----
 * A block family lists the tensors of one layer once, in a fixed order (an enum: RR_ENC_*, RR_DEC_*): the
 * checkpoint name's suffix, the shape as dimension codes of the parsed config (rr_config_dim: 'H' hidden, 'F'
 * ffn, 'Q' heads * head_dim, 'K' kv heads * head_dim, 'D' head_dim; 0 = none), whether a model has it
 * (rr_config_has: 0 always, 'b' q/k/v biases, 'o' o_proj bias, 'n' q/k norms) and where scoring's layer struct
 * keeps its fp32 view (`field`) and, for a dense matrix, its rr_wmat (`mat`, else RR_NO_MAT). Scoring binds and
 * converts its layers from the table; training names, shapes and binds its parameters from the same table. */
#define RR_NO_MAT SIZE_MAX
typedef struct rr_layer_tensor {
    const char *suffix;
    size_t field, mat;
    char d0, d1, cond;
} rr_layer_tensor;

typedef struct rr_layer_table {
    const rr_layer_tensor *t;
    int n;
    const char *name_fmt; /* a tensor's name from (prefix, layer, suffix), e.g. "%sencoder.layer.%d.%s" */
    size_t stride;        /* bytes of scoring's layer struct */
    size_t down;          /* `mat` of the FFN/MLP down-projection (rr_dense.down) */
} rr_layer_table;

int64_t rr_config_dim(const rr_model_config *c, char code);
bool rr_config_has(const rr_model_config *c, char cond);
/* Tensor i of layer `layer`'s checkpoint name into buf. */
void rr_layer_tensor_name(const rr_layer_table *tab, const char *prefix, int layer, int i, char *buf, size_t size);
/* Binds tensor i of layer l, for every l < n_layers and every i the model has (skip_dense: not the dense matrices,
 * which a converted model stores packed): into views[l * tab->n + i] when views is not NULL, else into field of
 * the l-th struct of `layers` (tab->stride bytes apart). */
rerank_status rr_layers_bind(const rr_layer_table *tab, const char *prefix, const rr_model_config *c, rr_weights *w,
                             int n_layers, void *layers, const float **views, bool skip_dense, rerank_error *err);
/* rr_family.dense for the layers' dense matrices (fills out[0..n) when out is not NULL); returns n. */
size_t rr_layers_dense(const rr_layer_table *tab, const char *prefix, const rr_model_config *c, int n_layers,
                       void *layers, rr_dense *out);
/* Frees the layers' rr_wmats (layers may be NULL). */
void rr_layers_free(const rr_layer_table *tab, int n_layers, void *layers);

/* Scratch buffers of a workspace, by slot; each grows to the largest request. */
enum { RR_WS_SLOTS = 16 };
struct rr_workspace {
    float *buf[RR_WS_SLOTS];
    size_t cap[RR_WS_SLOTS]; /* floats */
    struct rr_pool *pool;    /* threads of the forward pass (rr_workspace_set_threads); NULL = the caller only */
};

/* Returns slot `slot` with room for n floats (a product a*b checked by the caller via rr_mul_size), 64-byte
 * aligned, its earlier contents kept when it grows. */
rerank_status rr_workspace_get(rr_workspace *ws, int slot, size_t n, float **out, rerank_error *err);

/* *out = a * b; 0 on overflow. */
int rr_mul_size(size_t a, size_t b, size_t *out);

/* ---- the encoder family (encoder.c) ---- */

typedef enum rr_position_rule {
    RR_POS_ABSOLUTE, /* BERT: position = index in the sequence */
    RR_POS_ROBERTA,  /* RoBERTa: cumsum(id != pad) * (id != pad) + pad, per sequence */
} rr_position_rule;

/* The tensors of one encoder layer, under <prefix>encoder.layer.<i>., in rr_encoder_layers' order. */
enum {
    RR_ENC_QW, RR_ENC_QB, RR_ENC_KW, RR_ENC_KB, RR_ENC_VW, RR_ENC_VB, RR_ENC_OW, RR_ENC_OB, RR_ENC_LN1W, RR_ENC_LN1B,
    RR_ENC_UPW, RR_ENC_UPB, RR_ENC_DOWNW, RR_ENC_DOWNB, RR_ENC_LN2W, RR_ENC_LN2B, RR_ENC_N
};
extern const rr_layer_table rr_encoder_layers; /* encoder.c */

/* Per-architecture data for the shared encoder (the thin model files define one each). */
typedef struct rr_encoder_spec {
    const char *prefix;     /* "roberta." / "bert.": embeddings.* and encoder.layer.N.* live under it */
    rr_position_rule positions;
    const char *head_dense; /* dense -> tanh on token 0: "classifier.dense" / "bert.pooler.dense" */
    const char *head_out;   /* -> num_labels logits: "classifier.out_proj" / "classifier" */
    bool head_input_dropout; /* training: dropout on the head's input token too (RobertaClassificationHead; BERT's
                              * pooler has none) */
} rr_encoder_spec;

extern const rr_family rr_encoder_family;

/* x[N,H] = word[id] + type[type_id] + pos[position] for every token of b (the input of the embedding LayerNorm),
 * positions by the spec's rule, per sequence; pos_ids (may be NULL) receives them. Scoring and training both. */
void rr_encoder_embed_sum(const rr_encoder_spec *sp, const rr_model_config *c, const float *word, const float *pos,
                          const float *type, const rr_batch *b, float *x, int32_t *pos_ids);

/* ---- heads (heads.c) ---- */

/* dense(H->H) -> tanh -> out(H->1) on one token: the XLM-R classification head and BERT pooler+classifier. */
typedef struct rr_cls_head {
    const float *dense_w; /* [H,H] <head_dense>.weight */
    const float *dense_b; /* [H]   <head_dense>.bias */
    const float *out_w;   /* [1,H] <head_out>.weight */
    const float *out_b;   /* [1]   <head_out>.bias */
    int hidden;
} rr_cls_head;

rerank_status rr_cls_head_load(rr_weights *w, const char *dense, const char *out, int hidden, rr_cls_head *head,
                               rerank_error *err);
/* x[H] -> one logit; scratch holds H floats. */
float rr_cls_head_fwd(const rr_cls_head *head, const float *x, float *scratch);

#endif
