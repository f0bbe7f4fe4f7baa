/* fake_hub.h - a Hugging Face Hub on loopback for the hub client's tests: two libmicrohttpd servers on
 * 127.0.0.1, "the hub" (the revision API, /resolve with its 302-to-CDN and 307-to-/api/resolve-cache answers and
 * headers, X-Error-Code errors) and "the CDN" (LFS blobs by sha256, with Range), serving local checkpoint
 * directories. Modes make it misbehave the ways a hostile or broken server can; counters say what was asked. */
#ifndef RR_TEST_FAKE_HUB_H
#define RR_TEST_FAKE_HUB_H

#include <stdbool.h>

#define FAKE_SHA_MAIN "0123456789abcdef0123456789abcdef01234567"

typedef struct fake_repo {
    const char *repo; /* "org/name" */
    const char *dir;  /* directory whose top-level files are the repository's */
    bool gated;       /* files answer 401 GatedRepo without a token, 403 with a wrong one */
    bool private_repo; /* everything answers 401 RepoNotFound without the right token */
} fake_repo;

typedef struct fake_hub_mode {
    bool drop_half;        /* the CDN drops the connection half-way through the first GET of each blob */
    bool expire_after_drop; /* with drop_half: the next GET of that blob answers 403 (an expired signed URL) */
    bool wrong_sha;        /* the CDN serves a blob with one byte changed */
    bool huge_size;        /* LFS answers announce X-Linked-Size of 2^50 */
    bool long_content;     /* the CDN announces a Content-Length 1000 bytes over the blob */
    bool redirect_loop;    /* /resolve redirects to itself, forever */
    bool weak_etag;        /* /api/resolve-cache answers with weak ETags W/"..." */
    bool fail_503_once;    /* the first API call answers 503 with Retry-After: 0 */
    bool slow;             /* the CDN sends 16 kB every 2 ms */
    const char *extra_sibling; /* a raw JSON string literal added to the file list, e.g. "\"../x.safetensors\"" */
    const char *api_sha;       /* the revision API's "sha" (raw JSON value) instead of FAKE_SHA_MAIN */
    const char *etag;          /* every ETag / X-Linked-Etag header carries this instead */
    const char *file_commit;   /* /resolve answers carry this X-Repo-Commit instead */
} fake_hub_mode;

typedef struct fake_hub_counts {
    int api, resolve, resolve_cache, cdn, cdn_range;
    int cdn_auth;   /* CDN requests that carried an Authorization header: must stay 0 */
    int hub_auth;   /* hub requests that carried the right token */
} fake_hub_counts;

typedef struct fake_hub fake_hub;

/* Starts both servers; repos[] (n) must outlive the hub. The token that opens gated/private repos is "hf_good".
 * Returns NULL on failure. */
fake_hub *fake_hub_start(const fake_repo *repos, int n, const fake_hub_mode *mode);
void fake_hub_stop(fake_hub *h);
const char *fake_hub_endpoint(const fake_hub *h); /* "http://127.0.0.1:PORT" */
fake_hub_counts fake_hub_counts_get(fake_hub *h);
void fake_hub_counts_reset(fake_hub *h);
/* sha256 (hex) of a served file, "" if unknown. */
const char *fake_hub_sha256(const fake_hub *h, const char *repo, const char *file);

#endif
