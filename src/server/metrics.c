/* metrics.c - Prometheus counters and histograms: requests by route and status, request latency, queue
 * depth, batch sizes, tokens processed; rendered in the text exposition format for GET /metrics. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/internal.h"

static const int statuses[] = {200, 400, 401, 404, 405, 408, 413, 415, 422, 500, 503, 504};
/* Requests refused before scoring, by reason: the 4xx answers (503 has its own reasons, rr_server_metrics_rejected). */
static const struct {
    int status;
    const char *reason;
} refusals[] = {{400, "invalid_request"}, {401, "unauthorized"},      {404, "unknown_route_or_model"},
                {405, "method_not_allowed"}, {408, "timeout"},        {413, "too_large"},
                {415, "unsupported_media_type"}, {422, "invalid_input"}};
#define N_REFUSALS (sizeof refusals / sizeof refusals[0])
#define N_STATUS (sizeof statuses / sizeof statuses[0] + 1) /* + "other" */
static const double lat_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
#define N_LAT (sizeof lat_bounds / sizeof lat_bounds[0])
static const double pair_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};
#define N_PAIR (sizeof pair_bounds / sizeof pair_bounds[0])
static const double tok_bounds[] = {64, 256, 1024, 2048, 4096, 8192, 16384, 32768, 65536};
#define N_TOK (sizeof tok_bounds / sizeof tok_bounds[0])

typedef struct {
    unsigned long long bucket[16], count;
    double sum;
} histogram;

static struct {
    pthread_mutex_t mu;
    unsigned long long requests[RR_ROUTE_COUNT][N_STATUS];
    histogram latency[RR_ROUTE_COUNT];
    histogram batch_pairs, batch_requests, batch_tokens, batch_seconds;
    unsigned long long tokens, pairs, rejected_queue_full, rejected_other, refused[N_REFUSALS];
} m = {.mu = PTHREAD_MUTEX_INITIALIZER};

static const char *route_names[RR_ROUTE_COUNT] = {"/v1/rerank", "/v2/rerank", "/rerank",  "/health",
                                                  "/metrics",   "/v1/models", "/ready",  "/info",
                                                  "/v1/models/{id}", "other"};

const char *rr_server_route_name(rr_server_route route) { return route_names[route]; }

static void observe(histogram *h, const double *bounds, size_t n, double v) {
    for (size_t i = 0; i < n; i++)
        if (v <= bounds[i]) h->bucket[i]++;
    h->count++;
    h->sum += v;
}

void rr_server_metrics_request(rr_server_route route, int status, double seconds) {
    size_t s = N_STATUS - 1;
    for (size_t i = 0; i + 1 < N_STATUS; i++)
        if (statuses[i] == status) s = i;
    pthread_mutex_lock(&m.mu);
    m.requests[route][s]++;
    for (size_t i = 0; i < N_REFUSALS; i++)
        if (refusals[i].status == status) m.refused[i]++;
    observe(&m.latency[route], lat_bounds, N_LAT, seconds);
    pthread_mutex_unlock(&m.mu);
}

void rr_server_metrics_batch(size_t n_pairs, size_t n_requests, size_t n_tokens, double seconds) {
    pthread_mutex_lock(&m.mu);
    observe(&m.batch_pairs, pair_bounds, N_PAIR, (double)n_pairs);
    observe(&m.batch_requests, pair_bounds, N_PAIR, (double)n_requests);
    observe(&m.batch_tokens, tok_bounds, N_TOK, (double)n_tokens);
    observe(&m.batch_seconds, lat_bounds, N_LAT, seconds);
    m.tokens += n_tokens;
    m.pairs += n_pairs;
    pthread_mutex_unlock(&m.mu);
}

void rr_server_metrics_rejected(const char *reason) {
    pthread_mutex_lock(&m.mu);
    if (strcmp(reason, "queue_full") == 0) m.rejected_queue_full++;
    else m.rejected_other++;
    pthread_mutex_unlock(&m.mu);
}

typedef struct {
    char *data;
    size_t n, cap;
    bool oom;
} buf;

__attribute__((format(printf, 2, 3))) static void out(buf *b, const char *fmt, ...) {
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = b->oom ? 0 : vsnprintf(b->data + b->n, b->cap - b->n, fmt, ap);
        va_end(ap);
        if (b->oom || k < 0) { b->oom = true; return; }
        if ((size_t)k < b->cap - b->n) { b->n += (size_t)k; return; }
        size_t cap = b->cap * 2 + (size_t)k + 1;
        char *d = realloc(b->data, cap);
        if (!d) { b->oom = true; return; }
        b->data = d;
        b->cap = cap;
    }
}

static void put_hist(buf *b, const char *name, const char *labels, const histogram *h, const double *bounds, size_t n) {
    const char *sep = *labels ? "," : "";
    for (size_t i = 0; i < n; i++) out(b, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep, bounds[i], h->bucket[i]);
    out(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep, h->count);
    out(b, "%s_sum%s%s%s %.9g\n", name, *labels ? "{" : "", labels, *labels ? "}" : "", h->sum);
    out(b, "%s_count%s%s%s %llu\n", name, *labels ? "{" : "", labels, *labels ? "}" : "", h->count);
}

char *rr_server_metrics_render(rr_server_batcher *const *bt, size_t n_batchers, bool model_loaded) {
    size_t q_jobs = 0, q_pairs = 0; /* summed over the served models */
    for (size_t i = 0; i < n_batchers; i++) {
        size_t j = 0, p = 0;
        if (bt[i]) rr_server_batcher_depth(bt[i], &j, &p);
        q_jobs += j;
        q_pairs += p;
    }
    buf b = {malloc(8192), 0, 8192, false};
    if (!b.data) return NULL;
    b.data[0] = 0;
    pthread_mutex_lock(&m.mu);
    out(&b, "# HELP rerank_requests_total HTTP requests by route and status code.\n# TYPE rerank_requests_total counter\n");
    for (int r = 0; r < RR_ROUTE_COUNT; r++)
        for (size_t s = 0; s < N_STATUS; s++) {
            if (!m.requests[r][s]) continue;
            if (s + 1 < N_STATUS)
                out(&b, "rerank_requests_total{route=\"%s\",status=\"%d\"} %llu\n", route_names[r], statuses[s], m.requests[r][s]);
            else
                out(&b, "rerank_requests_total{route=\"%s\",status=\"other\"} %llu\n", route_names[r], m.requests[r][s]);
        }
    out(&b, "# HELP rerank_request_duration_seconds Time from a request's first byte to its response.\n"
            "# TYPE rerank_request_duration_seconds histogram\n");
    for (int r = 0; r < RR_ROUTE_COUNT; r++) {
        if (!m.latency[r].count) continue;
        char labels[64];
        snprintf(labels, sizeof labels, "route=\"%s\"", route_names[r]);
        put_hist(&b, "rerank_request_duration_seconds", labels, &m.latency[r], lat_bounds, N_LAT);
    }
    out(&b, "# HELP rerank_queue_depth_requests Requests waiting for a batch.\n# TYPE rerank_queue_depth_requests gauge\n"
            "rerank_queue_depth_requests %zu\n", q_jobs);
    out(&b, "# HELP rerank_queue_depth_pairs Query/document pairs waiting for a batch.\n# TYPE rerank_queue_depth_pairs gauge\n"
            "rerank_queue_depth_pairs %zu\n", q_pairs);
    out(&b, "# HELP rerank_batch_pairs Pairs per model batch.\n# TYPE rerank_batch_pairs histogram\n");
    put_hist(&b, "rerank_batch_pairs", "", &m.batch_pairs, pair_bounds, N_PAIR);
    out(&b, "# HELP rerank_batch_requests Requests merged into one model batch.\n# TYPE rerank_batch_requests histogram\n");
    put_hist(&b, "rerank_batch_requests", "", &m.batch_requests, pair_bounds, N_PAIR);
    out(&b, "# HELP rerank_batch_tokens Tokens per model batch.\n# TYPE rerank_batch_tokens histogram\n");
    put_hist(&b, "rerank_batch_tokens", "", &m.batch_tokens, tok_bounds, N_TOK);
    out(&b, "# HELP rerank_batch_duration_seconds Time to score one batch.\n# TYPE rerank_batch_duration_seconds histogram\n");
    put_hist(&b, "rerank_batch_duration_seconds", "", &m.batch_seconds, lat_bounds, N_LAT);
    out(&b, "# HELP rerank_tokens_processed_total Tokens run through the model.\n# TYPE rerank_tokens_processed_total counter\n"
            "rerank_tokens_processed_total %llu\n", m.tokens);
    out(&b, "# HELP rerank_pairs_scored_total Pairs scored.\n# TYPE rerank_pairs_scored_total counter\n"
            "rerank_pairs_scored_total %llu\n", m.pairs);
    out(&b, "# HELP rerank_rejected_total Requests refused, by reason (503: queue_full, shutting_down; the others "
            "by their 4xx status).\n# TYPE rerank_rejected_total counter\n"
            "rerank_rejected_total{reason=\"queue_full\"} %llu\nrerank_rejected_total{reason=\"shutting_down\"} %llu\n",
        m.rejected_queue_full, m.rejected_other);
    for (size_t i = 0; i < N_REFUSALS; i++)
        out(&b, "rerank_rejected_total{reason=\"%s\"} %llu\n", refusals[i].reason, m.refused[i]);
    pthread_mutex_unlock(&m.mu);
    out(&b, "# HELP rerank_model_loaded 1 when the model is loaded and the server is ready.\n# TYPE rerank_model_loaded gauge\n"
            "rerank_model_loaded %d\n", model_loaded ? 1 : 0);
    if (b.oom) {
        free(b.data);
        return NULL;
    }
    return b.data;
}
