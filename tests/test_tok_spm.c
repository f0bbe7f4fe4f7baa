/* test_tok_spm.c - SentencePiece tokenizer.model (BPE) against the tokenizer.json of the same test model
 * (MiniCPM / Gemma tiny: ids must agree on every golden text), the real MiniCPM-2B model (122,753 pieces:
 * load time, encode -> decode round trip), and malformed protobufs. */
#include <time.h>

#include "base/file.h"
#include "base/json.h"
#include "score/llm_input.h"
#include "tok/tok_internal.h"
#include "tok/tokenizer.h"
#include "test.h"

static rr_tokenizer *load_spm_file(const char *rel, bool add_bos, double *ms) {
    char *buf;
    size_t len;
    rerank_error err;
    if (rr_file_read(rr_shared_path(rel), 64 << 20, &buf, &len, &err) != RERANK_OK) return NULL;
    rr_tokenizer *tok = NULL;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (rr_tokenizer_load_spm(buf, len, rel, add_bos, false, -1, &tok, &err) != RERANK_OK)
        fprintf(stderr, "    %s\n", err.message);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (ms) *ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
    free(buf);
    return tok;
}

static bool same_encoding(const rr_tokenizer *a, const rr_tokenizer *b, const char *s) {
    rr_i32vec x = {0}, y = {0};
    rerank_error err;
    bool ok = rr_tokenizer_encode(a, s, strlen(s), &x, &err) == RERANK_OK &&
              rr_tokenizer_encode(b, s, strlen(s), &y, &err) == RERANK_OK && x.n == y.n &&
              (x.n == 0 || memcmp(x.data, y.data, x.n * sizeof *x.data) == 0);
    rr_i32vec_free(&x);
    rr_i32vec_free(&y);
    return ok;
}

static void check_against_json(const char *dir) {
    char rel[256];
    snprintf(rel, sizeof rel, "%s/tokenizer.model", dir);
    rr_tokenizer *spm = load_spm_file(rel, true, NULL), *js = NULL;
    rerank_error err;
    REQUIRE(spm);
    REQUIRE(rr_tokenizer_load(rr_shared_path(dir), &js, &err) == RERANK_OK, "%s", err.message);
    CHECK(rr_tokenizer_vocab_size(spm) == rr_tokenizer_vocab_size(js), "%zu vs %zu", rr_tokenizer_vocab_size(spm),
          rr_tokenizer_vocab_size(js));
    static const char *fixed[] = {RR_LLM_SEP, RR_LLM_DEFAULT_PROMPT, "Yes", "yes", "no", RR_QWEN3_PREFIX, "<s>x</s>",
                                  "  two  spaces ", "\xF0\x9F\x98\x80 emoji \xE4\xB8\xAD\xE6\x96\x87", ""};
    int n = 0, ok = 0;
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        bool same = same_encoding(spm, js, fixed[i]);
        n++;
        ok += same;
        CHECK(same, "%s: '%s'", dir, fixed[i]);
    }
    char path[1024], *buf;
    size_t len;
    snprintf(path, sizeof path, "%s/golden_fast.jsonl", rr_shared_path(dir));
    REQUIRE(rr_file_read(path, 64 << 20, &buf, &len, &err) == RERANK_OK, "%s", err.message);
    rr_bytes t = {0};
    for (char *line = buf, *nl; line < buf + len; line = nl + 1) {
        nl = memchr(line, '\n', (size_t)(buf + len - line));
        if (!nl) nl = buf + len;
        if (nl == line) continue;
        json_t *row;
        REQUIRE(rr_json_parse(line, (size_t)(nl - line), "golden", &row, &err) == RERANK_OK, "%s", err.message);
        const char *q = json_string_value(json_object_get(row, "query"));
        const char *p = json_string_value(json_object_get(row, "passage"));
        const char *texts[4] = {q, p, "A: ", "B: "};
        for (int k = 0; k < 4; k++) {
            t.n = 0;
            rr_bytes_append(&t, texts[k], strlen(texts[k]));
            if (k >= 2) rr_bytes_append(&t, k == 2 ? q : p, strlen(k == 2 ? q : p));
            rr_bytes_append(&t, "", 1);
            bool same = same_encoding(spm, js, t.data);
            n++;
            ok += same;
            CHECK(same, "%s case %d text %d", dir, (int)json_integer_value(json_object_get(row, "case")), k);
        }
        json_decref(row);
    }
    fprintf(stderr, "    %s: tokenizer.model and tokenizer.json agree on %d/%d texts\n", dir, ok, n);
    /* the template: <bos> A and <bos> A <bos> B */
    rr_i32vec a = {0}, b = {0};
    int32_t x = 100;
    CHECK(rr_tokenizer_build(spm, true, &x, 1, &x, 1, &a, NULL) == RERANK_OK &&
          rr_tokenizer_build(js, true, &x, 1, &x, 1, &b, NULL) == RERANK_OK && a.n == b.n &&
          memcmp(a.data, b.data, a.n * sizeof *a.data) == 0);
    rr_i32vec_free(&a);
    rr_i32vec_free(&b);
    rr_bytes_free(&t);
    free(buf);
    rr_tokenizer_free(spm);
    rr_tokenizer_free(js);
}

TEST(tok_spm_minicpm_tiny_matches_json) { check_against_json("testdata/minicpm-layerwise-tiny"); }
TEST(tok_spm_gemma_tiny_matches_json) { check_against_json("testdata/gemma-causal-tiny-bf16"); }

/* Decodes ids with the model's pieces: <0xNN> bytes, "▁" -> " ", minus the dummy prefix's leading space. */
static void decode(const void *model, const int32_t *ids, size_t n, rr_bytes *out) {
    out->n = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len;
        int type;
        const char *p = rr_tok_spm_piece(model, (size_t)ids[i], &len, &type);
        if (type == 6 && len == 6) {
            char b = (char)strtol(p + 3, NULL, 16);
            rr_bytes_append(out, &b, 1);
            continue;
        }
        for (size_t k = 0; k < len;) {
            if (k + 3 <= len && memcmp(p + k, "\xE2\x96\x81", 3) == 0) {
                rr_bytes_append(out, " ", 1);
                k += 3;
            } else {
                rr_bytes_append(out, p + k++, 1);
            }
        }
    }
    rr_bytes_append(out, "", 1);
    out->n--;
}

TEST(tok_spm_minicpm_2b_round_trip) {
    SKIP_UNLESS_SHARED("assets/minicpm-2b-tokenizer", "OpenBMB MiniCPM model licence: not shipped in tests/data");
    /* loaded as a directory (no tokenizer.json): tokenizer_config.json says LlamaTokenizer, legacy */
    rr_tokenizer *tok = NULL;
    struct timespec t0, t1;
    rerank_error err;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    REQUIRE(rr_tokenizer_load(rr_shared_path("assets/minicpm-2b-tokenizer"), &tok, &err) == RERANK_OK, "%s", err.message);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
    fprintf(stderr, "    MiniCPM-2B tokenizer.model (122,753 pieces) loaded in %.1f ms\n", ms);
    CHECK(rr_tokenizer_vocab_size(tok) == 122753, "%zu", rr_tokenizer_vocab_size(tok));
    CHECK(rr_tokenizer_token_id(tok, "<s>", 3) == 1 && rr_tokenizer_token_id(tok, "</s>", 4) == 2 &&
          rr_tokenizer_token_id(tok, "<unk>", 5) == 0);
    char *buf;
    size_t len;
    REQUIRE(rr_file_read(rr_shared_path("assets/minicpm-2b-tokenizer/tokenizer.model"), 64 << 20, &buf, &len, &err) ==
            RERANK_OK);
    void *model;
    const rr_tok_model_ops *ops;
    const rr_tok_spm_info *info;
    REQUIRE(rr_tok_spm_load((const uint8_t *)buf, len, "m", &model, &ops, &info, &err) == RERANK_OK, "%s", err.message);
    CHECK(info->byte_fallback && info->model_type == 2 && info->unk_id == 0 && info->bos_id == 1 && info->eos_id == 2);
    static const char *texts[] = {"what is panda?", RR_LLM_DEFAULT_PROMPT, "Hello world",
                                  "The giant panda (Ailuropoda melanoleuca) is a bear species endemic to China.",
                                  "\xE5\xA4\xA7\xE7\x86\x8A\xE7\x8C\xAB\xE6\x98\xAF\xE4\xB8\xAD\xE5\x9B\xBD\xE7\x89\xB9\xE6\x9C\x89\xE7\x89\xA9\xE7\xA7\x8D\xE3\x80\x82",
                                  "tabs\tand\nnewlines  double  spaces", "\xF0\x9F\x90\xBC emoji \xF4\x8F\xBF\xBD private",
                                  "caf\xC3\xA9 na\xC3\xAFve \xE2\x80\x94 x"};
    rr_bytes d = {0};
    int ok = 0;
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        rr_i32vec v = {0};
        CHECK(rr_tokenizer_encode(tok, texts[i], strlen(texts[i]), &v, &err) == RERANK_OK, "%s", err.message);
        decode(model, v.data, v.n, &d);
        bool same = d.n == strlen(texts[i]) + 1 && d.data[0] == ' ' && memcmp(d.data + 1, texts[i], d.n - 1) == 0;
        ok += same;
        CHECK(same, "round trip of '%s' gave '%s'", texts[i], d.data);
        CHECK(v.n < strlen(texts[i]) + 1, "%zu ids for %zu bytes", v.n, strlen(texts[i]));
        rr_i32vec_free(&v);
    }
    fprintf(stderr, "    MiniCPM-2B round trip: %d/%zu texts\n", ok, sizeof texts / sizeof texts[0]);
    rr_bytes_free(&d);
    ops->free(model);
    free(buf);
    rr_tokenizer_free(tok);
}

TEST(tok_spm_errors) {
    char *buf;
    size_t len;
    rerank_error err;
    REQUIRE(rr_file_read(rr_shared_path("testdata/minicpm-layerwise-tiny/tokenizer.model"), 64 << 20, &buf, &len, &err) ==
            RERANK_OK);
    rr_tokenizer *tok = NULL;
    CHECK(rr_tokenizer_load_spm(buf, len - 1, "tokenizer.model", true, false, -1, &tok, &err) == RERANK_ERR_FORMAT &&
              strstr(err.message, "tokenizer.model: malformed or truncated protobuf at byte"), "%s", err.message);
    for (size_t cut = 1; cut < len; cut += len / 7) { /* wherever it is cut, a one-line error and no tokenizer */
        rerank_status st = rr_tokenizer_load_spm(buf, cut, "tokenizer.model", true, false, -1, &tok, &err);
        CHECK((st == RERANK_ERR_FORMAT || st == RERANK_ERR_UNSUPPORTED) && tok == NULL && !strchr(err.message, '\n') &&
                  !strncmp(err.message, "tokenizer.model: ", 17), "cut %zu: %s", cut, err.message);
    }
    CHECK(rr_tokenizer_load_spm(buf, 0, "tokenizer.model", true, false, -1, &tok, &err) == RERANK_ERR_FORMAT &&
              strstr(err.message, "no pieces"), "%s", err.message);
    /* one piece "a" (type normal), trainer_spec.model_type = UNIGRAM */
    static const uint8_t uni[] = {0x0A, 0x03, 0x0A, 0x01, 'a', 0x12, 0x02, 0x18, 0x01};
    CHECK(rr_tokenizer_load_spm(uni, sizeof uni, "tokenizer.model", false, false, -1, &tok, &err) == RERANK_ERR_UNSUPPORTED &&
              strstr(err.message, "trainer_spec.model_type 1"), "%s", err.message);
    /* a group wire type */
    static const uint8_t grp[] = {0x0B, 0x0C};
    CHECK(rr_tokenizer_load_spm(grp, sizeof grp, "tokenizer.model", false, false, -1, &tok, &err) == RERANK_ERR_FORMAT, "%s",
          err.message);
    /* BPE, unk_id 0 but bos_id 5 of 1 piece */
    static const uint8_t ids[] = {0x0A, 0x03, 0x0A, 0x01, 'a', 0x12, 0x05, 0x18, 0x02, 0xC8, 0x02, 0x05};
    CHECK(rr_tokenizer_load_spm(ids, sizeof ids, "tokenizer.model", true, false, -1, &tok, &err) == RERANK_ERR_FORMAT &&
              strstr(err.message, "bos_id 5"), "%s", err.message);
    CHECK(tok == NULL);
    free(buf);
}
