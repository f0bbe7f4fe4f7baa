/* hub.h - models by name: `ORG/NAME[@REV]` fetched from the Hugging Face Hub into the cache huggingface_hub
 * shares (hub.c), the environment it reads (hub_env.c), and the checks on names the hub sends us.
 *
 * DESIGN: hub.c drives the protocol (revision API call, per-file metadata, download) and owns every decision
 * about what to fetch; hub_cache.c is the on-disk layout; hub_http.c is libcurl with our policies (timeouts,
 * retries, resume, bounded redirects, the token only to the endpoint's host). Everything a server sends is
 * treated as hostile: names are validated before they become paths, sizes are bounded, and content is
 * checked against its sha256. */
#ifndef RR_HUB_HUB_H
#define RR_HUB_HUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rerank.h"

/* The environment, read as huggingface_hub's constants.py reads it (empty variables count as unset). */
typedef struct rr_hub_env {
    char endpoint[1024]; /* HF_ENDPOINT, default https://huggingface.co, without a trailing '/' */
    char cache[4096];    /* HF_HUB_CACHE > HUGGINGFACE_HUB_CACHE > HF_HOME/hub > XDG_CACHE_HOME/huggingface/hub
                            > ~/.cache/huggingface/hub */
    char token[1024];    /* HF_TOKEN > HUGGING_FACE_HUB_TOKEN > the file HF_TOKEN_PATH (default HF_HOME/token);
                            "" = anonymous */
    bool offline;        /* HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) is 1/ON/YES/TRUE: no network at all */
    long etag_timeout_s;    /* HF_HUB_ETAG_TIMEOUT (default 10): metadata requests */
    long download_timeout_s; /* HF_HUB_DOWNLOAD_TIMEOUT (default 10): connect / stall limit of downloads */
} rr_hub_env;

rerank_status rr_hub_env_read(rr_hub_env *env, rerank_error *err);

/* A parsed `ORG/NAME[@REV]`. */
typedef struct rr_hub_id {
    char repo[128]; /* "ORG/NAME" */
    char rev[256];  /* "main" when absent; a branch, tag, refs/pr/N or a 40-hex commit */
} rr_hub_id;

/* True when text is a well-formed hub id (huggingface_hub's repo id rules: [A-Za-z0-9._-], no "--" or "..",
 * at most 96 characters per part; a revision that is a safe relative path). */
bool rr_hub_parse_id(const char *text, rr_hub_id *id);

/* True for a 40-hex-digit commit hash. */
bool rr_hub_is_commit(const char *rev);

/* True when the first len bytes of name are safe as a path relative to a directory: not empty, not absolute,
 * no "", "." or ".." component, no backslash, NUL or control character, at most 1024 bytes. *why (may be
 * NULL) says what is wrong. */
bool rr_hub_safe_relpath(const char *name, size_t len, const char **why);

/* One file of a revision, as the revision API describes it. */
typedef struct rr_hub_file {
    char name[1025];
    int64_t size;    /* -1 unknown */
    char sha256[65]; /* lfs.sha256; "" for a file stored in git */
} rr_hub_file;

/* What GET /api/models/{repo}/revision/{rev}?blobs=true answered: the commit and the files a reranker reads. */
typedef struct rr_hub_listing {
    char commit[41];
    rr_hub_file *files;
    size_t n_files;
    char names[400]; /* the first names of all the repository's files, for messages */
} rr_hub_listing;

/* Parses the revision API's answer (untrusted): a 40-hex "sha", "siblings" of at most 100000 entries whose every
 * "rfilename" is a safe relative path (else the whole answer is refused, naming the entry), and at least one
 * *.safetensors (else RERANK_ERR_UNSUPPORTED listing the files). Free with rr_hub_listing_free. */
rerank_status rr_hub_parse_revision(const char *repo, const char *rev, const char *body, size_t len,
                                    rr_hub_listing *out, rerank_error *err);
void rr_hub_listing_free(rr_hub_listing *l);

/* What downloads report, and to whom (both may be NULL). */
typedef struct rr_hub_opts {
    rerank_progress_fn progress;
    void *progress_user;
} rr_hub_opts;

/* The snapshot directory of hub id `id` (downloading what is missing, or from the cache only when offline),
 * written into out. */
rerank_status rr_hub_fetch(const char *id, const rr_hub_opts *opts, char *out, size_t cap, rerank_error *err);

/* What every command's --model goes through: an existing local path is returned as it is (a local path always
 * wins); else a hub id is fetched and its snapshot directory returned; else `spec` is returned unchanged so
 * that the caller reports the missing directory as before. */
rerank_status rr_hub_resolve_model(const char *spec, const rr_hub_opts *opts, char *out, size_t cap,
                                   rerank_error *err);

#endif
