/* layers.c - the layer tensor tables of arch.h at work: naming, binding (shape-checked), listing the dense
 * matrices and freeing them, the same for every block family, for scoring and for training. */
#include <stdio.h>

#include "arch/arch.h"
#include "base/error.h"

void rr_layer_tensor_name(const rr_layer_table *tab, const char *prefix, int layer, int i, char *buf, size_t size) {
    snprintf(buf, size, tab->name_fmt, prefix, layer, tab->t[i].suffix);
}

rerank_status rr_layers_bind(const rr_layer_table *tab, const char *prefix, const rr_model_config *c, rr_weights *w,
                             int n_layers, void *layers, const float **views, bool skip_dense, rerank_error *err) {
    char name[512];
    for (int l = 0; l < n_layers; l++)
        for (int i = 0; i < tab->n; i++) {
            const rr_layer_tensor *t = &tab->t[i];
            if (!rr_config_has(c, t->cond) || (skip_dense && t->mat != RR_NO_MAT)) continue;
            rr_layer_tensor_name(tab, prefix, l, i, name, sizeof name);
            const float **slot = views ? &views[(size_t)l * (size_t)tab->n + (size_t)i]
                                       : (const float **)(void *)((char *)layers + (size_t)l * tab->stride + t->field);
            int64_t shape[2] = {rr_config_dim(c, t->d0), t->d1 ? rr_config_dim(c, t->d1) : 0};
            rerank_status st = rr_weights_require(w, name, shape, t->d1 ? 2 : 1, slot, err);
            if (st) return st;
        }
    return RERANK_OK;
}

size_t rr_layers_dense(const rr_layer_table *tab, const char *prefix, const rr_model_config *c, int n_layers,
                       void *layers, rr_dense *out) {
    size_t n = 0;
    for (int l = 0; l < n_layers; l++)
        for (int i = 0; i < tab->n; i++) {
            const rr_layer_tensor *t = &tab->t[i];
            if (t->mat == RR_NO_MAT) continue;
            if (out) {
                rr_dense *d = &out[n];
                char *L = (char *)layers + (size_t)l * tab->stride;
                rr_layer_tensor_name(tab, prefix, l, i, d->name, sizeof d->name);
                d->src = *(const float **)(void *)(L + t->field);
                d->mat = (rr_wmat *)(void *)(L + t->mat);
                d->out = (int)rr_config_dim(c, t->d0);
                d->in = (int)rr_config_dim(c, t->d1);
                d->down = t->mat == tab->down;
            }
            n++;
        }
    return n;
}

void rr_layers_free(const rr_layer_table *tab, int n_layers, void *layers) {
    for (int l = 0; layers && l < n_layers; l++)
        for (int i = 0; i < tab->n; i++)
            if (tab->t[i].mat != RR_NO_MAT)
                rr_wmat_free((rr_wmat *)(void *)((char *)layers + (size_t)l * tab->stride + tab->t[i].mat));
}
