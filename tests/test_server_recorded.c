/* test_server_recorded.c - requests real clients send, replayed byte for byte (headers included) against
 * `rerank serve`, with what those clients then read from the answer. Recorded on 2026-12-04 with a
 * local capture server: @langchain/cohere 1.0.5 (CohereRerank over cohere-ai 7.21.0: rerank() and
 * compressDocuments()) and @llamaindex/cohere 0.0.4 (cohere-ai 7.14.0). The Jina and TEI requests are
 * the ones their documentation shows (Jina's /v1/rerank, TEI's /info then /rerank). */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include "server_client.h"
#include "test.h"

#define MODEL "testdata/xlmr-seqcls-tiny"

/* The headers cohere-ai's fetch sends (Node 20), then the body. */
static int replay_cohere(int port, const char *sdk_version, const char *body, rr_ts_response *r) {
    char raw[4096];
    int n = snprintf(raw, sizeof raw,
                     "POST /v1/rerank HTTP/1.1\r\nhost: 127.0.0.1:%d\r\nconnection: keep-alive\r\naccept: */*\r\n"
                     "content-type: application/json\r\nauthorization: Bearer k\r\nx-fern-language: JavaScript\r\n"
                     "x-fern-sdk-name: cohere-ai\r\nx-fern-sdk-version: %s\r\nuser-agent: cohere-ai/%s\r\n"
                     "x-fern-runtime: node\r\nx-fern-runtime-version: 20.20.2\r\naccept-language: *\r\n"
                     "sec-fetch-mode: cors\r\naccept-encoding: gzip, deflate\r\ncontent-length: %zu\r\n\r\n%s",
                     port, sdk_version, sdk_version, strlen(body), body);
    return rr_ts_raw(port, raw, (size_t)n, r);
}

/* What the Cohere-based clients read: results[].index (distinct, in range) and relevance_score, sorted. */
static bool cohere_results_ok(const rr_ts_response *r, size_t want, size_t n_docs) {
    json_t *j = json_loadb(r->body, r->body_len, 0, NULL);
    json_t *res = json_object_get(j, "results");
    bool ok = r->status == 200 && json_array_size(res) == want;
    int seen[16] = {0};
    double prev = 2;
    for (size_t i = 0; ok && i < json_array_size(res); i++) {
        json_t *x = json_array_get(res, i);
        json_int_t idx = json_integer_value(json_object_get(x, "index"));
        double sc = json_real_value(json_object_get(x, "relevance_score"));
        ok = json_is_integer(json_object_get(x, "index")) && idx >= 0 && (size_t)idx < n_docs && !seen[idx] &&
             json_is_real(json_object_get(x, "relevance_score")) && sc <= prev && sc >= 0 && sc <= 1;
        if (ok) seen[idx] = 1, prev = sc;
    }
    json_decref(j);
    return ok;
}

TEST(server_recorded_langchain_and_llamaindex_cohere_requests) {
    rr_ts_server s;
    const char *args[] = {"--api-key", "k", NULL};
    REQUIRE(rr_ts_start(&s, rr_shared_path(MODEL), args) == 0);
    rr_ts_response r;
    /* @langchain/cohere CohereRerank.rerank(docs, query, {topN: 1}) */
    REQUIRE(replay_cohere(s.port, "7.21.0",
                          "{\"model\":\"rerank-english-v3.0\",\"query\":\"query?\",\"documents\":[\"doc one\",\"doc two\"],"
                          "\"top_n\":1,\"max_chunks_per_doc\":null}", &r) == 0);
    CHECK(cohere_results_ok(&r, 1, 2), "%d %s", r.status, r.body);
    CHECK(strstr(r.body, "\"model\":\"rerank-english-v3.0\"") != NULL, "the unnamed server echoes LangChain's model");
    rr_ts_response_free(&r);
    /* compressDocuments: its default topN 3 with 2 documents */
    REQUIRE(replay_cohere(s.port, "7.21.0",
                          "{\"model\":\"rerank-english-v3.0\",\"query\":\"query?\",\"documents\":[\"doc one\",\"doc two\"],"
                          "\"top_n\":3,\"max_chunks_per_doc\":null}", &r) == 0);
    CHECK(cohere_results_ok(&r, 2, 2), "%d %s", r.status, r.body);
    rr_ts_response_free(&r);
    /* @llamaindex/cohere CohereRerank.postprocessNodes (model default rerank-english-v2.0) */
    REQUIRE(replay_cohere(s.port, "7.14.0",
                          "{\"query\":\"query?\",\"model\":\"rerank-english-v2.0\",\"top_n\":1,\"documents\":[\"doc one\"]}",
                          &r) == 0);
    CHECK(cohere_results_ok(&r, 1, 1), "%d %s", r.status, r.body);
    rr_ts_response_free(&r);
    CHECK(rr_ts_stop(&s) == 0);
}

TEST(server_recorded_jina_request_reads_document_text) {
    rr_ts_server s;
    REQUIRE(rr_ts_start(&s, rr_shared_path(MODEL), NULL) == 0);
    const char *body =
        "{\"model\":\"jina-reranker-v2-base-multilingual\",\"query\":\"Organic skincare products for sensitive skin\","
        "\"top_n\":3,\"documents\":[\"Organic skincare for sensitive skin with aloe vera and chamomile.\","
        "\"New makeup trends focus on bold colors and innovative techniques\","
        "\"Bio-Hautpflege f\\u00fcr empfindliche Haut mit Aloe Vera und Kamille\","
        "\"Neue Make-up-Trends setzen auf kr\\u00e4ftige Farben\"]}";
    char raw[2048];
    int n = snprintf(raw, sizeof raw,
                     "POST /v1/rerank HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n"
                     "Content-Type: application/json\r\nAuthorization: Bearer jina_x\r\nContent-Length: %zu\r\n\r\n%s",
                     strlen(body), body);
    rr_ts_response r;
    REQUIRE(rr_ts_raw(s.port, raw, (size_t)n, &r) == 0);
    json_t *j = json_loadb(r.body, r.body_len, 0, NULL);
    json_t *res = json_object_get(j, "results");
    CHECK(r.status == 200 && json_array_size(res) == 3, "%d %s", r.status, r.body);
    /* Jina clients read results[].document.text and usage.total_tokens */
    for (size_t i = 0; i < json_array_size(res); i++)
        CHECK(json_is_string(json_object_get(json_object_get(json_array_get(res, i), "document"), "text")));
    CHECK(json_integer_value(json_object_get(json_object_get(j, "usage"), "total_tokens")) > 0);
    CHECK(strcmp(json_string_value(json_object_get(j, "model")), "jina-reranker-v2-base-multilingual") == 0);
    json_decref(j);
    rr_ts_response_free(&r);
    CHECK(rr_ts_stop(&s) == 0);
}

TEST(server_recorded_tei_client_info_then_rerank) {
    rr_ts_server s;
    REQUIRE(rr_ts_start(&s, rr_shared_path(MODEL), NULL) == 0);
    rr_ts_response r;
    const char *info = "GET /info HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: python-requests/2.31.0\r\n"
                       "Accept-Encoding: gzip, deflate\r\nAccept: */*\r\nConnection: keep-alive\r\n\r\n";
    REQUIRE(rr_ts_raw(s.port, info, strlen(info), &r) == 0);
    json_t *j = json_loadb(r.body, r.body_len, 0, NULL);
    CHECK(r.status == 200 && json_is_string(json_object_get(j, "model_id")) &&
          json_integer_value(json_object_get(j, "max_input_length")) > 0 &&
          json_integer_value(json_object_get(j, "max_client_batch_size")) > 0, "%s", r.body);
    json_decref(j);
    rr_ts_response_free(&r);
    const char *body = "{\"query\":\"What is Deep Learning?\", \"texts\": [\"Deep Learning is not...\", \"Deep learning is...\"], "
                       "\"raw_scores\": false, \"return_text\": true}";
    char raw[1024];
    int n = snprintf(raw, sizeof raw,
                     "POST /rerank HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                     strlen(body), body);
    REQUIRE(rr_ts_raw(s.port, raw, (size_t)n, &r) == 0);
    j = json_loadb(r.body, r.body_len, 0, NULL);
    CHECK(r.status == 200 && json_is_array(j) && json_array_size(j) == 2, "%d %s", r.status, r.body);
    for (size_t i = 0; i < json_array_size(j); i++) {
        json_t *x = json_array_get(j, i);
        CHECK(json_is_integer(json_object_get(x, "index")) && json_is_real(json_object_get(x, "score")) &&
              json_is_string(json_object_get(x, "text")));
    }
    json_decref(j);
    rr_ts_response_free(&r);
    CHECK(rr_ts_stop(&s) == 0);
}
