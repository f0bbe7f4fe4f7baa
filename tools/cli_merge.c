/* cli_merge.c - `rerank merge`: joins the outputs of a sharded job into exactly what one unsharded process
 * writes. TREC runs of `rerank trec` (each query's lines together, queries in qid byte order): the query blocks
 * of all shards sorted by qid. Outputs of `rerank score --shard K/N` (--lines): line i comes from shard i % N,
 * so the shards, given in order 0..N-1, are interleaved. The equivalent shell: `LC_ALL=C sort -s -k1,1` on
 * the concatenated TREC shards. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_trec.h"
#include "options.h"

static int fail(const char *what, const char *detail) {
    fprintf(stderr, "rerank: error: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    return 1;
}

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            char *p = cap > ((size_t)1 << 40) ? NULL : realloc(buf, cap * 2 + 1);
            if (!p) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = p;
            cap *= 2;
        }
    }
    bool bad = ferror(f);
    fclose(f);
    if (!buf || bad) {
        free(buf);
        return NULL;
    }
    if (n && buf[n - 1] != '\n') buf[n++] = '\n'; /* room: cap + 1 */
    buf[n] = '\0';
    *len = n;
    return buf;
}

typedef struct block {
    const char *qid; /* NUL-terminated copy in `qids` storage below */
    const char *start;
    size_t len;
    size_t file;
} block;

static int block_order(const void *a, const void *b) {
    const block *x = a, *y = b;
    int c = strcmp(x->qid, y->qid);
    if (c) return c;
    return (x->file > y->file) - (x->file < y->file);
}

/* The first whitespace-delimited field of a line, as a new string. */
static char *first_field(const char *s, const char *e) {
    while (s < e && (*s == ' ' || *s == '\t')) s++;
    const char *b = s;
    while (s < e && *s != ' ' && *s != '\t' && *s != '\r') s++;
    char *c = malloc((size_t)(s - b) + 1);
    if (c) {
        memcpy(c, b, (size_t)(s - b));
        c[s - b] = '\0';
    }
    return c;
}

static int merge_runs(char **paths, size_t n_files, FILE *out) {
    char **texts = calloc(n_files, sizeof *texts);
    block *blocks = NULL;
    size_t n_blocks = 0, cap = 0;
    int rc = texts ? 0 : fail("out of memory", NULL);
    for (size_t f = 0; !rc && f < n_files; f++) {
        size_t len;
        texts[f] = slurp(paths[f], &len);
        if (!texts[f]) {
            rc = fail(paths[f], strerror(errno ? errno : EIO));
            break;
        }
        const char *p = texts[f], *end = p + len;
        while (!rc && p < end) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            char *qid = first_field(p, nl);
            if (!qid) rc = fail("out of memory", NULL);
            else if (!*qid) free(qid); /* blank line */
            else if (n_blocks && blocks[n_blocks - 1].file == f && !strcmp(blocks[n_blocks - 1].qid, qid)) {
                blocks[n_blocks - 1].len = (size_t)(nl + 1 - blocks[n_blocks - 1].start);
                free(qid);
            } else {
                if (n_blocks == cap) {
                    cap = cap ? cap * 2 : 1024;
                    block *nb = realloc(blocks, cap * sizeof *nb);
                    if (!nb) {
                        free(qid);
                        rc = fail("out of memory", NULL);
                        break;
                    }
                    blocks = nb;
                }
                blocks[n_blocks++] = (block){qid, p, (size_t)(nl + 1 - p), f};
            }
            p = nl + 1;
        }
    }
    if (!rc) qsort(blocks, n_blocks, sizeof *blocks, block_order);
    for (size_t i = 0; !rc && i < n_blocks; i++) {
        if (i && !strcmp(blocks[i - 1].qid, blocks[i].qid)) {
            char what[512];
            snprintf(what, sizeof what, "query '%s' appears in %s and in %s (or twice apart in one)", blocks[i].qid,
                     paths[blocks[i - 1].file], paths[blocks[i].file]);
            rc = fail(what, NULL);
            break;
        }
        fwrite(blocks[i].start, 1, blocks[i].len, out);
    }
    for (size_t i = 0; i < n_blocks; i++) free((char *)blocks[i].qid);
    free(blocks);
    for (size_t f = 0; texts && f < n_files; f++) free(texts[f]);
    free(texts);
    return rc;
}

static int merge_lines(char **paths, size_t n_files, FILE *out) {
    FILE **in = calloc(n_files, sizeof *in);
    int rc = in ? 0 : fail("out of memory", NULL);
    for (size_t f = 0; !rc && f < n_files; f++)
        if (!(in[f] = fopen(paths[f], "rb"))) rc = fail(paths[f], strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    for (size_t i = 0; !rc; i++) {
        size_t f = i % n_files;
        ssize_t n = getline(&line, &cap, in[f]);
        if (n < 0) {
            /* shard f is exhausted: every later shard must be too (they hold no more lines than shard f) */
            for (size_t g = 0; g < n_files; g++)
                if (getline(&line, &cap, in[g]) >= 0) {
                    rc = fail(paths[g], "has more lines than an earlier shard: not the outputs of one job in shard "
                                        "order");
                    break;
                }
            break;
        }
        fwrite(line, 1, (size_t)n, out);
        if (line[n - 1] != '\n') fputc('\n', out);
    }
    free(line);
    for (size_t f = 0; in && f < n_files; f++)
        if (in[f]) fclose(in[f]);
    free(in);
    return rc;
}

int rr_cli_merge(int argc, char **argv) {
    /* the shard outputs are positional: pass only the options (and --output's value) to the option layer */
    char **opts = calloc((size_t)argc + 1, sizeof *opts), **paths = calloc((size_t)argc + 1, sizeof *paths);
    int n_opts = 0;
    size_t n = 0;
    if (!opts || !paths) {
        free(opts), free(paths);
        return fail("out of memory", NULL);
    }
    for (int i = 0; i < argc; i++) {
        if (i == 0 || (argv[i][0] == '-' && argv[i][1])) {
            opts[n_opts++] = argv[i];
            if (!strcmp(argv[i], "--output") && i + 1 < argc) opts[n_opts++] = argv[++i];
        } else
            paths[n++] = argv[i];
    }
    rr_cli_args a;
    rr_cli_args_init(&a);
    int rc = rr_cli_parse("merge", n_opts, opts, &a);
    if (!rc && n == 0) rc = rr_cli_usage_error("merge", "no shard outputs given");
    FILE *out = NULL;
    if (!rc) {
        out = a.output ? fopen(a.output, "wb") : stdout;
        if (!out) rc = fail(a.output, strerror(errno));
    }
    if (!rc) rc = a.lines ? merge_lines(paths, n, out) : merge_runs(paths, n, out);
    if (out && (fflush(out) || ferror(out)) && !rc) rc = fail(a.output ? a.output : "standard output", "write failed");
    if (out && out != stdout) fclose(out);
    free(opts);
    free(paths);
    return rc < 0 ? 0 : rc;
}
