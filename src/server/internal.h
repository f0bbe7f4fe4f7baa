/* internal.h - types shared by the server's files: configuration, the validated request, HTTP errors,
 * the cross-request batcher and the metrics registry. Nothing here is visible outside src/server/. */
#ifndef RR_SERVER_INTERNAL_H
#define RR_SERVER_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rerank.h"
#include "server/server.h"

/* ---- errors ---------------------------------------------------------------------------------------- */
/* An HTTP failure: status, machine-readable type, optional limit name and value, a one-line message. */
typedef struct rr_server_error {
    int status;
    const char *type;   /* "invalid_request", "payload_too_large", ... (static string) */
    const char *limit;  /* name of the limit that was exceeded, or NULL (static string) */
    long long limit_value;
    char message[512];
} rr_server_error;

int rr_server_fail(rr_server_error *e, int status, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int rr_server_fail_limit(rr_server_error *e, int status, const char *limit, long long value, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* The JSON error body {"error": {"message", "type", "code"[, "limit", "limit_value"]}} (malloc'ed). */
char *rr_server_error_json(const rr_server_error *e);

/* ---- a validated request ---------------------------------------------------------------------------- */
typedef enum rr_server_api { RR_API_COHERE_V1, RR_API_COHERE_V2, RR_API_TEI } rr_server_api;

typedef struct rr_server_request {
    rr_server_api api;
    json_t *root;               /* the parsed body; the strings below point into it */
    const char *model;          /* echoed; NULL if absent */
    const char *query;
    size_t query_len;
    size_t n_docs;
    const char **docs;
    size_t *doc_lens;
    size_t top_n;               /* <= n_docs */
    bool return_documents;
    bool raw_scores;
    bool truncate;              /* false: a pair longer than max_length is a 422 (TEI truncate=false) */
    long long max_tokens_per_doc; /* 0 = unset */
    int long_doc;               /* -1 = server default, else rerank_long_doc */
    const char *instruction;    /* NULL = model default */
    int *cutoff_layers;
    size_t n_cutoff_layers;
} rr_server_request;

/* Parses and validates a body for one API; pure (no model), so it is what the fuzz target drives.
 * Returns 0 or an HTTP status with *e filled. On success free the request with rr_server_request_free. */
int rr_server_request_parse(rr_server_api api, const char *body, size_t len, const rr_server_config *cfg,
                            rr_server_request *out, rr_server_error *e);
void rr_server_request_free(rr_server_request *r);
/* Field readers shared by the API parsers: an absent field leaves *out unchanged and returns 0; a wrong
 * type or range returns 400 with a message naming the field. */
int rr_server_field_bool(json_t *root, const char *key, bool *out, rr_server_error *e);
int rr_server_field_int(json_t *root, const char *key, long long min, long long max, long long *out,
                        rr_server_error *e);
int rr_server_field_string(json_t *root, const char *key, bool required, bool nonempty, const char **out,
                           size_t *len, rr_server_error *e);
/* The document list under key: strings, or (allow_objects) objects with a "text" string. */
int rr_server_field_texts(json_t *root, const char *key, bool allow_objects, const rr_server_config *cfg,
                          rr_server_request *out, rr_server_error *e);
/* Extensions every route accepts: raw_scores, long_doc, instruction, cutoff_layers. */
int rr_server_field_extensions(json_t *root, rr_server_request *out, rr_server_error *e);
int rr_server_cohere_parse(json_t *root, const rr_server_config *cfg, rr_server_request *out, rr_server_error *e);
int rr_server_tei_parse(json_t *root, const rr_server_config *cfg, rr_server_request *out, rr_server_error *e);
/* Strict UTF-8 check; on failure *bad is the offset of the first bad byte. */
bool rr_server_utf8_valid(const char *s, size_t n, size_t *bad);

/* ---- batcher ------------------------------------------------------------------------------------------ */
typedef struct rr_server_job rr_server_job;
typedef void (*rr_server_job_done_fn)(rr_server_job *job, void *user);

/* One request's pairs in flight. The submitter owns it; the batcher fills scores and status and calls
 * done exactly once, after which it never touches the job again. */
struct rr_server_job {
    rerank_score_params params;  /* instruction and cutoff_layers borrowed from the request */
    rerank_pair *pairs;
    size_t n_pairs, n_out;
    uint32_t *est_tokens;        /* per pair, for the batch budget */
    float *scores;               /* n_pairs * n_out */
    int64_t deadline_ns;         /* CLOCK_MONOTONIC */
    rr_server_job_done_fn done;
    void *user;
    /* results */
    int http_status;             /* 0 = ok */
    rr_server_error error;
    size_t n_tokens;             /* tokens of the batches this job took part in, shared by pair */
    /* batcher bookkeeping (under its lock) */
    size_t next, n_finished, n_in_flight;
    bool finished;
    rr_server_job *prev, *nextj;
};

typedef struct rr_server_batcher rr_server_batcher;
int rr_server_batcher_start(const rerank_model *model, const rr_server_config *cfg, rr_server_batcher **out,
                            char *err, size_t err_size);
/* Queues a job. Returns 0, or 503 when the queue is full or the batcher is stopping (job untouched). */
int rr_server_batcher_submit(rr_server_batcher *b, rr_server_job *job);
/* Refuses new jobs, finishes every queued one, then joins the workers; the batcher stays readable. */
void rr_server_batcher_stop(rr_server_batcher *b);
void rr_server_batcher_free(rr_server_batcher *b);
void rr_server_batcher_depth(rr_server_batcher *b, size_t *jobs, size_t *pairs);

/* ---- responses ------------------------------------------------------------------------------------ */
/* Indices of the documents by descending score (ties by index), cut to top_n (malloc'ed). The score of a
 * pair is its last output (the last cutoff layer of a layerwise model). */
size_t *rr_server_rank(const rr_server_job *job, size_t top_n);
/* Response bodies (malloc'ed JSON, NULL when out of memory). */
char *rr_server_cohere_render(const rr_server_request *r, const rr_server_job *job, const char *model_name,
                              const char *id);
char *rr_server_tei_render(const rr_server_request *r, const rr_server_job *job);

/* ---- routes and the server ------------------------------------------------------------------------------------ */
typedef enum rr_server_route {
    RR_ROUTE_V1_RERANK, RR_ROUTE_V2_RERANK, RR_ROUTE_TEI_RERANK, RR_ROUTE_HEALTH, RR_ROUTE_METRICS,
    RR_ROUTE_MODELS, RR_ROUTE_OTHER, RR_ROUTE_COUNT
} rr_server_route;

typedef struct rr_server {
    rr_server_config cfg;
    rerank_model *model;
    rerank_model_info info;
    rr_server_batcher *batcher;  /* set before ready */
    _Atomic int ready;           /* model loaded and batcher running */
    _Atomic int draining;        /* SIGTERM: new requests get 503 and Connection: close */
    _Atomic long active;         /* requests between their first byte and their completion */
    _Atomic unsigned long long next_id;
} rr_server;

/* A rerank request between parsing and its response. */
typedef struct rr_server_pending {
    rr_server_request req;
    rr_server_job job;
    char id[48];
} rr_server_pending;

/* A response body: status, malloc'ed body and its content type; retry_after > 0 adds Retry-After. */
typedef struct rr_server_response {
    int status;
    char *body;
    const char *content_type;
    int retry_after;
} rr_server_response;

rr_server_route rr_server_route_of(const char *url);
bool rr_server_route_is_post(rr_server_route route);
/* GET routes: health, metrics, models, and the 404 body. */
void rr_server_handle_get(rr_server *s, rr_server_route route, rr_server_response *resp);
/* Parses, validates and tokenizes a rerank body into p->job (ready to submit). Returns 0 or a status. */
int rr_server_rerank_prepare(rr_server *s, rr_server_api api, const char *body, size_t len, int64_t t0,
                             rr_server_pending *p, rr_server_error *e);
/* The response of a finished job (or its error). */
void rr_server_rerank_finish(rr_server *s, rr_server_pending *p, rr_server_response *resp);
void rr_server_pending_free(rr_server_pending *p);
void rr_server_error_response(const rr_server_error *e, rr_server_response *resp);
/* Runs libmicrohttpd until SIGTERM/SIGINT, then drains; returns the exit code. */
int rr_server_http_run(rr_server *s);

/* ---- metrics ----------------------------------------------------------------------------------------- */
void rr_server_metrics_request(rr_server_route route, int status, double seconds);
void rr_server_metrics_batch(size_t n_pairs, size_t n_requests, size_t n_tokens, double seconds);
void rr_server_metrics_rejected(const char *reason);
/* Prometheus text exposition format (malloc'ed). */
char *rr_server_metrics_render(rr_server_batcher *b, bool model_loaded);
const char *rr_server_route_name(rr_server_route route);

int64_t rr_server_now_ns(void);

#endif
