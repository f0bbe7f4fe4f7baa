/* http.c - libmicrohttpd glue: one request context per HTTP request, body collection under the size
 * limit, API-key check, suspend while the batcher scores, resume to answer; SIGTERM drains and stops.
 *
 * DESIGN: MHD runs a pool of polling threads (HTTP/1.1 keep-alive, poll()). A rerank request is parsed and
 * tokenized on the polling thread, then its connection is suspended and the job queued; the batcher's
 * worker that finishes the job resumes the connection and MHD calls the handler again to send the
 * answer. No thread blocks on a client, so slow clients only hold a connection slot (bounded by
 * --max-connections and the idle timeout).
 *
 * A body over --max-body-bytes is read and dropped (up to RR_SERVER_DISCARD_BYTES) before the 413 is
 * sent: clients that write the whole body before reading (Node fetch, Python urllib, curl without
 * Expect) would otherwise see a reset instead of the answer. A client that sent `Expect: 100-continue`
 * gets the 413 from the headers alone, as does a body declared larger than the discard bound.
 *
 * poll(), not epoll: libmicrohttpd 0.9.75's MHD_quiesce_daemon on an epoll thread pool races the workers'
 * own removal of the listen socket from their epoll sets and aborts the process ("Failed to remove listen
 * FD from epoll set"), seen once in CI on SIGTERM. Its poll() path only flags the workers and wakes them.
 *
 * CORS (--cors-allow-origin, off by default): an allowed Origin gets Access-Control-Allow-Origin on every
 * answer, and OPTIONS preflights get 204 with the allowed methods and headers, without the API key. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <sys/socket.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
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
    size_t received;            /* body bytes read, kept or dropped */
    bool too_large;
    bool close;                 /* answer with Connection: close (a refused body) */
    _Atomic int state;
    int status;
    rr_server_pending pending;
    char url[256];              /* the path, for /v1/models/{id} */
} conn_req;

/* The Origin header when CORS is on and the origin is allowed (or "*" for any), else NULL. */
static const char *cors_origin(conn_req *c) {
    const char *allowed = c->srv->cfg.cors_origins;
    if (!allowed) return NULL;
    const char *origin = MHD_lookup_connection_value(c->conn, MHD_HEADER_KIND, "Origin");
    if (!origin || !*origin) return NULL;
    if (strcmp(allowed, "*") == 0) return "*";
    size_t n = strlen(origin);
    for (const char *p = allowed; *p;) {
        size_t k = strcspn(p, ",");
        while (k && p[k - 1] == ' ') k--;
        if (k == n && strncmp(p, origin, n) == 0) return origin;
        p += strcspn(p, ",");
        if (*p == ',') p++;
        while (*p == ' ') p++;
    }
    return NULL;
}

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
    if (r->status == 405) {
        const char *allow = rr_server_route_is_post(c->route) ? "POST" : "GET, HEAD";
        if (c->srv->cfg.cors_origins) allow = rr_server_route_is_post(c->route) ? "POST, OPTIONS" : "GET, HEAD, OPTIONS";
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
    }
    const char *origin = cors_origin(c);
    if (origin) {
        MHD_add_response_header(resp, "Access-Control-Allow-Origin", origin);
        MHD_add_response_header(resp, "Access-Control-Expose-Headers", "Retry-After");
        if (strcmp(origin, "*") != 0) MHD_add_response_header(resp, "Vary", "Origin");
        if (r->status == 204) {
            const char *req_h = MHD_lookup_connection_value(c->conn, MHD_HEADER_KIND, "Access-Control-Request-Headers");
            MHD_add_response_header(resp, "Access-Control-Allow-Methods", "GET, POST, OPTIONS");
            MHD_add_response_header(resp, "Access-Control-Allow-Headers",
                                    req_h && *req_h && strlen(req_h) < 512 ? req_h : "Authorization, Content-Type");
            MHD_add_response_header(resp, "Access-Control-Max-Age", "600");
        }
    }
    if (c->srv->draining || c->close) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    c->status = r->status;
    enum MHD_Result ok = MHD_queue_response(c->conn, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ok;
}

static enum MHD_Result send_error(conn_req *c, const rr_server_error *e) {
    rr_server_response r = {0};
    rr_server_error_response_for(c->route, e, &r);
    return send_response(c, &r);
}

static enum MHD_Result send_body_too_large(conn_req *c, unsigned long long declared) {
    rr_server_error e;
    c->close = true; /* the body may not have been read: this connection cannot carry another request */
    size_t max = c->srv->cfg.max_body_bytes;
    if (declared)
        rr_server_fail_limit(&e, 413, "max_body_bytes", (long long)max,
                             "request body of %llu bytes exceeds max_body_bytes (%zu)", declared, max);
    else
        rr_server_fail_limit(&e, 413, "max_body_bytes", (long long)max, "request body exceeds max_body_bytes (%zu)", max);
    return send_error(c, &e);
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

/* Early check on the first call: a declared body over the limit is refused before it is read when the
 * client waits for 100-continue or the body is past the discard bound (MHD then closes the connection);
 * otherwise it is read and dropped, and refused once complete. Returns true when a response is queued. */
static bool first_call(conn_req *c, enum MHD_Result *ret) {
    rr_server *s = c->srv;
    const char *cl = MHD_lookup_connection_value(c->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (!cl) return false;
    char *end;
    unsigned long long n = strtoull(cl, &end, 10);
    if (n > s->cfg.max_body_bytes) {
        const char *expect = MHD_lookup_connection_value(c->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);
        if ((expect && strcasecmp(expect, "100-continue") == 0) || n > RR_SERVER_DISCARD_BYTES)
            return *ret = send_body_too_large(c, n), true;
        c->too_large = true;
        return false;
    }
    if (n > 0 && rr_server_route_is_post(c->route) && (c->body = malloc(n + 1)) != NULL) c->cap = n + 1;
    return false;
}

/* 415 for a body the server cannot read as JSON: compressed, or declared as another media type. A missing
 * Content-Type and curl's/urllib's default (x-www-form-urlencoded) are read as JSON. */
static bool unsupported_media(conn_req *c, rr_server_error *e) {
    const char *enc = MHD_lookup_connection_value(c->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_ENCODING);
    if (enc && *enc && strcasecmp(enc, "identity") != 0) {
        rr_server_fail(e, 415, "unsupported_media_type",
                       "Content-Encoding '%.40s' is not supported; send the body uncompressed", enc);
        return true;
    }
    const char *ct = MHD_lookup_connection_value(c->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (!ct || !*ct) return false;
    size_t k = strcspn(ct, ";");
    while (k && ct[k - 1] == ' ') k--;
    if ((k == 16 && strncasecmp(ct, "application/json", 16) == 0) ||
        (k == 33 && strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0) ||
        (k > 17 && strncasecmp(ct, "application/", 12) == 0 && strncasecmp(ct + k - 5, "+json", 5) == 0))
        return false;
    rr_server_fail(e, 415, "unsupported_media_type", "Content-Type '%.*s' is not supported; send application/json",
                   (int)(k < 60 ? k : 60), ct);
    return true;
}

/* The whole request has arrived: route, method, auth, readiness; GET routes answer here. Returns true when
 * a response has been queued (false: a rerank request to parse). */
static bool full_request(conn_req *c, const char *method, enum MHD_Result *ret) {
    rr_server *s = c->srv;
    rr_server_error e;
    bool is_get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    bool is_post = strcmp(method, "POST") == 0;
    *ret = MHD_YES;
    if (c->too_large) return *ret = send_body_too_large(c, 0), true;
    if (strcmp(method, "OPTIONS") == 0 && s->cfg.cors_origins && c->route != RR_ROUTE_OTHER) {
        rr_server_response r = {.status = 204, .content_type = "text/plain"}; /* CORS preflight: no key */
        return *ret = send_response(c, &r), true;
    }
    bool public_route = c->route == RR_ROUTE_HEALTH || c->route == RR_ROUTE_READY;
    if (s->cfg.api_key && !public_route && !authorized(s, c->conn)) {
        rr_server_fail(&e, 401, "unauthorized", "missing or wrong API key: send 'Authorization: Bearer <key>'");
        return *ret = send_error(c, &e), true;
    }
    if (c->route == RR_ROUTE_OTHER) {
        rr_server_response r = {0};
        rr_server_handle_get(s, c->route, c->url, &r);
        return *ret = send_response(c, &r), true;
    }
    if (rr_server_route_is_post(c->route) ? !is_post : !is_get) {
        rr_server_fail(&e, 405, "method_not_allowed", "%s %s is not allowed; use %s", method,
                       rr_server_route_name(c->route), rr_server_route_is_post(c->route) ? "POST" : "GET");
        return *ret = send_error(c, &e), true;
    }
    if (!is_post) {
        rr_server_response r = {0};
        rr_server_handle_get(s, c->route, c->url, &r);
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
    if (unsupported_media(c, &e)) return *ret = send_error(c, &e), true;
    return false;
}

static bool append(conn_req *c, const char *data, size_t n) {
    c->received += n;
    if (c->too_large) return true;
    if (c->n + n > c->srv->cfg.max_body_bytes) {
        c->too_large = true;
        free(c->body);
        c->body = NULL;
        c->n = c->cap = 0;
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
        snprintf(c->url, sizeof c->url, "%s", url);
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
            if (c->too_large && c->received > RR_SERVER_DISCARD_BYTES) return send_body_too_large(c, 0);
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
        if (rr_server_batcher_submit(c->pending.model->batcher, &c->pending.job) != 0) {
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
    unsigned flags = MHD_USE_POLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME;
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

    /* load the models while /ready answers 503 */
    rerank_error err;
    rerank_model_params mp = s->cfg.model;
    int rc = 0;
    char msg[512];
    for (size_t i = 0; i < s->n_models && rc == 0; i++) {
        rr_server_model *m = &s->models[i];
        if (rerank_model_load(m->dir, &mp, &m->model, &err) != RERANK_OK) {
            fprintf(stderr, "rerank serve: model '%s': %s\n", m->name, err.message);
            rc = 1;
            break;
        }
        rerank_model_get_info(m->model, &m->info);
        if (s->cfg.max_doc_tokens && m->info.max_tokens > 0 && s->cfg.max_doc_tokens >= (size_t)m->info.max_tokens) {
            fprintf(stderr, "rerank serve: --max-doc-tokens must be below model '%s''s max_tokens (%d)\n", m->name,
                    m->info.max_tokens);
            rc = 2;
        } else if (rr_server_batcher_start(m->model, &s->cfg, &m->batcher, msg, sizeof msg) != 0) {
            fprintf(stderr, "rerank serve: %s\n", msg);
            rc = 1;
        }
    }
    if (rc == 0) {
        atomic_store(&s->ready, 1);
        for (size_t i = 0; i < s->n_models; i++)
            fprintf(stdout, "rerank serve: model %s from %s (%s, max_tokens %d)\n", s->models[i].name, s->models[i].dir,
                    s->models[i].info.architecture ? s->models[i].info.architecture : "?", s->models[i].info.max_tokens);
        fprintf(stdout, "rerank serve: ready (model %s, %zu model%s, %d workers x %d threads each)\n", s->models[0].name,
                s->n_models, s->n_models == 1 ? "" : "s", s->cfg.workers, s->cfg.threads);
        fflush(stdout);
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        int sig = 0;
        sigwait(&set, &sig);
        if (s->cfg.drain_delay_s > 0) {
            /* Kubernetes removes a terminating pod from its Service only after a while: keep serving, with
             * /ready at 503, so requests routed meanwhile are answered; a second signal ends the wait */
            atomic_store(&s->stopping, 1);
            fprintf(stdout, "rerank serve: %s received, /ready is 503; serving %d s more before draining\n",
                    sig == SIGINT ? "SIGINT" : "SIGTERM", s->cfg.drain_delay_s);
            fflush(stdout);
            struct timespec wait = {s->cfg.drain_delay_s, 0};
            sigtimedwait(&set, NULL, &wait);
        }
        fprintf(stdout, "rerank serve: %s received, draining\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
        fflush(stdout);
    }
    /* stop accepting, let in-flight requests finish (bounded), then stop */
    atomic_store(&s->stopping, 1);
    atomic_store(&s->draining, 1);
    MHD_socket lfd = MHD_quiesce_daemon(d);
    /* refuse new connections now; close the descriptor only once no worker can still be polling it */
    if (lfd != MHD_INVALID_SOCKET) shutdown(lfd, SHUT_RDWR);
    int64_t limit = rr_server_now_ns() + ((int64_t)(s->cfg.timeout_ms > 0 ? s->cfg.timeout_ms : 30000) + 2000) * 1000000;
    while (atomic_load(&s->active) > 0 && rr_server_now_ns() < limit) usleep(5000);
    for (size_t i = 0; i < s->n_models; i++) /* answers anything still queued */
        if (s->models[i].batcher) rr_server_batcher_stop(s->models[i].batcher);
    usleep(20000);
    MHD_stop_daemon(d);
    if (lfd != MHD_INVALID_SOCKET) close(lfd);
    for (size_t i = 0; i < s->n_models; i++) {
        rr_server_batcher_free(s->models[i].batcher);
        s->models[i].batcher = NULL;
        rerank_model_free(s->models[i].model);
        s->models[i].model = NULL;
    }
    if (rc == 0) {
        fprintf(stdout, "rerank serve: stopped\n");
        fflush(stdout);
    }
    return rc;
}
