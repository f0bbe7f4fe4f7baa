/* trainer.c - rr_trainer_open: picks the trainer by config.json's architecture (trainer.h). */
#include "train/trainer.h"

#include <stdlib.h>

#include "base/error.h"
#include "base/file.h"
#include "base/json.h"

rerank_status rr_trainer_open(const char *dir, const rr_trainer_opts *opts, rr_trainer **out, rerank_error *err) {
    *out = NULL;
    char path[4096];
    if (!rr_path_join(path, sizeof path, dir, "config.json"))
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "%s: path too long", dir);
    json_t *cfg;
    rerank_status st = rr_json_load_file(path, 1 << 20, &cfg, err);
    if (st) return st;
    rr_model_desc desc;
    st = rr_model_check_config(cfg, &desc, err);
    json_decref(cfg);
    if (st) {
        rr_error_prefix(err, "%s", dir);
        return st;
    }
    if (desc.converted)
        return rr_fail(err, RERANK_ERR_UNSUPPORTED, "%s: a converted model (config.json 'rerank_packed', from rerank "
                       "convert) holds its dense weights packed in bf16/int8 and cannot be trained; train the original",
                       dir);
    if (desc.kind == RERANK_KIND_CROSS_ENCODER && opts->lora.init)
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "%s: --lora-init: %s is a cross-encoder, fully fine-tuned "
                       "without LoRA adapters", dir, desc.architecture);
    st = desc.kind == RERANK_KIND_CROSS_ENCODER ? rr_encoder_trainer_open(dir, opts, out, err)
                                                : rr_decoder_trainer_open(dir, opts, out, err);
    /* The encoder trainer takes the config's kind; the decoder trainer sets the layout it trains on (the
     * FlagEmbedding LLM layout for every decoder but the layerwise one, Qwen3 included). */
    if (!st && *out && desc.kind == RERANK_KIND_CROSS_ENCODER) (*out)->kind = desc.kind;
    return st;
}

void rr_trainer_free(rr_trainer *t) {
    if (t && t->ops && t->ops->free) t->ops->free(t);
}
