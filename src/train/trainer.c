/* trainer.c - rr_trainer_open: picks the trainer by the `train` column of config.json's architecture row
 * (arch.h), never by the architecture's name. */
#include "train/trainer.h"

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

void rr_trainer_free(rr_trainer *t) {
    if (t && t->ops && t->ops->free) t->ops->free(t);
}
