/* fuzz_tokenizer_json.c - libFuzzer target: loads arbitrary bytes as a tokenizer.json (from memory) and, when
 * that succeeds, encodes a few texts with it. Seed it with the test tokenizer.json files. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "tok/tokenizer.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    rr_tokenizer *tok = NULL;
    rerank_error err;
    if (rr_tokenizer_load_json((const char *)data, size, "fuzz.json", &tok, &err) != RERANK_OK) {
        if (tok || !err.message[0] || strchr(err.message, '\n')) abort();
        rr_fuzz_rejected("tokenizer.json", err.message);
        return 0;
    }
    static const char *texts[] = {"Hello  world! <s> x</s>", "  ünïcödé\t中文 ｆｕｌｌ ㎞ ①  ", "a", "$1,000,000.00 <mask>",
                                  "\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD e\xCC\x81"};
    rr_i32vec ids = {0}, all = {0};
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        ids.n = 0;
        if (rr_tokenizer_encode(tok, texts[i], strlen(texts[i]), &ids, &err) != RERANK_OK) {
            if (!err.message[0]) abort();
            continue;
        }
        all.n = 0;
        if (rr_tokenizer_build(tok, true, ids.data, ids.n, ids.data, ids.n, &all, NULL) != RERANK_OK) abort();
    }
    rr_i32vec_free(&ids);
    rr_i32vec_free(&all);
    rr_tokenizer_free(tok);
    return 0;
}
