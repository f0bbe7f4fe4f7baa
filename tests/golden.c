/* golden.c - test utilities: golden JSONL files and running the CLI. */
#include "golden.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

json_t *golden_load(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    json_t *rows = json_array();
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) > 0) {
        json_t *row = json_loadb(line, (size_t)n, 0, NULL);
        if (row) json_array_append_new(rows, row);
    }
    free(line);
    fclose(f);
    return rows;
}

int32_t *golden_ints(const json_t *row, const char *key, size_t *n) {
    const json_t *a = json_object_get(row, key);
    *n = json_array_size(a);
    int32_t *v = malloc((*n ? *n : 1) * sizeof *v);
    for (size_t i = 0; i < *n; i++) v[i] = (int32_t)json_integer_value(json_array_get(a, i));
    return v;
}

double golden_first(const json_t *row, const char *key) {
    const json_t *a = json_object_get(row, key);
    if (json_is_number(a)) return json_number_value(a);
    const json_t *x = json_array_get(a, 0);
    return x ? json_number_value(x) : NAN;
}

static char *slurp(FILE *f) {
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n < 2) buf = realloc(buf, cap *= 2);
    }
    buf[n] = '\0';
    return buf;
}

int run_command(const char *cmd, const char *input, char **out, char **errout) {
    char in_path[] = "/tmp/rerank_test_inXXXXXX", err_path[] = "/tmp/rerank_test_errXXXXXX";
    int in_fd = mkstemp(in_path), err_fd = mkstemp(err_path);
    if (in_fd < 0 || err_fd < 0) return -1;
    if (input && write(in_fd, input, strlen(input)) < 0) return -1;
    close(in_fd);
    close(err_fd);
    size_t len = strlen(cmd) + 2 * sizeof in_path + 32;
    char *full = malloc(len);
    snprintf(full, len, "%s <%s 2>%s", cmd, in_path, err_path);
    FILE *p = popen(full, "r");
    free(full);
    if (!p) return -1;
    *out = slurp(p);
    int status = pclose(p);
    FILE *e = fopen(err_path, "rb");
    *errout = e ? slurp(e) : calloc(1, 1);
    if (e) fclose(e);
    unlink(in_path);
    unlink(err_path);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
