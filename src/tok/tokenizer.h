/* tokenizer.h - text -> token ids, with Hugging Face `tokenizers` semantics (tokenizer.json), plus the
 * vocab.txt-only BERT case.
 *
 * The pipeline is the one of HF tokenizers: added-token split -> normalizer -> pre-tokenizer -> model
 * (Unigram, WordPiece, BPE...) -> post-processor (pair template). A loaded rr_tokenizer is immutable and
 * may be shared by threads. */
#ifndef RR_TOK_TOKENIZER_H
#define RR_TOK_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "base/vec.h"
#include "rerank.h"

typedef struct rr_tokenizer rr_tokenizer;

/* Loads the tokenizer of a model directory: `tokenizer.json` when present, else a SentencePiece
 * `tokenizer.model` (see rr_tokenizer_load_spm; add_bos_token / add_eos_token from tokenizer_config.json),
 * else `vocab.txt` (BERT WordPiece; lower-casing per tokenizer_config.json `do_lower_case`, default true). Errors name the file
 * and the field at fault; an unsupported normalizer/pre-tokenizer/model type is RERANK_ERR_UNSUPPORTED. */
rerank_status rr_tokenizer_load(const char *dir, rr_tokenizer **out, rerank_error *err);
void rr_tokenizer_free(rr_tokenizer *tok);

/* Encodes UTF-8 text as HF `tokenizer(text, add_special_tokens=False)` does and appends the ids to
 * `out`. Added tokens that occur in the text (e.g. "<s>", "[CLS]") are matched as HF matches them.
 * Invalid UTF-8 is RERANK_ERR_INPUT with the byte offset. */
rerank_status rr_tokenizer_encode(const rr_tokenizer *tok, const char *text, size_t len, rr_i32vec *out,
                                  rerank_error *err);

/* Options of rr_tokenizer_encode_ex. */
typedef struct rr_tok_encode_opts {
    /* Treat special added tokens in the text as plain text (HF `split_special_tokens=True`); unlike HF, the
     * model then never emits their ids either, so user text cannot produce "<s>" through a Unigram piece. */
    bool split_special_tokens;
} rr_tok_encode_opts;

rerank_status rr_tokenizer_encode_ex(const rr_tokenizer *tok, const char *text, size_t len,
                                     const rr_tok_encode_opts *opts, rr_i32vec *out, rerank_error *err);

/* Loads a tokenizer.json held in memory; `name` (e.g. a path) prefixes errors. */
rerank_status rr_tokenizer_load_json(const char *buf, size_t len, const char *name, rr_tokenizer **out,
                                     rerank_error *err);

/* Builds the BERT WordPiece tokenizer of a vocab.txt file (what rr_tokenizer_load does without
 * tokenizer.json); `lowercase` as BertTokenizer's do_lower_case (accents are stripped when lowercasing). */
rerank_status rr_tokenizer_load_vocab_txt(const char *path, bool lowercase, rr_tokenizer **out, rerank_error *err);

/* Builds the tokenizer of a SentencePiece tokenizer.model (BPE models only) as transformers converts a
 * LlamaTokenizer (legacy) into LlamaTokenizerFast: normalizer Prepend("▁") + Replace(" ", "▁"), SentencePiece
 * BPE with byte fallback, control/unknown pieces as special added tokens (user-defined ones stay pieces),
 * template [bos] A [eos] per add_bos / add_eos. `prepend` 1/0 forces the "▁" prefix on/off (LlamaConverter
 * follows the tokenizer's add_prefix_space, not the model), -1 takes the model's add_dummy_prefix.
 * `name` prefixes errors. */
rerank_status rr_tokenizer_load_spm(const void *buf, size_t len, const char *name, bool add_bos, bool add_eos,
                                    int prepend, rr_tokenizer **out, rerank_error *err);

/* Number of special tokens the post-processor adds around one sequence (pair=false) or a pair
 * (HF num_special_tokens_to_add). */
size_t rr_tokenizer_n_special(const rr_tokenizer *tok, bool pair);

/* Applies the post-processor template (HF build_inputs_with_special_tokens + token type ids): appends to
 * ids/type_ids (type_ids may be NULL) the tokens of `a` alone (pair = false; b is ignored) or of the pair
 * (a, b). Either sequence may be empty (its pointer NULL). */
rerank_status rr_tokenizer_build(const rr_tokenizer *tok, bool pair, const int32_t *a, size_t na, const int32_t *b,
                                 size_t nb, rr_i32vec *ids, rr_i32vec *type_ids);

/* Id of a vocabulary or added token given its exact text, or -1. */
int32_t rr_tokenizer_token_id(const rr_tokenizer *tok, const char *token, size_t len);

/* The ids of tokenizer_config.json's bos_token and pad_token in dir (a string or {"content": ...}), which is
 * what FlagEmbedding's tokenizer.bos_token_id / pad_token_id read: a key present there replaces *bos / *pad
 * (-1 when it is null or not in the vocabulary); without the file or the key they keep the caller's value
 * (config.json's). */
rerank_status rr_tokenizer_config_bos_pad(const char *dir, const rr_tokenizer *tok, int32_t *bos, int32_t *pad,
                                          rerank_error *err);

/* Number of ids (vocabulary plus added tokens): every id produced is < this. */
size_t rr_tokenizer_vocab_size(const rr_tokenizer *tok);

#endif
