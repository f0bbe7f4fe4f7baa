/* train_encoder_trainer.c - the encoder cross-encoders (XLM-R, BERT) behind rr_trainer: full fine-tuning,
 * every parameter of rr_train_model trainable. The exact step (rr_train_step) writes the model's own gradient
 * buffer; accumulate adds it, scaled, into the trainer's. */
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/file.h"
#include "io/safetensors.h"
#include "train/save.h"
#include "train/trainer.h"

typedef struct enc_impl {
    rr_train_model *m;
    bool dropout;
} enc_impl;

static rerank_status enc_accumulate(rr_trainer *t, const rr_train_micro *mb, float scale, rr_train_loss *loss,
                                    float *logits, rerank_error *err) {
    enc_impl *e = t->impl;
    rr_train_model *m = e->m;
    m->dropout = e->dropout;
    m->dropout_seed = mb->sample_seed;
    m->dropout_seq0 = mb->seq0;
    rerank_status st = rr_train_step(m, &mb->batch, mb->group_size, mb->teacher, logits, loss, err);
    if (st) return st;
    for (size_t i = 0; i < t->n_floats; i++) t->grad[i] += scale * m->grad[i];
    return RERANK_OK;
}

/* model.safetensors with the input checkpoint's tensors in its order: trained ones as F32 (an F16/BF16 input
 * is saved as F32, the master weights), any other tensor (e.g. position_ids) copied unchanged. */
static rerank_status enc_save(const rr_trainer *t, const char *src_dir, const char *out_dir, bool merge,
                              rerank_error *err) {
    (void)merge;
    const rr_train_model *m = ((const enc_impl *)t->impl)->m;
    char src[4096], dst[4096];
    if (!rr_path_join(src, sizeof src, src_dir, "model.safetensors") ||
        !rr_path_join(dst, sizeof dst, out_dir, "model.safetensors"))
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "%s: path too long", out_dir);
    rerank_status st = rr_train_mkdirs(out_dir, err);
    if (st) return st;
    rr_safetensors *in = NULL;
    if (rr_file_exists(src) && (st = rr_safetensors_open(src, &in, err))) return st;
    size_t n_in = in ? rr_safetensors_count(in) : 0, n = 0;
    rr_st_write_tensor *w = calloc(n_in + m->n_params, sizeof *w);
    bool *written = calloc(m->n_params, sizeof *written);
    if (!w || !written) st = rr_fail(err, RERANK_ERR_NOMEM, "out of memory");
    for (size_t i = 0; !st && i < n_in; i++) {
        const rr_st_tensor *x = rr_safetensors_at(in, i);
        const rr_train_param *p = rr_train_find(m, x->name);
        if (p) {
            w[n++] = (rr_st_write_tensor){p->name, RR_ST_F32, p->n_dims, {p->shape[0], p->shape[1]}, m->w + p->offset};
            written[p - m->params] = true;
        } else {
            w[n] = (rr_st_write_tensor){x->name, x->dtype, x->n_dims, {0}, x->data};
            memcpy(w[n++].shape, x->shape, sizeof x->shape);
        }
    }
    /* sharded inputs (no model.safetensors): the parameter table alone, in one file */
    for (size_t k = 0; !st && k < m->n_params; k++) {
        const rr_train_param *p = &m->params[k];
        if (!written[k])
            w[n++] = (rr_st_write_tensor){p->name, RR_ST_F32, p->n_dims, {p->shape[0], p->shape[1]}, m->w + p->offset};
    }
    if (!st) st = rr_safetensors_write(dst, w, n, err);
    if (!st) st = rr_train_write_config(src_dir, out_dir, true, err);
    if (!st) st = rr_train_copy_tokenizer(src_dir, out_dir, err);
    free(w);
    free(written);
    rr_safetensors_free(in);
    return st;
}

static void enc_free(rr_trainer *t) {
    enc_impl *e = t->impl;
    if (e) rr_train_model_free(e->m);
    free(e);
    free(t->grad);
    free(t);
}

static const rr_trainer_ops enc_ops = {enc_accumulate, enc_save, enc_free};

rerank_status rr_encoder_trainer_open(const char *dir, const rr_trainer_opts *opts, rr_trainer **out,
                                      rerank_error *err) {
    *out = NULL;
    rr_trainer *t = calloc(1, sizeof *t);
    enc_impl *e = calloc(1, sizeof *e);
    if (!t || !e) {
        free(t);
        free(e);
        return rr_fail(err, RERANK_ERR_NOMEM, "out of memory");
    }
    t->ops = &enc_ops;
    t->impl = e;
    t->kind = RERANK_KIND_CROSS_ENCODER;
    e->dropout = opts && opts->dropout;
    rerank_status st = rr_train_model_load(dir, &e->m, err);
    if (!st && opts && opts->threads > 0) e->m->n_threads = opts->threads;
    if (!st) {
        t->params = e->m->params;
        t->n_params = e->m->n_params;
        t->n_floats = e->m->n_floats;
        t->w = e->m->w;
        if (!(t->grad = calloc(t->n_floats, sizeof *t->grad)))
            st = rr_fail(err, RERANK_ERR_NOMEM, "out of memory for %zu gradients", t->n_floats);
    }
    if (st) enc_free(t);
    else *out = t;
    return st;
}
