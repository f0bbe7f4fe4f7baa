/* test_tok_bpe_real.c - BPE tokenizers with real vocabularies: Qwen3 (151k, byte-level; llama.cpp's Qwen2
 * vectors and tokenization-real/qwen3.jsonl), Mistral/Llama-style SentencePiece-BPE (llama2.jsonl) and the
 * Gemma 256k tokenizer.json (load time and known ids). */
#include <time.h>

#include "base/file.h"
#include "base/json.h"
#include "score/llm_input.h"
#include "tok/tokenizer.h"
#include "test.h"

static rr_tokenizer *load_timed(const char *rel, const char *what) {
    rerank_error err;
    rr_tokenizer *tok = NULL;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (rr_tokenizer_load(rr_shared_path(rel), &tok, &err) != RERANK_OK) {
        fprintf(stderr, "    %s: %s\n", what, err.message);
        return NULL;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    fprintf(stderr, "    %s loaded in %.1f ms\n", what, (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6);
    return tok;
}

static bool same_ids(const json_t *arr, const rr_i32vec *v) {
    if (!json_is_array(arr) || json_array_size(arr) != v->n) return false;
    for (size_t k = 0; k < v->n; k++)
        if (json_integer_value(json_array_get(arr, k)) != v->data[k]) return false;
    return true;
}

static bool encode_is(const rr_tokenizer *tok, const char *s, size_t n, const json_t *want) {
    rr_i32vec v = {0};
    rerank_error err;
    bool ok = rr_tokenizer_encode(tok, s, n, &v, &err) == RERANK_OK && same_ids(want, &v);
    rr_i32vec_free(&v);
    return ok;
}

TEST(tok_bpe_real_qwen2_llamacpp_vectors) {
    rr_tokenizer *tok = load_timed("assets/qwen3-tokenizer", "Qwen3 tokenizer.json (151k)");
    REQUIRE(tok);
    char *inp, *out;
    size_t ni, no;
    rerank_error err;
    REQUIRE(rr_file_read(rr_shared_path("assets/tokenizer-test-vectors/ggml-vocab-qwen2.gguf.inp"), 1 << 20, &inp, &ni,
                         &err) == RERANK_OK, "%s", err.message);
    REQUIRE(rr_file_read(rr_shared_path("assets/tokenizer-test-vectors/ggml-vocab-qwen2.gguf.out"), 1 << 20, &out, &no,
                         &err) == RERANK_OK, "%s", err.message);
    static const char sep[] = "\n__ggml_vocab_test__\n";
    size_t si = 0, so = 0;
    int n = 0, pass = 0;
    while (si < ni && so < no) {
        const char *e = memmem(inp + si, ni - si, sep, sizeof sep - 1);
        size_t len = e ? (size_t)(e - (inp + si)) : ni - si;
        const char *nl = memchr(out + so, '\n', no - so);
        size_t olen = nl ? (size_t)(nl - (out + so)) : no - so;
        rr_i32vec v = {0};
        CHECK(rr_tokenizer_encode(tok, inp + si, len, &v, &err) == RERANK_OK, "%s", err.message);
        /* the .out line: ids separated by spaces */
        rr_i32vec want = {0};
        for (size_t k = so; k < so + olen;) {
            while (k < so + olen && out[k] == ' ') k++;
            if (k >= so + olen) break;
            rr_i32vec_push(&want, (int32_t)strtol(out + k, NULL, 10));
            while (k < so + olen && out[k] != ' ') k++;
        }
        bool same = v.n == want.n && (v.n == 0 || memcmp(v.data, want.data, v.n * sizeof *v.data) == 0);
        pass += same;
        CHECK(same, "qwen2 vector %d ('%.*s'): %zu ids vs %zu", n, (int)(len > 40 ? 40 : len), inp + si, v.n, want.n);
        rr_i32vec_free(&v);
        rr_i32vec_free(&want);
        n++;
        si += len + (e ? sizeof sep - 1 : 0);
        so += olen + 1;
        if (!e) break;
    }
    fprintf(stderr, "    llama.cpp qwen2 vectors: %d/%d\n", pass, n);
    CHECK(n == 46, "%d vectors", n); /* the .inp ends with a separator: 46 strings, 46 lines of ids */
    free(inp);
    free(out);
    rr_tokenizer_free(tok);
}

/* tokenization-real/<name>.jsonl rows and <name>_info.json prompt texts. */
static void check_real(const char *dir, const char *name) {
    rr_tokenizer *tok = load_timed(dir, name);
    REQUIRE(tok);
    char path[256];
    rerank_error err;
    snprintf(path, sizeof path, "testdata/tokenization-real/%s_info.json", name);
    json_t *info;
    REQUIRE(rr_json_load_file(rr_shared_path(path), 1 << 20, &info, &err) == RERANK_OK, "%s", err.message);
    const char *text;
    json_t *ids;
    int n_info = 0, ok_info = 0;
    json_object_foreach(json_object_get(info, "prompt_texts_ids"), text, ids) {
        bool same = encode_is(tok, text, strlen(text), ids);
        ok_info += same;
        n_info++;
        CHECK(same, "%s: '%.40s'", name, text);
    }
    json_decref(info);
    snprintf(path, sizeof path, "testdata/tokenization-real/%s.jsonl", name);
    char *buf;
    size_t len;
    REQUIRE(rr_file_read(rr_shared_path(path), 64 << 20, &buf, &len, &err) == RERANK_OK, "%s", err.message);
    int rows = 0, checks = 0, ok = 0;
    rr_bytes t = {0};
    for (char *line = buf, *nl; line < buf + len; line = nl + 1) {
        nl = memchr(line, '\n', (size_t)(buf + len - line));
        if (!nl) nl = buf + len;
        if (nl == line) continue;
        json_t *row;
        REQUIRE(rr_json_parse(line, (size_t)(nl - line), path, &row, &err) == RERANK_OK, "%s", err.message);
        rows++;
        const char *q = json_string_value(json_object_get(row, "query"));
        const char *p = json_string_value(json_object_get(row, "passage"));
        int c = (int)json_integer_value(json_object_get(row, "case"));
        const char *texts[5];
        const char *fields[5] = {"query_ids", "passage_ids", "A_query_ids", "B_passage_ids", "qwen3_format_ids"};
        rr_bytes b[3] = {{0}, {0}, {0}};
        rr_bytes_append(&b[0], "A: ", 3);
        rr_bytes_append(&b[0], q, strlen(q) + 1);
        rr_bytes_append(&b[1], "B: ", 3);
        rr_bytes_append(&b[1], p, strlen(p) + 1);
        rr_bytes_append(&b[2], "<Instruct>: " RR_QWEN3_DEFAULT_INSTRUCTION "\n<Query>: ",
                        12 + strlen(RR_QWEN3_DEFAULT_INSTRUCTION) + 10);
        rr_bytes_append(&b[2], q, strlen(q));
        rr_bytes_append(&b[2], "\n<Document>: ", 13);
        rr_bytes_append(&b[2], p, strlen(p) + 1);
        texts[0] = q;
        texts[1] = p;
        texts[2] = b[0].data;
        texts[3] = b[1].data;
        texts[4] = b[2].data;
        for (int f = 0; f < 5; f++) {
            const json_t *want = json_object_get(row, fields[f]);
            if (!want) continue;
            bool same = encode_is(tok, texts[f], strlen(texts[f]), want);
            checks++;
            ok += same;
            CHECK(same, "%s case %d: %s differ", name, c, fields[f]);
        }
        /* the pair through the post-processor */
        rr_i32vec qi = {0}, pi = {0}, all = {0}, tt = {0};
        rr_tokenizer_encode(tok, q, strlen(q), &qi, &err);
        rr_tokenizer_encode(tok, p, strlen(p), &pi, &err);
        CHECK(rr_tokenizer_build(tok, true, qi.data, qi.n, pi.data, pi.n, &all, &tt) == RERANK_OK);
        bool same = same_ids(json_object_get(row, "pair_with_special_tokens_ids"), &all) &&
                    same_ids(json_object_get(row, "pair_type_ids"), &tt);
        checks++;
        ok += same;
        CHECK(same, "%s case %d: pair_with_special_tokens_ids differ", name, c);
        rr_i32vec_free(&qi);
        rr_i32vec_free(&pi);
        rr_i32vec_free(&all);
        rr_i32vec_free(&tt);
        for (int k = 0; k < 3; k++) rr_bytes_free(&b[k]);
        json_decref(row);
    }
    fprintf(stderr, "    %s.jsonl: %d rows, %d/%d id lists equal; %d/%d prompt texts\n", name, rows, ok, checks, ok_info,
            n_info);
    CHECK(rows >= 20, "%d rows", rows);
    rr_bytes_free(&t);
    free(buf);
    rr_tokenizer_free(tok);
}

/* qwen3.jsonl came from the tokenizer.json whose sha256 assets/qwen3-tokenizer/SOURCE.md lists for its copy */
TEST(tok_bpe_real_qwen3_jsonl) { check_real("assets/qwen3-tokenizer", "qwen3"); }
TEST(tok_bpe_real_llama2_jsonl) { check_real("testdata/tokenization-real/lenml-llama2-files", "llama2"); }

TEST(tok_bpe_real_gemma_256k) {
    SKIP_UNLESS_SHARED("assets/gemma-tokenizer-256k", "Gemma Terms of Use: not shipped in tests/data");
    rr_tokenizer *tok = load_timed("assets/gemma-tokenizer-256k", "Gemma tokenizer.json (256k, 580k merges)");
    REQUIRE(tok);
    CHECK(rr_tokenizer_vocab_size(tok) == 256000, "%zu", rr_tokenizer_vocab_size(tok));
    rr_i32vec v = {0}, all = {0};
    rerank_error err;
    /* Gemma's well-known ids: <bos>=2, "Hello"=4521, "▁world"=2134 */
    CHECK(rr_tokenizer_encode(tok, "Hello world", 11, &v, &err) == RERANK_OK, "%s", err.message);
    CHECK(v.n == 2 && v.data[0] == 4521 && v.data[1] == 2134, "%zu ids", v.n);
    CHECK(rr_tokenizer_build(tok, false, v.data, v.n, NULL, 0, &all, NULL) == RERANK_OK && all.n == 3 && all.data[0] == 2);
    /* every id of a mixed text is a real one; bytes outside the vocabulary fall back to <0xNN> (ids 217..472) */
    const char *mixed = "na\xC3\xAFve caf\xC3\xA9 \xE2\x80\x94 \xF0\x9F\x98\x80 \xE4\xB8\xAD\xE6\x96\x87 \xF4\x8F\xBF\xBD";
    v.n = 0;
    CHECK(rr_tokenizer_encode(tok, mixed, strlen(mixed), &v, &err) == RERANK_OK, "%s", err.message);
    bool in_range = v.n > 0;
    for (size_t k = 0; k < v.n; k++) in_range = in_range && v.data[k] >= 0 && v.data[k] < 256000;
    CHECK(in_range);
    /* U+10FFFD (private use) is no piece: its 4 bytes */
    static const char *bytes[4] = {"<0xF4>", "<0x8F>", "<0xBF>", "<0xBD>"};
    for (size_t k = 0; k < 4; k++)
        CHECK(v.n >= 4 && rr_tokenizer_token_id(tok, bytes[k], 6) == v.data[v.n - 4 + k], "id %d", v.data[v.n - 4 + k]);
    /* a long word without spaces stays fast (heap merge, no quadratic rescans) */
    size_t big = 200000;
    char *s = malloc(big);
    REQUIRE(s);
    for (size_t k = 0; k < big; k++) s[k] = "abcdefghij"[k % 10];
    v.n = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CHECK(rr_tokenizer_encode(tok, s, big, &v, &err) == RERANK_OK, "%s", err.message);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
    fprintf(stderr, "    200k-byte word: %zu ids in %.1f ms\n", v.n, ms);
    CHECK(v.n > 0 && v.n < big);
    free(s);
    rr_i32vec_free(&v);
    rr_i32vec_free(&all);
    rr_tokenizer_free(tok);
}
