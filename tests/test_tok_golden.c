/* test_tok_golden.c - every row of golden_fast.jsonl (Rust tokenizers output) for the XLM-R (Unigram +
 * Precompiled) and BERT (WordPiece) test tokenizers, rebuilt the FlagEmbedding way: query cut to
 * max_length*3/4, passage cut so the pair with its special tokens fits max_length. */
#include <time.h>

#include "base/file.h"
#include "base/json.h"
#include "tok/tokenizer.h"
#include "test.h"

static void check_golden(const char *dir, bool bert) {
    char path[1024];
    snprintf(path, sizeof path, "%s/golden_fast.jsonl", rr_shared_path(dir));
    rerank_error err;
    rr_tokenizer *tok = NULL;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    rerank_status st = rr_tokenizer_load(rr_shared_path(dir), &tok, &err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    REQUIRE(st == RERANK_OK, "%s", err.message);
    fprintf(stderr, "    %s tokenizer loaded in %.1f ms\n", dir,
            (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6);
    char *buf;
    size_t len;
    REQUIRE(rr_file_read(path, 64 << 20, &buf, &len, &err) == RERANK_OK, "%s", err.message);
    size_t n_special = rr_tokenizer_n_special(tok, true);
    CHECK(n_special == (bert ? 3u : 4u));
    int rows = 0;
    for (char *line = buf, *nl; line < buf + len; line = nl + 1) {
        nl = memchr(line, '\n', (size_t)(buf + len - line));
        if (!nl) nl = buf + len;
        if (nl == line) continue;
        json_t *row;
        REQUIRE(rr_json_parse(line, (size_t)(nl - line), "golden", &row, &err) == RERANK_OK, "%s", err.message);
        rows++;
        const char *q = json_string_value(json_object_get(row, "query"));
        const char *p = json_string_value(json_object_get(row, "passage"));
        int max_length = (int)json_integer_value(json_object_get(row, "max_length"));
        int ccase = (int)json_integer_value(json_object_get(row, "case"));
        const json_t *gids = json_object_get(row, "input_ids"), *gtt = json_object_get(row, "token_type_ids");
        rr_i32vec qi = {0}, pi = {0}, ids = {0}, tt = {0};
        CHECK(rr_tokenizer_encode(tok, q, strlen(q), &qi, &err) == RERANK_OK, "%s", err.message);
        CHECK(rr_tokenizer_encode(tok, p, strlen(p), &pi, &err) == RERANK_OK, "%s", err.message);
        size_t gn = json_array_size(gids);
        /* golden segments: [CLS] q [SEP] p [SEP] or <s> q </s></s> p </s>; q's length is ours when not cut */
        size_t qmax = (size_t)max_length * 3 / 4;
        size_t qn = qi.n < qmax ? qi.n : qmax;
        size_t p_start = 1 + qn + (bert ? 1 : 2);
        bool q_ok = gn >= p_start + 1;
        for (size_t k = 0; q_ok && k < qn; k++) q_ok = json_integer_value(json_array_get(gids, 1 + k)) == qi.data[k];
        CHECK(q_ok, "%s case %d max_length %d: query ids differ", dir, ccase, max_length);
        if (q_ok) {
            size_t gp = gn - p_start - 1;
            bool p_ok = gp <= pi.n;
            for (size_t k = 0; p_ok && k < gp; k++)
                p_ok = json_integer_value(json_array_get(gids, p_start + k)) == pi.data[k];
            CHECK(p_ok, "%s case %d max_length %d: golden passage (%zu ids) is not a prefix of ours (%zu)", dir, ccase,
                  max_length, gp, pi.n);
        }
        size_t pn = pi.n;
        if (qn + pn + n_special > (size_t)max_length) pn = (size_t)max_length > qn + n_special ? max_length - qn - n_special : 0;
        CHECK(rr_tokenizer_build(tok, true, qi.data, qn, pi.data, pn, &ids, &tt) == RERANK_OK);
        bool all = ids.n == gn;
        for (size_t k = 0; all && k < gn; k++) all = json_integer_value(json_array_get(gids, k)) == ids.data[k];
        CHECK(all, "%s case %d max_length %d: input_ids differ (%zu vs %zu ids)", dir, ccase, max_length, ids.n, gn);
        if (bert) {
            bool tt_ok = gtt && json_array_size(gtt) == tt.n;
            for (size_t k = 0; tt_ok && k < tt.n; k++) tt_ok = json_integer_value(json_array_get(gtt, k)) == tt.data[k];
            CHECK(tt_ok, "%s case %d: token_type_ids differ", dir, ccase);
        }
        for (size_t k = 0; k < ids.n; k++) CHECK(ids.data[k] >= 0 && (size_t)ids.data[k] < rr_tokenizer_vocab_size(tok));
        rr_i32vec_free(&qi);
        rr_i32vec_free(&pi);
        rr_i32vec_free(&ids);
        rr_i32vec_free(&tt);
        json_decref(row);
    }
    CHECK(rows == 44, "%d rows", rows);
    free(buf);
    rr_tokenizer_free(tok);
}

TEST(tok_golden_fast_xlmr) { check_golden("testdata/xlmr-seqcls-tiny", false); }
TEST(tok_golden_fast_bert) { check_golden("testdata/bert-seqcls-tiny", true); }
