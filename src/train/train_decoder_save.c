/* train_decoder_save.c - stub */
#include "base/error.h"
#include "train/train_decoder.h"
rerank_status rr_dt_save(const rr_trainer *t, const char *src_dir, const char *out_dir, bool merge, rerank_error *err) {
    (void)t, (void)src_dir, (void)merge;
    return rr_fail(err, RERANK_ERR_UNSUPPORTED, "%s: not yet", out_dir);
}
