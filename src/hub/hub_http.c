/* hub_http.c - libcurl under rerank's policies (hub_http.h): one request per curl_easy_perform (redirects are
 * followed here, so each hop decides on its own whether the token may go), retries, Range resume and bounds. */
#include "hub/hub_http.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/error.h"

#define MAX_TRIES_WITHOUT_PROGRESS 5
#define MAX_TRIES 100
#define ERROR_BODY_MAX (64u << 10) /* an error page is read this far, then dropped */

struct rr_http {
    CURL *curl;
    const rr_hub_env *env;
    char origin[1100]; /* scheme://host:port of the endpoint: the only place the token goes */
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;
static void global_init(void) { global_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

/* scheme://host:port of an absolute URL (default ports made explicit), via libcurl's own parser. */
static bool url_origin(const char *url, char *out, size_t cap) {
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL;
    bool ok = u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK;
    if (ok) {
        for (char *p = host; *p; p++) *p = (char)tolower((unsigned char)*p);
        ok = (size_t)snprintf(out, cap, "%s://%s:%s", scheme, host, port) < cap;
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return ok;
}

/* Resolves a Location (absolute or relative) against base; only http(s) results are accepted. */
static bool url_resolve(const char *base, const char *location, char *out, size_t cap) {
    CURLU *u = curl_url();
    char *full = NULL, *scheme = NULL;
    bool ok = u && curl_url_set(u, CURLUPART_URL, base, 0) == CURLUE_OK &&
              curl_url_set(u, CURLUPART_URL, location, 0) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_URL, &full, 0) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
              (!strcmp(scheme, "http") || !strcmp(scheme, "https")) && strlen(full) < cap;
    if (ok) memcpy(out, full, strlen(full) + 1);
    curl_free(full);
    curl_free(scheme);
    curl_url_cleanup(u);
    return ok;
}

/* huggingface_hub's relative-redirect test (urlparse(location).netloc == ""): no scheme and no "//host". */
static bool is_relative(const char *location) {
    if (!strncmp(location, "//", 2)) return false;
    const char *p = location;
    if (isalpha((unsigned char)*p)) {
        while (isalnum((unsigned char)*p) || *p == '+' || *p == '-' || *p == '.') p++;
        if (*p == ':') return false; /* scheme: */
    }
    return true;
}

rerank_status rr_http_open(const rr_hub_env *env, rr_http **out, rerank_error *err) {
    *out = NULL;
    pthread_once(&global_once, global_init);
    if (global_rc != CURLE_OK) return rr_fail(err, RERANK_ERR_NETWORK, "libcurl: %s", curl_easy_strerror(global_rc));
    rr_http *h = calloc(1, sizeof *h);
    if (!h) return rr_fail(err, RERANK_ERR_NOMEM, "out of memory");
    h->env = env;
    if (!url_origin(env->endpoint, h->origin, sizeof h->origin)) {
        free(h);
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "HF_ENDPOINT '%s' is not a valid URL", env->endpoint);
    }
    if (!(h->curl = curl_easy_init())) {
        free(h);
        return rr_fail(err, RERANK_ERR_NOMEM, "libcurl: cannot create a handle");
    }
    *out = h;
    return RERANK_OK;
}

void rr_http_close(rr_http *h) {
    if (!h) return;
    curl_easy_cleanup(h->curl);
    free(h);
}

bool rr_http_escape(const char *s, bool keep_slash, char *out, size_t cap) {
    size_t n = 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (isalnum(c) || c == '.' || c == '_' || c == '~' || c == '-' || (keep_slash && c == '/')) {
            if (n + 1 >= cap) return false;
            out[n++] = (char)c;
        } else {
            if (n + 3 >= cap) return false;
            n += (size_t)snprintf(out + n, cap - n, "%%%02X", c);
        }
    }
    out[n] = '\0';
    return true;
}

/* ---- one request ---- */

typedef enum { SINK_MEMORY, SINK_FILE, SINK_NONE } sink_kind;

/* Where a body goes, and the bounds that apply to it. */
typedef struct exchange {
    rr_http *h;
    rr_http_reply *r;
    sink_kind kind;
    /* memory */
    char *buf;
    size_t len, max;
    /* file */
    FILE *file;
    int64_t offset, expected; /* bytes already in the file at the start; the total it must reach */
    int64_t content_length, range_start, linked_size; /* -1 when absent */
    bool body_started;
    rr_http_progress_fn progress;
    void *user;
    /* why the transfer was cut short by us (not a network failure) */
    char refused[256];
    size_t error_body;
    bool skimmed; /* an error page was cut short on purpose */
} exchange;

static void copy_value(char *dst, size_t cap, const char *v, size_t n) {
    if (n >= cap) n = cap - 1;
    memcpy(dst, v, n);
    dst[n] = '\0';
}

/* "W/\"abc\"" -> abc, as huggingface_hub's _normalize_etag */
static void normalize_etag(char *dst, size_t cap, const char *v, size_t n) {
    if (n >= 2 && v[0] == 'W' && v[1] == '/') v += 2, n -= 2;
    while (n > 0 && *v == '"') v++, n--;
    while (n > 0 && v[n - 1] == '"') n--;
    copy_value(dst, cap, v, n);
}

static int64_t parse_size(const char *v, size_t n) {
    if (n == 0 || n > 19) return -1;
    int64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9') return -1;
        x = x * 10 + (v[i] - '0');
    }
    return x;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *user) {
    exchange *x = user;
    size_t n = size * nmemb;
    if (n >= 5 && !strncmp(data, "HTTP/", 5)) { /* a new response: forget the headers of any earlier one */
        rr_http_reply *r = x->r;
        r->location[0] = r->etag[0] = r->commit[0] = r->error_code[0] = r->error_message[0] = '\0';
        r->linked = false;
        r->size = -1;
        x->content_length = x->range_start = x->linked_size = -1;
        return n;
    }
    const char *colon = memchr(data, ':', n);
    if (!colon) return n;
    size_t kn = (size_t)(colon - data);
    const char *v = colon + 1;
    size_t vn = n - kn - 1;
    while (vn && (*v == ' ' || *v == '\t')) v++, vn--;
    while (vn && (v[vn - 1] == '\r' || v[vn - 1] == '\n' || v[vn - 1] == ' ')) vn--;
#define IS(name) (kn == sizeof(name) - 1 && !strncasecmp(data, name, kn))
    rr_http_reply *r = x->r;
    if (IS("Location")) copy_value(r->location, sizeof r->location, v, vn);
    else if (IS("X-Linked-Etag")) {
        normalize_etag(r->etag, sizeof r->etag, v, vn);
        r->linked = true;
    } else if (IS("ETag")) {
        if (!r->linked) normalize_etag(r->etag, sizeof r->etag, v, vn);
    } else if (IS("X-Repo-Commit")) copy_value(r->commit, sizeof r->commit, v, vn);
    else if (IS("X-Linked-Size")) x->linked_size = parse_size(v, vn);
    else if (IS("Content-Length")) x->content_length = parse_size(v, vn);
    else if (IS("Content-Range")) {
        if (vn > 6 && !strncasecmp(v, "bytes ", 6)) {
            const char *dash = memchr(v + 6, '-', vn - 6);
            if (dash) x->range_start = parse_size(v + 6, (size_t)(dash - v - 6));
        }
    } else if (IS("X-Error-Code")) copy_value(r->error_code, sizeof r->error_code, v, vn);
    else if (IS("X-Error-Message")) copy_value(r->error_message, sizeof r->error_message, v, vn);
#undef IS
    return n;
}

/* The first body byte of a file download: decides, from the status and headers, where the body goes. */
static bool start_file_body(exchange *x, long status) {
    x->body_started = true;
    if (status == 200 && x->offset > 0) { /* the server ignored Range: start over */
        if (ftruncate(fileno(x->file), 0) != 0 || fseeko(x->file, 0, SEEK_SET) != 0) {
            snprintf(x->refused, sizeof x->refused, "cannot truncate the partial file");
            return false;
        }
        x->offset = 0;
    }
    if (status == 206 && x->range_start != x->offset) {
        snprintf(x->refused, sizeof x->refused, "the server resumed at byte %lld, expected %lld",
                 (long long)x->range_start, (long long)x->offset);
        return false;
    }
    if (x->content_length >= 0 && x->content_length != x->expected - x->offset) {
        snprintf(x->refused, sizeof x->refused, "Content-Length %lld, expected %lld bytes", (long long)x->content_length,
                 (long long)(x->expected - x->offset));
        return false;
    }
    return true;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *user) {
    exchange *x = user;
    size_t n = size * nmemb;
    long status = 0;
    curl_easy_getinfo(x->h->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status > 299 || x->kind == SINK_NONE) { /* an error page or a redirect body: skim */
        x->error_body += n;
        if (x->error_body <= ERROR_BODY_MAX) return n;
        x->skimmed = true; /* enough of it: the status and headers are what count */
        return 0;
    }
    if (x->kind == SINK_MEMORY) {
        if (x->len + n > x->max) {
            snprintf(x->refused, sizeof x->refused, "the answer is larger than %zu bytes", x->max);
            return 0;
        }
        char *b = realloc(x->buf, x->len + n + 1);
        if (!b) {
            snprintf(x->refused, sizeof x->refused, "out of memory");
            return 0;
        }
        memcpy(b + x->len, data, n);
        x->buf = b;
        x->len += n;
        b[x->len] = '\0';
        return n;
    }
    if (!x->body_started && !start_file_body(x, status)) return 0;
    if ((int64_t)n > x->expected - x->offset) {
        snprintf(x->refused, sizeof x->refused, "the server sent more than the %lld bytes announced",
                 (long long)x->expected);
        return 0;
    }
    if (fwrite(data, 1, n, x->file) != n) {
        snprintf(x->refused, sizeof x->refused, "write failed: %s", strerror(errno));
        return 0;
    }
    x->offset += (int64_t)n;
    return n;
}

static int on_progress(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow) {
    exchange *x = user;
    if (x->progress && x->body_started) x->progress(x->user, (uint64_t)x->offset);
    return 0;
}

static bool retryable_status(long s) { return s == 429 || s == 500 || s == 502 || s == 503 || s == 504; }

static bool retryable_curl(CURLcode c) {
    return c == CURLE_OPERATION_TIMEDOUT || c == CURLE_PARTIAL_FILE || c == CURLE_RECV_ERROR || c == CURLE_SEND_ERROR ||
           c == CURLE_GOT_NOTHING || c == CURLE_SSL_CONNECT_ERROR || c == CURLE_HTTP2 || c == CURLE_HTTP2_STREAM;
}

static void sleep_seconds(long s) {
    struct timespec ts = {s, 0};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

/* A URL for an error message: shortened, and without its query (a CDN's signed URL grants access while valid). */
static const char *brief(const char *url, char *buf, size_t cap) {
    size_t n = strcspn(url, "?#");
    snprintf(buf, cap, "%.*s%s", (int)(n < 200 ? n : 200), url, n > 200 ? "..." : "");
    return buf;
}

/* One request to url (no redirect following), retried on 429/5xx and dropped connections. */
static rerank_status perform(exchange *x, const char *url, bool head, rerank_error *err) {
    rr_http *h = x->h;
    rr_http_reply *r = x->r;
    char shown[256];
    int tries = 0, stalled = 0;
    for (;;) {
        tries++;
        memset(r, 0, sizeof *r);
        r->size = -1;
        snprintf(r->url, sizeof r->url, "%s", url);
        x->refused[0] = '\0';
        x->error_body = 0;
        x->skimmed = false;
        x->body_started = false;
        x->content_length = x->range_start = x->linked_size = -1;
        x->len = 0;
        if (x->kind == SINK_FILE) {
            fflush(x->file);
            struct stat st;
            if (fstat(fileno(x->file), &st) != 0) return rr_fail(err, RERANK_ERR_IO, "partial file: %s", strerror(errno));
            x->offset = st.st_size;
            if (x->offset > x->expected && ftruncate(fileno(x->file), 0) == 0) x->offset = 0;
            fseeko(x->file, x->offset, SEEK_SET);
        }
        int64_t offset_before = x->offset;

        CURL *c = h->curl;
        curl_easy_reset(c);
        struct curl_slist *hdrs = NULL;
        char line[1200], origin[1100];
        if (h->env->token[0] && url_origin(url, origin, sizeof origin) && !strcmp(origin, h->origin)) {
            snprintf(line, sizeof line, "Authorization: Bearer %s", h->env->token);
            hdrs = curl_slist_append(hdrs, line);
        }
        hdrs = curl_slist_append(hdrs, "Accept-Encoding: identity");
        char range[64];
        if (x->kind == SINK_FILE && x->offset > 0) {
            snprintf(range, sizeof range, "%lld-", (long long)x->offset);
            curl_easy_setopt(c, CURLOPT_RANGE, range);
        }
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(c, CURLOPT_USERAGENT, "rerank/" RERANK_VERSION);
        curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, h->env->download_timeout_s);
        if (x->kind == SINK_FILE) { /* big bodies: no total limit, but a stall is a failure */
            curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
            curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, h->env->download_timeout_s);
        } else {
            curl_easy_setopt(c, CURLOPT_TIMEOUT, head ? h->env->etag_timeout_s : 6 * h->env->etag_timeout_s);
        }
        if (head) curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
        curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(c, CURLOPT_XFERINFODATA, x);
        curl_easy_setopt(c, CURLOPT_NOPROGRESS, x->progress ? 0L : 1L);
        CURLcode rc = curl_easy_perform(c);
        if (rc == CURLE_WRITE_ERROR && x->skimmed) rc = CURLE_OK;
        curl_slist_free_all(hdrs);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
        /* an LFS file's size is X-Linked-Size (Content-Length is the redirect's own body) */
        r->size = x->linked_size >= 0 ? x->linked_size : r->linked ? -1 : x->content_length;
        if (x->kind == SINK_FILE) fflush(x->file);
        if (x->refused[0])
            return rr_fail(err, RERANK_ERR_NETWORK, "%s: refused: %s", brief(url, shown, sizeof shown), x->refused);
        bool progressed = x->offset > offset_before;
        stalled = progressed ? 0 : stalled + 1;
        bool again = rc == CURLE_OK ? retryable_status(r->status) : retryable_curl(rc);
        /* a completed download needs no retry whatever the connection did afterwards */
        if (x->kind == SINK_FILE && x->offset == x->expected && r->status >= 200 && r->status < 300) again = false,
                                                                                                      rc = CURLE_OK;
        if (!again || stalled >= MAX_TRIES_WITHOUT_PROGRESS || tries >= MAX_TRIES) {
            if (rc != CURLE_OK)
                return rr_fail(err, RERANK_ERR_NETWORK, "%s: %s%s", brief(url, shown, sizeof shown),
                               curl_easy_strerror(rc), tries > 1 ? " (after retries)" : "");
            return RERANK_OK;
        }
        long delay = progressed ? 0 : 1L << (stalled - 1 < 4 ? stalled - 1 : 4);
        curl_off_t retry_after = -1;
        if (rc == CURLE_OK && curl_easy_getinfo(c, CURLINFO_RETRY_AFTER, &retry_after) == CURLE_OK && retry_after >= 0)
            delay = retry_after < 60 ? (long)retry_after : 60;
        sleep_seconds(delay);
    }
}

static bool is_redirect(long s) { return s == 301 || s == 302 || s == 303 || s == 307 || s == 308; }

/* Follows redirects one hop at a time; only_relative stops at the first absolute one (left in r->location). */
static rerank_status follow(exchange *x, const char *url, bool head, bool only_relative, rerank_error *err) {
    char cur[4096], next[4096], shown[256];
    if (strlen(url) >= sizeof cur) return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "URL too long");
    memcpy(cur, url, strlen(url) + 1);
    for (int hop = 0;; hop++) {
        rerank_status st = perform(x, cur, head, err);
        if (st) return st;
        rr_http_reply *r = x->r;
        if (!is_redirect(r->status) || !r->location[0]) return RERANK_OK;
        if (!url_resolve(cur, r->location, next, sizeof next))
            return rr_fail(err, RERANK_ERR_NETWORK, "%s: redirect to an unusable location '%.200s'",
                           brief(cur, shown, sizeof shown), r->location);
        if (only_relative && !is_relative(r->location)) {
            memcpy(r->location, next, strlen(next) + 1);
            return RERANK_OK;
        }
        if (hop + 1 > RR_HTTP_MAX_REDIRECTS)
            return rr_fail(err, RERANK_ERR_NETWORK, "%s: more than %d redirects", brief(url, shown, sizeof shown),
                           RR_HTTP_MAX_REDIRECTS);
        memcpy(cur, next, strlen(next) + 1);
    }
}

rerank_status rr_http_get(rr_http *h, const char *url, size_t max_bytes, char **body, size_t *len, rr_http_reply *r,
                          rerank_error *err) {
    exchange x = {.h = h, .r = r, .kind = SINK_MEMORY, .max = max_bytes};
    *body = NULL;
    *len = 0;
    rerank_status st = follow(&x, url, false, false, err);
    if (st) {
        free(x.buf);
        return st;
    }
    if (!x.buf && !(x.buf = calloc(1, 1))) return rr_fail(err, RERANK_ERR_NOMEM, "out of memory");
    *body = x.buf;
    *len = x.len;
    return RERANK_OK;
}

rerank_status rr_http_head(rr_http *h, const char *url, rr_http_reply *r, rerank_error *err) {
    exchange x = {.h = h, .r = r, .kind = SINK_NONE};
    return follow(&x, url, true, true, err);
}

rerank_status rr_http_download(rr_http *h, const char *url, const char *path, int64_t size, rr_http_progress_fn progress,
                               void *user, rr_http_reply *r, rerank_error *err) {
    FILE *f = fopen(path, "r+b");
    if (!f) f = fopen(path, "w+b");
    if (!f) return rr_fail(err, RERANK_ERR_IO, "%s: %s", path, strerror(errno));
    exchange x = {.h = h, .r = r, .kind = SINK_FILE, .file = f, .expected = size, .progress = progress, .user = user};
    struct stat st0;
    rerank_status st = RERANK_OK;
    /* a file already complete (an earlier run died before renaming it) needs no request */
    if (fstat(fileno(f), &st0) == 0 && st0.st_size == size) {
        memset(r, 0, sizeof *r);
        r->status = 200;
        r->size = size;
    } else {
        st = follow(&x, url, false, false, err);
    }
    char shown[256];
    if (!st && (r->status < 200 || r->status > 299))
        st = rr_fail(err, RERANK_ERR_NETWORK, "%s: HTTP %ld%s%s", brief(r->url, shown, sizeof shown), r->status,
                     r->error_code[0] ? " " : "", r->error_code);
    if (!st) {
        struct stat fs;
        if (fflush(f) != 0 || fstat(fileno(f), &fs) != 0) st = rr_fail(err, RERANK_ERR_IO, "%s: %s", path, strerror(errno));
        else if (fs.st_size != size)
            st = rr_fail(err, RERANK_ERR_NETWORK, "%s: got %lld of %lld bytes", brief(r->url, shown, sizeof shown),
                         (long long)fs.st_size, (long long)size);
    }
    if (fclose(f) != 0 && !st) st = rr_fail(err, RERANK_ERR_IO, "%s: %s", path, strerror(errno));
    return st;
}
