/* test_tok_vectors.c - llama.cpp's BERT tokenizer vectors (bge-small-en-v1.5, produced by HF tokenizers) with
 * the real 30522-entry bert-base-uncased vocab.txt, loaded as the vocab.txt-only BERT tokenizer. */
#include <stdlib.h>

#include "base/file.h"
#include "tok/tokenizer.h"
#include "test.h"

TEST(tok_bert_vocab_txt_vectors) {
    rerank_error err;
    rr_tokenizer *tok;
    REQUIRE(rr_tokenizer_load_vocab_txt(rr_shared_path("assets/bert-base-uncased-vocab/vocab.txt"), true, &tok, &err) ==
                RERANK_OK, "%s", err.message);
    CHECK(rr_tokenizer_vocab_size(tok) == 30522);
    CHECK(rr_tokenizer_token_id(tok, "[CLS]", 5) == 101 && rr_tokenizer_token_id(tok, "[SEP]", 5) == 102);
    char *inp, *outp;
    size_t ni, no;
    REQUIRE(rr_file_read(rr_shared_path("assets/bert-base-uncased-vocab/ggml-vocab-bert-bge.gguf.inp"), 1 << 20, &inp,
                         &ni, &err) == RERANK_OK, "%s", err.message);
    REQUIRE(rr_file_read(rr_shared_path("assets/bert-base-uncased-vocab/ggml-vocab-bert-bge.gguf.out"), 1 << 20, &outp,
                         &no, &err) == RERANK_OK, "%s", err.message);
    static const char sep[] = "\n__ggml_vocab_test__\n";
    const char *p = inp, *end = inp + ni, *o = outp;
    int cases = 0;
    while (p < end) {
        const char *e = memmem(p, (size_t)(end - p), sep, sizeof sep - 1);
        if (!e) break;
        const char *ol = memchr(o, '\n', (size_t)(outp + no - o));
        REQUIRE(ol != NULL);
        rr_i32vec ids = {0};
        CHECK(rr_tokenizer_encode(tok, p, (size_t)(e - p), &ids, &err) == RERANK_OK, "%s", err.message);
        /* expected: space-separated ids on one line */
        bool same = true;
        size_t k = 0;
        for (const char *q = o; q < ol;) {
            char *qe;
            long v = strtol(q, &qe, 10);
            if (qe == q) break;
            same = same && k < ids.n && ids.data[k] == v;
            k++;
            q = qe;
        }
        same = same && k == ids.n;
        CHECK(same, "case %d ('%.*s'): %zu ids, expected %zu", cases, (int)(e - p), p, ids.n, k);
        rr_i32vec_free(&ids);
        cases++;
        p = e + sizeof sep - 1;
        o = ol + 1;
    }
    CHECK(cases == 46, "%d cases", cases);
    free(inp);
    free(outp);
    rr_tokenizer_free(tok);
}
