/* test_server.c - `rerank serve` over real HTTP on 127.0.0.1: the Cohere/Jina and TEI shapes, ordering and
 * top_n, scores equal to rerank_score on the same pairs, health/metrics/models, keep-alive, concurrency. */
#include <jansson.h>
#include <pthread.h>
#include <unistd.h>

#include "rerank.h"
#include "server_client.h"
#include "test.h"

#define MODEL "testdata/xlmr-seqcls-tiny"

static const char *docs[] = {"The giant panda is a bear native to China.", "Paris is the capital of France.",
                             "Pandas eat bamboo almost exclusively.", "hello world", "A bear is a mammal."};
static const char *query = "what is a panda?";

/* Reference scores straight from the library. */
static int ref_scores(const rerank_score_params *sp, const char *q, const char **d, size_t n, float *out) {
    rerank_model *m;
    rerank_session *s;
    rerank_error err;
    rerank_model_params mp = rerank_model_default_params();
    if (rerank_model_load(rr_shared_path(MODEL), &mp, &m, &err) != RERANK_OK) return -1;
    if (rerank_session_new(m, &s, &err) != RERANK_OK) return rerank_model_free(m), -1;
    rerank_pair pairs[16];
    for (size_t i = 0; i < n; i++) pairs[i] = RERANK_PAIR(q, d[i]);
    rerank_status st = rerank_score(s, sp, pairs, n, out, &err);
    rerank_session_free(s);
    rerank_model_free(m);
    return st == RERANK_OK ? 0 : -1;
}

static json_t *post(int port, const char *path, const char *body, int *status) {
    rr_ts_response r;
    *status = 0;
    if (rr_ts_request(port, "POST", path, NULL, body, &r) != 0) return NULL;
    *status = r.status;
    json_t *j = json_loadb(r.body, r.body_len, 0, NULL);
    rr_ts_response_free(&r);
    return j;
}

TEST(server_cohere_v1_shape_order_top_n_and_scores) {
    rr_ts_server s;
    REQUIRE(rr_ts_start(&s, rr_shared_path(MODEL), NULL) == 0, "server did not start");
    int st;
    json_t *j = post(s.port, "/v1/rerank",
                     "{\"model\":\"m\",\"query\":\"what is a panda?\",\"documents\":[\"The giant panda is a bear native to China.\","
                     "{\"text\":\"Paris is the capital of France.\"},\"Pandas eat bamboo almost exclusively.\",\"hello world\","
                     "\"A bear is a mammal.\"],\"top_n\":3,\"return_documents\":true}", &st);
    CHECK(st == 200, "status %d", st);
    REQUIRE(j != NULL);
    rerank_score_params sp = rerank_score_default_params();
    sp.normalize = true;
    float ref[5];
    REQUIRE(ref_scores(&sp, query, docs, 5, ref) == 0);
    json_t *res = json_object_get(j, "results");
    CHECK(json_is_string(json_object_get(j, "id")));
    CHECK(json_is_string(json_object_get(j, "model")) && strcmp(json_string_value(json_object_get(j, "model")), "m") == 0);
    CHECK(json_is_object(json_object_get(j, "meta")) && json_is_object(json_object_get(j, "usage")));
    CHECK(json_integer_value(json_object_get(json_object_get(j, "usage"), "total_tokens")) > 0);
    REQUIRE(json_array_size(res) == 3, "got %zu results", json_array_size(res));
    double prev = 2;
    int seen[5] = {0};
    for (size_t k = 0; k < 3; k++) {
        json_t *r = json_array_get(res, k);
        json_int_t idx = json_integer_value(json_object_get(r, "index"));
        REQUIRE(idx >= 0 && idx < 5);
        double sc = json_real_value(json_object_get(r, "relevance_score"));
        CHECK(sc <= prev, "not sorted");
        prev = sc;
        CHECK((float)sc == ref[idx], "doc %lld: server %.9g, library %.9g", (long long)idx, sc, (double)ref[idx]);
        CHECK(sc >= 0 && sc <= 1);
        const char *t = json_string_value(json_object_get(json_object_get(r, "document"), "text"));
        CHECK(t && strcmp(t, docs[idx]) == 0);
        seen[idx] = 1;
    }
    /* the three best by the library's scores */
    for (int i = 0; i < 5; i++) {
        int better = 0;
        for (int k = 0; k < 5; k++) better += ref[k] > ref[i];
        CHECK(seen[i] == (better < 3), "doc %d", i);
    }
    json_decref(j);
    /* raw scores on request; v2 has no document echo by default */
    j = post(s.port, "/v2/rerank", "{\"model\":\"m\",\"query\":\"what is a panda?\",\"documents\":[\"hello world\"],\"raw_scores\":true}", &st);
    CHECK(st == 200);
    sp.normalize = false;
    REQUIRE(ref_scores(&sp, query, docs + 3, 1, ref) == 0);
    json_t *r0 = json_array_get(json_object_get(j, "results"), 0);
    CHECK((float)json_real_value(json_object_get(r0, "relevance_score")) == ref[0]);
    CHECK(json_object_get(r0, "document") == NULL);
    CHECK(strcmp(json_string_value(json_object_get(json_object_get(json_object_get(j, "meta"), "api_version"), "version")), "2") == 0);
    json_decref(j);
    CHECK(rr_ts_stop(&s) == 0);
}

TEST(server_tei_shape_sigmoid_raw_and_text) {
    rr_ts_server s;
    REQUIRE(rr_ts_start(&s, rr_shared_path(MODEL), NULL) == 0);
    int st;
    float norm[5], raw[5];
    rerank_score_params sp = rerank_score_default_params();
    sp.normalize = true;
    REQUIRE(ref_scores(&sp, query, docs, 5, norm) == 0);
    sp.normalize = false;
    REQUIRE(ref_scores(&sp, query, docs, 5, raw) == 0);
    for (int mode = 0; mode < 2; mode++) {
        char body[1024];
        snprintf(body, sizeof body,
                 "{\"query\":\"what is a panda?\",\"texts\":[\"%s\",\"%s\",\"%s\",\"%s\",\"%s\"],\"raw_scores\":%s,"
                 "\"return_text\":%s,\"truncate\":true,\"truncation_direction\":\"Right\"}",
                 docs[0], docs[1], docs[2], docs[3], docs[4], mode ? "true" : "false", mode ? "false" : "true");
        json_t *j = post(s.port, "/rerank", body, &st);
        CHECK(st == 200);
        REQUIRE(json_is_array(j) && json_array_size(j) == 5);
        double prev = 1e30;
        for (size_t k = 0; k < 5; k++) {
            json_t *r = json_array_get(j, k);
            json_int_t idx = json_integer_value(json_object_get(r, "index"));
            REQUIRE(idx >= 0 && idx < 5);
            double sc = json_real_value(json_object_get(r, "score"));
            CHECK(sc <= prev);
            prev = sc;
            CHECK((float)sc == (mode ? raw : norm)[idx], "mode %d doc %lld", mode, (long long)idx);
            CHECK((json_object_get(r, "text") != NULL) == (mode == 0));
        }
        json_decref(j);
    }
    CHECK(rr_ts_stop(&s) == 0);
}

TEST(server_long_doc_chunk_and_max_tokens_per_doc) {
    rr_ts_server s;
    REQUIRE(rr_ts_start(&s, rr_shared_path(MODEL), NULL) == 0);
    static char longdoc[6000];
    size_t n = 0;
    while (n + 40 < sizeof longdoc) n += (size_t)snprintf(longdoc + n, sizeof longdoc - n, "pandas live in bamboo forests %zu. ", n);
    char *body = malloc(sizeof longdoc + 256);
    snprintf(body, sizeof longdoc + 256, "{\"query\":\"panda\",\"documents\":[\"%s\"],\"long_doc\":\"chunk\",\"raw_scores\":true}", longdoc);
    int st;
    json_t *j = post(s.port, "/v1/rerank", body, &st);
    CHECK(st == 200, "status %d", st);
    rerank_score_params sp = rerank_score_default_params();
    sp.long_doc = RERANK_LONG_DOC_CHUNK;
    float ref, trunc;
    const char *d[] = {longdoc};
    REQUIRE(ref_scores(&sp, "panda", d, 1, &ref) == 0);
    sp.long_doc = RERANK_LONG_DOC_TRUNCATE;
    REQUIRE(ref_scores(&sp, "panda", d, 1, &trunc) == 0);
    CHECK((float)json_real_value(json_object_get(json_array_get(json_object_get(j, "results"), 0), "relevance_score")) == ref);
    json_decref(j);
    /* default: truncation */
    snprintf(body, sizeof longdoc + 256, "{\"query\":\"panda\",\"documents\":[\"%s\"],\"raw_scores\":true}", longdoc);
    j = post(s.port, "/v1/rerank", body, &st);
    CHECK((float)json_real_value(json_object_get(json_array_get(json_object_get(j, "results"), 0), "relevance_score")) == trunc);
    json_decref(j);
    /* max_tokens_per_doc: the passage is cut to that many tokens */
    snprintf(body, sizeof longdoc + 256, "{\"query\":\"panda\",\"documents\":[\"%s\"],\"raw_scores\":true,\"max_tokens_per_doc\":7}", longdoc);
    j = post(s.port, "/v1/rerank", body, &st);
    CHECK(st == 200);
    rerank_model *m;
    rerank_error err;
    rerank_model_params mp = rerank_model_default_params();
    REQUIRE(rerank_model_load(rr_shared_path(MODEL), &mp, &m, &err) == RERANK_OK);
    rerank_encoding enc;
    rerank_pair qp = {"panda", 5, "", 0};
    REQUIRE(rerank_tokenize(m, &sp, &qp, &enc, &err) == RERANK_OK);
    rerank_model_free(m);
    sp.max_length = (int)enc.n_tokens + 7;
    rerank_encoding_free(&enc);
    float cut;
    REQUIRE(ref_scores(&sp, "panda", d, 1, &cut) == 0);
    CHECK((float)json_real_value(json_object_get(json_array_get(json_object_get(j, "results"), 0), "relevance_score")) == cut);
    json_decref(j);
    free(body);
    CHECK(rr_ts_stop(&s) == 0);
}

TEST(server_health_models_metrics_keepalive) {
    rr_ts_server s;
    REQUIRE(rr_ts_start(&s, rr_shared_path(MODEL), NULL) == 0);
    int fd = rr_ts_connect(s.port);
    REQUIRE(fd >= 0);
    rr_ts_response r;
    /* several requests on one keep-alive connection */
    REQUIRE(rr_ts_exchange(fd, "GET", "/health", NULL, NULL, 0, &r) == 0);
    CHECK(r.status == 200 && strstr(r.body, "\"ok\""));
    rr_ts_response_free(&r);
    REQUIRE(rr_ts_exchange(fd, "GET", "/v1/models", NULL, NULL, 0, &r) == 0);
    CHECK(r.status == 200 && strstr(r.body, "\"xlmr-seqcls-tiny\"") && strstr(r.body, "\"max_tokens\""), "%s", r.body);
    rr_ts_response_free(&r);
    const char *b = "{\"query\":\"q\",\"documents\":[\"a b c\",\"d e\"]}";
    for (int i = 0; i < 3; i++) {
        REQUIRE(rr_ts_exchange(fd, "POST", "/v2/rerank", NULL, b, strlen(b), &r) == 0);
        CHECK(r.status == 200);
        rr_ts_response_free(&r);
    }
    REQUIRE(rr_ts_exchange(fd, "GET", "/metrics", NULL, NULL, 0, &r) == 0);
    CHECK(r.status == 200);
    CHECK(strstr(r.body, "rerank_requests_total{route=\"/v2/rerank\",status=\"200\"} 3") != NULL, "%s", r.body);
    CHECK(strstr(r.body, "rerank_request_duration_seconds_bucket{route=\"/v2/rerank\",le=\"+Inf\"} 3") != NULL);
    CHECK(strstr(r.body, "rerank_queue_depth_pairs 0") != NULL);
    CHECK(strstr(r.body, "rerank_batch_pairs_count") != NULL);
    CHECK(strstr(r.body, "rerank_tokens_processed_total") != NULL && !strstr(r.body, "rerank_tokens_processed_total 0\n"));
    CHECK(strstr(r.body, "# TYPE rerank_request_duration_seconds histogram") != NULL);
    rr_ts_response_free(&r);
    close(fd);
    CHECK(rr_ts_stop(&s) == 0);
}

typedef struct {
    int port, id, ok;
} conc_arg;

static void *conc_client(void *p) {
    conc_arg *a = p;
    int fd = rr_ts_connect(a->port);
    if (fd < 0) return NULL;
    a->ok = 1;
    for (int i = 0; i < 10; i++) {
        char body[512];
        int raw = (a->id + i) % 2;
        snprintf(body, sizeof body, "{\"query\":\"%s\",\"texts\":[\"%s\",\"%s\"],\"raw_scores\":%s}", query,
                 docs[(a->id + i) % 5], docs[(a->id + i + 1) % 5], raw ? "true" : "false");
        rr_ts_response r;
        if (rr_ts_exchange(fd, "POST", "/rerank", NULL, body, strlen(body), &r) != 0 || r.status != 200) {
            a->ok = 0;
            break;
        }
        json_t *j = json_loadb(r.body, r.body_len, 0, NULL);
        rr_ts_response_free(&r);
        /* both scores must be in range for the requested mode */
        for (size_t k = 0; k < json_array_size(j); k++) {
            double sc = json_real_value(json_object_get(json_array_get(j, k), "score"));
            if (!raw && (sc < 0 || sc > 1)) a->ok = 0;
        }
        if (json_array_size(j) != 2) a->ok = 0;
        json_decref(j);
    }
    close(fd);
    return NULL;
}

TEST(server_concurrent_clients_share_batches) {
    rr_ts_server s;
    const char *args[] = {"--workers", "2", "--threads", "1", NULL};
    REQUIRE(rr_ts_start(&s, rr_shared_path(MODEL), args) == 0);
    pthread_t th[16];
    conc_arg a[16];
    for (int i = 0; i < 16; i++) {
        a[i] = (conc_arg){s.port, i, 0};
        pthread_create(&th[i], NULL, conc_client, &a[i]);
    }
    int ok = 0;
    for (int i = 0; i < 16; i++) pthread_join(th[i], NULL), ok += a[i].ok;
    CHECK(ok == 16, "%d of 16 clients succeeded", ok);
    rr_ts_response r;
    REQUIRE(rr_ts_request(s.port, "GET", "/metrics", NULL, NULL, &r) == 0);
    CHECK(strstr(r.body, "rerank_requests_total{route=\"/rerank\",status=\"200\"} 160") != NULL);
    CHECK(strstr(r.body, "rerank_pairs_scored_total 320") != NULL);
    rr_ts_response_free(&r);
    CHECK(rr_ts_stop(&s) == 0);
}
