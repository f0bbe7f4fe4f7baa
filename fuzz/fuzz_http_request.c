/* fuzz_http_request.c - libFuzzer target for the server's request path: arbitrary bytes as the JSON body
 * of each API (Cohere v1/v2, TEI) through parsing and validation into rr_server_request, plus rendering
 * an error body. The first byte picks the API; tight limits make the limit checks reachable. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "server/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    rr_server_config cfg = {.max_body_bytes = 1 << 20, .max_documents = 64, .max_length = 512};
    rr_server_api api = (rr_server_api)(data[0] % 3);
    rr_server_request req;
    rr_server_error e = {0};
    int st = rr_server_request_parse(api, (const char *)data + 1, size - 1, &cfg, &req, &e);
    if (st == 0) {
        /* every validated field holds what the contract says */
        if (!req.query || req.query_len == 0 || req.n_docs == 0 || req.n_docs > cfg.max_documents ||
            req.top_n == 0 || req.top_n > req.n_docs)
            abort();
        for (size_t i = 0; i < req.n_docs; i++)
            if (!req.docs[i] || req.doc_lens[i] == 0 || !rr_server_utf8_valid(req.docs[i], req.doc_lens[i], NULL))
                abort();
        /* render a response with dummy scores */
        float *scores = calloc(req.n_docs, sizeof *scores);
        for (size_t i = 0; i < req.n_docs; i++) scores[i] = (float)((i * 7919) % 13) / 13.0f;
        rr_server_job job = {.n_pairs = req.n_docs, .n_out = 1, .scores = scores};
        char *body = api == RR_API_TEI ? rr_server_tei_render(&req, &job) : rr_server_cohere_render(&req, &job, "m", "id");
        if (!body) abort();
        free(body);
        free(scores);
        rr_server_request_free(&req);
    } else {
        if (st < 400 || st > 599 || e.message[0] == 0 || memchr(e.message, '\n', strlen(e.message))) abort();
        rr_fuzz_rejected("request", e.message);
        char *j = rr_server_error_json(&e);
        if (!j) abort();
        free(j);
        if (!(j = rr_server_tei_error_json(&e))) abort();
        free(j);
    }
    return 0;
}
