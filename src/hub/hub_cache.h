/* hub_cache.h - huggingface_hub's cache layout, shared in both directions:
 *
 *   <cache>/models--ORG--NAME/blobs/<etag>                  file contents, named by the hub's ETag
 *   <cache>/models--ORG--NAME/blobs/<etag>.incomplete       while downloading (resumed with Range)
 *   <cache>/models--ORG--NAME/snapshots/<commit>/<path>     relative symlink -> ../../blobs/<etag>
 *   <cache>/models--ORG--NAME/refs/<revision>               the commit (40 hex, no newline); branches/tags only
 *   <cache>/.locks/models--ORG--NAME/<etag>.lock            flock() while a blob is written (filelock's lock)
 */
#ifndef RR_HUB_CACHE_H
#define RR_HUB_CACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "rerank.h"

typedef struct rr_hub_cache {
    char repo_dir[4096];  /* <cache>/models--ORG--NAME */
    char locks_dir[4096]; /* <cache>/.locks/models--ORG--NAME */
} rr_hub_cache;

/* Paths of repo "ORG/NAME" under `cache` (creates nothing). */
rerank_status rr_hub_cache_init(rr_hub_cache *c, const char *cache, const char *repo, rerank_error *err);

/* The commit refs/<rev> names: 1 found (commit filled), 0 absent; a malformed ref is an error. */
int rr_hub_cache_read_ref(const rr_hub_cache *c, const char *rev, char commit[41], rerank_error *err);
/* Writes refs/<rev> = commit atomically (temp file + rename), with no trailing newline. */
rerank_status rr_hub_cache_write_ref(const rr_hub_cache *c, const char *rev, const char *commit, rerank_error *err);

/* <repo_dir>/snapshots/<commit>, and <repo_dir>/blobs/<etag>. */
bool rr_hub_cache_snapshot_dir(const rr_hub_cache *c, const char *commit, char *out, size_t cap);
bool rr_hub_cache_blob_path(const rr_hub_cache *c, const char *etag, char *out, size_t cap);

/* Whether snapshots/<commit>/<file> is present: 1 a symlink into this repo's blobs/ whose blob exists (or a
 * regular file, as huggingface_hub writes where symlinks are not available), 0 absent or dangling; a symlink that
 * leads anywhere else is an error (it is never followed). */
int rr_hub_cache_has_file(const rr_hub_cache *c, const char *commit, const char *file, rerank_error *err);

/* Checks every top-level entry of a snapshot directory before the loader opens it: each symlink must lead into
 * this repository's blobs/ (nothing else in the cache, nothing outside it). */
rerank_status rr_hub_cache_check_snapshot(const rr_hub_cache *c, const char *commit, rerank_error *err);

/* Points snapshots/<commit>/<file> at blobs/<etag> with a relative symlink (created under a temporary name,
 * then renamed over any stale entry). */
rerank_status rr_hub_cache_link(const rr_hub_cache *c, const char *commit, const char *file, const char *etag,
                                rerank_error *err);

/* Exclusive flock on .locks/.../<etag>.lock, blocking; *fd is released by rr_hub_cache_unlock. */
rerank_status rr_hub_cache_lock(const rr_hub_cache *c, const char *etag, int *fd, rerank_error *err);
void rr_hub_cache_unlock(int fd);

/* sha256 of a file as 64 lowercase hex digits. */
rerank_status rr_hub_sha256_file(const char *path, char hex[65], rerank_error *err);

/* True when an ETag (already normalised: no W/ and quotes) is safe as a file name: 1..128 of [A-Za-z0-9_-]. */
bool rr_hub_etag_ok(const char *etag);

#endif
