/* train_decoder.c - LoRA fine-tuning of the decoder LLM rerankers (not written yet). */
#include "base/error.h"
#include "train/trainer.h"

rerank_status rr_decoder_trainer_open(const char *dir, const rr_trainer_opts *opts, rr_trainer **out,
                                      rerank_error *err) {
    (void)opts;
    *out = NULL;
    return rr_fail(err, RERANK_ERR_UNSUPPORTED, "%s: training decoder rerankers (LoRA) is not implemented yet", dir);
}
