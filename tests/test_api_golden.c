/* test_api_golden.c - end-to-end parity through the public API: for every golden case of the cross-encoder
 * checkpoints, rerank_tokenize must give FlagEmbedding's token ids exactly and rerank_score its logits and
 * sigmoid scores within 1e-4 (testdata/README.md), one pair at a time and in one batch. */
#include "golden.h"
#include "rerank.h"
#include "test.h"

static void check_model(const char *name) {
    char rel[256];
    snprintf(rel, sizeof rel, "testdata/%s", name);
    const char *dir = rr_shared_path(rel);
    snprintf(rel, sizeof rel, "testdata/%s/golden_fast.jsonl", name);
    json_t *rows = golden_load(rr_shared_path(rel));
    REQUIRE(rows && json_array_size(rows) > 0, "cannot read %s", rel);
    rerank_error err;
    rerank_model *m;
    REQUIRE(rerank_model_load(dir, NULL, &m, &err) == RERANK_OK, "%s", err.message);
    rerank_session *s;
    REQUIRE(rerank_session_new(m, &s, &err) == RERANK_OK, "%s", err.message);
    size_t n = json_array_size(rows);
    rerank_pair *pairs = calloc(n, sizeof *pairs);
    float *batch_scores = calloc(n, sizeof *batch_scores);
    double max_diff = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *row = json_array_get(rows, i);
        const json_t *q = json_object_get(row, "query"), *p = json_object_get(row, "passage");
        pairs[i] = (rerank_pair){json_string_value(q), json_string_length(q), json_string_value(p),
                                 json_string_length(p)};
        rerank_score_params sp = rerank_score_default_params();
        sp.max_length = (int)json_integer_value(json_object_get(row, "max_length"));
        size_t n_ids, n_types;
        int32_t *ids = golden_ints(row, "input_ids", &n_ids);
        int32_t *types = golden_ints(row, "token_type_ids", &n_types);
        rerank_encoding enc;
        if (rerank_tokenize(m, &sp, &pairs[i], &enc, &err) != RERANK_OK) {
            CHECK(0, "%s case %zu: %s", name, i, err.message);
            free(ids);
            free(types);
            continue;
        }
        int same = enc.n_tokens == n_ids && memcmp(enc.ids, ids, n_ids * sizeof *ids) == 0;
        CHECK(same, "%s row %zu (case %lld, max_length %d): token ids differ (%zu vs %zu tokens)", name, i,
              json_integer_value(json_object_get(row, "case")), sp.max_length, enc.n_tokens, n_ids);
        if (n_types)
            CHECK(enc.n_tokens == n_types && memcmp(enc.type_ids, types, n_types * sizeof *types) == 0,
                  "%s row %zu: token type ids differ", name, i);
        rerank_encoding_free(&enc);
        free(ids);
        free(types);
        float logit, score;
        CHECK(rerank_score(s, &sp, &pairs[i], 1, &logit, &err) == RERANK_OK, "%s", err.message);
        double want = golden_first(row, "logits");
        CHECK_NEAR(logit, want, 1e-4);
        if (fabs(logit - want) > max_diff) max_diff = fabs(logit - want);
        sp.normalize = true;
        CHECK(rerank_score(s, &sp, &pairs[i], 1, &score, &err) == RERANK_OK, "%s", err.message);
        CHECK_NEAR(score, json_number_value(json_object_get(row, "score")), 1e-4);
    }
    /* the same pairs as batches (rows alternate max_length 64 and 512): one call per max_length */
    for (int pass = 0; pass < 2; pass++) {
        int ml = pass ? 512 : 64;
        rerank_pair *sel = calloc(n, sizeof *sel);
        size_t *idx = calloc(n, sizeof *idx), k = 0;
        for (size_t i = 0; i < n; i++)
            if (json_integer_value(json_object_get(json_array_get(rows, i), "max_length")) == ml) {
                sel[k] = pairs[i];
                idx[k++] = i;
            }
        rerank_score_params sp = rerank_score_default_params();
        sp.max_length = ml;
        sp.batch_size = 7;
        CHECK(rerank_score(s, &sp, sel, k, batch_scores, &err) == RERANK_OK, "%s", err.message);
        for (size_t j = 0; j < k; j++)
            CHECK_NEAR(batch_scores[j], golden_first(json_array_get(rows, idx[j]), "logits"), 1e-4);
        free(sel);
        free(idx);
    }
    printf("    %s: %zu cases, max |logit - golden| = %.3g\n", name, n, max_diff);
    free(pairs);
    free(batch_scores);
    rerank_session_free(s);
    rerank_model_free(m);
    json_decref(rows);
}

TEST(golden_xlmr_f32) { check_model("xlmr-seqcls-tiny"); }
TEST(golden_xlmr_f16) { check_model("xlmr-seqcls-tiny-f16"); }
TEST(golden_bert) { check_model("bert-seqcls-tiny"); }

TEST(api_rejects_bad_arguments) {
    rerank_error err;
    rerank_model *m = (rerank_model *)1;
    CHECK(rerank_model_load("/nonexistent/dir", NULL, &m, &err) == RERANK_ERR_IO && m == NULL);
    CHECK(strstr(err.message, "/nonexistent/dir") != NULL, "got '%s'", err.message);
    CHECK(rerank_model_load(NULL, NULL, &m, &err) == RERANK_ERR_INVALID_ARGUMENT);
    rerank_model_free(NULL);
    rerank_session_free(NULL);
    REQUIRE(rerank_model_load(rr_shared_path("testdata/xlmr-seqcls-tiny"), NULL, &m, &err) == RERANK_OK, "%s",
            err.message);
    rerank_session *s;
    REQUIRE(rerank_session_new(m, &s, &err) == RERANK_OK);
    float score;
    rerank_score_params sp = rerank_score_default_params();
    sp.max_length = 3; /* cannot hold <s> </s></s> </s> */
    rerank_pair pr = RERANK_PAIR("q", "p");
    CHECK(rerank_score(s, &sp, &pr, 1, &score, &err) == RERANK_ERR_INVALID_ARGUMENT);
    rerank_pair bad[2] = {RERANK_PAIR("ok", "fine"), {"q", 1, "ab\xff", 3}};
    CHECK(rerank_score(s, NULL, bad, 2, &score, &err) == RERANK_ERR_INPUT);
    CHECK(strncmp(err.message, "pair 1: passage", 15) == 0, "got '%s'", err.message);
    CHECK(rerank_score(s, NULL, NULL, 0, NULL, &err) == RERANK_OK, "zero pairs is fine");
    rerank_model_info info;
    rerank_model_get_info(m, &info);
    CHECK(info.kind == RERANK_KIND_CROSS_ENCODER && info.max_tokens == 512, "max_tokens %d", info.max_tokens);
    rerank_session_free(s);
    rerank_model_free(m);
}

TEST(long_documents_truncate_or_chunk) {
    rerank_error err;
    rerank_model *m;
    REQUIRE(rerank_model_load(rr_shared_path("testdata/xlmr-seqcls-tiny"), NULL, &m, &err) == RERANK_OK);
    rerank_session *s;
    REQUIRE(rerank_session_new(m, &s, &err) == RERANK_OK);
    char passage[4096] = "";
    for (int i = 0; i < 60; i++) strcat(passage, "the giant panda lives in the bamboo forests of China. ");
    rerank_pair pr = RERANK_PAIR("what is panda?", passage);
    rerank_score_params sp = rerank_score_default_params();
    sp.max_length = 64;
    float truncated, chunked;
    CHECK(rerank_score(s, &sp, &pr, 1, &truncated, &err) == RERANK_OK);
    rerank_score_stats st;
    rerank_session_last_stats(s, &st);
    CHECK(st.n_windows == 1 && st.n_tokens == 64, "windows %zu tokens %zu", st.n_windows, st.n_tokens);
    sp.long_doc = RERANK_LONG_DOC_CHUNK;
    CHECK(rerank_score(s, &sp, &pr, 1, &chunked, &err) == RERANK_OK);
    rerank_session_last_stats(s, &st);
    CHECK(st.n_windows > 5, "windows %zu", st.n_windows);
    CHECK(chunked >= truncated - 1e-6, "MaxP keeps the best window: %g < %g", chunked, truncated);
    rerank_session_free(s);
    rerank_model_free(m);
}

TEST(special_token_text_can_be_plain_text) {
    rerank_error err;
    rerank_model *m;
    REQUIRE(rerank_model_load(rr_shared_path("testdata/xlmr-seqcls-tiny"), NULL, &m, &err) == RERANK_OK);
    rerank_pair pr = RERANK_PAIR("what are <s> and </s>?", "x");
    rerank_score_params sp = rerank_score_default_params();
    rerank_encoding a, b;
    REQUIRE(rerank_tokenize(m, &sp, &pr, &a, &err) == RERANK_OK);
    sp.split_special_tokens = true;
    REQUIRE(rerank_tokenize(m, &sp, &pr, &b, &err) == RERANK_OK);
    int specials_a = 0, specials_b = 0;
    for (size_t i = 0; i < a.n_tokens; i++) specials_a += a.ids[i] == 0 || a.ids[i] == 2;
    for (size_t i = 0; i < b.n_tokens; i++) specials_b += b.ids[i] == 0 || b.ids[i] == 2;
    /* the template's <s> A </s></s> B </s> has 4; the query's "<s>" and "</s>" add 2 unless split */
    CHECK(specials_a == 6, "HF default: <s> and </s> in the query are special tokens (%d)", specials_a);
    CHECK(specials_b == 4, "split_special_tokens: they are text (%d)", specials_b);
    rerank_encoding_free(&a);
    rerank_encoding_free(&b);
    rerank_model_free(m);
}
