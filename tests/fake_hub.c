/* fake_hub.c - the loopback Hugging Face Hub of the hub tests (fake_hub.h): the real hub's routes, status codes
 * and headers (X-Repo-Commit, X-Linked-Etag/-Size, ETag, X-Error-Code, 302 to a second port for LFS blobs, 307 to a
 * relative /api/resolve-cache/ URL for small files), Range on the CDN, and the modes that misbehave. */
#include "fake_hub.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define GOOD_TOKEN "Bearer hf_good"

typedef struct ffile {
    char name[256];
    unsigned char *data;
    size_t len;
    char sha256[65], sha1[41];
    bool lfs;
    bool dropped; /* drop_half: already cut once */
    bool expired; /* expire_after_drop: the next request answers 403 */
} ffile;

typedef struct frepo {
    const fake_repo *r;
    ffile *files;
    int n;
} frepo;

struct fake_hub {
    struct MHD_Daemon *hub, *cdn;
    int cdn_port;
    char endpoint[64];
    frepo repos[16];
    int n_repos;
    fake_hub_mode mode;
    pthread_mutex_t mu;
    fake_hub_counts c;
    bool failed_once;
};

static void hex_digest(const EVP_MD *md, const void *prefix, size_t plen, const void *data, size_t len, char *out) {
    unsigned char d[64];
    unsigned int n = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, md, NULL);
    if (plen) EVP_DigestUpdate(ctx, prefix, plen);
    EVP_DigestUpdate(ctx, data, len);
    EVP_DigestFinal_ex(ctx, d, &n);
    EVP_MD_CTX_free(ctx);
    for (unsigned i = 0; i < n; i++) sprintf(out + 2 * i, "%02x", d[i]);
}

static bool ends_with(const char *s, const char *suf) {
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && !strcmp(s + n - m, suf);
}

static int load_repo(frepo *fr, const fake_repo *r) {
    fr->r = r;
    DIR *d = opendir(r->dir);
    if (!d) return -1;
    struct dirent *e;
    while ((e = readdir(d))) {
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", r->dir, e->d_name);
        struct stat st;
        if (e->d_name[0] == '.' || stat(path, &st) != 0 || !S_ISREG(st.st_mode)) continue;
        ffile *files = realloc(fr->files, (size_t)(fr->n + 1) * sizeof *files);
        if (!files) break;
        fr->files = files;
        ffile *f = &fr->files[fr->n];
        memset(f, 0, sizeof *f);
        snprintf(f->name, sizeof f->name, "%s", e->d_name);
        f->len = (size_t)st.st_size;
        f->data = malloc(f->len + 1);
        FILE *in = fopen(path, "rb");
        if (!f->data || !in || fread(f->data, 1, f->len, in) != f->len) {
            if (in) fclose(in);
            free(f->data);
            continue;
        }
        fclose(in);
        char hdr[64];
        int hl = snprintf(hdr, sizeof hdr, "blob %zu", f->len) + 1; /* git's blob id, NUL included */
        hex_digest(EVP_sha1(), hdr, (size_t)hl, f->data, f->len, f->sha1);
        hex_digest(EVP_sha256(), NULL, 0, f->data, f->len, f->sha256);
        f->lfs = ends_with(f->name, ".safetensors") || ends_with(f->name, ".model") || ends_with(f->name, ".bin");
        fr->n++;
    }
    closedir(d);
    return 0;
}

static frepo *find_repo(fake_hub *h, const char *repo, size_t n) {
    for (int i = 0; i < h->n_repos; i++)
        if (strlen(h->repos[i].r->repo) == n && !strncmp(h->repos[i].r->repo, repo, n)) return &h->repos[i];
    return NULL;
}

static ffile *find_file(frepo *r, const char *name) {
    for (int i = 0; r && i < r->n; i++)
        if (!strcmp(r->files[i].name, name)) return &r->files[i];
    return NULL;
}

/* ---- responses ---- */

static enum MHD_Result send_response(struct MHD_Connection *c, unsigned status, struct MHD_Response *resp,
                                     const char *const *hdrs) {
    for (int i = 0; hdrs && hdrs[i]; i += 2) MHD_add_response_header(resp, hdrs[i], hdrs[i + 1]);
    enum MHD_Result r = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return r;
}

static enum MHD_Result send_text(struct MHD_Connection *c, unsigned status, const char *body, const char *const *hdrs) {
    struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    return send_response(c, status, resp, hdrs);
}

static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, const char *code, const char *msg) {
    const char *hdrs[] = {"X-Error-Code", code, "X-Error-Message", msg, "Content-Type", "application/json", NULL};
    char body[256];
    snprintf(body, sizeof body, "{\"error\":\"%s\"}", msg);
    return send_text(c, status, body, hdrs);
}

typedef enum { TOKEN_NONE, TOKEN_GOOD, TOKEN_BAD } token_kind;

static token_kind token_of(struct MHD_Connection *c) {
    const char *a = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    return !a ? TOKEN_NONE : !strcmp(a, GOOD_TOKEN) ? TOKEN_GOOD : TOKEN_BAD;
}

/* The access rules of the real hub for a repository (NULL = missing); files=true for /resolve. */
static enum MHD_Result deny(struct MHD_Connection *c, frepo *r, token_kind t, bool files, bool *denied) {
    *denied = true;
    if (!r || (r->r->private_repo && t != TOKEN_GOOD))
        return t == TOKEN_GOOD ? send_error(c, 404, "RepoNotFound", "Repository not found")
                               : send_error(c, 401, "RepoNotFound", "Repository not found");
    if (files && r->r->gated && t != TOKEN_GOOD)
        return t == TOKEN_NONE ? send_error(c, 401, "GatedRepo", "Access to this model is restricted")
                               : send_error(c, 403, "GatedRepo", "Your token has no access to this gated model");
    *denied = false;
    return MHD_YES;
}

static bool rev_known(const char *rev) {
    return !strcmp(rev, "main") || !strcmp(rev, "v1.0") || !strcmp(rev, "refs/pr/1") || !strcmp(rev, FAKE_SHA_MAIN);
}

static void append(char **buf, size_t *len, size_t *cap, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void append(char **buf, size_t *len, size_t *cap, const char *fmt, ...) {
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(*buf + *len, *cap - *len, fmt, ap);
        va_end(ap);
        if ((size_t)n < *cap - *len) {
            *len += (size_t)n;
            return;
        }
        *cap = 2 * *cap + (size_t)n;
        *buf = realloc(*buf, *cap);
    }
}

static enum MHD_Result api_revision(fake_hub *h, struct MHD_Connection *c, const char *rest) {
    const char *rv = strstr(rest, "/revision/");
    if (!rv) return send_error(c, 404, "NotFound", "no such route");
    frepo *r = find_repo(h, rest, (size_t)(rv - rest));
    bool denied;
    enum MHD_Result res = deny(c, r, token_of(c), false, &denied);
    if (denied) return res;
    const char *rev = rv + 10;
    if (!rev_known(rev)) return send_error(c, 404, "RevisionNotFound", "Invalid rev id");
    pthread_mutex_lock(&h->mu);
    bool fail = h->mode.fail_503_once && !h->failed_once;
    h->failed_once = true;
    pthread_mutex_unlock(&h->mu);
    if (fail) {
        const char *hdrs[] = {"Retry-After", "0", NULL};
        return send_text(c, 503, "busy", hdrs);
    }
    size_t cap = 4096, len = 0;
    char *b = malloc(cap);
    append(&b, &len, &cap, "{\"_id\":\"x\",\"id\":\"%s\",\"sha\":%s,\"private\":%s,\"gated\":%s,\"siblings\":[",
           r->r->repo, h->mode.api_sha ? h->mode.api_sha : "\"" FAKE_SHA_MAIN "\"", r->r->private_repo ? "true" : "false",
           r->r->gated ? "\"manual\"" : "false");
    for (int i = 0; i < r->n; i++) {
        ffile *f = &r->files[i];
        append(&b, &len, &cap, "%s{\"rfilename\":\"%s\",\"blobId\":\"%s\",\"size\":%zu", i ? "," : "", f->name, f->sha1,
               f->len);
        if (f->lfs) append(&b, &len, &cap, ",\"lfs\":{\"sha256\":\"%s\",\"size\":%zu,\"pointerSize\":134}", f->sha256, f->len);
        append(&b, &len, &cap, "}");
    }
    /* files a reranker must never fetch (they do not exist here: a request for one would answer 404) */
    append(&b, &len, &cap, ",{\"rfilename\":\"onnx/model.onnx\"},{\"rfilename\":\"model.Q4_K_M.gguf\"},"
                           "{\"rfilename\":\"1_Pooling/config.json\"}");
    if (h->mode.extra_sibling) append(&b, &len, &cap, ",{\"rfilename\":%s,\"size\":10}", h->mode.extra_sibling);
    append(&b, &len, &cap, "]}");
    const char *hdrs[] = {"Content-Type", "application/json", NULL};
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, b, MHD_RESPMEM_MUST_FREE);
    return send_response(c, 200, resp, hdrs);
}

/* /{org}/{name}/resolve/{rev}/{file} */
static enum MHD_Result resolve(fake_hub *h, struct MHD_Connection *c, const char *url) {
    const char *rs = strstr(url, "/resolve/");
    frepo *r = rs ? find_repo(h, url + 1, (size_t)(rs - url - 1)) : NULL;
    bool denied;
    enum MHD_Result res = deny(c, r, token_of(c), true, &denied);
    if (denied) return res;
    const char *rev = rs + 9, *slash = strchr(rev, '/');
    if (!slash) return send_error(c, 404, "EntryNotFound", "no file");
    char revbuf[128];
    snprintf(revbuf, sizeof revbuf, "%.*s", (int)(slash - rev), rev);
    if (!rev_known(revbuf)) return send_error(c, 404, "RevisionNotFound", "Invalid rev id");
    if (h->mode.redirect_loop) {
        const char *hdrs[] = {"Location", url, "X-Repo-Commit", FAKE_SHA_MAIN, NULL};
        return send_text(c, 302, "", hdrs);
    }
    ffile *f = find_file(r, slash + 1);
    if (!f) return send_error(c, 404, "EntryNotFound", "Entry not found");
    char loc[512], linked[80], etag[80], size[32];
    const char *commit = h->mode.file_commit ? h->mode.file_commit : FAKE_SHA_MAIN;
    if (f->lfs) {
        snprintf(loc, sizeof loc, "http://127.0.0.1:%d/blobs/%s?X-Amz-Signature=abc", h->cdn_port, f->sha256);
        snprintf(linked, sizeof linked, "\"%s\"", f->sha256);
        snprintf(etag, sizeof etag, "\"%s\"", f->sha1);
        snprintf(size, sizeof size, "%llu", h->mode.huge_size ? 1ull << 50 : (unsigned long long)f->len);
        if (h->mode.etag) snprintf(linked, sizeof linked, "\"%s\"", h->mode.etag);
        const char *hdrs[] = {"Location", loc, "X-Linked-Etag", linked, "X-Linked-Size", size, "ETag", etag,
                              "X-Repo-Commit", commit, NULL};
        return send_text(c, 302, "Found. Redirecting", hdrs);
    }
    snprintf(loc, sizeof loc, "/api/resolve-cache/models/%s/%s/%s?etag=%%22%s%%22", r->r->repo, FAKE_SHA_MAIN, f->name,
             f->sha1);
    snprintf(etag, sizeof etag, "\"%s\"", f->sha1);
    const char *hdrs[] = {"Location", loc, "ETag", etag, "X-Repo-Commit", commit, NULL};
    return send_text(c, 307, "Temporary Redirect", hdrs);
}

/* /api/resolve-cache/models/{org}/{name}/{commit}/{file} */
static enum MHD_Result resolve_cache(fake_hub *h, struct MHD_Connection *c, const char *rest) {
    const char *s1 = strchr(rest, '/'), *s2 = s1 ? strchr(s1 + 1, '/') : NULL, *s3 = s2 ? strchr(s2 + 1, '/') : NULL;
    frepo *r = s2 ? find_repo(h, rest, (size_t)(s2 - rest)) : NULL;
    bool denied;
    enum MHD_Result res = deny(c, r, token_of(c), true, &denied);
    if (denied) return res;
    ffile *f = s3 ? find_file(r, s3 + 1) : NULL;
    if (!f) return send_error(c, 404, "EntryNotFound", "Entry not found");
    char etag[80];
    snprintf(etag, sizeof etag, "%s\"%s\"", h->mode.weak_etag ? "W/" : "", h->mode.etag ? h->mode.etag : f->sha1);
    const char *hdrs[] = {"ETag", etag, "X-Repo-Commit", h->mode.file_commit ? h->mode.file_commit : FAKE_SHA_MAIN,
                          "Content-Type", "text/plain", NULL};
    struct MHD_Response *resp = MHD_create_response_from_buffer(f->len, f->data, MHD_RESPMEM_PERSISTENT);
    return send_response(c, 200, resp, hdrs);
}

static enum MHD_Result on_hub(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_size, void **state) {
    fake_hub *h = cls;
    if (!*state) {
        *state = (void *)1;
        return MHD_YES;
    }
    pthread_mutex_lock(&h->mu);
    if (token_of(c) == TOKEN_GOOD) h->c.hub_auth++;
    if (!strncmp(url, "/api/models/", 12)) h->c.api++;
    else if (!strncmp(url, "/api/resolve-cache/", 19)) h->c.resolve_cache++;
    else h->c.resolve++;
    pthread_mutex_unlock(&h->mu);
    if (!strncmp(url, "/api/models/", 12)) return api_revision(h, c, url + 12);
    if (!strncmp(url, "/api/resolve-cache/models/", 26)) return resolve_cache(h, c, url + 26);
    if (strstr(url, "/resolve/")) return resolve(h, c, url);
    return send_error(c, 404, "NotFound", "no such route");
}

/* ---- the CDN ---- */

typedef struct stream {
    fake_hub *h;
    ffile *f;
    size_t start, cut; /* first byte served; the byte at which the connection is dropped */
    bool flip, slow;
} stream;

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
    stream *s = cls;
    size_t at = s->start + (size_t)pos;
    if (at >= s->cut) return MHD_CONTENT_READER_END_WITH_ERROR;
    size_t n = s->cut - at;
    if (n > max) n = max;
    if (s->slow && n > 16384) n = 16384;
    memcpy(buf, s->f->data + at, n);
    size_t mid = s->f->len / 2;
    if (s->flip && mid >= at && mid < at + n) buf[mid - at] ^= 1;
    if (s->slow) usleep(2000);
    return (ssize_t)n;
}

static enum MHD_Result on_cdn(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_size, void **state) {
    fake_hub *h = cls;
    if (!*state) {
        *state = (void *)1;
        return MHD_YES;
    }
    const char *range = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Range");
    pthread_mutex_lock(&h->mu);
    h->c.cdn++;
    if (range) h->c.cdn_range++;
    if (MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization")) h->c.cdn_auth++;
    pthread_mutex_unlock(&h->mu);
    ffile *f = NULL;
    for (int i = 0; !f && i < h->n_repos; i++)
        for (int j = 0; j < h->repos[i].n; j++)
            if (!strncmp(url, "/blobs/", 7) && !strcmp(h->repos[i].files[j].sha256, url + 7)) f = &h->repos[i].files[j];
    if (!f) return send_text(c, 404, "NoSuchKey", NULL);
    pthread_mutex_lock(&h->mu);
    bool expired = f->expired;
    f->expired = false;
    pthread_mutex_unlock(&h->mu);
    if (expired) return send_text(c, 403, "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>", NULL);
    size_t start = 0;
    if (range && sscanf(range, "bytes=%zu-", &start) == 1 && start > f->len) start = f->len;
    stream *s = calloc(1, sizeof *s);
    *s = (stream){h, f, start, f->len, h->mode.wrong_sha, h->mode.slow};
    size_t announced = f->len - start;
    pthread_mutex_lock(&h->mu);
    if (h->mode.drop_half && !f->dropped && f->len > 2) {
        f->dropped = true;
        f->expired = h->mode.expire_after_drop;
        s->cut = f->len / 2;
    }
    pthread_mutex_unlock(&h->mu);
    if (h->mode.long_content) announced += 1000;
    struct MHD_Response *resp = MHD_create_response_from_callback(announced, 32768, stream_read, s, free);
    char cr[96];
    snprintf(cr, sizeof cr, "bytes %zu-%zu/%zu", start, f->len ? f->len - 1 : 0, f->len);
    const char *hdrs[] = {"Content-Range", cr, "Accept-Ranges", "bytes", NULL};
    const char *plain[] = {"Accept-Ranges", "bytes", NULL};
    return send_response(c, range ? 206 : 200, resp, range ? hdrs : plain);
}

static struct MHD_Daemon *listen_loopback(MHD_AccessHandlerCallback cb, void *cls, int *port) {
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0, NULL,
                                            NULL, cb, cls, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                                            MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_END);
    const union MHD_DaemonInfo *info = d ? MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT) : NULL;
    *port = info ? info->port : 0;
    return d;
}

fake_hub *fake_hub_start(const fake_repo *repos, int n, const fake_hub_mode *mode) {
    fake_hub *h = calloc(1, sizeof *h);
    if (!h || n > 16) return NULL;
    if (mode) h->mode = *mode;
    pthread_mutex_init(&h->mu, NULL);
    for (int i = 0; i < n; i++)
        if (load_repo(&h->repos[h->n_repos++], &repos[i]) != 0) {
            fake_hub_stop(h);
            return NULL;
        }
    int hub_port = 0;
    h->hub = listen_loopback(on_hub, h, &hub_port);
    h->cdn = listen_loopback(on_cdn, h, &h->cdn_port);
    if (!h->hub || !h->cdn || !hub_port || !h->cdn_port) {
        fake_hub_stop(h);
        return NULL;
    }
    snprintf(h->endpoint, sizeof h->endpoint, "http://127.0.0.1:%d", hub_port);
    return h;
}

void fake_hub_stop(fake_hub *h) {
    if (!h) return;
    if (h->hub) MHD_stop_daemon(h->hub);
    if (h->cdn) MHD_stop_daemon(h->cdn);
    for (int i = 0; i < h->n_repos; i++) {
        for (int j = 0; j < h->repos[i].n; j++) free(h->repos[i].files[j].data);
        free(h->repos[i].files);
    }
    pthread_mutex_destroy(&h->mu);
    free(h);
}

const char *fake_hub_endpoint(const fake_hub *h) { return h->endpoint; }

fake_hub_counts fake_hub_counts_get(fake_hub *h) {
    pthread_mutex_lock(&h->mu);
    fake_hub_counts c = h->c;
    pthread_mutex_unlock(&h->mu);
    return c;
}

void fake_hub_counts_reset(fake_hub *h) {
    pthread_mutex_lock(&h->mu);
    memset(&h->c, 0, sizeof h->c);
    pthread_mutex_unlock(&h->mu);
}

const char *fake_hub_sha256(const fake_hub *h, const char *repo, const char *file) {
    frepo *r = find_repo((fake_hub *)h, repo, strlen(repo));
    ffile *f = find_file(r, file);
    return f ? f->sha256 : "";
}
