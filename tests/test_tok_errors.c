/* test_tok_errors.c - malformed tokenizer.json files, bad input text, special-token options, the vocab.txt
 * fallback of rr_tokenizer_load, and small normalizer/pre-tokenizer cases. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/file.h"
#include "tok/tokenizer.h"
#include "test.h"

static char *read_shared(const char *rel, size_t *len) {
    char *buf = NULL;
    rerank_error err;
    if (rr_file_read(rr_shared_path(rel), 64 << 20, &buf, len, &err) != RERANK_OK) return NULL;
    return buf;
}

static rerank_status load_str(const char *json, rerank_error *err) {
    rr_tokenizer *tok = NULL;
    rerank_status st = rr_tokenizer_load_json(json, strlen(json), "tokenizer.json", &tok, err);
    rr_tokenizer_free(tok);
    return st;
}

#define WP_MODEL "\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\",\"vocab\":{\"[UNK]\":0,\"a\":1,\"##b\":2}}"

TEST(tok_json_errors_name_the_field) {
    rerank_error err;
    CHECK(load_str("{\"model\":", &err) == RERANK_ERR_FORMAT && strstr(err.message, "tokenizer.json"), "%s", err.message);
    CHECK(load_str("[1,2]", &err) == RERANK_ERR_FORMAT, "%s", err.message);
    CHECK(load_str("{\"model\":{\"type\":\"Foo\"}}", &err) == RERANK_ERR_UNSUPPORTED &&
              strstr(err.message, "model.type 'Foo'"), "%s", err.message);
    CHECK(load_str("{\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"Foo\"}]}," WP_MODEL "}", &err) ==
              RERANK_ERR_UNSUPPORTED, "%s", err.message);
    CHECK(strcmp(err.message, "tokenizer.json: normalizer.normalizers[0].type 'Foo' is not supported") == 0, "%s",
          err.message);
    CHECK(load_str("{\"pre_tokenizer\":{\"type\":\"Metaspace\",\"split\":3}," WP_MODEL "}", &err) == RERANK_ERR_FORMAT &&
              strstr(err.message, "pre_tokenizer") && strstr(err.message, "split"), "%s", err.message);
    CHECK(load_str("{\"model\":{\"type\":\"Unigram\",\"unk_id\":0,\"vocab\":[[\"a\",\"x\"]]}}", &err) == RERANK_ERR_FORMAT &&
              strstr(err.message, "model.vocab[0]"), "%s", err.message);
    CHECK(load_str("{\"model\":{\"type\":\"Unigram\",\"unk_id\":5,\"vocab\":[[\"a\",-1.0]]}}", &err) == RERANK_ERR_FORMAT &&
              strstr(err.message, "unk_id"), "%s", err.message);
    CHECK(load_str("{\"model\":{\"type\":\"Unigram\",\"vocab\":[]}}", &err) == RERANK_ERR_FORMAT, "%s", err.message);
    CHECK(load_str("{\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"a\":\"x\"}}}", &err) == RERANK_ERR_FORMAT &&
              strstr(err.message, "model.vocab"), "%s", err.message);
    CHECK(load_str("{\"added_tokens\":[{\"id\":\"1\",\"content\":\"x\"}]," WP_MODEL "}", &err) == RERANK_ERR_FORMAT &&
              strstr(err.message, "added_tokens[0]"), "%s", err.message);
    CHECK(load_str("{\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"<s>\"}}],"
                   "\"pair\":[],\"special_tokens\":{}}," WP_MODEL "}", &err) == RERANK_ERR_FORMAT &&
              strstr(err.message, "post_processor.single[0]"), "%s", err.message);
    CHECK(load_str("{\"normalizer\":{\"type\":\"Replace\",\"pattern\":{\"Regex\":\"(a|b)\"},\"content\":\"\"}," WP_MODEL "}",
                   &err) == RERANK_ERR_UNSUPPORTED && strstr(err.message, "normalizer.pattern"), "%s", err.message);
    CHECK(load_str("{\"normalizer\":{\"type\":\"Replace\",\"pattern\":{\"Regex\":\" *\"},\"content\":\"\"}," WP_MODEL "}",
                   &err) == RERANK_ERR_UNSUPPORTED, "%s", err.message);
    CHECK(load_str("{\"normalizer\":{\"type\":\"Precompiled\",\"precompiled_charsmap\":\"@@@@\"}," WP_MODEL "}", &err) ==
              RERANK_ERR_FORMAT && strstr(err.message, "base64"), "%s", err.message);
    /* trie size 0x40 bytes announced, 4 present */
    CHECK(load_str("{\"normalizer\":{\"type\":\"Precompiled\",\"precompiled_charsmap\":\"QAAAAAAAAAA=\"}," WP_MODEL "}", &err) ==
              RERANK_ERR_FORMAT && strstr(err.message, "does not fit"), "%s", err.message);
    CHECK(load_str("{\"normalizer\":{\"type\":\"Precompiled\",\"precompiled_charsmap\":\"AAA=\"}," WP_MODEL "}", &err) ==
              RERANK_ERR_FORMAT, "%s", err.message);
}

TEST(tok_json_truncated_and_corrupted_files_fail_cleanly) {
    size_t len;
    char *buf = read_shared("testdata/xlmr-seqcls-tiny/tokenizer.json", &len);
    REQUIRE(buf != NULL);
    rerank_error err;
    rr_tokenizer *tok;
    /* truncations at many points, including inside the base64 charsmap */
    for (size_t cut = 1; cut < len; cut += len / 97 + 1) {
        CHECK(rr_tokenizer_load_json(buf, cut, "tokenizer.json", &tok, &err) == RERANK_ERR_FORMAT, "cut %zu", cut);
        CHECK(tok == NULL);
    }
    /* corrupt the charsmap: shrink the base64 text so the trie no longer fits */
    char *cm = strstr(buf, "\"precompiled_charsmap\": \"");
    if (!cm) cm = strstr(buf, "\"precompiled_charsmap\":\"");
    REQUIRE(cm != NULL);
    char *b64 = strchr(cm + 22, '"') + 1;
    char *b64e = strchr(b64, '"');
    size_t keep = 400;
    REQUIRE((size_t)(b64e - b64) > keep);
    memmove(b64 + keep, b64e, (size_t)(buf + len - b64e) + 1);
    size_t len2 = len - (size_t)(b64e - b64) + keep;
    CHECK(rr_tokenizer_load_json(buf, len2, "tokenizer.json", &tok, &err) == RERANK_ERR_FORMAT &&
              strstr(err.message, "precompiled_charsmap"), "%s", err.message);
    free(buf);
}

TEST(tok_input_errors_and_empty_text) {
    rerank_error err;
    rr_tokenizer *tok;
    REQUIRE(rr_tokenizer_load(rr_shared_path("testdata/xlmr-seqcls-tiny"), &tok, &err) == RERANK_OK, "%s", err.message);
    rr_i32vec ids = {0};
    CHECK(rr_tokenizer_encode(tok, "ab\xC3(cd", 6, &ids, &err) == RERANK_ERR_INPUT && strstr(err.message, "byte 2") &&
              ids.n == 0, "%s", err.message);
    CHECK(rr_tokenizer_encode(tok, "", 0, &ids, &err) == RERANK_OK && ids.n == 0);
    CHECK(rr_tokenizer_encode(tok, NULL, 0, &ids, &err) == RERANK_OK && ids.n == 0);
    CHECK(rr_tokenizer_encode(tok, "   ", 3, &ids, &err) == RERANK_OK && ids.n == 0, "%zu ids", ids.n);
    /* <s> in the text is the special token; with split_special_tokens it is text */
    CHECK(rr_tokenizer_encode(tok, "<s>", 3, &ids, &err) == RERANK_OK && ids.n == 1 && ids.data[0] == 0);
    ids.n = 0;
    rr_tok_encode_opts o = {.split_special_tokens = true};
    CHECK(rr_tokenizer_encode_ex(tok, "<s>", 3, &o, &ids, &err) == RERANK_OK && ids.n >= 1 && ids.data[0] != 0);
    ids.n = 0;
    /* <mask> has lstrip: the space before it goes with it */
    rr_i32vec a = {0};
    CHECK(rr_tokenizer_encode(tok, "hi <mask>", 9, &ids, &err) == RERANK_OK);
    CHECK(rr_tokenizer_encode(tok, "hi", 2, &a, &err) == RERANK_OK);
    CHECK(ids.n == a.n + 1 && ids.data[ids.n - 1] == 4001 && memcmp(ids.data, a.data, a.n * sizeof *a.data) == 0);
    CHECK(rr_tokenizer_n_special(tok, false) == 2 && rr_tokenizer_n_special(tok, true) == 4);
    rr_i32vec_free(&a);
    rr_i32vec_free(&ids);
    rr_tokenizer_free(tok);
}

TEST(tok_vocab_txt_fallback_matches_tokenizer_json) {
    char dir[] = "/tmp/rr_tok_XXXXXX";
    REQUIRE(mkdtemp(dir) != NULL);
    char path[256], cmd[1024];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s' %s/", rr_shared_path("testdata/bert-seqcls-tiny/vocab.txt"),
             rr_shared_path("testdata/bert-seqcls-tiny/tokenizer_config.json"), dir);
    REQUIRE(system(cmd) == 0);
    rerank_error err;
    rr_tokenizer *a, *b;
    REQUIRE(rr_tokenizer_load(dir, &a, &err) == RERANK_OK, "%s", err.message);
    REQUIRE(rr_tokenizer_load(rr_shared_path("testdata/bert-seqcls-tiny"), &b, &err) == RERANK_OK, "%s", err.message);
    static const char *texts[] = {"Héllo, WORLD! [CLS] x[SEP]y", "中文字符 and ｆｕｌｌ width", "tab\tnew\nline  end ",
                                  "naïve café 1,000.00$", ""};
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        rr_i32vec x = {0}, y = {0};
        CHECK(rr_tokenizer_encode(a, texts[i], strlen(texts[i]), &x, &err) == RERANK_OK);
        CHECK(rr_tokenizer_encode(b, texts[i], strlen(texts[i]), &y, &err) == RERANK_OK);
        CHECK(x.n == y.n && (x.n == 0 || memcmp(x.data, y.data, x.n * sizeof *x.data) == 0), "text %zu", i);
        rr_i32vec_free(&x);
        rr_i32vec_free(&y);
    }
    int32_t q[] = {5}, p[] = {6};
    rr_i32vec ids = {0}, tt = {0};
    CHECK(rr_tokenizer_build(a, true, q, 1, p, 1, &ids, &tt) == RERANK_OK && ids.n == 5 && ids.data[0] == 12 &&
          ids.data[2] == 13 && ids.data[4] == 13 && tt.data[1] == 0 && tt.data[3] == 1 && tt.data[4] == 1);
    rr_i32vec_free(&ids);
    rr_i32vec_free(&tt);
    rr_tokenizer_free(a);
    rr_tokenizer_free(b);
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    unlink(path);
    CHECK(rr_tokenizer_load(dir, &a, &err) == RERANK_ERR_IO && a == NULL, "%s", err.message);
    rmdir(dir);
}

/* tokenizer_config.json's bos_token / pad_token (a string or {"content": ...}) replace config.json's ids; null
 * or an unknown token gives -1; an absent file or key keeps them; a broken file is an error naming it. */
TEST(tok_config_bos_pad_override_config_json) {
    rerank_error err;
    rr_tokenizer *tok;
    REQUIRE(rr_tokenizer_load(rr_shared_path("testdata/qwen3-causal-tiny"), &tok, &err) == RERANK_OK, "%s", err.message);
    char dir[] = "/tmp/rr_tokcfg_XXXXXX", path[256];
    REQUIRE(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    int32_t bos = 7, pad = 8;
    CHECK(rr_tokenizer_config_bos_pad(dir, tok, &bos, &pad, &err) == RERANK_OK && bos == 7 && pad == 8); /* no file */
    static const struct {
        const char *json;
        rerank_status st;
        int32_t bos, pad;
    } cases[] = {
        {"{\"pad_token\": \"<|endoftext|>\"}", RERANK_OK, 7, 3260},
        {"{\"bos_token\": {\"content\": \"<|im_start|>\", \"lstrip\": false}, \"pad_token\": null}", RERANK_OK, 3261, -1},
        {"{\"bos_token\": \"<no such token>\", \"pad_token\": 5}", RERANK_OK, -1, -1},
        {"{\"bos_token\": ", RERANK_ERR_FORMAT, 7, 8},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        FILE *f = fopen(path, "w");
        REQUIRE(f && fputs(cases[i].json, f) >= 0 && fclose(f) == 0);
        bos = 7, pad = 8;
        rerank_status st = rr_tokenizer_config_bos_pad(dir, tok, &bos, &pad, &err);
        CHECK(st == cases[i].st && bos == cases[i].bos && pad == cases[i].pad, "case %zu: status %d, bos %d, pad %d", i,
              (int)st, bos, pad);
        if (st) CHECK(strstr(err.message, "tokenizer_config.json") != NULL, "%s", err.message);
    }
    unlink(path);
    rmdir(dir);
    rr_tokenizer_free(tok);
}

/* A hand-written tokenizer.json exercising Replace with a regex, Strip, Lowercase, Metaspace first/never,
 * normalized and rstrip added tokens, and RobertaProcessing. */
TEST(tok_small_pipeline_cases) {
    static const char json[] =
        "{\"added_tokens\":[{\"id\":7,\"content\":\"<X>\",\"rstrip\":true,\"normalized\":false,\"special\":true},"
        "{\"id\":8,\"content\":\"HEY\",\"normalized\":true,\"special\":false,\"single_word\":true}],"
        "\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"Strip\",\"strip_left\":true,\"strip_right\":true},"
        "{\"type\":\"Replace\",\"pattern\":{\"Regex\":\"\\\\s{2,}\"},\"content\":\" \"},{\"type\":\"Lowercase\"}]},"
        "\"pre_tokenizer\":{\"type\":\"Metaspace\",\"replacement\":\"_\",\"prepend_scheme\":\"first\",\"split\":true},"
        "\"post_processor\":{\"type\":\"RobertaProcessing\",\"cls\":[\"<s>\",0],\"sep\":[\"</s>\",2]},"
        "\"model\":{\"type\":\"Unigram\",\"unk_id\":1,\"vocab\":[[\"<s>\",0],[\"<unk>\",0],[\"</s>\",0],[\"_a\",-1],[\"_b\",-1],"
        "[\"b\",-2],[\"_\",-3]]}}";
    rerank_error err;
    rr_tokenizer *tok;
    REQUIRE(rr_tokenizer_load_json(json, sizeof json - 1, "t.json", &tok, &err) == RERANK_OK, "%s", err.message);
    rr_i32vec ids = {0};
    /* "  A   B " -> "a b" -> "_a" "_b" */
    CHECK(rr_tokenizer_encode(tok, "  A   B ", 8, &ids, &err) == RERANK_OK && ids.n == 2 && ids.data[0] == 3 &&
          ids.data[1] == 4, "%zu", ids.n);
    ids.n = 0;
    /* after <X> (rstrip eats the spaces) the piece does not start the text: no "_" prepended under "first" */
    CHECK(rr_tokenizer_encode(tok, "<X>  b", 6, &ids, &err) == RERANK_OK && ids.n == 2 && ids.data[0] == 7 &&
          ids.data[1] == 5, "%zu", ids.n);
    ids.n = 0;
    /* "HEY" is matched after normalization (lowercased to "hey"), only as a single word: "a " -> "_a" "_" */
    CHECK(rr_tokenizer_encode(tok, "a Hey", 5, &ids, &err) == RERANK_OK && ids.n == 3 && ids.data[0] == 3 &&
          ids.data[1] == 6 && ids.data[2] == 8, "%zu", ids.n);
    ids.n = 0;
    /* not a single word here: "_" then "zzhey" as one fused unk */
    ids.n = 0;
    CHECK(rr_tokenizer_encode(tok, "zzHEY", 5, &ids, &err) == RERANK_OK && ids.n == 2 && ids.data[0] == 6 &&
          ids.data[1] == 1, "%zu", ids.n);
    ids.n = 0;
    int32_t q[] = {3}, p[] = {4};
    rr_i32vec tt = {0};
    CHECK(rr_tokenizer_build(tok, true, q, 1, p, 1, &ids, &tt) == RERANK_OK && ids.n == 6 && ids.data[3] == 2 &&
          rr_tokenizer_n_special(tok, true) == 4 && tt.n == 6 && tt.data[5] == 0);
    rr_i32vec_free(&ids);
    rr_i32vec_free(&tt);
    rr_tokenizer_free(tok);
}
