/* fuzz_spm_model.c - libFuzzer target: arbitrary bytes as a SentencePiece tokenizer.model; when they load,
 * a fixed text (and the input's own tail as text) must encode to ids inside the vocabulary. */
#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"
#include "fuzz_common.h"
#include "tok/tokenizer.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    rr_tokenizer *tok = NULL;
    rerank_error err;
    if (rr_tokenizer_load_spm(data, size, "tokenizer.model", true, size & 1, (int)(size % 3) - 1, &tok, &err) !=
        RERANK_OK) {
        if (tok || !err.message[0] || strchr(err.message, '\n')) abort();
        rr_fuzz_rejected("tokenizer.model", err.message);
        return 0;
    }
    static const char *texts[] = {"Hello world, <s> caf\xC3\xA9 \xF0\x9F\x98\x80\n\t  x", "a", ""};
    rr_i32vec ids = {0};
    for (size_t t = 0; t < 4; t++) {
        const char *s = t < 3 ? texts[t] : (const char *)data + size / 2;
        size_t n = t < 3 ? strlen(s) : size - size / 2;
        size_t bad;
        if (t == 3 && !rr_utf8_valid(s, n, &bad)) n = bad;
        for (int split = 0; split < 2; split++) {
            rr_tok_encode_opts o = {.split_special_tokens = split};
            ids.n = 0;
            rerank_status st = rr_tokenizer_encode_ex(tok, s, n, &o, &ids, &err);
            if (st != RERANK_OK && st != RERANK_ERR_INPUT) abort(); /* no unk_id and no byte piece: an input error */
            for (size_t k = 0; k < ids.n; k++)
                if (ids.data[k] < 0 || (size_t)ids.data[k] >= rr_tokenizer_vocab_size(tok)) abort();
        }
    }
    rr_i32vec_free(&ids);
    rr_tokenizer_free(tok);
    return 0;
}
