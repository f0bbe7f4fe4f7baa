/* hub_cache.c - huggingface_hub's cache layout on disk (hub_cache.h): refs, snapshots as relative symlinks into
 * blobs, per-blob locks, and the checks that keep a tampered cache from leading the loader outside it. */
#include "hub/hub_cache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/error.h"
#include "base/file.h"
#include "hub/hub.h"

rerank_status rr_hub_cache_init(rr_hub_cache *c, const char *cache, const char *repo, rerank_error *err) {
    /* huggingface_hub's repo_folder_name: "models--" + repo with '/' -> "--" */
    char folder[300] = "models--";
    size_t n = strlen(folder);
    for (const char *p = repo; *p && n + 3 < sizeof folder; p++) {
        if (*p == '/') {
            folder[n++] = '-';
            folder[n++] = '-';
        } else {
            folder[n++] = *p;
        }
    }
    folder[n] = '\0';
    if ((size_t)snprintf(c->repo_dir, sizeof c->repo_dir, "%s/%s", cache, folder) >= sizeof c->repo_dir ||
        (size_t)snprintf(c->locks_dir, sizeof c->locks_dir, "%s/.locks/%s", cache, folder) >= sizeof c->locks_dir)
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "%s: hub cache path too long", cache);
    return RERANK_OK;
}

/* A temporary name next to path, unique per process and thread (renamed over path once written). */
static void tmp_name(char *out, size_t cap, const char *path) {
    snprintf(out, cap, "%s.%ld.%lx.tmp", path, (long)getpid(), (unsigned long)pthread_self());
}

static bool fmt_path(char *out, size_t cap, const char *a, const char *b, const char *c) {
    return (size_t)snprintf(out, cap, "%s/%s/%s", a, b, c) < cap;
}

bool rr_hub_cache_snapshot_dir(const rr_hub_cache *c, const char *commit, char *out, size_t cap) {
    return fmt_path(out, cap, c->repo_dir, "snapshots", commit);
}

bool rr_hub_cache_blob_path(const rr_hub_cache *c, const char *etag, char *out, size_t cap) {
    return fmt_path(out, cap, c->repo_dir, "blobs", etag);
}

bool rr_hub_etag_ok(const char *etag) {
    size_t n = 0;
    for (; etag[n]; n++) {
        char ch = etag[n];
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '-' || ch == '_'))
            return false;
    }
    return n >= 1 && n <= 128;
}

/* The directory part of path (everything before the last '/'). */
static bool dir_of(const char *path, char *out, size_t cap) {
    const char *slash = strrchr(path, '/');
    if (!slash || (size_t)(slash - path) >= cap) return false;
    memcpy(out, path, (size_t)(slash - path));
    out[slash - path] = '\0';
    return true;
}

int rr_hub_cache_read_ref(const rr_hub_cache *c, const char *rev, char commit[41], rerank_error *err) {
    char path[4400];
    if (!fmt_path(path, sizeof path, c->repo_dir, "refs", rev)) return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "%s: path too long", rev), -1;
    struct stat st;
    if (lstat(path, &st) != 0) return 0;
    if (!S_ISREG(st.st_mode)) return rr_fail(err, RERANK_ERR_FORMAT, "%s: not a regular file", path), -1;
    char *text = NULL;
    size_t len;
    if (rr_file_read(path, 4096, &text, &len, err)) return -1;
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' ')) text[--len] = '\0';
    int ok = rr_hub_is_commit(text);
    if (ok) memcpy(commit, text, 41);
    else rr_fail(err, RERANK_ERR_FORMAT, "%s: does not hold a 40-hex commit", path);
    free(text);
    return ok ? 1 : -1;
}

rerank_status rr_hub_cache_write_ref(const rr_hub_cache *c, const char *rev, const char *commit, rerank_error *err) {
    char path[4400], dir[4400], tmp[4500];
    if (!fmt_path(path, sizeof path, c->repo_dir, "refs", rev) || !dir_of(path, dir, sizeof dir))
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "%s: path too long", rev);
    rerank_status st = rr_dir_make(dir, err);
    if (st) return st;
    tmp_name(tmp, sizeof tmp, path);
    FILE *f = fopen(tmp, "wb");
    if (!f) return rr_fail(err, RERANK_ERR_IO, "%s: %s", tmp, strerror(errno));
    bool ok = fputs(commit, f) >= 0; /* no trailing newline, as huggingface_hub writes it */
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return rr_fail(err, RERANK_ERR_IO, "%s: %s", path, strerror(e));
    }
    return RERANK_OK;
}

/* True when real (a canonical path) lies strictly inside the directory whose canonical path is base. */
static bool inside(const char *real, const char *base) {
    size_t n = strlen(base);
    return strncmp(real, base, n) == 0 && real[n] == '/' && real[n + 1] != '\0';
}

/* Where an existing snapshot entry may lead: a symlink into blobs/ (the blob itself, no deeper), a regular file
 * inside snapshots/. Returns 1 fine, 0 dangling, -1 (err set) when it leads elsewhere. */
static int check_entry(const rr_hub_cache *c, const char *path, const struct stat *lst, rerank_error *err) {
    char base[4400], real_base[PATH_MAX], real[PATH_MAX];
    bool link = S_ISLNK(lst->st_mode);
    if (!fmt_path(base, sizeof base, c->repo_dir, link ? "blobs" : "snapshots", "")) return -1;
    base[strlen(base) - 1] = '\0';
    if (!realpath(path, real)) {
        if (link) return 0;
        return rr_fail(err, RERANK_ERR_IO, "%s: %s", path, strerror(errno)), -1;
    }
    if (!realpath(base, real_base) || !inside(real, real_base) || (link && strchr(real + strlen(real_base) + 1, '/'))) {
        char target[1024] = "";
        ssize_t n = link ? readlink(path, target, sizeof target - 1) : -1;
        if (n > 0) target[n] = '\0';
        return rr_fail(err, RERANK_ERR_FORMAT, "%s: cache entry leads outside this repository's %s (%s); refusing to "
                       "follow it", path, link ? "blobs" : "snapshots", link ? target : real), -1;
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return rr_fail(err, RERANK_ERR_FORMAT, "%s: cache entry is not a regular file", path), -1;
    return 1;
}

int rr_hub_cache_has_file(const rr_hub_cache *c, const char *commit, const char *file, rerank_error *err) {
    char dir[4400], path[4800];
    if (!rr_hub_cache_snapshot_dir(c, commit, dir, sizeof dir) ||
        (size_t)snprintf(path, sizeof path, "%s/%s", dir, file) >= sizeof path)
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "%s: path too long", file), -1;
    struct stat lst;
    if (lstat(path, &lst) != 0) return 0;
    if (!S_ISLNK(lst.st_mode) && !S_ISREG(lst.st_mode))
        return rr_fail(err, RERANK_ERR_FORMAT, "%s: cache entry is not a file", path), -1;
    return check_entry(c, path, &lst, err);
}

rerank_status rr_hub_cache_check_snapshot(const rr_hub_cache *c, const char *commit, rerank_error *err) {
    char dir[4400], path[4800];
    if (!rr_hub_cache_snapshot_dir(c, commit, dir, sizeof dir)) return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "path too long");
    DIR *d = opendir(dir);
    if (!d) return rr_fail(err, RERANK_ERR_IO, "%s: %s", dir, strerror(errno));
    rerank_status st = RERANK_OK;
    struct dirent *e;
    while (!st && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= sizeof path) continue;
        struct stat lst;
        if (lstat(path, &lst) != 0 || S_ISDIR(lst.st_mode)) continue; /* the loader reads top-level files only */
        int r = check_entry(c, path, &lst, err);
        if (r == 0) st = rr_fail(err, RERANK_ERR_IO, "%s: dangling symlink in the hub cache", path);
        else if (r < 0) st = err ? err->status : RERANK_ERR_FORMAT;
    }
    closedir(d);
    return st;
}

rerank_status rr_hub_cache_link(const rr_hub_cache *c, const char *commit, const char *file, const char *etag,
                                rerank_error *err) {
    char dir[4400], path[4800], pdir[4800], tmp[4900], target[2200] = "";
    if (!rr_hub_cache_snapshot_dir(c, commit, dir, sizeof dir) ||
        (size_t)snprintf(path, sizeof path, "%s/%s", dir, file) >= sizeof path || !dir_of(path, pdir, sizeof pdir))
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "%s: path too long", file);
    rerank_status st = rr_dir_make(pdir, err);
    if (st) return st;
    /* relative, as os.path.relpath(blob, dirname(pointer)) gives: one "../" per directory below the repo folder */
    size_t depth = 2;
    for (const char *p = file; *p; p++) depth += *p == '/';
    for (size_t i = 0; i < depth && strlen(target) + 3 < sizeof target; i++) strcat(target, "../");
    if (strlen(target) + strlen(etag) + 7 >= sizeof target) return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "path too long");
    strcat(target, "blobs/");
    strcat(target, etag);
    tmp_name(tmp, sizeof tmp, path);
    unlink(tmp);
    if (symlink(target, tmp) != 0 || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return rr_fail(err, RERANK_ERR_IO, "%s: %s", path, strerror(e));
    }
    return RERANK_OK;
}

rerank_status rr_hub_cache_lock(const rr_hub_cache *c, const char *etag, int *fd, rerank_error *err) {
    char path[4400];
    *fd = -1;
    rerank_status st = rr_dir_make(c->locks_dir, err);
    if (st) return st;
    if ((size_t)snprintf(path, sizeof path, "%s/%s.lock", c->locks_dir, etag) >= sizeof path)
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "%s: path too long", etag);
    int f = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (f < 0) return rr_fail(err, RERANK_ERR_IO, "%s: %s", path, strerror(errno));
    while (flock(f, LOCK_EX) != 0) {
        if (errno == EINTR) continue;
        int e = errno;
        close(f);
        return rr_fail(err, RERANK_ERR_IO, "%s: cannot lock: %s", path, strerror(e));
    }
    *fd = f;
    return RERANK_OK;
}

void rr_hub_cache_unlock(int fd) {
    if (fd < 0) return;
    flock(fd, LOCK_UN);
    close(fd);
}

rerank_status rr_hub_sha256_file(const char *path, char hex[65], rerank_error *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return rr_fail(err, RERANK_ERR_IO, "%s: %s", path, strerror(errno));
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    rerank_status st = RERANK_OK;
    if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) st = rr_fail(err, RERANK_ERR_NOMEM, "sha256: cannot start");
    unsigned char buf[1 << 15];
    ssize_t n;
    while (!st && (n = read(fd, buf, sizeof buf)) != 0) {
        if (n < 0) {
            if (errno == EINTR) continue;
            st = rr_fail(err, RERANK_ERR_IO, "%s: %s", path, strerror(errno));
        } else if (EVP_DigestUpdate(ctx, buf, (size_t)n) != 1) {
            st = rr_fail(err, RERANK_ERR_INTERNAL, "sha256: update failed");
        }
    }
    unsigned char md[32];
    unsigned int mlen = 0;
    if (!st && (EVP_DigestFinal_ex(ctx, md, &mlen) != 1 || mlen != 32)) st = rr_fail(err, RERANK_ERR_INTERNAL, "sha256 failed");
    for (unsigned i = 0; !st && i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", md[i]);
    EVP_MD_CTX_free(ctx);
    close(fd);
    return st;
}
