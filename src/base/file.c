/* file.c - whole-file reads and read-only memory maps. */
#include "base/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/error.h"

static rerank_status open_regular(const char *path, int *fd_out, size_t *size_out, rerank_error *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return rr_fail(err, RERANK_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return rr_fail(err, RERANK_ERR_IO, "%s: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return rr_fail(err, RERANK_ERR_IO, "%s: not a regular file", path);
    }
    *fd_out = fd;
    *size_out = (size_t)st.st_size;
    return RERANK_OK;
}

rerank_status rr_file_map(const char *path, rr_mapped_file *out, rerank_error *err) {
    out->data = NULL;
    out->size = 0;
    int fd;
    size_t size;
    rerank_status st = open_regular(path, &fd, &size, err);
    if (st) return st;
    if (size > 0) {
        void *p = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            close(fd);
            return rr_fail(err, RERANK_ERR_IO, "%s: mmap failed: %s", path, strerror(e));
        }
        out->data = p;
        out->size = size;
    }
    close(fd);
    return RERANK_OK;
}

void rr_file_unmap(rr_mapped_file *f) {
    if (f && f->data) munmap((void *)f->data, f->size);
    if (f) {
        f->data = NULL;
        f->size = 0;
    }
}

rerank_status rr_file_read(const char *path, size_t max_bytes, char **out, size_t *len, rerank_error *err) {
    *out = NULL;
    if (len) *len = 0;
    int fd;
    size_t size;
    rerank_status st = open_regular(path, &fd, &size, err);
    if (st) return st;
    if (size > max_bytes) {
        close(fd);
        return rr_fail(err, RERANK_ERR_FORMAT, "%s: file is %zu bytes, more than the %zu allowed", path, size,
                       max_bytes);
    }
    char *buf = malloc(size + 1);
    if (!buf) {
        close(fd);
        return rr_fail(err, RERANK_ERR_NOMEM, "%s: cannot allocate %zu bytes", path, size + 1);
    }
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, buf + got, size - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            int e = errno;
            free(buf);
            close(fd);
            return rr_fail(err, RERANK_ERR_IO, "%s: read failed: %s", path, n == 0 ? "unexpected end of file" : strerror(e));
        }
        got += (size_t)n;
    }
    close(fd);
    buf[size] = '\0';
    *out = buf;
    if (len) *len = size;
    return RERANK_OK;
}

int rr_file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int rr_path_join(char *buf, size_t size, const char *dir, const char *name) {
    int n = snprintf(buf, size, "%s/%s", dir, name);
    return n > 0 && (size_t)n < size;
}

rerank_status rr_dir_make(const char *dir, rerank_error *err) {
    char buf[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof buf) return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "bad directory name '%s'", dir);
    memcpy(buf, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0') continue;
        char c = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) return rr_fail(err, RERANK_ERR_IO, "%s: %s", buf, strerror(errno));
        buf[i] = c;
    }
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) return rr_fail(err, RERANK_ERR_IO, "%s: not a directory", dir);
    return RERANK_OK;
}

rerank_status rr_file_copy(const char *src, const char *dst, rerank_error *err) {
    FILE *in = fopen(src, "rb"), *out = in ? fopen(dst, "wb") : NULL;
    rerank_status st = RERANK_OK;
    if (!in || !out) st = rr_fail(err, RERANK_ERR_IO, "%s: %s", in ? dst : src, strerror(errno));
    char buf[1 << 16];
    size_t n;
    while (!st && (n = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, n, out) != n) st = rr_fail(err, RERANK_ERR_IO, "%s: write failed", dst);
    if (!st && ferror(in)) st = rr_fail(err, RERANK_ERR_IO, "%s: read failed", src);
    if (in) fclose(in);
    if (out && fclose(out) != 0 && !st) st = rr_fail(err, RERANK_ERR_IO, "%s: write failed", dst);
    return st;
}
