/* hub_http.h - the HTTP client of the hub module: libcurl with rerank's policies. Redirects are followed here, one
 * hop at a time (at most RR_HTTP_MAX_REDIRECTS), so that the token goes to the endpoint's own host only and never
 * to a CDN a redirect names; 429/5xx answers and dropped connections are retried with backoff; downloads resume
 * with Range; every size is bounded. */
#ifndef RR_HUB_HTTP_H
#define RR_HUB_HTTP_H

#include <stdbool.h>
#include <stdint.h>

#include "hub/hub.h"

#define RR_HTTP_MAX_REDIRECTS 10

typedef struct rr_http rr_http;

/* What one exchange answered (the last response of a redirect chain). */
typedef struct rr_http_reply {
    long status;             /* HTTP status; 0 when no answer came */
    char url[4096];          /* the URL that gave this answer */
    char location[4096];     /* a redirect not followed (rr_http_head: an absolute one), resolved to absolute */
    char etag[160];          /* X-Linked-Etag (LFS files) else ETag, without W/ and quotes */
    bool linked;             /* the etag came from X-Linked-Etag */
    char commit[64];         /* X-Repo-Commit */
    int64_t size;            /* X-Linked-Size, else Content-Length; -1 when absent or malformed */
    char error_code[64];     /* X-Error-Code (RepoNotFound, GatedRepo, RevisionNotFound, EntryNotFound, ...) */
    char error_message[256]; /* X-Error-Message */
} rr_http_reply;

rerank_status rr_http_open(const rr_hub_env *env, rr_http **out, rerank_error *err);
void rr_http_close(rr_http *h);

/* GET url into *body (NUL-terminated, free()), refusing answers over max_bytes. Follows redirects. A completed
 * exchange returns RERANK_OK whatever its status (see r->status); transport failures after the retries are
 * RERANK_ERR_NETWORK. */
rerank_status rr_http_get(rr_http *h, const char *url, size_t max_bytes, char **body, size_t *len, rr_http_reply *r,
                          rerank_error *err);

/* HEAD url as huggingface_hub's metadata call does: relative redirects are followed (the hub's 307 to
 * /api/resolve-cache/...), an absolute one (the CDN) is returned in r->location with the headers that came with it. */
rerank_status rr_http_head(rr_http *h, const char *url, rr_http_reply *r, rerank_error *err);

/* Called with the bytes of the file at `path` so far. */
typedef void (*rr_http_progress_fn)(void *user, uint64_t bytes);

/* GET url into the file `path`, which must end up exactly `size` bytes long: bytes already there are kept and the
 * rest asked for with Range (a 200 answer starts over); a Content-Length or a body beyond `size` is refused.
 * Follows redirects. RERANK_OK only when the file is complete; an HTTP error status is RERANK_ERR_NETWORK naming it
 * (r->status and r->error_code say which). */
rerank_status rr_http_download(rr_http *h, const char *url, const char *path, int64_t size, rr_http_progress_fn progress,
                               void *user, rr_http_reply *r, rerank_error *err);

/* url-encodes one path segment (keeps [A-Za-z0-9._~-]; '/' too when keep_slash) into out. */
bool rr_http_escape(const char *s, bool keep_slash, char *out, size_t cap);

#endif
