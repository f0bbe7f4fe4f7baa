/* fuzz_tokenizer.c - libFuzzer target: encodes arbitrary bytes with the XLM-R (Unigram + Precompiled), BERT
 * (WordPiece), Gemma (BPE, byte fallback) and Qwen3 (byte-level BPE, PCRE2 Split) test tokenizers, loaded once
 * once from the test data (fuzz_common.h). */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_common.h"
#include "tok/tokenizer.h"

#define N_TOK 4
static rr_tokenizer *toks[N_TOK];

static void load_once(void) {
    static int done;
    if (done) return;
    done = 1;
    static const char *dirs[N_TOK] = {"xlmr-seqcls-tiny", "bert-seqcls-tiny", "gemma-causal-tiny-bf16",
                                      "qwen3-causal-tiny"};
    for (int i = 0; i < N_TOK; i++) {
        char path[1024];
        rerank_error err;
        if (!rr_fuzz_data_path(dirs[i], path, sizeof path)) abort();
        if (rr_tokenizer_load(path, &toks[i], &err) != RERANK_OK) {
            fprintf(stderr, "fuzz_tokenizer: %s\n", err.message);
            abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    load_once();
    rr_i32vec ids = {0}, all = {0}, tt = {0};
    rerank_error err;
    for (int i = 0; i < N_TOK; i++) {
        for (int split = 0; split < 2; split++) {
            rr_tok_encode_opts o = {.split_special_tokens = split};
            ids.n = 0;
            if (rr_tokenizer_encode_ex(toks[i], (const char *)data, size, &o, &ids, &err) != RERANK_OK) {
                if (err.status != RERANK_ERR_INPUT) abort(); /* only invalid UTF-8 may fail */
                continue;
            }
            for (size_t k = 0; k < ids.n; k++)
                if (ids.data[k] < 0 || (size_t)ids.data[k] >= rr_tokenizer_vocab_size(toks[i])) abort();
            all.n = tt.n = 0;
            static const int32_t none[1] = {0}; /* b == NULL would mean "no second sequence" */
            const int32_t *p = ids.n ? ids.data : none;
            if (rr_tokenizer_build(toks[i], true, p, ids.n, p, ids.n, &all, &tt) != RERANK_OK) abort();
            if (all.n != 2 * ids.n + rr_tokenizer_n_special(toks[i], true) || tt.n != all.n) abort();
        }
    }
    rr_i32vec_free(&ids);
    rr_i32vec_free(&all);
    rr_i32vec_free(&tt);
    return 0;
}
