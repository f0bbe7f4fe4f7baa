/* trainer.c - rr_trainer_open: picks the trainer by the `train` column of config.json's architecture row
 * (arch.h), never by the architecture's name. */
#include "train/trainer.h"

#include <stdint.h>
#include <stdlib.h>

#include "base/error.h"
#include "base/file.h"
#include "base/json.h"

/* The trainer of each RR_TRAIN_* method of the architecture table (arch.h). */
typedef rerank_status (*trainer_open_fn)(const char *dir, const rr_trainer_opts *opts, rr_trainer **out,
                                         rerank_error *err);
static const trainer_open_fn trainers[] = {
    [RR_TRAIN_FULL] = rr_encoder_trainer_open,
    [RR_TRAIN_LORA] = rr_decoder_trainer_open,
};

rerank_status rr_trainer_open(const char *dir, const rr_trainer_opts *opts, rr_trainer **out, rerank_error *err) {
    *out = NULL;
    char path[4096];
    if (!rr_path_join(path, sizeof path, dir, "config.json"))
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "%s: path too long", dir);
    json_t *json;
    rerank_status st = rr_json_load_file(path, 1 << 20, &json, err);
    if (st) return st; /* the message names the file */
    rr_model_config cfg;
    st = rr_model_config_parse(json, &cfg, err);
    json_decref(json);
    if (st) {
        rr_error_prefix(err, "%s", dir); /* the message names config.json: say which */
        return st;
    }
    const rr_arch_row *row = cfg.row;
    if (cfg.packed != RERANK_DTYPE_AUTO)
        return rr_fail(err, RERANK_ERR_UNSUPPORTED, "%s: a converted model (config.json 'rerank_packed', from rerank "
                       "convert) holds its dense weights packed in bf16/int8 and cannot be trained; train the original",
                       dir);
    if ((size_t)row->train >= sizeof trainers / sizeof trainers[0] || !trainers[row->train])
        return rr_fail(err, RERANK_ERR_UNSUPPORTED, "%s: %s is scored but not trained by rerank", dir,
                       row->architecture);
    if (row->train == RR_TRAIN_FULL && opts->lora.init)
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "%s: --lora-init: %s is a cross-encoder, fully fine-tuned "
                       "without LoRA adapters", dir, row->architecture);
    st = trainers[row->train](dir, opts, out, err);
    /* The full fine-tuning trainer takes the row's kind; the LoRA trainer sets the layout it trains on (the
     * FlagEmbedding LLM layout for every decoder but the layerwise one, Qwen3 included). */
    if (!st && *out && row->train == RR_TRAIN_FULL) (*out)->kind = row->kind;
    return st;
}

rerank_status rr_train_check_batch(const rr_batch *b, size_t group_size, bool grouped, const rr_model_config *c,
                                   int max_len, size_t *n_tokens, size_t *longest, rerank_error *err) {
    if (!b || !b->offsets || !b->ids || b->n_seqs == 0 || b->offsets[0] != 0)
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "training batch needs ids and offsets starting at 0");
    if ((grouped || group_size) && (group_size < 2 || b->n_seqs % group_size != 0))
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "%zu sequences do not form groups of %zu (>= 2)", b->n_seqs,
                       group_size);
    *longest = 0;
    for (size_t s = 0; s < b->n_seqs; s++) {
        size_t lo = b->offsets[s], hi = b->offsets[s + 1];
        if (hi <= lo) return rr_fail(err, RERANK_ERR_INPUT, "sequence %zu is empty or its offsets decrease", s);
        if (hi - lo > (size_t)max_len)
            return rr_fail(err, RERANK_ERR_INPUT, "sequence %zu has %zu tokens, more than the model's %d", s, hi - lo,
                           max_len);
        if (hi - lo > *longest) *longest = hi - lo;
    }
    *n_tokens = b->offsets[b->n_seqs];
    if (*n_tokens > (size_t)INT32_MAX) return rr_fail(err, RERANK_ERR_INPUT, "batch of %zu tokens is too large", *n_tokens);
    for (size_t i = 0; i < *n_tokens; i++) {
        if (b->ids[i] < 0 || b->ids[i] >= c->vocab)
            return rr_fail(err, RERANK_ERR_INPUT, "token %zu: id %d is outside the vocabulary [0, %d)", i, (int)b->ids[i],
                           c->vocab);
        if (b->type_ids && (b->type_ids[i] < 0 || b->type_ids[i] >= c->type_vocab))
            return rr_fail(err, RERANK_ERR_INPUT, "token %zu: type id %d is outside [0, %d)", i, (int)b->type_ids[i],
                           c->type_vocab);
    }
    return RERANK_OK;
}

void rr_trainer_free(rr_trainer *t) {
    if (t && t->ops && t->ops->free) t->ops->free(t);
}
