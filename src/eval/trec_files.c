/* trec_files.c - reading qrels and run files as trec_eval reads them: whitespace-separated fields (CR counts
 * as whitespace, so CRLF files work), blank and '#' lines skipped, qids and docnos kept as strings (`07` and
 * `7` differ), queries sorted by qid in byte order. See trec_eval.h. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/file.h"
#include "eval/trec_eval.h"

#define MAX_FILE_BYTES ((size_t)1 << 40)
#define MAX_FIELDS 6
#define MAX_REL 1000000

static bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

/* Splits the line [p, end) in place into at most max fields (NUL-terminating each one it returns);
 * returns the number of fields, counting those beyond max (not terminated). */
static size_t split_fields(char *p, char *end, char **fields, size_t max) {
    size_t n = 0;
    while (p < end) {
        while (p < end && is_blank(*p)) p++;
        if (p >= end) break;
        char *start = p;
        while (p < end && !is_blank(*p)) p++;
        if (n < max) {
            fields[n] = start;
            *p = '\0'; /* p < end or p == end (the '\n' or the final NUL) */
        }
        n++;
        p++;
    }
    return n;
}

/* Calls each content line with its fields; stops at the first error. */
typedef rerank_status (*line_fn)(void *ctx, char **fields, size_t n_fields, size_t line_no, rerank_error *err);

static rerank_status for_each_line(char *text, size_t len, size_t max_fields, line_fn fn, void *ctx,
                                   rerank_error *err) {
    char *p = text, *end = text + len;
    size_t line_no = 0;
    while (p < end) {
        line_no++;
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *line_end = nl ? nl : end;
        char *q = p;
        while (q < line_end && is_blank(*q)) q++;
        if (q < line_end && *q != '#') {
            char *fields[MAX_FIELDS];
            size_t n = split_fields(q, line_end, fields, max_fields);
            rerank_status st = fn(ctx, fields, n, line_no, err);
            if (st) return st;
        }
        p = line_end + 1;
    }
    return RERANK_OK;
}

/* ---- qrels ---- */

typedef struct qrel_line {
    const char *qid;
    rr_qrel q;
} qrel_line;

static rerank_status grow(void **p, size_t *cap, size_t n, size_t elem) {
    if (n < *cap) return RERANK_OK;
    size_t nc = *cap ? *cap * 2 : 1024;
    if (nc > SIZE_MAX / elem) return RERANK_ERR_NOMEM;
    void *q = realloc(*p, nc * elem);
    if (!q) return RERANK_ERR_NOMEM;
    *p = q;
    *cap = nc;
    return RERANK_OK;
}

typedef struct line_vec {
    const char *path;
    bool beir; /* BEIR qrels TSV: `query-id corpus-id score` after a header line */
    qrel_line *items; /* qrels: qid + (docno, rel) */
    size_t n, cap;
} line_vec;

static rerank_status on_qrels_line(void *ctx, char **f, size_t n, size_t line_no, rerank_error *err) {
    line_vec *v = ctx;
    size_t want = v->beir ? 3 : 4;
    if (v->beir && v->n == 0 && n == 3 && !strcmp(f[0], "query-id")) return RERANK_OK; /* the header */
    if (n != want)
        return rr_fail(err, RERANK_ERR_FORMAT, "%s:%zu: a qrels line has %zu fields (%s), this one %zu", v->path,
                       line_no, want, v->beir ? "query-id corpus-id score" : "qid iter docno rel", n);
    const char *docno = f[want - 2], *rel_text = f[want - 1];
    char *e;
    errno = 0;
    long rel = strtol(rel_text, &e, 10);
    if (e == rel_text || *e || errno)
        return rr_fail(err, RERANK_ERR_FORMAT, "%s:%zu: field rel: '%s' is not an integer", v->path, line_no, rel_text);
    if (rel > MAX_REL) /* a gain, and the size of a per-level count table */
        return rr_fail(err, RERANK_ERR_FORMAT, "%s:%zu: field rel: %ld is above %d", v->path, line_no, rel, MAX_REL);
    if (grow((void **)&v->items, &v->cap, v->n, sizeof *v->items))
        return rr_fail(err, RERANK_ERR_NOMEM, "%s: out of memory", v->path);
    v->items[v->n++] = (qrel_line){f[0], {docno, rel}};
    return RERANK_OK;
}

static int qrel_line_compare(const void *a, const void *b) {
    const qrel_line *x = a, *y = b;
    int c = strcmp(x->qid, y->qid);
    return c ? c : strcmp(x->q.docno, y->q.docno);
}

rerank_status rr_qrels_parse(char *text, size_t len, const char *path, bool beir, rr_qrels *out, rerank_error *err) {
    memset(out, 0, sizeof *out);
    out->text = text;
    rerank_status st = RERANK_OK;
    if (memchr(text, '\0', len)) st = rr_fail(err, RERANK_ERR_FORMAT, "%s: contains a NUL byte", path);
    line_vec v = {.path = path, .beir = beir};
    if (!st) st = for_each_line(out->text, len, 4, on_qrels_line, &v, err);
    if (!st && v.n == 0) st = rr_fail(err, RERANK_ERR_FORMAT, "%s: no judgements", path);
    if (!st) {
        qsort(v.items, v.n, sizeof *v.items, qrel_line_compare);
        size_t n_q = 1;
        for (size_t i = 1; i < v.n; i++) n_q += strcmp(v.items[i - 1].qid, v.items[i].qid) != 0;
        out->pool = malloc(v.n * sizeof *out->pool);
        out->queries = calloc(n_q, sizeof *out->queries);
        if (!out->pool || !out->queries) st = rr_fail(err, RERANK_ERR_NOMEM, "%s: out of memory", path);
        for (size_t i = 0, q = 0; !st && i < v.n; i++) {
            if (i > 0 && strcmp(v.items[i - 1].qid, v.items[i].qid)) q++;
            if (!out->queries[q].qid) out->queries[q] = (rr_qrels_query){v.items[i].qid, out->pool + i, 0};
            out->pool[i] = v.items[i].q;
            out->queries[q].n_judged++;
        }
        out->n_queries = n_q;
    }
    free(v.items);
    if (st) rr_qrels_free(out);
    return st;
}

static rerank_status read_qrels(const char *path, bool beir, rr_qrels *out, rerank_error *err) {
    memset(out, 0, sizeof *out);
    char *text;
    size_t len;
    rerank_status st = rr_file_read(path, MAX_FILE_BYTES, &text, &len, err);
    return st ? st : rr_qrels_parse(text, len, path, beir, out, err);
}

rerank_status rr_qrels_read(const char *path, rr_qrels *out, rerank_error *err) {
    return read_qrels(path, false, out, err);
}

rerank_status rr_qrels_read_beir(const char *path, rr_qrels *out, rerank_error *err) {
    return read_qrels(path, true, out, err);
}

void rr_qrels_free(rr_qrels *q) {
    if (!q) return;
    free(q->text);
    free(q->pool);
    free(q->queries);
    memset(q, 0, sizeof *q);
}

static int qrels_query_by_qid(const void *key, const void *elem) {
    return strcmp(key, ((const rr_qrels_query *)elem)->qid);
}

const rr_qrels_query *rr_qrels_find(const rr_qrels *q, const char *qid) {
    return q->n_queries ? bsearch(qid, q->queries, q->n_queries, sizeof *q->queries, qrels_query_by_qid) : NULL;
}

/* ---- run ---- */

typedef struct run_line {
    const char *qid;
    rr_run_doc d;
} run_line;

typedef struct run_vec {
    const char *path;
    run_line *items;
    size_t n, cap;
} run_vec;

static rerank_status on_run_line(void *ctx, char **f, size_t n, size_t line_no, rerank_error *err) {
    run_vec *v = ctx;
    if (n < 6)
        return rr_fail(err, RERANK_ERR_FORMAT,
                       "%s:%zu: a run line has 6 fields (qid Q0 docno rank score tag), this one %zu", v->path,
                       line_no, n);
    char *e;
    double score = strtod(f[4], &e);
    if (e == f[4] || *e || !isfinite(score))
        return rr_fail(err, RERANK_ERR_FORMAT, "%s:%zu: field score: '%s' is not a finite number", v->path, line_no,
                       f[4]);
    if (grow((void **)&v->items, &v->cap, v->n, sizeof *v->items))
        return rr_fail(err, RERANK_ERR_NOMEM, "%s: out of memory", v->path);
    v->items[v->n++] = (run_line){f[0], {f[2], score}};
    return RERANK_OK;
}

int rr_run_doc_compare(const void *a, const void *b) {
    const rr_run_doc *x = a, *y = b;
    if (x->score > y->score) return -1;
    if (x->score < y->score) return 1;
    return strcmp(y->docno, x->docno);
}

static int run_line_compare(const void *a, const void *b) {
    const run_line *x = a, *y = b;
    int c = strcmp(x->qid, y->qid);
    return c ? c : rr_run_doc_compare(&x->d, &y->d);
}

rerank_status rr_run_read(const char *path, rr_run *out, rerank_error *err) {
    memset(out, 0, sizeof *out);
    char *text;
    size_t len;
    rerank_status st = rr_file_read(path, MAX_FILE_BYTES, &text, &len, err);
    return st ? st : rr_run_parse(text, len, path, out, err);
}

rerank_status rr_run_parse(char *text, size_t len, const char *path, rr_run *out, rerank_error *err) {
    memset(out, 0, sizeof *out);
    out->text = text;
    rerank_status st = RERANK_OK;
    if (memchr(text, '\0', len)) st = rr_fail(err, RERANK_ERR_FORMAT, "%s: contains a NUL byte", path);
    run_vec v = {.path = path};
    if (!st) st = for_each_line(out->text, len, 6, on_run_line, &v, err);
    if (!st && v.n == 0) st = rr_fail(err, RERANK_ERR_FORMAT, "%s: no results", path);
    if (!st) {
        qsort(v.items, v.n, sizeof *v.items, run_line_compare);
        size_t n_q = 1;
        for (size_t i = 1; i < v.n; i++) n_q += strcmp(v.items[i - 1].qid, v.items[i].qid) != 0;
        out->pool = malloc(v.n * sizeof *out->pool);
        out->queries = calloc(n_q, sizeof *out->queries);
        if (!out->pool || !out->queries) st = rr_fail(err, RERANK_ERR_NOMEM, "%s: out of memory", path);
        for (size_t i = 0, q = 0; !st && i < v.n; i++) {
            if (i > 0 && strcmp(v.items[i - 1].qid, v.items[i].qid)) q++;
            if (!out->queries[q].qid) out->queries[q] = (rr_run_query){v.items[i].qid, out->pool + i, 0};
            out->pool[i] = v.items[i].d;
            out->queries[q].n_docs++;
        }
        out->n_queries = n_q;
    }
    free(v.items);
    if (st) rr_run_free(out);
    return st;
}

void rr_run_free(rr_run *r) {
    if (!r) return;
    free(r->text);
    free(r->pool);
    free(r->queries);
    memset(r, 0, sizeof *r);
}

static int run_query_by_qid(const void *key, const void *elem) {
    return strcmp(key, ((const rr_run_query *)elem)->qid);
}

const rr_run_query *rr_run_find(const rr_run *r, const char *qid) {
    return r->n_queries ? bsearch(qid, r->queries, r->n_queries, sizeof *r->queries, run_query_by_qid) : NULL;
}
