/* collection.c - run index, query texts and corpus of `rerank trec`; see collection.h. Files are memory-mapped
 * and scanned line by line; only the run's line offsets, the query texts and the wanted docids' line spans are
 * kept, so a corpus of millions of passages costs its page cache, not the heap. */
#include "eval/collection.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"

static bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

/* A line [start, end) of a mapping; `end` excludes the '\n'. Returns false at the end of the file. */
typedef struct line_cursor {
    const char *data, *end, *next;
    size_t line_no;
} line_cursor;

static bool next_line(line_cursor *c, const char **start, const char **end) {
    if (!c->next || c->next >= c->end) return false;
    const char *nl = memchr(c->next, '\n', (size_t)(c->end - c->next));
    *start = c->next;
    *end = nl ? nl : c->end;
    c->next = nl ? nl + 1 : c->end;
    c->line_no++;
    return true;
}

static bool blank_line(const char *s, const char *e) {
    while (s < e && is_blank(*s)) s++;
    return s == e;
}

/* Splits up to max whitespace-separated fields of [s, e) into (ptr, len); returns the number of fields. */
static size_t fields_of(const char *s, const char *e, const char **f, size_t *len, size_t max) {
    size_t n = 0;
    while (s < e) {
        while (s < e && is_blank(*s)) s++;
        if (s >= e) break;
        const char *b = s;
        while (s < e && !is_blank(*s)) s++;
        if (n < max) {
            f[n] = b;
            len[n] = (size_t)(s - b);
        }
        n++;
    }
    return n;
}

static char *copy_n(const char *s, size_t n) {
    char *c = malloc(n + 1);
    if (c) {
        memcpy(c, s, n);
        c[n] = '\0';
    }
    return c;
}

static bool parse_score(const char *s, size_t n, double *out) {
    char buf[64];
    if (n == 0 || n >= sizeof buf) return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    char *e;
    *out = strtod(buf, &e);
    return *e == '\0' && isfinite(*out);
}

/* ---- run index ---- */

typedef struct qid_index {
    const char *qid;
    size_t index;
} qid_index;

static int qid_index_compare(const void *a, const void *b) {
    return strcmp(((const qid_index *)a)->qid, ((const qid_index *)b)->qid);
}

rerank_status rr_run_index_open(const char *path, rr_run_index *out, rerank_error *err) {
    memset(out, 0, sizeof *out);
    out->path = copy_n(path, strlen(path));
    if (!out->path) return rr_fail(err, RERANK_ERR_NOMEM, "out of memory");
    rerank_status st = rr_file_map(path, &out->file, err);
    if (st) {
        rr_run_index_close(out);
        return st;
    }
    size_t *counts = NULL, n_counts = 0, n_lines = 0;
    line_cursor c = {(const char *)out->file.data, (const char *)out->file.data + out->file.size,
                     (const char *)out->file.data, 0};
    const char *s, *e;
    /* pass 1: check every line, number the queries, count their lines */
    while (!st && next_line(&c, &s, &e)) {
        if (blank_line(s, e)) continue;
        const char *f[6];
        size_t len[6];
        size_t n = fields_of(s, e, f, len, 6);
        if (f[0][0] == '#') continue;
        double score;
        if (n < 6)
            st = rr_fail(err, RERANK_ERR_FORMAT, "%s:%zu: a run line has 6 fields (qid Q0 docid rank score tag), this one %zu",
                         path, c.line_no, n);
        else if (!parse_score(f[4], len[4], &score))
            st = rr_fail(err, RERANK_ERR_FORMAT, "%s:%zu: field score: '%.*s' is not a finite number", path, c.line_no,
                         (int)(len[4] > 40 ? 40 : len[4]), f[4]);
        if (st) break;
        size_t q;
        int added;
        if (rr_strmap_put(&out->qid_map, f[0], len[0], 0, &q, &added)) st = RERANK_ERR_NOMEM;
        if (!st && q >= n_counts) {
            size_t nc = n_counts ? n_counts * 2 : 256;
            size_t *p = realloc(counts, nc * sizeof *p);
            if (!p) st = RERANK_ERR_NOMEM;
            else {
                memset(p + n_counts, 0, (nc - n_counts) * sizeof *p);
                counts = p;
                n_counts = nc;
            }
        }
        if (st) st = rr_fail(err, st, "%s: out of memory", path);
        else {
            counts[q]++;
            n_lines++;
        }
    }
    size_t nq = out->qid_map.n;
    if (!st && nq == 0) st = rr_fail(err, RERANK_ERR_FORMAT, "%s: no results", path);
    if (!st) {
        out->n_queries = nq;
        out->qids = calloc(nq, sizeof *out->qids);
        out->sorted = malloc(nq * sizeof *out->sorted);
        out->first = calloc(nq + 1, sizeof *out->first);
        out->line_starts = malloc(n_lines * sizeof *out->line_starts);
        if (!out->qids || !out->sorted || !out->first || !out->line_starts)
            st = rr_fail(err, RERANK_ERR_NOMEM, "%s: out of memory", path);
    }
    for (size_t q = 0; !st && q < nq; q++) {
        out->qids[q] = copy_n(out->qid_map.entries[q].key, out->qid_map.entries[q].len);
        if (!out->qids[q]) st = rr_fail(err, RERANK_ERR_NOMEM, "%s: out of memory", path);
        out->first[q + 1] = out->first[q] + counts[q];
        counts[q] = out->first[q]; /* now the fill position */
        out->sorted[q] = q;
    }
    /* pass 2: the line offsets, grouped by query */
    c.next = (const char *)out->file.data;
    while (!st && next_line(&c, &s, &e)) {
        if (blank_line(s, e)) continue;
        const char *f[1];
        size_t len[1];
        fields_of(s, e, f, len, 1);
        if (f[0][0] == '#') continue;
        const rr_strmap_entry *qe = rr_strmap_get(&out->qid_map, f[0], len[0]);
        out->line_starts[counts[qe - out->qid_map.entries]++] = (uint64_t)(s - (const char *)out->file.data);
    }
    free(counts);
    qid_index *tmp = st ? NULL : malloc(nq * sizeof *tmp);
    if (!st && !tmp) st = rr_fail(err, RERANK_ERR_NOMEM, "%s: out of memory", path);
    if (!st) {
        for (size_t i = 0; i < nq; i++) tmp[i] = (qid_index){out->qids[i], i};
        qsort(tmp, nq, sizeof *tmp, qid_index_compare);
        for (size_t i = 0; i < nq; i++) out->sorted[i] = tmp[i].index;
    }
    free(tmp);
    if (st) rr_run_index_close(out);
    return st;
}

void rr_run_index_close(rr_run_index *ix) {
    if (!ix) return;
    if (ix->qids)
        for (size_t i = 0; i < ix->n_queries; i++) free(ix->qids[i]);
    free(ix->qids);
    free(ix->sorted);
    free(ix->first);
    free(ix->line_starts);
    rr_strmap_free(&ix->qid_map);
    rr_file_unmap(&ix->file);
    free(ix->path);
    memset(ix, 0, sizeof *ix);
}

static int docno_compare(const void *a, const void *b) {
    return strcmp(((const rr_run_doc *)a)->docno, ((const rr_run_doc *)b)->docno);
}

rerank_status rr_run_index_query(const rr_run_index *ix, size_t q, size_t top_k, rr_candidates *out,
                                 rerank_error *err) {
    memset(out, 0, sizeof *out);
    size_t n = ix->first[q + 1] - ix->first[q], bytes = 0;
    const char *base = (const char *)ix->file.data, *end = base + ix->file.size;
    for (size_t i = 0; i < n; i++) {
        const char *s = base + ix->line_starts[ix->first[q] + i];
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        const char *f[6];
        size_t len[6];
        fields_of(s, nl ? nl : end, f, len, 6);
        bytes += len[2] + 1;
    }
    out->strings = malloc(bytes ? bytes : 1);
    rr_run_doc *docs = malloc((n ? n : 1) * sizeof *docs);
    if (!out->strings || !docs) {
        free(docs);
        rr_candidates_free(out);
        return rr_fail(err, RERANK_ERR_NOMEM, "%s: out of memory", ix->path);
    }
    char *w = out->strings;
    for (size_t i = 0; i < n; i++) {
        const char *s = base + ix->line_starts[ix->first[q] + i];
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        const char *f[6];
        size_t len[6];
        fields_of(s, nl ? nl : end, f, len, 6);
        memcpy(w, f[2], len[2]);
        w[len[2]] = '\0';
        docs[i].docno = w;
        parse_score(f[4], len[4], &docs[i].score); /* checked when indexed */
        w += len[2] + 1;
    }
    qsort(docs, n, sizeof *docs, docno_compare);
    for (size_t i = 1; i < n; i++)
        if (!strcmp(docs[i - 1].docno, docs[i].docno)) {
            rerank_status st = rr_fail(err, RERANK_ERR_FORMAT, "%s: query '%s' lists docid '%s' twice", ix->path,
                                       ix->qids[q], docs[i].docno);
            free(docs);
            rr_candidates_free(out);
            return st;
        }
    qsort(docs, n, sizeof *docs, rr_run_doc_compare);
    out->query = (rr_run_query){ix->qids[q], docs, top_k && top_k < n ? top_k : n};
    return RERANK_OK;
}

void rr_candidates_free(rr_candidates *c) {
    if (!c) return;
    free(c->query.docs);
    free(c->strings);
    memset(c, 0, sizeof *c);
}

/* ---- JSON Lines or TSV texts ---- */

static bool starts_jsonl(const char *s, const char *e) {
    while (s < e && (is_blank(*s) || *s == '\n')) s++;
    return s < e && *s == '{';
}

/* The id of a JSON object's "_id" (a string, or an integer printed in decimal) into buf. */
static bool json_id(const json_t *obj, char *buf, size_t size, const char **id, size_t *len) {
    const json_t *v = json_object_get(obj, "_id");
    if (json_is_string(v)) {
        *id = json_string_value(v);
        *len = json_string_length(v);
        return true;
    }
    if (json_is_integer(v)) {
        *len = (size_t)snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        *id = buf;
        return true;
    }
    return false;
}

/* A TSV line `id<TAB>text` (a CR before the '\n' dropped). */
static bool tsv_split(const char *s, const char *e, const char **id, size_t *id_len, const char **text,
                      size_t *text_len) {
    if (e > s && e[-1] == '\r') e--;
    const char *tab = memchr(s, '\t', (size_t)(e - s));
    if (!tab || tab == s) return false;
    *id = s;
    *id_len = (size_t)(tab - s);
    *text = tab + 1;
    *text_len = (size_t)(e - tab - 1);
    return true;
}

static rerank_status arena_add(rr_bytes *a, const char *s, size_t n) {
    if (rr_bytes_append(a, s, n)) return RERANK_ERR_NOMEM;
    return rr_bytes_append(a, "", 1);
}

rerank_status rr_queries_read(const char *path, rr_queries *out, rerank_error *err) {
    memset(out, 0, sizeof *out);
    rr_mapped_file f;
    rerank_status st = rr_file_map(path, &f, err);
    if (st) return st;
    const char *data = (const char *)f.data;
    line_cursor c = {data, data + f.size, data, 0};
    bool jsonl = starts_jsonl(data, data + f.size);
    rr_bytes arena = {0};
    size_t n_records = 0;
    const char *s, *e;
    while (!st && next_line(&c, &s, &e)) {
        if (blank_line(s, e)) continue;
        const char *id, *text;
        size_t id_len, text_len;
        char num[32];
        json_t *obj = NULL;
        if (jsonl) {
            json_error_t jerr;
            obj = json_loadb(s, (size_t)(e - s), 0, &jerr);
            if (!json_is_object(obj))
                st = rr_fail(err, RERANK_ERR_FORMAT, "%s:%zu: not a JSON object (%s)", path, c.line_no,
                             obj ? "other JSON" : jerr.text);
            else if (!json_id(obj, num, sizeof num, &id, &id_len))
                st = rr_fail(err, RERANK_ERR_FORMAT, "%s:%zu: field _id: missing or not a string", path, c.line_no);
            else if (!json_is_string(json_object_get(obj, "text")))
                st = rr_fail(err, RERANK_ERR_FORMAT, "%s:%zu: field text: missing or not a string", path, c.line_no);
            else {
                text = json_string_value(json_object_get(obj, "text"));
                text_len = json_string_length(json_object_get(obj, "text"));
            }
        } else if (!tsv_split(s, e, &id, &id_len, &text, &text_len))
            st = rr_fail(err, RERANK_ERR_FORMAT, "%s:%zu: a TSV query line is qid<TAB>text", path, c.line_no);
        if (!st && (arena_add(&arena, id, id_len) || arena_add(&arena, text, text_len)))
            st = rr_fail(err, RERANK_ERR_NOMEM, "%s: out of memory", path);
        json_decref(obj);
        n_records++;
    }
    rr_file_unmap(&f);
    out->arena = arena.data;
    for (size_t off = 0, i = 0; !st && i < n_records; i++) {
        const char *id = arena.data + off;
        size_t id_len = strlen(id), text_off = off + id_len + 1, ix;
        int added;
        if (rr_strmap_put(&out->map, id, id_len, text_off, &ix, &added))
            st = rr_fail(err, RERANK_ERR_NOMEM, "%s: out of memory", path);
        else if (!added)
            st = rr_fail(err, RERANK_ERR_FORMAT, "%s: query id '%s' appears twice", path, id);
        off = text_off + strlen(arena.data + text_off) + 1;
    }
    if (st) rr_queries_free(out);
    return st;
}

const char *rr_queries_get(const rr_queries *q, const char *qid) {
    const rr_strmap_entry *e = rr_strmap_get(&q->map, qid, strlen(qid));
    return e ? q->arena + e->value : NULL;
}

void rr_queries_free(rr_queries *q) {
    if (!q) return;
    free(q->arena);
    rr_strmap_free(&q->map);
    memset(q, 0, sizeof *q);
}

/* ---- corpus ---- */

rerank_status rr_corpus_open(const char *path, const rr_strmap *wanted, rr_corpus *out, rerank_error *err) {
    memset(out, 0, sizeof *out);
    out->wanted = wanted;
    out->path = copy_n(path, strlen(path));
    size_t n = wanted->n ? wanted->n : 1;
    out->line_start = malloc(n * sizeof *out->line_start);
    out->line_end = malloc(n * sizeof *out->line_end);
    if (!out->path || !out->line_start || !out->line_end) {
        rr_corpus_close(out);
        return rr_fail(err, RERANK_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) out->line_start[i] = UINT64_MAX;
    rerank_status st = rr_file_map(path, &out->file, err);
    const char *data = (const char *)out->file.data;
    line_cursor c = {data, data + out->file.size, data, 0};
    out->jsonl = !st && starts_jsonl(data, data + out->file.size);
    const char *s, *e;
    while (!st && next_line(&c, &s, &e)) {
        if (blank_line(s, e)) continue;
        const char *id, *text;
        size_t id_len, text_len;
        char num[32];
        json_t *obj = NULL;
        if (out->jsonl) {
            json_error_t jerr;
            obj = json_loadb(s, (size_t)(e - s), 0, &jerr);
            if (!json_is_object(obj))
                st = rr_fail(err, RERANK_ERR_FORMAT, "%s:%zu: not a JSON object (%s)", path, c.line_no,
                             obj ? "other JSON" : jerr.text);
            else if (!json_id(obj, num, sizeof num, &id, &id_len))
                st = rr_fail(err, RERANK_ERR_FORMAT, "%s:%zu: field _id: missing or not a string", path, c.line_no);
        } else if (!tsv_split(s, e, &id, &id_len, &text, &text_len))
            st = rr_fail(err, RERANK_ERR_FORMAT, "%s:%zu: a TSV corpus line is pid<TAB>text", path, c.line_no);
        const rr_strmap_entry *we = st ? NULL : rr_strmap_get(wanted, id, id_len);
        if (we) {
            size_t w = (size_t)(we - wanted->entries);
            if (out->line_start[w] != UINT64_MAX)
                st = rr_fail(err, RERANK_ERR_FORMAT, "%s:%zu: docid '%.*s' appears a second time", path, c.line_no,
                             (int)(id_len > 100 ? 100 : id_len), id);
            else {
                out->line_start[w] = (uint64_t)(s - data);
                out->line_end[w] = (uint64_t)(e - data);
                out->n_found++;
            }
        }
        json_decref(obj);
    }
    if (st) rr_corpus_close(out);
    return st;
}

rerank_status rr_corpus_passage(const rr_corpus *c, const char *docid, rr_bytes *out, rerank_error *err) {
    const rr_strmap_entry *we = rr_strmap_get(c->wanted, docid, strlen(docid));
    size_t w = we ? (size_t)(we - c->wanted->entries) : 0;
    if (!we || c->line_start[w] == UINT64_MAX)
        return rr_fail(err, RERANK_ERR_INPUT, "%s: no passage with docid '%s'", c->path, docid);
    const char *s = (const char *)c->file.data + c->line_start[w], *e = (const char *)c->file.data + c->line_end[w];
    if (!c->jsonl) {
        const char *id, *text;
        size_t id_len, text_len;
        tsv_split(s, e, &id, &id_len, &text, &text_len); /* checked when opened */
        return rr_bytes_append(out, text, text_len) ? rr_fail(err, RERANK_ERR_NOMEM, "out of memory") : RERANK_OK;
    }
    json_t *obj = json_loadb(s, (size_t)(e - s), 0, NULL);
    const json_t *title = json_object_get(obj, "title"), *text = json_object_get(obj, "text");
    rerank_status st = RERANK_OK;
    if (!json_is_string(text) || (title && !json_is_string(title) && !json_is_null(title)))
        st = rr_fail(err, RERANK_ERR_FORMAT, "%s: docid '%s': field %s: missing or not a string", c->path, docid,
                     json_is_string(text) ? "title" : "text");
    else {
        size_t title_len = json_is_string(title) ? json_string_length(title) : 0;
        if ((title_len && (rr_bytes_append(out, json_string_value(title), title_len) || rr_bytes_append(out, " ", 1))) ||
            rr_bytes_append(out, json_string_value(text), json_string_length(text)))
            st = rr_fail(err, RERANK_ERR_NOMEM, "out of memory");
    }
    json_decref(obj);
    return st;
}

void rr_corpus_close(rr_corpus *c) {
    if (!c) return;
    rr_file_unmap(&c->file);
    free(c->line_start);
    free(c->line_end);
    free(c->path);
    memset(c, 0, sizeof *c);
}
