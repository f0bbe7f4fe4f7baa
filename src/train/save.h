/* save.h - writing trained model directories: the files every trainer's save op shares (directories,
 * config.json, the tokenizer files copied unchanged). */
#ifndef RR_TRAIN_SAVE_H
#define RR_TRAIN_SAVE_H

#include <stdbool.h>

#include "rerank.h"

/* mkdir -p. */
rerank_status rr_train_mkdirs(const char *dir, rerank_error *err);

/* Removes a directory and the plain files in it (a checkpoint); absent is fine. */
rerank_status rr_train_rmdir_flat(const char *dir, rerank_error *err);

/* Copies src_dir/name to out_dir/name; when `optional`, a missing source is not an error. */
rerank_status rr_train_copy_file(const char *src_dir, const char *out_dir, const char *name, bool optional,
                                 rerank_error *err);

/* Copies the tokenizer files the model directory has (tokenizer.json, tokenizer_config.json,
 * special_tokens_map.json, vocab.txt, sentencepiece.bpe.model, tokenizer.model, ...). */
rerank_status rr_train_copy_tokenizer(const char *src_dir, const char *out_dir, rerank_error *err);

/* Writes out_dir/config.json: src_dir's, with "torch_dtype" set to "float32" when the weights are saved as
 * F32 (f32 = true) and the source said otherwise. */
rerank_status rr_train_write_config(const char *src_dir, const char *out_dir, bool f32, rerank_error *err);

#endif
