/* test_server_compat.c - `rerank serve` as real clients use it (issue 16): the 413 an over-limit body
 * actually delivers, Jina/Cohere document echo and rank_fields, TEI's errors, /info and Left truncation,
 * model names and several models, lenient input (3.0, BOM, \u0000), 415, CORS, /ready and the drain. */
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rerank.h"
#include "server_client.h"
#include "test.h"

#define MODEL "testdata/xlmr-seqcls-tiny"
#define MODEL2 "testdata/bert-seqcls-tiny"

/* One library score for (q, d) of the model in dir, raw logits. */
static int lib_score(const char *dir, const char *q, const char *d, size_t dlen, int max_length, float *out) {
    rerank_model *m;
    rerank_session *s;
    rerank_error err;
    rerank_model_params mp = rerank_model_default_params();
    if (rerank_model_load(rr_shared_path(dir), &mp, &m, &err) != RERANK_OK) return -1;
    if (rerank_session_new(m, &s, &err) != RERANK_OK) return rerank_model_free(m), -1;
    rerank_score_params sp = rerank_score_default_params();
    if (max_length) sp.max_length = max_length;
    rerank_pair p = {q, strlen(q), d, dlen};
    rerank_status st = rerank_score(s, &sp, &p, 1, out, &err);
    rerank_session_free(s);
    rerank_model_free(m);
    return st == RERANK_OK ? 0 : -1;
}

static json_t *call(int port, const char *method, const char *path, const char *headers, const char *body, int *status,
                    rr_ts_response *keep) {
    rr_ts_response r;
    *status = -1;
    if (rr_ts_request(port, method, path, headers, body, &r) != 0) return NULL;
    *status = r.status;
    json_t *j = json_loadb(r.body, r.body_len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (keep) *keep = r;
    else rr_ts_response_free(&r);
    return j;
}

static const char *jstr(json_t *j, const char *key) { return json_string_value(json_object_get(j, key)); }

/* A request with a body of `len` bytes sent in full before reading (no Expect), as Node fetch, urllib and
 * curl -H 'Expect:' do; returns the status the client sees (-1: reset / nothing). */
static int post_whole_body(int port, size_t len, const char *extra, char *body_out, size_t out_size) {
    char *req = malloc(len + 512);
    int hn = snprintf(req, 512, "POST /v1/rerank HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n%s"
                      "Content-Length: %zu\r\n\r\n", extra ? extra : "", len);
    memset(req + hn, ' ', len);
    memcpy(req + hn, "{\"query\":\"q\",\"documents\":[\"a\"],\"pad\":\"", 39);
    rr_ts_response r;
    int st = rr_ts_raw(port, req, (size_t)hn + len, &r) == 0 ? r.status : -1;
    if (st > 0 && body_out) snprintf(body_out, out_size, "%s", r.body);
    if (st > 0) rr_ts_response_free(&r);
    free(req);
    return st;
}

TEST(server_oversized_body_413_reaches_clients_that_send_it_all) {
    rr_ts_server s;
    const char *args[] = {"--max-body-bytes", "65536", NULL};
    REQUIRE(rr_ts_start(&s, rr_shared_path(MODEL), args) == 0);
    char body[1024] = {0};
    /* just over the limit, and 4 MB (more than socket buffers hold): both read and dropped, then answered */
    CHECK(post_whole_body(s.port, 65537, NULL, body, sizeof body) == 413 && strstr(body, "max_body_bytes"), "%s", body);
    CHECK(post_whole_body(s.port, 4u << 20, NULL, body, sizeof body) == 413 && strstr(body, "\"limit\":\"max_body_bytes\""));
    /* a client that waits for 100-continue gets the 413 from the headers alone */
    int fd = rr_ts_connect(s.port);
    REQUIRE(fd >= 0);
    const char *h = "POST /v1/rerank HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\nExpect: 100-continue\r\n\r\n";
    CHECK(send(fd, h, strlen(h), MSG_NOSIGNAL) == (ssize_t)strlen(h));
    rr_ts_response r;
    REQUIRE(rr_ts_read_response(fd, 0, &r) == 0);
    CHECK(r.status == 413 && strstr(r.body, "max_body_bytes"), "%d", r.status);
    rr_ts_response_free(&r);
    close(fd);
    /* curl, if installed: with and without Expect (curl sends Expect itself for bodies over 1 MB) */
    if (access("/usr/bin/curl", X_OK) == 0) {
        char path[] = "/tmp/rr_big_XXXXXX";
        int tf = mkstemp(path);
        REQUIRE(tf >= 0);
        static char chunk[65536];
        memset(chunk, 'x', sizeof chunk);
        for (int i = 0; i < 32; i++) CHECK(write(tf, chunk, sizeof chunk) == (ssize_t)sizeof chunk);
        close(tf);
        for (int expect = 0; expect < 2; expect++) {
            char cmd[512];
            snprintf(cmd, sizeof cmd,
                     "curl -s -o /dev/null -w '%%{http_code}' %s -H 'Content-Type: application/json' --data-binary @%s "
                     "http://127.0.0.1:%d/v1/rerank",
                     expect ? "" : "-H 'Expect:'", path, s.port);
            FILE *p = popen(cmd, "r");
            REQUIRE(p != NULL);
            char code[16] = {0};
            CHECK(fgets(code, sizeof code, p) != NULL);
            pclose(p);
            CHECK(strcmp(code, "413") == 0, "curl (%s Expect) saw '%s'", expect ? "with" : "without", code);
        }
        unlink(path);
    } else {
        printf("    skip: curl part (no /usr/bin/curl)\n");
    }
    /* the server is fine afterwards, and a body under the limit works on the same port */
    int st;
    json_t *j = call(s.port, "POST", "/v1/rerank", NULL, "{\"query\":\"q\",\"documents\":[\"a\"]}", &st, NULL);
    CHECK(st == 200);
    json_decref(j);
    CHECK(rr_ts_stop(&s) == 0);
}

TEST(server_jina_and_cohere_documents_and_rank_fields) {
    rr_ts_server s;
    REQUIRE(rr_ts_start(&s, rr_shared_path(MODEL), NULL) == 0);
    int st;
    /* /v1 (Jina, Cohere v1) returns documents by default, /v2 (Cohere v2) does not */
    const char *b = "{\"model\":\"jina-reranker-v2-base-multilingual\",\"query\":\"panda\",\"documents\":[\"a panda\",\"Paris\"]}";
    json_t *j = call(s.port, "POST", "/v1/rerank", NULL, b, &st, NULL);
    CHECK(st == 200);
    json_t *r0 = json_array_get(json_object_get(j, "results"), 0);
    CHECK(jstr(json_object_get(r0, "document"), "text") != NULL, "v1 echoes document.text by default");
    CHECK(jstr(j, "model") && strcmp(jstr(j, "model"), "jina-reranker-v2-base-multilingual") == 0);
    json_decref(j);
    j = call(s.port, "POST", "/v2/rerank", NULL, b, &st, NULL);
    CHECK(st == 200 && json_object_get(json_array_get(json_object_get(j, "results"), 0), "document") == NULL);
    json_decref(j);
    j = call(s.port, "POST", "/v1/rerank", NULL,
             "{\"query\":\"panda\",\"documents\":[\"a panda\"],\"return_documents\":false}", &st, NULL);
    CHECK(st == 200 && json_object_get(json_array_get(json_object_get(j, "results"), 0), "document") == NULL);
    json_decref(j);
    /* Cohere object documents: every field echoed; rank_fields picks (and joins) what is ranked */
    j = call(s.port, "POST", "/v1/rerank", NULL,
             "{\"query\":\"panda\",\"documents\":[{\"title\":\"Bears\",\"text\":\"a panda eats bamboo\",\"id\":7}],"
             "\"rank_fields\":[\"title\",\"text\"],\"raw_scores\":true}", &st, NULL);
    CHECK(st == 200);
    json_t *doc = json_object_get(json_array_get(json_object_get(j, "results"), 0), "document");
    CHECK(doc && strcmp(jstr(doc, "title"), "Bears") == 0 && json_integer_value(json_object_get(doc, "id")) == 7 &&
          strcmp(jstr(doc, "text"), "a panda eats bamboo") == 0);
    float ref;
    const char *joined = "title: Bears\ntext: a panda eats bamboo";
    REQUIRE(lib_score(MODEL, "panda", joined, strlen(joined), 0, &ref) == 0);
    double got = json_real_value(json_object_get(json_array_get(json_object_get(j, "results"), 0), "relevance_score"));
    CHECK((float)got == ref, "rank_fields score %.9g, library on the joined text %.9g", got, (double)ref);
    json_decref(j);
    /* one rank field: its value alone */
    j = call(s.port, "POST", "/v1/rerank", NULL,
             "{\"query\":\"panda\",\"documents\":[{\"title\":\"Bears\",\"body\":\"x\"}],\"rank_fields\":[\"title\"],"
             "\"raw_scores\":true}", &st, NULL);
    REQUIRE(lib_score(MODEL, "panda", "Bears", 5, 0, &ref) == 0);
    CHECK(st == 200 && (float)json_real_value(json_object_get(json_array_get(json_object_get(j, "results"), 0),
                                                              "relevance_score")) == ref);
    json_decref(j);
    j = call(s.port, "POST", "/v1/rerank", NULL,
             "{\"query\":\"panda\",\"documents\":[{\"body\":\"x\"}],\"rank_fields\":[\"title\"]}", &st, NULL);
    CHECK(st == 400 && strstr(jstr(json_object_get(j, "error"), "message"), "rank_fields"), "%d", st);
    json_decref(j);
    j = call(s.port, "POST", "/v1/rerank", NULL, "{\"query\":\"panda\",\"documents\":[\"x\"],\"rank_fields\":\"title\"}",
             &st, NULL);
    CHECK(st == 400);
    json_decref(j);
    CHECK(rr_ts_stop(&s) == 0);
}

TEST(server_tei_errors_info_auto_truncate_and_left) {
    rr_ts_server s;
    const char *args[] = {"--max-length", "16", NULL};
    REQUIRE(rr_ts_start(&s, rr_shared_path(MODEL), args) == 0);
    int st;
    const char *doc = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen pandas eat bamboo";
    char body[512];
    snprintf(body, sizeof body, "{\"query\":\"panda\",\"texts\":[\"%s\"],\"raw_scores\":true}", doc);
    json_t *j = call(s.port, "POST", "/rerank", NULL, body, &st, NULL);
    CHECK(st == 413 && json_is_string(json_object_get(j, "error")) && strcmp(jstr(j, "error_type"), "validation") == 0,
          "TEI: too long without truncate -> %d", st);
    json_decref(j);
    j = call(s.port, "POST", "/rerank", NULL, "{\"query\":\"panda\",\"texts\":[]}", &st, NULL);
    CHECK(st == 400 && jstr(j, "error_type") && strcmp(jstr(j, "error_type"), "empty") == 0);
    json_decref(j);
    /* Left: the passage's end is kept; the score is the library's on some suffix of it, not on the start */
    snprintf(body, sizeof body, "{\"query\":\"panda\",\"texts\":[\"%s\"],\"raw_scores\":true,\"truncate\":true,"
             "\"truncation_direction\":\"Left\",\"return_text\":true}", doc);
    j = call(s.port, "POST", "/rerank", NULL, body, &st, NULL);
    CHECK(st == 200);
    float left = (float)json_real_value(json_object_get(json_array_get(j, 0), "score")), right, sc;
    CHECK(strcmp(jstr(json_array_get(j, 0), "text"), doc) == 0, "return_text gives the whole text");
    json_decref(j);
    REQUIRE(lib_score(MODEL, "panda", doc, strlen(doc), 16, &right) == 0);
    CHECK(left != right);
    int found = 0;
    {
        rerank_model *m;
        rerank_session *ss;
        rerank_error err;
        rerank_model_params mp = rerank_model_default_params();
        REQUIRE(rerank_model_load(rr_shared_path(MODEL), &mp, &m, &err) == RERANK_OK);
        REQUIRE(rerank_session_new(m, &ss, &err) == RERANK_OK);
        rerank_score_params sp = rerank_score_default_params();
        sp.max_length = 16;
        for (size_t off = 1; off < strlen(doc) && !found; off++) {
            rerank_pair pair = {"panda", 5, doc + off, strlen(doc) - off};
            if (rerank_score(ss, &sp, &pair, 1, &sc, &err) == RERANK_OK && sc == left) found = 1;
        }
        rerank_session_free(ss);
        rerank_model_free(m);
    }
    CHECK(found, "Left score %.9g is no suffix's score", (double)left);
    /* /info: TEI's fields */
    j = call(s.port, "GET", "/info", NULL, NULL, &st, NULL);
    CHECK(st == 200 && strcmp(jstr(j, "model_id"), "xlmr-seqcls-tiny") == 0);
    CHECK(json_integer_value(json_object_get(j, "max_input_length")) == 16);
    CHECK(json_is_integer(json_object_get(j, "max_batch_tokens")) && json_is_integer(json_object_get(j, "max_client_batch_size")));
    CHECK(json_is_false(json_object_get(j, "auto_truncate")) && json_is_string(json_object_get(j, "version")));
    CHECK(json_is_object(json_object_get(json_object_get(j, "model_type"), "reranker")));
    json_decref(j);
    CHECK(rr_ts_stop(&s) == 0);
    const char *args2[] = {"--max-length", "16", "--auto-truncate", NULL};
    REQUIRE(rr_ts_start(&s, rr_shared_path(MODEL), args2) == 0);
    snprintf(body, sizeof body, "{\"query\":\"panda\",\"texts\":[\"%s\"],\"raw_scores\":true}", doc);
    j = call(s.port, "POST", "/rerank", NULL, body, &st, NULL);
    CHECK(st == 200 && (float)json_real_value(json_object_get(json_array_get(j, 0), "score")) == right);
    json_decref(j);
    j = call(s.port, "GET", "/info", NULL, NULL, &st, NULL);
    CHECK(json_is_true(json_object_get(j, "auto_truncate")));
    json_decref(j);
    CHECK(rr_ts_stop(&s) == 0);
}

TEST(server_model_names_404_and_models_by_id) {
    rr_ts_server s;
    int st;
    /* unnamed: any name is accepted and echoed (LangChain sends rerank-english-v3.0) */
    REQUIRE(rr_ts_start(&s, rr_shared_path(MODEL), NULL) == 0);
    json_t *j = call(s.port, "POST", "/v1/rerank", NULL,
                     "{\"model\":\"rerank-english-v3.0\",\"query\":\"q\",\"documents\":[\"a\"]}", &st, NULL);
    CHECK(st == 200 && strcmp(jstr(j, "model"), "rerank-english-v3.0") == 0);
    json_decref(j);
    j = call(s.port, "GET", "/v1/models/xlmr-seqcls-tiny", NULL, NULL, &st, NULL);
    CHECK(st == 200 && strcmp(jstr(j, "id"), "xlmr-seqcls-tiny") == 0 && json_is_integer(json_object_get(j, "max_tokens")));
    json_decref(j);
    j = call(s.port, "GET", "/v1/models/other", NULL, NULL, &st, NULL);
    CHECK(st == 404);
    json_decref(j);
    CHECK(rr_ts_stop(&s) == 0);
    /* named: another name is a 404 naming the served one; no name is the default */
    const char *args[] = {"--model-name", "bge", NULL};
    REQUIRE(rr_ts_start(&s, rr_shared_path(MODEL), args) == 0);
    j = call(s.port, "POST", "/v1/rerank", NULL, "{\"model\":\"bgee\",\"query\":\"q\",\"documents\":[\"a\"]}", &st, NULL);
    const char *msg = jstr(json_object_get(j, "error"), "message");
    CHECK(st == 404 && msg && strstr(msg, "'bgee'") && strstr(msg, "'bge'"), "%d %s", st, msg ? msg : "");
    json_decref(j);
    j = call(s.port, "POST", "/v2/rerank", NULL, "{\"model\":\"bge\",\"query\":\"q\",\"documents\":[\"a\"]}", &st, NULL);
    CHECK(st == 200 && strcmp(jstr(j, "model"), "bge") == 0);
    json_decref(j);
    j = call(s.port, "POST", "/v2/rerank", NULL, "{\"query\":\"q\",\"documents\":[\"a\"]}", &st, NULL);
    CHECK(st == 200 && strcmp(jstr(j, "model"), "bge") == 0);
    json_decref(j);
    /* TEI ignores the name on a one-model server */
    j = call(s.port, "POST", "/rerank", NULL, "{\"model\":\"whatever\",\"query\":\"q\",\"texts\":[\"a\"]}", &st, NULL);
    CHECK(st == 200);
    json_decref(j);
    CHECK(rr_ts_stop(&s) == 0);
}

TEST(server_several_models_in_one_process) {
    rr_ts_server s;
    char a[600], b[600];
    snprintf(a, sizeof a, "xlmr=%s", rr_shared_path(MODEL));
    snprintf(b, sizeof b, "bert=%s", rr_shared_path(MODEL2));
    /* rr_ts_start passes --model DIR first: name it too, then add two named models */
    const char *args[] = {"--model-name", "first", "--model", a, "--model", b, NULL};
    REQUIRE(rr_ts_start(&s, rr_shared_path(MODEL), args) == 0);
    int st;
    float ref_x, ref_b;
    REQUIRE(lib_score(MODEL, "what is a panda?", "a bear", 6, 0, &ref_x) == 0);
    REQUIRE(lib_score(MODEL2, "what is a panda?", "a bear", 6, 0, &ref_b) == 0);
    CHECK(ref_x != ref_b);
    const char *names[] = {"xlmr", "bert"};
    float refs[] = {ref_x, ref_b};
    for (int i = 0; i < 2; i++) {
        char body[256];
        snprintf(body, sizeof body, "{\"model\":\"%s\",\"query\":\"what is a panda?\",\"documents\":[\"a bear\"],"
                 "\"raw_scores\":true}", names[i]);
        json_t *j = call(s.port, "POST", "/v2/rerank", NULL, body, &st, NULL);
        CHECK(st == 200 && strcmp(jstr(j, "model"), names[i]) == 0);
        CHECK((float)json_real_value(json_object_get(json_array_get(json_object_get(j, "results"), 0), "relevance_score")) ==
              refs[i], "model %s", names[i]);
        json_decref(j);
        snprintf(body, sizeof body, "{\"model\":\"%s\",\"query\":\"what is a panda?\",\"texts\":[\"a bear\"],"
                 "\"raw_scores\":true}", names[i]);
        j = call(s.port, "POST", "/rerank", NULL, body, &st, NULL);
        CHECK(st == 200 && (float)json_real_value(json_object_get(json_array_get(j, 0), "score")) == refs[i]);
        json_decref(j);
    }
    json_t *j = call(s.port, "POST", "/v1/rerank", NULL, "{\"model\":\"gpt\",\"query\":\"q\",\"documents\":[\"a\"]}", &st, NULL);
    const char *msg = jstr(json_object_get(j, "error"), "message");
    CHECK(st == 404 && msg && strstr(msg, "'first'") && strstr(msg, "'xlmr'") && strstr(msg, "'bert'"));
    json_decref(j);
    j = call(s.port, "GET", "/v1/models", NULL, NULL, &st, NULL);
    json_t *data = json_object_get(j, "data");
    CHECK(st == 200 && json_array_size(data) == 3 && strcmp(jstr(json_array_get(data, 2), "id"), "bert") == 0);
    json_decref(j);
    j = call(s.port, "GET", "/v1/models/bert", NULL, NULL, &st, NULL);
    CHECK(st == 200 && strcmp(jstr(j, "id"), "bert") == 0);
    json_decref(j);
    j = call(s.port, "GET", "/v1/models/nope", NULL, NULL, &st, NULL);
    CHECK(st == 404);
    json_decref(j);
    CHECK(rr_ts_stop(&s) == 0);
    /* two models with one name are refused at start */
    const char *dup[] = {"--model", a, "--model", a, NULL};
    CHECK(rr_ts_start(&s, rr_shared_path(MODEL), dup) != 0);
}

TEST(server_lenient_input_and_415) {
    rr_ts_server s;
    REQUIRE(rr_ts_start(&s, rr_shared_path(MODEL), NULL) == 0);
    int st;
    json_t *j = call(s.port, "POST", "/v1/rerank", NULL, "{\"query\":\"q\",\"documents\":[\"a\",\"b\"],\"top_n\":1.0}", &st, NULL);
    CHECK(st == 200 && json_array_size(json_object_get(j, "results")) == 1);
    json_decref(j);
    j = call(s.port, "POST", "/v1/rerank", NULL, "{\"query\":\"q\",\"documents\":[\"a\"],\"top_n\":1.5}", &st, NULL);
    CHECK(st == 400);
    json_decref(j);
    j = call(s.port, "POST", "/v1/rerank", NULL, "\xEF\xBB\xBF{\"query\":\"q\",\"documents\":[\"a\"]}", &st, NULL);
    CHECK(st == 200, "BOM -> %d", st);
    json_decref(j);
    /* \u0000 reads as a space */
    j = call(s.port, "POST", "/v1/rerank", NULL, "{\"query\":\"panda\",\"documents\":[\"a\\u0000bear\"],\"raw_scores\":true}", &st, NULL);
    float ref;
    REQUIRE(lib_score(MODEL, "panda", "a bear", 6, 0, &ref) == 0);
    CHECK(st == 200 && (float)json_real_value(json_object_get(json_array_get(json_object_get(j, "results"), 0),
                                                              "relevance_score")) == ref, "%d", st);
    json_decref(j);
    /* compressed or non-JSON bodies: 415 */
    const char *ok = "{\"query\":\"q\",\"documents\":[\"a\"]}";
    char raw[512];
    const char *cases[][2] = {{"Content-Type: application/json\r\nContent-Encoding: gzip\r\n", "415"},
                              {"Content-Type: text/plain\r\n", "415"},
                              {"Content-Type: multipart/form-data; boundary=x\r\n", "415"},
                              {"", "200"},
                              {"Content-Type: application/x-www-form-urlencoded\r\n", "200"},
                              {"Content-Type: application/json; charset=utf-8\r\n", "200"},
                              {"Content-Type: application/vnd.api+json\r\n", "200"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int n = snprintf(raw, sizeof raw, "POST /v1/rerank HTTP/1.1\r\nHost: x\r\n%sContent-Length: %zu\r\n\r\n%s",
                         cases[i][0], strlen(ok), ok);
        rr_ts_response r;
        REQUIRE(rr_ts_raw(s.port, raw, (size_t)n, &r) == 0);
        CHECK(r.status == atoi(cases[i][1]) && (r.status == 200 || strstr(r.body, "unsupported_media_type")),
              "case %zu: %d %s", i, r.status, r.body);
        rr_ts_response_free(&r);
    }
    /* a gzip body without the header */
    const char gz[] = "\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03";
    int n = snprintf(raw, sizeof raw, "POST /v1/rerank HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n");
    memcpy(raw + n, gz, 10);
    rr_ts_response r;
    REQUIRE(rr_ts_raw(s.port, raw, (size_t)n + 10, &r) == 0);
    CHECK(r.status == 415 && strstr(r.body, "gzip"), "%d %s", r.status, r.body);
    rr_ts_response_free(&r);
    CHECK(rr_ts_stop(&s) == 0);
}

TEST(server_cors_off_by_default_and_on_by_option) {
    rr_ts_server s;
    REQUIRE(rr_ts_start(&s, rr_shared_path(MODEL), NULL) == 0);
    const char *pre = "OPTIONS /v1/rerank HTTP/1.1\r\nHost: x\r\nOrigin: https://app.example\r\n"
                      "Access-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: content-type, authorization\r\n\r\n";
    rr_ts_response r;
    REQUIRE(rr_ts_raw(s.port, pre, strlen(pre), &r) == 0);
    CHECK(r.status == 405 && !rr_ts_header(&r, "Access-Control-Allow-Origin"));
    rr_ts_response_free(&r);
    CHECK(rr_ts_stop(&s) == 0);
    const char *args[] = {"--cors-allow-origin", "https://app.example, https://other.example", "--api-key", "k", NULL};
    REQUIRE(rr_ts_start(&s, rr_shared_path(MODEL), args) == 0);
    REQUIRE(rr_ts_raw(s.port, pre, strlen(pre), &r) == 0);
    CHECK(r.status == 204, "preflight without the key: %d", r.status);
    CHECK(rr_ts_header(&r, "Access-Control-Allow-Origin") && strcmp(rr_ts_header(&r, "Access-Control-Allow-Origin"), "https://app.example") == 0);
    CHECK(rr_ts_header(&r, "Access-Control-Allow-Methods") && strstr(rr_ts_header(&r, "Access-Control-Allow-Methods"), "POST"));
    CHECK(rr_ts_header(&r, "Access-Control-Allow-Headers") && strstr(rr_ts_header(&r, "Access-Control-Allow-Headers"), "authorization"));
    rr_ts_response_free(&r);
    REQUIRE(rr_ts_request(s.port, "POST", "/v1/rerank", "Origin: https://other.example\r\nAuthorization: Bearer k\r\n",
                          "{\"query\":\"q\",\"documents\":[\"a\"]}", &r) == 0);
    CHECK(r.status == 200 && rr_ts_header(&r, "Access-Control-Allow-Origin") &&
          strcmp(rr_ts_header(&r, "Access-Control-Allow-Origin"), "https://other.example") == 0 && rr_ts_header(&r, "Vary"));
    rr_ts_response_free(&r);
    REQUIRE(rr_ts_request(s.port, "POST", "/v1/rerank", "Origin: https://evil.example\r\nAuthorization: Bearer k\r\n",
                          "{\"query\":\"q\",\"documents\":[\"a\"]}", &r) == 0);
    CHECK(r.status == 200 && !rr_ts_header(&r, "Access-Control-Allow-Origin"));
    rr_ts_response_free(&r);
    CHECK(rr_ts_stop(&s) == 0);
}

TEST(server_ready_health_and_drain_delay) {
    rr_ts_server s;
    const char *args[] = {"--drain-delay", "1", "--api-key", "k", NULL};
    REQUIRE(rr_ts_start(&s, rr_shared_path(MODEL), args) == 0);
    int st;
    json_t *j = call(s.port, "GET", "/ready", NULL, NULL, &st, NULL);
    CHECK(st == 200 && strcmp(jstr(j, "status"), "ready") == 0, "ready needs no key: %d", st);
    json_decref(j);
    j = call(s.port, "GET", "/health", NULL, NULL, &st, NULL);
    CHECK(st == 200 && strcmp(jstr(j, "status"), "ok") == 0);
    json_decref(j);
    /* SIGTERM: /ready turns 503 while requests are still served, then the process drains and exits 0 */
    kill(s.pid, SIGTERM);
    int ready_503 = 0, served = 0;
    for (int i = 0; i < 50 && !ready_503; i++) {
        j = call(s.port, "GET", "/ready", NULL, NULL, &st, NULL);
        json_decref(j);
        if (st == 503) ready_503 = 1;
        else usleep(10000);
    }
    CHECK(ready_503, "/ready did not turn 503 after SIGTERM");
    j = call(s.port, "POST", "/v1/rerank", "Authorization: Bearer k\r\n", "{\"query\":\"q\",\"documents\":[\"a\"]}", &st, NULL);
    served = st == 200;
    json_decref(j);
    CHECK(served, "request during the drain delay: %d", st);
    j = call(s.port, "GET", "/health", NULL, NULL, &st, NULL);
    CHECK(st == 200, "liveness stays 200 during the delay");
    json_decref(j);
    CHECK(rr_ts_stop(&s) == 0);
}
