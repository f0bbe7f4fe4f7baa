/* http.c - libmicrohttpd glue: one request context per HTTP request, body collection under the size
 * limit, API-key check, suspend while the batcher scores, resume to answer; SIGTERM drains and stops.
 *
 * DESIGN: MHD runs a pool of polling threads (HTTP/1.1 keep-alive, epoll). A rerank request is parsed and
 * tokenized on the polling thread, then its connection is suspended and the job queued; the batcher's
 * worker that finishes the job resumes the connection and MHD calls the handler again to send the
 * answer. No thread blocks on a client, so slow clients only hold a connection slot (bounded by
 * --max-connections and the idle timeout). */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/internal.h"

enum { ST_RECEIVING, ST_WAITING, ST_DONE, ST_REJECTED };

typedef struct conn_req {
    rr_server *srv;
    struct MHD_Connection *conn;
    rr_server_route route;
    int64_t t0;
    char *body;
    size_t n, cap;
    bool too_large;
    _Atomic int state;
    int status;
    rr_server_pending pending;
} conn_req;

static enum MHD_Result send_response(conn_req *c, rr_server_response *r) {
    const char *body = r->body ? r->body : "";
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        strlen(body), r->body ? r->body : (void *)"", r->body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        free(r->body);
        return MHD_NO;
    }
    r->body = NULL;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type ? r->content_type : "application/json");
    if (r->retry_after > 0) {
        char ra[16];
        snprintf(ra, sizeof ra, "%d", r->retry_after);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, ra);
    }
    if (r->status == 401) MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    if (r->status == 405)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, rr_server_route_is_post(c->route) ? "POST" : "GET, HEAD");
    if (c->srv->draining) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    c->status = r->status;
    enum MHD_Result ok = MHD_queue_response(c->conn, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ok;
}

static enum MHD_Result send_error(conn_req *c, const rr_server_error *e) {
    rr_server_response r = {0};
    rr_server_error_response(e, &r);
    return send_response(c, &r);
}

/* Constant-time comparison of the bearer token. */
static bool authorized(rr_server *s, struct MHD_Connection *conn) {
    const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) return false;
    h += 7;
    while (*h == ' ') h++;
    size_t a = strlen(h), b = strlen(s->cfg.api_key);
    unsigned char diff = a != b;
    for (size_t i = 0; i < b; i++) diff |= (unsigned char)(h[i < a ? i : 0] ^ s->cfg.api_key[i]);
    return diff == 0 && a == b;
}

static void job_done(rr_server_job *job, void *user) {
    conn_req *c = user;
    (void)job;
    atomic_store(&c->state, ST_DONE);
    MHD_resume_connection(c->conn);
}

/* Early check on the first call: a declared body over the limit is refused before it is read (MHD then
 * closes the connection). Returns true when a response has been queued. */
static bool first_call(conn_req *c, enum MHD_Result *ret) {
    rr_server *s = c->srv;
    const char *cl = MHD_lookup_connection_value(c->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (!cl) return false;
    char *end;
    unsigned long long n = strtoull(cl, &end, 10);
    if (n > s->cfg.max_body_bytes) {
        rr_server_error e;
        rr_server_fail_limit(&e, 413, "max_body_bytes", (long long)s->cfg.max_body_bytes,
                             "request body of %llu bytes exceeds max_body_bytes (%zu)", n, s->cfg.max_body_bytes);
        return *ret = send_error(c, &e), true;
    }
    if (n > 0 && rr_server_route_is_post(c->route) && (c->body = malloc(n + 1)) != NULL) c->cap = n + 1;
    return false;
}

/* The whole request has arrived: route, method, auth, readiness; GET routes answer here. Returns true when
 * a response has been queued (false: a rerank request to parse). */
static bool full_request(conn_req *c, const char *method, enum MHD_Result *ret) {
    rr_server *s = c->srv;
    rr_server_error e;
    bool is_get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    bool is_post = strcmp(method, "POST") == 0;
    *ret = MHD_YES;
    if (s->cfg.api_key && c->route != RR_ROUTE_HEALTH && !authorized(s, c->conn)) {
        rr_server_fail(&e, 401, "unauthorized", "missing or wrong API key: send 'Authorization: Bearer <key>'");
        return *ret = send_error(c, &e), true;
    }
    if (c->route == RR_ROUTE_OTHER) {
        rr_server_response r = {0};
        rr_server_handle_get(s, c->route, &r);
        return *ret = send_response(c, &r), true;
    }
    if (rr_server_route_is_post(c->route) ? !is_post : !is_get) {
        rr_server_fail(&e, 405, "method_not_allowed", "%s %s is not allowed; use %s", method,
                       rr_server_route_name(c->route), rr_server_route_is_post(c->route) ? "POST" : "GET");
        return *ret = send_error(c, &e), true;
    }
    if (!is_post) {
        rr_server_response r = {0};
        rr_server_handle_get(s, c->route, &r);
        return *ret = send_response(c, &r), true;
    }
    if (s->draining) {
        rr_server_fail(&e, 503, "unavailable", "server is shutting down");
        rr_server_metrics_rejected("shutting_down");
        return *ret = send_error(c, &e), true;
    }
    if (!s->ready) {
        rr_server_fail(&e, 503, "unavailable", "model is loading");
        return *ret = send_error(c, &e), true;
    }
    if (c->too_large) {
        rr_server_fail_limit(&e, 413, "max_body_bytes", (long long)s->cfg.max_body_bytes,
                             "request body exceeds max_body_bytes (%zu)", s->cfg.max_body_bytes);
        return *ret = send_error(c, &e), true;
    }
    return false;
}

static bool append(conn_req *c, const char *data, size_t n) {
    if (c->too_large) return true;
    if (c->n + n > c->srv->cfg.max_body_bytes) {
        c->too_large = true;
        return true;
    }
    if (c->n + n + 1 > c->cap) {
        size_t cap = c->cap ? c->cap : 4096;
        while (cap < c->n + n + 1) cap *= 2;
        char *b = realloc(c->body, cap);
        if (!b) return false;
        c->body = b;
        c->cap = cap;
    }
    memcpy(c->body + c->n, data, n);
    c->n += n;
    return true;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
    rr_server *s = cls;
    conn_req *c = *con_cls;
    (void)version;
    if (!c) {
        c = calloc(1, sizeof *c);
        if (!c) return MHD_NO;
        c->srv = s;
        c->conn = conn;
        c->t0 = rr_server_now_ns();
        c->route = rr_server_route_of(url);
        atomic_store(&c->state, ST_RECEIVING);
        atomic_fetch_add(&s->active, 1);
        *con_cls = c;
        enum MHD_Result ret;
        if (first_call(c, &ret)) return ret;
        return MHD_YES;
    }
    int state = atomic_load(&c->state);
    if (state == ST_RECEIVING) {
        if (*upload_data_size) {
            if (!append(c, upload_data, *upload_data_size)) return MHD_NO;
            *upload_data_size = 0;
            /* a client still sending 2 s past the request timeout is cut off (a slow upload is not the
             * server's delay to report as 504; a stalled one must not hold the connection) */
            if (s->cfg.timeout_ms > 0 && rr_server_now_ns() - c->t0 > ((int64_t)s->cfg.timeout_ms + 2000) * 1000000)
                return MHD_NO;
            return MHD_YES;
        }
        enum MHD_Result ret;
        if (full_request(c, method, &ret)) return ret;
        rr_server_error e;
        rr_server_api api = c->route == RR_ROUTE_TEI_RERANK ? RR_API_TEI
                            : c->route == RR_ROUTE_V2_RERANK ? RR_API_COHERE_V2 : RR_API_COHERE_V1;
        if (rr_server_rerank_prepare(s, api, c->body ? c->body : "", c->n, c->t0, &c->pending, &e) != 0)
            return send_error(c, &e);
        free(c->body);
        c->body = NULL;
        c->pending.job.done = job_done;
        c->pending.job.user = c;
        atomic_store(&c->state, ST_WAITING);
        MHD_suspend_connection(conn);
        if (rr_server_batcher_submit(s->batcher, &c->pending.job) != 0) {
            atomic_store(&c->state, ST_REJECTED);
            MHD_resume_connection(conn);
        }
        return MHD_YES;
    }
    if (state == ST_REJECTED) {
        rr_server_error e;
        rr_server_fail_limit(&e, 503, "max_queue_pairs", (long long)s->cfg.max_queue_pairs,
                             s->draining ? "server is shutting down" : "server is at capacity (queue full); retry later");
        e.type = "overloaded";
        rr_server_metrics_rejected(s->draining ? "shutting_down" : "queue_full");
        return send_error(c, &e);
    }
    if (state == ST_DONE) {
        rr_server_response r = {0};
        rr_server_rerank_finish(s, &c->pending, &r);
        return send_response(c, &r);
    }
    return MHD_YES; /* ST_WAITING: spurious call */
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe) {
    rr_server *s = cls;
    conn_req *c = *con_cls;
    (void)conn;
    (void)toe;
    if (!c) return;
    rr_server_metrics_request(c->route, c->status, (double)(rr_server_now_ns() - c->t0) / 1e9);
    rr_server_pending_free(&c->pending);
    free(c->body);
    free(c);
    *con_cls = NULL;
    atomic_fetch_sub(&s->active, 1);
}

int rr_server_http_run(rr_server *s) {
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_PASSIVE, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    char port[16];
    snprintf(port, sizeof port, "%d", s->cfg.port);
    if (getaddrinfo(s->cfg.host, port, &hints, &ai) != 0 || !ai) {
        fprintf(stderr, "rerank serve: --host %s is not a numeric IPv4 or IPv6 address\n", s->cfg.host);
        return 2;
    }
    unsigned flags = MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD | MHD_ALLOW_SUSPEND_RESUME;
    if (ai->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, ai->ai_addr, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned)s->cfg.http_threads, MHD_OPTION_CONNECTION_LIMIT, (unsigned)s->cfg.max_connections,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)s->cfg.idle_timeout_s, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u, MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!d) {
        fprintf(stderr, "rerank serve: cannot listen on %s:%d (address in use or not permitted)\n", s->cfg.host, s->cfg.port);
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    int bound = info ? (int)info->port : s->cfg.port;
    fprintf(stdout, "rerank serve: listening on http://%s:%d\n", s->cfg.host, bound);
    fflush(stdout);

    /* load the model while /health answers 503 */
    rerank_error err;
    rerank_model_params mp = s->cfg.model;
    int rc = 0;
    char msg[512];
    if (rerank_model_load(s->cfg.model_dir, &mp, &s->model, &err) != RERANK_OK) {
        fprintf(stderr, "rerank serve: %s\n", err.message);
        rc = 1;
    } else {
        rerank_model_get_info(s->model, &s->info);
        if (s->cfg.max_doc_tokens && s->info.max_tokens > 0 && s->cfg.max_doc_tokens >= (size_t)s->info.max_tokens) {
            fprintf(stderr, "rerank serve: --max-doc-tokens must be below the model's max_tokens (%d)\n", s->info.max_tokens);
            rc = 2;
        } else if (rr_server_batcher_start(s->model, &s->cfg, &s->batcher, msg, sizeof msg) != 0) {
            fprintf(stderr, "rerank serve: %s\n", msg);
            rc = 1;
        }
    }
    if (rc == 0) {
        atomic_store(&s->ready, 1);
        fprintf(stdout, "rerank serve: ready (model %s, %s, max_tokens %d, %d workers x %d threads)\n",
                s->cfg.model_name, s->info.architecture ? s->info.architecture : "?", s->info.max_tokens,
                s->cfg.workers, s->cfg.threads);
        fflush(stdout);
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        int sig = 0;
        sigwait(&set, &sig);
        fprintf(stdout, "rerank serve: %s received, draining\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
        fflush(stdout);
    }
    /* stop accepting, let in-flight requests finish (bounded), then stop */
    atomic_store(&s->draining, 1);
    MHD_socket lfd = MHD_quiesce_daemon(d);
    if (lfd != MHD_INVALID_SOCKET) close(lfd);
    int64_t limit = rr_server_now_ns() + ((int64_t)(s->cfg.timeout_ms > 0 ? s->cfg.timeout_ms : 30000) + 2000) * 1000000;
    while (atomic_load(&s->active) > 0 && rr_server_now_ns() < limit) usleep(5000);
    if (s->batcher) rr_server_batcher_stop(s->batcher); /* answers anything still queued */
    usleep(20000);
    MHD_stop_daemon(d);
    rr_server_batcher_free(s->batcher);
    s->batcher = NULL;
    rerank_model_free(s->model);
    s->model = NULL;
    if (rc == 0) {
        fprintf(stdout, "rerank serve: stopped\n");
        fflush(stdout);
    }
    return rc;
}
