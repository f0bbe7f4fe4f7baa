/* test_tok_bpe.c - BPE tokenizer.json pipelines on the LLM-reranker test models: every golden_fast.jsonl row
 * (Rust tokenizers) rebuilt from our ids with the FlagLLMReranker / Qwen3-Reranker layouts, the oracle's
 * prompt/sep/prefix ids, and the load errors of malformed BPE files. */
#include "base/file.h"
#include "base/json.h"
#include "score/llm_input.h"
#include "tok/tokenizer.h"
#include "test.h"

static bool same_ids(const json_t *arr, const int32_t *ids, size_t n) {
    if (!json_is_array(arr) || json_array_size(arr) != n) return false;
    for (size_t k = 0; k < n; k++)
        if (json_integer_value(json_array_get(arr, k)) != ids[k]) return false;
    return true;
}

static rr_i32vec enc(const rr_tokenizer *tok, const char *s) {
    rr_i32vec v = {0};
    rerank_error err;
    if (rr_tokenizer_encode(tok, s, strlen(s), &v, &err) != RERANK_OK) {
        fprintf(stderr, "    encode failed: %s\n", err.message);
        v.n = 0;
    }
    return v;
}

/* Gemma / MiniCPM (FlagLLMReranker layout) or Qwen (Qwen3-Reranker layout) golden rows. */
static void check_llm_golden(const char *dir, bool qwen, int expect_rows) {
    rerank_error err;
    rr_tokenizer *tok = NULL;
    REQUIRE(rr_tokenizer_load(rr_shared_path(dir), &tok, &err) == RERANK_OK, "%s", err.message);
    char path[1024];
    snprintf(path, sizeof path, "%s/oracle_info.json", rr_shared_path(dir));
    json_t *info;
    REQUIRE(rr_json_load_file(path, 1 << 20, &info, &err) == RERANK_OK, "%s", err.message);
    rr_i32vec sep = enc(tok, RR_LLM_SEP), prompt = enc(tok, RR_LLM_DEFAULT_PROMPT), yes = enc(tok, "Yes");
    rr_i32vec prefix = enc(tok, RR_QWEN3_PREFIX), suffix = enc(tok, RR_QWEN3_SUFFIX), lyes = enc(tok, "yes"),
              no = enc(tok, "no");
    if (qwen) {
        CHECK(same_ids(json_object_get(info, "prefix_ids"), prefix.data, prefix.n), "%s prefix_ids", dir);
        CHECK(same_ids(json_object_get(info, "suffix_ids"), suffix.data, suffix.n), "%s suffix_ids", dir);
        CHECK(lyes.n >= 1 && json_integer_value(json_object_get(info, "yes_token_id")) == lyes.data[0], "%s yes", dir);
        CHECK(no.n >= 1 && json_integer_value(json_object_get(info, "no_token_id")) == no.data[0], "%s no", dir);
        CHECK(yes.n >= 1 && json_integer_value(json_object_get(info, "flagllm_yes_token_id")) == yes.data[0], "%s Yes", dir);
    } else {
        CHECK(same_ids(json_object_get(info, "sep_ids"), sep.data, sep.n), "%s sep_ids", dir);
        CHECK(same_ids(json_object_get(info, "prompt_ids"), prompt.data, prompt.n), "%s prompt_ids", dir);
        CHECK(yes.n >= 1 && json_integer_value(json_object_get(info, "yes_token_id")) == yes.data[0], "%s Yes", dir);
    }
    /* the template's single-sequence form gives the bos of FlagLLMReranker */
    rr_i32vec bos = {0};
    CHECK(rr_tokenizer_build(tok, false, NULL, 0, NULL, 0, &bos, NULL) == RERANK_OK);
    CHECK(qwen ? bos.n == 0 : bos.n == 1, "%s: %zu template ids", dir, bos.n);

    char *buf;
    size_t len;
    snprintf(path, sizeof path, "%s/golden_fast.jsonl", rr_shared_path(dir));
    REQUIRE(rr_file_read(path, 64 << 20, &buf, &len, &err) == RERANK_OK, "%s", err.message);
    int rows = 0, ok = 0;
    rr_bytes text = {0};
    for (char *line = buf, *nl; line < buf + len; line = nl + 1) {
        nl = memchr(line, '\n', (size_t)(buf + len - line));
        if (!nl) nl = buf + len;
        if (nl == line) continue;
        json_t *row;
        REQUIRE(rr_json_parse(line, (size_t)(nl - line), "golden", &row, &err) == RERANK_OK, "%s", err.message);
        rows++;
        const char *q = json_string_value(json_object_get(row, "query"));
        const char *p = json_string_value(json_object_get(row, "passage"));
        size_t max_length = (size_t)json_integer_value(json_object_get(row, "max_length"));
        int ccase = (int)json_integer_value(json_object_get(row, "case"));
        const json_t *gids = json_object_get(row, "input_ids");
        rr_i32vec ids = {0};
        if (qwen) {
            text.n = 0;
            rr_bytes_append(&text, "<Instruct>: " RR_QWEN3_DEFAULT_INSTRUCTION "\n<Query>: ", 12 + strlen(RR_QWEN3_DEFAULT_INSTRUCTION) + 10);
            rr_bytes_append(&text, q, strlen(q));
            rr_bytes_append(&text, "\n<Document>: ", 13);
            rr_bytes_append(&text, p, strlen(p));
            rr_bytes_append(&text, "", 1);
            rr_i32vec body = enc(tok, text.data);
            CHECK(rr_qwen3_build(prefix.data, prefix.n, body.data, body.n, suffix.data, suffix.n, max_length, &ids) ==
                  RERANK_OK);
            rr_i32vec_free(&body);
        } else {
            text.n = 0;
            rr_bytes_append(&text, RR_LLM_QUERY_INSTRUCTION, 3);
            rr_bytes_append(&text, q, strlen(q) + 1);
            rr_i32vec qi = enc(tok, text.data);
            text.n = 0;
            rr_bytes_append(&text, RR_LLM_PASSAGE_INSTRUCTION, 3);
            rr_bytes_append(&text, p, strlen(p) + 1);
            rr_i32vec pi = enc(tok, text.data);
            rr_llm_frame f = {true, bos.n ? bos.data[0] : -1, sep.data, sep.n, prompt.data, prompt.n};
            rr_pair_limits lim = {max_length, max_length * 3 / 4};
            /* when the query is not cut, its ids are a prefix of input_ids[1:] */
            if (qi.n <= lim.query_max_length)
                for (size_t k = 0; k < qi.n; k++)
                    if (json_integer_value(json_array_get(gids, 1 + k)) != qi.data[k]) {
                        CHECK(false, "%s case %d: query id %zu differs", dir, ccase, k);
                        break;
                    }
            CHECK(rr_llm_build(&f, &lim, qi.data, qi.n, pi.data, pi.n, &ids) == RERANK_OK);
            rr_i32vec_free(&qi);
            rr_i32vec_free(&pi);
        }
        bool same = same_ids(gids, ids.data, ids.n);
        ok += same;
        CHECK(same, "%s case %d max_length %zu: input_ids differ (%zu ids vs %zu)", dir, ccase, max_length, ids.n,
              json_array_size(gids));
        rr_i32vec_free(&ids);
        json_decref(row);
    }
    CHECK(rows == expect_rows, "%s: %d rows", dir, rows);
    fprintf(stderr, "    %s: %d/%d golden rows rebuilt exactly\n", dir, ok, rows);
    rr_bytes_free(&text);
    free(buf);
    json_decref(info);
    rr_i32vec *all[] = {&sep, &prompt, &yes, &prefix, &suffix, &lyes, &no, &bos};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) rr_i32vec_free(all[i]);
    rr_tokenizer_free(tok);
}

TEST(tok_bpe_golden_gemma) { check_llm_golden("testdata/gemma-causal-tiny-bf16", false, 44); }
TEST(tok_bpe_golden_minicpm) { check_llm_golden("testdata/minicpm-layerwise-tiny", false, 44); }
TEST(tok_bpe_golden_qwen3) { check_llm_golden("testdata/qwen3-causal-tiny", true, 44); }
TEST(tok_bpe_golden_qwen2) { check_llm_golden("testdata/qwen2-causal-tiny", true, 44); }

static rerank_status load_str(const char *json, rerank_error *err) {
    rr_tokenizer *tok = NULL;
    rerank_status st = rr_tokenizer_load_json(json, strlen(json), "tokenizer.json", &tok, err);
    rr_tokenizer_free(tok);
    return st;
}

#define BPE_VOCAB "\"vocab\":{\"a\":0,\"b\":1,\"ab\":2,\"<unk>\":3}"

TEST(tok_bpe_load_errors) {
    rerank_error err;
    CHECK(load_str("{\"model\":{\"type\":\"BPE\"," BPE_VOCAB ",\"merges\":[\"a c\"]}}", &err) == RERANK_ERR_FORMAT &&
              strcmp(err.message, "tokenizer.json: model.merges[0]: 'c' is not in the vocabulary") == 0,
          "%s", err.message);
    CHECK(load_str("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1},\"merges\":[[\"a\",\"b\"]]}}", &err) ==
              RERANK_ERR_FORMAT && strstr(err.message, "model.merges[0]: the merged token 'ab'"), "%s", err.message);
    CHECK(load_str("{\"model\":{\"type\":\"BPE\"," BPE_VOCAB ",\"merges\":[\"ab\"]}}", &err) == RERANK_ERR_FORMAT &&
              strstr(err.message, "tokenizer.json: model.merges[0] must be"), "%s", err.message);
    CHECK(load_str("{\"model\":{\"type\":\"BPE\"," BPE_VOCAB ",\"merges\":[],\"dropout\":0.1}}", &err) ==
              RERANK_ERR_UNSUPPORTED && strstr(err.message, "tokenizer.json: model.dropout"), "%s", err.message);
    CHECK(load_str("{\"model\":{\"type\":\"BPE\"," BPE_VOCAB ",\"merges\":[],\"dropout\":0.0}}", &err) == RERANK_OK,
          "%s", err.message);
    CHECK(load_str("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":-1},\"merges\":[]}}", &err) == RERANK_ERR_FORMAT &&
              strstr(err.message, "model.vocab['a']"), "%s", err.message);
    CHECK(load_str("{\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Digits\"}]},"
                   "\"model\":{\"type\":\"BPE\"," BPE_VOCAB ",\"merges\":[]}}", &err) == RERANK_ERR_UNSUPPORTED &&
              strcmp(err.message, "tokenizer.json: pre_tokenizer.pretokenizers[0].type 'Digits' is not supported") == 0,
          "%s", err.message);
    CHECK(load_str("{\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":\"(a\"},\"behavior\":\"Isolated\"},"
                   "\"model\":{\"type\":\"BPE\"," BPE_VOCAB ",\"merges\":[]}}", &err) == RERANK_ERR_UNSUPPORTED &&
              strstr(err.message, "tokenizer.json: pre_tokenizer.pattern: regex '(a'"), "%s", err.message);
    CHECK(load_str("{\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"String\":\"a\"},\"behavior\":\"Foo\"},"
                   "\"model\":{\"type\":\"BPE\"," BPE_VOCAB ",\"merges\":[]}}", &err) == RERANK_ERR_UNSUPPORTED &&
              strstr(err.message, "pre_tokenizer.behavior 'Foo'"), "%s", err.message);
}

static void expect_ids(const char *json, const char *text, const int32_t *want, size_t n_want) {
    rerank_error err;
    rr_tokenizer *tok = NULL;
    REQUIRE(rr_tokenizer_load_json(json, strlen(json), "t.json", &tok, &err) == RERANK_OK, "%s", err.message);
    rr_i32vec v = {0};
    CHECK(rr_tokenizer_encode(tok, text, strlen(text), &v, &err) == RERANK_OK, "%s", err.message);
    bool same = v.n == n_want;
    for (size_t k = 0; same && k < n_want; k++) same = v.data[k] == want[k];
    CHECK(same, "'%s': got %zu ids (first %d)", text, v.n, v.n ? v.data[0] : -1);
    rr_i32vec_free(&v);
    rr_tokenizer_free(tok);
}

TEST(tok_bpe_small_cases) {
    /* merges by rank, not by position: "abab" -> ab ab; unknown chars fused into one unk */
    const char *m = "{\"model\":{\"type\":\"BPE\",\"unk_token\":\"<unk>\",\"fuse_unk\":true," BPE_VOCAB ",\"merges\":[\"a b\"]}}";
    expect_ids(m, "abab", (const int32_t[]){2, 2}, 2);
    expect_ids(m, "axyb", (const int32_t[]){0, 3, 1}, 3);
    const char *nf = "{\"model\":{\"type\":\"BPE\",\"unk_token\":\"<unk>\"," BPE_VOCAB ",\"merges\":[\"a b\"]}}";
    expect_ids(nf, "axyb", (const int32_t[]){0, 3, 3, 1}, 4);
    /* no unk_token: unknown characters vanish, as in HF */
    expect_ids("{\"model\":{\"type\":\"BPE\"," BPE_VOCAB ",\"merges\":[]}}", "axb", (const int32_t[]){0, 1}, 2);
    /* byte fallback */
    expect_ids("{\"model\":{\"type\":\"BPE\",\"byte_fallback\":true,\"vocab\":{\"a\":0,\"<0xC3>\":1,\"<0xA9>\":2},"
               "\"merges\":[]}}", "a\xC3\xA9", (const int32_t[]){0, 1, 2}, 3);
    /* rank order: with "b c" before "a b", abc -> a bc */
    expect_ids("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"c\":2,\"ab\":3,\"bc\":4},"
               "\"merges\":[[\"b\",\"c\"],[\"a\",\"b\"]]}}", "abc", (const int32_t[]){0, 4}, 2);
    /* continuing_subword_prefix / end_of_word_suffix */
    expect_ids("{\"model\":{\"type\":\"BPE\",\"continuing_subword_prefix\":\"##\",\"end_of_word_suffix\":\"</w>\","
               "\"vocab\":{\"a\":0,\"##b\":1,\"##c</w>\":2,\"a##b\":3,\"ab\":4},\"merges\":[\"a ##b\"]}}",
               "abc", (const int32_t[]){4, 2}, 2);
    /* ignore_merges: a whole word in the vocabulary is one token */
    expect_ids("{\"model\":{\"type\":\"BPE\",\"ignore_merges\":true,\"vocab\":{\"a\":0,\"b\":1,\"c\":2,\"abc\":3},"
               "\"merges\":[]}}", "abc", (const int32_t[]){3}, 1);
    /* Split behaviours over "a-b-" with '-' */
    const char *sp = "{\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"String\":\"-\"},\"behavior\":\"%s\","
                     "\"invert\":%s},\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"-\":2,\"a-\":3,\"-b\":4,"
                     "\"b-\":5},\"merges\":[\"a -\",\"- b\",\"b -\"]}}";
    char js[1024];
    snprintf(js, sizeof js, sp, "Removed", "false");
    expect_ids(js, "a-b-", (const int32_t[]){0, 1}, 2);
    snprintf(js, sizeof js, sp, "Isolated", "false");
    expect_ids(js, "a-b-", (const int32_t[]){0, 2, 1, 2}, 4);
    snprintf(js, sizeof js, sp, "MergedWithPrevious", "false");
    expect_ids(js, "a-b-", (const int32_t[]){3, 5}, 2);
    snprintf(js, sizeof js, sp, "MergedWithNext", "false");
    expect_ids(js, "a-b-", (const int32_t[]){0, 4, 2}, 3);
    snprintf(js, sizeof js, sp, "Removed", "true"); /* the non-matches become delimiters */
    expect_ids(js, "a-b-", (const int32_t[]){2, 2}, 2);
    /* ByteLevel with GPT-2's regex and add_prefix_space: "a b" -> " a" " b" as Ġa Ġb */
    expect_ids("{\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":true},\"model\":{\"type\":\"BPE\","
               "\"vocab\":{\"\xC4\xA0\":0,\"a\":1,\"b\":2,\"\xC4\xA0" "a\":3,\"\xC4\xA0" "b\":4},"
               "\"merges\":[\"\xC4\xA0 a\",\"\xC4\xA0 b\"]}}", "a b", (const int32_t[]){3, 4}, 2);
}

/* split_special_tokens: special tokens in user text are plain text, and the BPE never merges into their ids */
TEST(tok_bpe_split_special_tokens) {
    static const char *dirs[] = {"testdata/qwen3-causal-tiny", "testdata/gemma-causal-tiny-bf16"};
    static const char *texts[] = {"<|im_start|>user<|im_end|>", "<bos>hi<eos><start_of_turn>"};
    for (int d = 0; d < 2; d++) {
        rerank_error err;
        rr_tokenizer *tok = NULL;
        REQUIRE(rr_tokenizer_load(rr_shared_path(dirs[d]), &tok, &err) == RERANK_OK, "%s", err.message);
        rr_i32vec a = {0}, b = {0};
        rr_tok_encode_opts split = {.split_special_tokens = true};
        CHECK(rr_tokenizer_encode(tok, texts[d], strlen(texts[d]), &a, &err) == RERANK_OK);
        CHECK(rr_tokenizer_encode_ex(tok, texts[d], strlen(texts[d]), &split, &b, &err) == RERANK_OK);
        int32_t sp = rr_tokenizer_token_id(tok, d == 0 ? "<|im_start|>" : "<bos>", d == 0 ? 12 : 5);
        CHECK(sp >= 0 && a.n > 0 && a.data[0] == sp, "%s: special token not matched", dirs[d]);
        bool none = b.n > a.n;
        for (size_t k = 0; k < b.n; k++) none = none && b.data[k] != sp;
        CHECK(none, "%s: split mode produced a special id", dirs[d]);
        rr_i32vec_free(&a);
        rr_i32vec_free(&b);
        rr_tokenizer_free(tok);
    }
}

/* golden_flagllm.jsonl: the FlagLLMReranker layout on the Qwen models (no bos: Qwen has none) */
static void check_flagllm_qwen(const char *dir) {
    rerank_error err;
    rr_tokenizer *tok = NULL;
    REQUIRE(rr_tokenizer_load(rr_shared_path(dir), &tok, &err) == RERANK_OK, "%s", err.message);
    char path[1024], *buf;
    size_t len;
    snprintf(path, sizeof path, "%s/golden_flagllm.jsonl", rr_shared_path(dir));
    REQUIRE(rr_file_read(path, 64 << 20, &buf, &len, &err) == RERANK_OK, "%s", err.message);
    rr_i32vec sep = enc(tok, RR_LLM_SEP), prompt = enc(tok, RR_LLM_DEFAULT_PROMPT), yes = enc(tok, "Yes");
    rr_bytes text = {0};
    int rows = 0, ok = 0;
    for (char *line = buf, *nl; line < buf + len; line = nl + 1) {
        nl = memchr(line, '\n', (size_t)(buf + len - line));
        if (!nl) nl = buf + len;
        if (nl == line) continue;
        json_t *row;
        REQUIRE(rr_json_parse(line, (size_t)(nl - line), "golden", &row, &err) == RERANK_OK, "%s", err.message);
        rows++;
        const char *q = json_string_value(json_object_get(row, "query"));
        const char *p = json_string_value(json_object_get(row, "passage"));
        size_t max_length = (size_t)json_integer_value(json_object_get(row, "max_length"));
        text.n = 0;
        rr_bytes_append(&text, "A: ", 3);
        rr_bytes_append(&text, q, strlen(q) + 1);
        rr_i32vec qi = enc(tok, text.data);
        text.n = 0;
        rr_bytes_append(&text, "B: ", 3);
        rr_bytes_append(&text, p, strlen(p) + 1);
        rr_i32vec pi = enc(tok, text.data), ids = {0};
        rr_llm_frame f = {false, -1, sep.data, sep.n, prompt.data, prompt.n};
        rr_pair_limits lim = {max_length, max_length * 3 / 4};
        CHECK(rr_llm_build(&f, &lim, qi.data, qi.n, pi.data, pi.n, &ids) == RERANK_OK);
        bool same = same_ids(json_object_get(row, "input_ids"), ids.data, ids.n);
        ok += same;
        CHECK(same, "%s flagllm case %d", dir, (int)json_integer_value(json_object_get(row, "case")));
        CHECK(yes.n && json_integer_value(json_object_get(row, "yes_token_id")) == yes.data[0]);
        rr_i32vec_free(&qi);
        rr_i32vec_free(&pi);
        rr_i32vec_free(&ids);
        json_decref(row);
    }
    fprintf(stderr, "    %s: %d/%d golden_flagllm rows rebuilt exactly\n", dir, ok, rows);
    CHECK(rows == 22, "%d rows", rows);
    rr_bytes_free(&text);
    rr_i32vec_free(&sep);
    rr_i32vec_free(&prompt);
    rr_i32vec_free(&yes);
    free(buf);
    rr_tokenizer_free(tok);
}

TEST(tok_bpe_golden_flagllm_qwen) {
    check_flagllm_qwen("testdata/qwen3-causal-tiny");
    check_flagllm_qwen("testdata/qwen2-causal-tiny");
}

TEST(tok_bpe_post_processor_sequence) {
    /* Llama 3's form: Sequence[ByteLevel, TemplateProcessing] */
    const char *js = "{\"post_processor\":{\"type\":\"Sequence\",\"processors\":[{\"type\":\"ByteLevel\"},"
                     "{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"<s>\",\"type_id\":0}},"
                     "{\"Sequence\":{\"id\":\"A\",\"type_id\":0}}],\"pair\":[{\"Sequence\":{\"id\":\"A\",\"type_id\":0}},"
                     "{\"Sequence\":{\"id\":\"B\",\"type_id\":1}}],\"special_tokens\":{\"<s>\":{\"id\":\"<s>\",\"ids\":[3]}}}]},"
                     "\"model\":{\"type\":\"BPE\"," BPE_VOCAB ",\"merges\":[]}}";
    rerank_error err;
    rr_tokenizer *tok = NULL;
    REQUIRE(rr_tokenizer_load_json(js, strlen(js), "t.json", &tok, &err) == RERANK_OK, "%s", err.message);
    CHECK(rr_tokenizer_n_special(tok, false) == 1 && rr_tokenizer_n_special(tok, true) == 0);
    rr_tokenizer_free(tok);
    CHECK(load_str("{\"post_processor\":{\"type\":\"Sequence\",\"processors\":[{\"type\":\"Foo\"}]},"
                   "\"model\":{\"type\":\"BPE\"," BPE_VOCAB ",\"merges\":[]}}", &err) != RERANK_OK &&
              strstr(err.message, "tokenizer.json: post_processor.processors[0]"), "%s", err.message);
}
