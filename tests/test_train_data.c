/* test_train_data.c - training data (src/train/data.h): every kind of bad line with its exact message,
 * skipping, directories, seeded group sampling and its repeat rule, and the training token layouts (against
 * FlagEmbedding's own sequences in shared/testdata/train). */
#include <stdbool.h>
#include <unistd.h>

#include "base/json.h"
#include "test.h"
#include "train/data.h"

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

static const char *bad_data =
    "{\"query\": \"q\", \"pos\": [\"a\"], \"neg\": [\"b\"]}\n"                                    /* 1 good */
    "{\"query\": \"q\", \"pos\": [\"a\"]}\n"                                                    /* 2 */
    "\n"                                                                                        /* 3 blank */
    "[1, 2]\n"                                                                                  /* 4 */
    "{\"query\": 7, \"pos\": [\"a\"], \"neg\": [\"b\"]}\n"                                      /* 5 */
    "{\"query\": \"q\", \"pos\": [\"a\", 2], \"neg\": [\"b\"]}\n"                               /* 6 */
    "{\"query\": \"q\", \"pos\": [\"a\"], \"neg\": [\"b\"], \"pos_scores\": [\"x\"], \"neg_scores\": [1]}\n" /* 7 */
    "{\"query\": \"q\", \"pos\": [\"a\"], \"neg\": [\"b\"], \"pos_scores\": [1], \"neg_scores\": [1, 2]}\n" /* 8 */
    "{\"query\": \"q\xff\", \"pos\": [\"a\"], \"neg\": [\"b\"]}\n"                              /* 9 */
    "{\"query\": \"q\",\n"                                                                      /* 10 */
    "{\"query\": \"q\", \"pos\": [\"a\"], \"neg\": []}\n"                                       /* 11 */
    "{\"query\": \"q\", \"pos\": [\"a\"], \"neg\": [\"b\"], \"prompt\": 5}\n"                   /* 12 */
    "{\"query\": \"q\", \"pos\": \"a\", \"neg\": [\"b\"]}\n"                                    /* 13 */
    "{\"query\": \"q\", \"pos\": [\"a\"], \"neg\": [\"b\"], \"pos_scores\": [1]}\n"             /* 14 */
    "{\"query\": \"r\", \"pos\": [\"a\"], \"neg\": [\"b\"], \"pos_scores\": [1], \"neg_scores\": [2.5]}\n"; /* 15 good */

TEST(train_data_bad_lines) {
    char path[] = "/tmp/rr_train_dataXXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    close(fd);
    write_file(path, bad_data);
    const char *want[] = {
        "2: field \"neg\": missing",
        "4: expected a JSON object",
        "5: field \"query\": must be a string",
        "6: field \"pos\"[1]: must be a string",
        "7: field \"pos_scores\"[0]: must be a number",
        "8: field \"neg_scores\": has 2 scores but \"neg\" has 1 passages",
        "9: invalid UTF-8 at byte 13",
        "10: invalid JSON at column 14: string or '}' expected near end of file",
        "11: field \"neg\": must be a non-empty list of strings",
        "12: field \"prompt\": must be a string",
        "13: field \"pos\": must be a non-empty list of strings",
        "14: field \"neg_scores\": missing (knowledge distillation needs pos_scores and neg_scores)",
    };
    size_t n_want = sizeof want / sizeof want[0];
    rr_train_data *d = NULL;
    rerank_error err;
    rr_train_data_opts o = {false, false};
    CHECK(rr_train_data_load(path, &o, &d, &err) == RERANK_ERR_INPUT);
    REQUIRE(d != NULL);
    CHECK(d->n_bad == n_want, "%zu bad lines", d->n_bad);
    for (size_t i = 0; i < n_want && i < d->n_bad; i++) {
        char full[600];
        snprintf(full, sizeof full, "%s:%s", path, want[i]);
        CHECK(strcmp(d->bad[i], full) == 0, "got '%s', want '%s'", d->bad[i], full);
    }
    char first[600];
    snprintf(first, sizeof first, "%s:2: field \"neg\": missing (12 bad lines in all; --skip-bad-lines trains on the rest)",
             path);
    CHECK(strcmp(err.message, first) == 0, "%s", err.message);
    rr_train_data_free(d);

    /* skipping: the two good rows remain, with their file and line */
    o.skip_bad = true;
    REQUIRE(rr_train_data_load(path, &o, &d, &err) == RERANK_OK, "%s", err.message);
    CHECK(d->n_rows == 2 && d->n_bad == 12);
    CHECK(d->rows[0].line == 1 && d->rows[1].line == 15 && !strcmp(d->files[d->rows[1].file], path));
    CHECK(d->rows[1].pos_scores && d->rows[1].pos_scores[0] == 1.0 && d->rows[1].neg_scores[0] == 2.5);
    CHECK(d->rows[0].pos_scores == NULL && d->rows[0].prompt == NULL);
    rr_train_data_free(d);

    /* knowledge distillation needs the scores: row 1 becomes bad too */
    o.need_scores = true;
    REQUIRE(rr_train_data_load(path, &o, &d, &err) == RERANK_OK, "%s", err.message);
    CHECK(d->n_rows == 1 && d->n_bad == 13);
    snprintf(first, sizeof first, "%s:1: field \"pos_scores\": missing (knowledge distillation needs pos_scores and neg_scores)", path);
    CHECK(d->n_bad > 0 && strcmp(d->bad[0], first) == 0, "%s", d->bad[0]);
    rr_train_data_free(d);

    /* nothing good at all */
    write_file(path, "{\"query\": 1}\n");
    CHECK(rr_train_data_load(path, &o, &d, &err) == RERANK_ERR_INPUT && strstr(err.message, "no training rows"), "%s",
          err.message);
    rr_train_data_free(d);
    unlink(path);
    CHECK(rr_train_data_load("/nonexistent/data.jsonl", &o, &d, &err) == RERANK_ERR_IO && d == NULL);
}

TEST(train_data_directory) {
    char dir[] = "/tmp/rr_train_dirXXXXXX";
    REQUIRE(mkdtemp(dir) != NULL);
    char a[600], b[600], c[600];
    snprintf(a, sizeof a, "%s/b.jsonl", dir);
    snprintf(b, sizeof b, "%s/a.json", dir);
    snprintf(c, sizeof c, "%s/notes.txt", dir);
    write_file(a, "\xef\xbb\xbf{\"query\": \"second\", \"pos\": [\"p\"], \"neg\": [\"n\"]}\r\n"); /* BOM, CRLF */
    write_file(b, "{\"query\": \"first\", \"pos\": [\"p\"], \"neg\": [\"n\"], \"prompt\": \"P?\"}\n");
    write_file(c, "not data\n");
    rr_train_data *d = NULL;
    rerank_error err;
    rr_train_data_opts o = {false, false};
    REQUIRE(rr_train_data_load(dir, &o, &d, &err) == RERANK_OK, "%s", err.message);
    CHECK(d->n_rows == 2 && d->n_files == 2);
    CHECK(d->n_rows == 2 && !strcmp(d->rows[0].query, "first") && !strcmp(d->rows[1].query, "second"));
    CHECK(d->n_rows == 2 && d->rows[0].prompt && !strcmp(d->rows[0].prompt, "P?"));
    rr_train_data_free(d);
    unlink(a), unlink(b), unlink(c);
    CHECK(rr_train_data_load(dir, &o, &d, &err) == RERANK_ERR_INPUT && strstr(err.message, "no .json or .jsonl"), "%s",
          err.message);
    rmdir(dir);
}

TEST(train_data_group_sampling) {
    const char *negs[7] = {"n0", "n1", "n2", "n3", "n4", "n5", "n6"};
    size_t lens[7] = {2, 2, 2, 2, 2, 2, 2};
    const char *poss[3] = {"p0", "p1", "p2"};
    rr_train_row r = {.query = "q", .query_len = 1, .pos = poss, .pos_len = lens, .n_pos = 3, .neg = negs,
                      .neg_len = lens, .n_neg = 7};
    size_t pos, neg[16], neg2[16], scratch[32];
    /* enough negatives: G-1 distinct ones */
    rr_train_pick_group(&r, 8, 123, &pos, neg, scratch);
    int seen[7] = {0};
    for (int i = 0; i < 7; i++) seen[neg[i]]++;
    for (int i = 0; i < 7; i++) CHECK(seen[i] == 1, "negative %d drawn %d times", i, seen[i]);
    CHECK(pos < 3);
    /* the same seed gives the same group; other seeds other groups (and every positive in time) */
    size_t pos2;
    rr_train_pick_group(&r, 8, 123, &pos2, neg2, scratch);
    CHECK(pos == pos2 && memcmp(neg, neg2, 7 * sizeof *neg) == 0);
    int differ = 0, pos_seen[3] = {0};
    for (uint64_t s = 0; s < 50; s++) {
        rr_train_pick_group(&r, 4, s, &pos2, neg2, scratch);
        rr_train_pick_group(&r, 4, s + 1000, &pos, neg, scratch);
        differ += memcmp(neg, neg2, 3 * sizeof *neg) != 0;
        pos_seen[pos2]++;
        CHECK(neg2[0] != neg2[1] && neg2[0] != neg2[2] && neg2[1] != neg2[2]);
    }
    CHECK(differ > 40 && pos_seen[0] && pos_seen[1] && pos_seen[2], "%d", differ);
    /* too few negatives: drawn from neg * ceil(7 / 3) = 9 entries, so each at most 3 times and 7 in all */
    r.n_neg = 3;
    for (uint64_t s = 0; s < 20; s++) {
        rr_train_pick_group(&r, 8, s, &pos, neg, scratch);
        int cnt[3] = {0};
        for (int i = 0; i < 7; i++) {
            CHECK(neg[i] < 3);
            if (neg[i] < 3) cnt[neg[i]]++;
        }
        CHECK(cnt[0] <= 3 && cnt[1] <= 3 && cnt[2] <= 3 && cnt[0] >= 1 && cnt[1] >= 1 && cnt[2] >= 1);
    }
    /* one negative, group of 2 */
    r.n_neg = 1;
    rr_train_pick_group(&r, 2, 9, &pos, neg, scratch);
    CHECK(neg[0] == 0);
    /* epoch order: a permutation, fixed by (seed, epoch) */
    size_t p1[10], p2[10], p3[10];
    rr_train_epoch_order(10, 42, 0, p1);
    rr_train_epoch_order(10, 42, 0, p2);
    rr_train_epoch_order(10, 42, 1, p3);
    CHECK(memcmp(p1, p2, sizeof p1) == 0 && memcmp(p1, p3, sizeof p1) != 0);
    int hit[10] = {0};
    for (int i = 0; i < 10; i++) hit[p1[i]]++;
    for (int i = 0; i < 10; i++) CHECK(hit[i] == 1);
}

/* The encoder sequences equal the ones FlagEmbedding built for the training golden (query_max_len 32,
 * passage_max_len 64, sequence 6's passage cut by only_second). */
TEST(train_data_encoder_layout_golden) {
    rerank_error err;
    json_t *g = NULL;
    REQUIRE(rr_json_load_file(rr_shared_path("testdata/train/xlmr-seqcls-tiny/golden.json"), 1 << 24, &g, &err) == RERANK_OK,
            "%s", err.message);
    rr_train_data *d = NULL;
    rr_train_data_opts o = {false, false};
    REQUIRE(rr_train_data_load(rr_shared_path("testdata/train/xlmr-seqcls-tiny/train_data.jsonl"), &o, &d, &err) == RERANK_OK,
            "%s", err.message);
    rr_train_tok *t = NULL;
    REQUIRE(rr_train_tok_open(rr_shared_path("testdata/xlmr-seqcls-tiny"), RERANK_KIND_CROSS_ENCODER, 32, 64, &t, &err) ==
                RERANK_OK,
            "%s", err.message);
    const json_t *seqs = json_object_get(g, "sequence_input_ids");
    size_t s = 0;
    for (size_t i = 0; i < d->n_rows; i++)
        for (size_t j = 0; j < 1 + d->rows[i].n_neg; j++, s++) {
            const rr_train_row *r = &d->rows[i];
            rr_i32vec ids = {0}, types = {0};
            REQUIRE(rr_train_tok_pair(t, r, j ? r->neg[j - 1] : r->pos[0], j ? r->neg_len[j - 1] : r->pos_len[0], &ids,
                                      &types, &err) == RERANK_OK,
                    "%s", err.message);
            const json_t *want = json_array_get(seqs, s);
            CHECK(ids.n == json_array_size(want), "sequence %zu: %zu tokens, want %zu", s, ids.n, json_array_size(want));
            bool same = ids.n == json_array_size(want) && ids.n == types.n;
            for (size_t k = 0; same && k < ids.n; k++) same = ids.data[k] == json_integer_value(json_array_get(want, k));
            CHECK(same, "sequence %zu differs", s);
            rr_i32vec_free(&ids), rr_i32vec_free(&types);
        }
    CHECK(s == 8 && json_array_size(seqs) == 8);
    rr_train_tok_free(t);
    rr_train_data_free(d);
    json_decref(g);
}

/* Truncation lengths of both layouts on synthetic ids. */
TEST(train_data_truncation) {
    rerank_error err;
    rr_train_tok *t = NULL;
    REQUIRE(rr_train_tok_open(rr_shared_path("testdata/xlmr-seqcls-tiny"), RERANK_KIND_CROSS_ENCODER, 32, 128, &t, &err) ==
                RERANK_OK,
            "%s", err.message);
    int32_t q[300], p[300];
    for (int i = 0; i < 300; i++) q[i] = 100 + i % 50, p[i] = 200 + i % 50;
    rr_i32vec ids = {0}, types = {0};
    /* q cut to 32 + 128/4 = 64, p to 128 + 32/2 = 144, then p to 160 - 64 - 4 = 92 (only_second) */
    REQUIRE(rr_train_encoder_layout(t->tok, 32, 128, q, 300, p, 300, &ids, &types) == RERANK_OK);
    CHECK(ids.n == 160, "%zu", ids.n);
    CHECK(ids.n == 160 && ids.data[0] == 0 && ids.data[64] == 100 + 63 % 50 && ids.data[65] == 2 && ids.data[66] == 2 &&
          ids.data[67] == 200 && ids.data[158] == 200 + 91 % 50 && ids.data[159] == 2);
    /* short texts are kept whole */
    ids.n = types.n = 0;
    REQUIRE(rr_train_encoder_layout(t->tok, 32, 128, q, 10, p, 20, &ids, &types) == RERANK_OK);
    CHECK(ids.n == 34);
    /* a query longer than the pair budget leaves the passage uncut (transformers logs an error instead) */
    ids.n = types.n = 0;
    REQUIRE(rr_train_encoder_layout(t->tok, 8, 4, q, 300, p, 3, &ids, &types) == RERANK_OK);
    CHECK(ids.n == 9 + 3 + 4, "%zu", ids.n);
    /* LLM: [bos] q sep p sep prompt within qml + pml in all */
    int32_t sep[1] = {7}, prompt[5] = {1, 2, 3, 4, 5};
    ids.n = 0;
    REQUIRE(rr_train_llm_layout(true, 9, sep, 1, prompt, 5, 32, 128, q, 300, p, 300, &ids) == RERANK_OK);
    CHECK(ids.n == 160, "%zu", ids.n);
    /* q 64, bos 1, sep 1, passage 160 - 5 - 1 - 65 - 1 = 88, sep, prompt */
    CHECK(ids.n == 160 && ids.data[0] == 9 && ids.data[1] == 100 && ids.data[65] == 7 && ids.data[66] == 200 &&
          ids.data[153] == 200 + 87 % 50 && ids.data[154] == 7 && ids.data[155] == 1 && ids.data[159] == 5);
    ids.n = 0;
    REQUIRE(rr_train_llm_layout(false, 9, sep, 1, prompt, 5, 32, 128, q, 4, p, 6, &ids) == RERANK_OK);
    CHECK(ids.n == 4 + 1 + 6 + 1 + 5 && ids.data[0] == 100);
    rr_i32vec_free(&ids), rr_i32vec_free(&types);
    rr_train_tok_free(t);
}

/* The LLM training layout <bos>A: q\nB: p\n{prompt} equals what inference (rerank_tokenize) feeds the same
 * decoder when nothing is truncated: the same bos rule, instructions, separator and default prompt. */
static void check_llm_layout(const char *model_rel) {
    const char *dir = rr_shared_path(model_rel);
    rerank_error err;
    rerank_model *m = NULL;
    rerank_model_params mp = rerank_model_default_params();
    REQUIRE(rerank_model_load(dir, &mp, &m, &err) == RERANK_OK, "%s", err.message);
    rerank_model_info info;
    rerank_model_get_info(m, &info);
    rr_train_tok *t = NULL;
    REQUIRE(rr_train_tok_open(dir, info.kind, 32, 128, &t, &err) == RERANK_OK, "%s: %s", model_rel, err.message);
    const char *pos[1] = {"The giant panda is a bear."};
    size_t pos_len[1] = {strlen(pos[0])};
    rr_train_row r = {.query = "what is panda?", .query_len = 14, .pos = pos, .pos_len = pos_len, .n_pos = 1};
    for (int v = 0; v < 2; v++) {
        r.prompt = v ? "Relevant? Yes or No." : NULL;
        r.prompt_len = v ? strlen(r.prompt) : 0;
        rr_i32vec ids = {0};
        REQUIRE(rr_train_tok_pair(t, &r, pos[0], pos_len[0], &ids, NULL, &err) == RERANK_OK, "%s", err.message);
        rerank_score_params sp = rerank_score_default_params();
        sp.prompt = r.prompt;
        rerank_pair pair = RERANK_PAIR(r.query, pos[0]);
        rerank_encoding enc;
        REQUIRE(rerank_tokenize(m, &sp, &pair, &enc, &err) == RERANK_OK, "%s", err.message);
        CHECK(enc.n_tokens == ids.n && memcmp(enc.ids, ids.data, ids.n * sizeof *ids.data) == 0,
              "%s prompt %d: %zu training tokens, %zu inference tokens", model_rel, v, ids.n, enc.n_tokens);
        /* a row's query_prompt replaces "A: " */
        r.query_prompt = "Query: ";
        ids.n = 0;
        REQUIRE(rr_train_tok_pair(t, &r, pos[0], pos_len[0], &ids, NULL, &err) == RERANK_OK);
        CHECK(ids.n != enc.n_tokens || memcmp(enc.ids, ids.data, ids.n * sizeof *ids.data) != 0, "%s", model_rel);
        r.query_prompt = NULL;
        rerank_encoding_free(&enc);
        rr_i32vec_free(&ids);
    }
    rr_train_tok_free(t);
    rerank_model_free(m);
}

TEST(train_data_llm_layout_matches_inference) {
    check_llm_layout("testdata/gemma-causal-tiny-bf16");
    check_llm_layout("testdata/qwen2-causal-tiny");
    check_llm_layout("testdata/minicpm-layerwise-tiny");
}
