/* api_tei.c - the text-embeddings-inference shape of POST /rerank: query, texts, raw_scores, return_text,
 * truncate, truncation_direction; the response is a bare array [{"index", "score"[, "text"]}], errors are
 * TEI's {"error": message, "error_type": type}. As in TEI, a missing `truncate` means the server's
 * --auto-truncate (default off), so a pair over the model's limit is a 413 unless truncation is asked. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/internal.h"

int rr_server_tei_parse(json_t *root, const rr_server_config *cfg, rr_server_request *out, rr_server_error *e) {
    int st;
    if ((st = rr_server_field_string(root, "model", false, false, &out->model, NULL, e))) return st;
    if ((st = rr_server_field_string(root, "query", true, true, &out->query, &out->query_len, e))) return st;
    if (!(out->query = rr_server_nul_free(out, json_object_get(root, "query"))))
        return rr_server_fail(e, 500, "internal", "out of memory");
    if ((st = rr_server_field_texts(root, "texts", false, NULL, cfg, out, e))) return st;
    out->top_n = out->n_docs;
    long long top_n = (long long)out->n_docs; /* not TEI, but llama.cpp's TEI mode accepts it */
    if ((st = rr_server_field_int(root, "top_n", 1, INT64_MAX, &top_n, e))) return st;
    out->top_n = top_n < (long long)out->n_docs ? (size_t)top_n : out->n_docs;
    if ((st = rr_server_field_bool(root, "return_text", &out->return_documents, e))) return st;
    out->truncate = cfg->auto_truncate;
    if ((st = rr_server_field_bool(root, "truncate", &out->truncate, e))) return st;
    const char *dir = NULL;
    if ((st = rr_server_field_string(root, "truncation_direction", false, false, &dir, NULL, e))) return st;
    if (dir) {
        out->truncate_left = strcasecmp(dir, "left") == 0;
        if (!out->truncate_left && strcasecmp(dir, "right") != 0)
            return rr_server_fail(e, 400, "invalid_request", "field 'truncation_direction' must be \"Right\" or \"Left\"");
    }
    return 0;
}

char *rr_server_tei_render(const rr_server_request *r, const rr_server_job *job) {
    size_t *order = rr_server_rank(job, r->top_n);
    json_t *arr = json_array();
    char *s = NULL;
    if (!order || !arr) goto done;
    for (size_t k = 0; k < r->top_n; k++) {
        size_t i = order[k];
        const float *sc = job->scores + i * job->n_out;
        json_t *res = json_pack("{s:I, s:f}", "index", (json_int_t)i, "score", (double)sc[job->n_out - 1]);
        if (!res) goto done;
        if (r->return_documents) json_object_set_new(res, "text", json_stringn(r->docs[i], r->doc_lens[i]));
        json_array_append_new(arr, res);
    }
    s = json_dumps(arr, JSON_COMPACT | JSON_REAL_PRECISION(9));
done:
    json_decref(arr);
    free(order);
    return s;
}

char *rr_server_tei_error_json(const rr_server_error *e) {
    const char *type = "validation";
    if (e->status == 400 && strstr(e->message, "empty")) type = "empty";
    else if (e->status == 422) type = "tokenizer";
    else if (e->status == 503 || e->status == 429) type = strcmp(e->type ? e->type : "", "overloaded") == 0 ? "overloaded" : "unhealthy";
    else if (e->status >= 500) type = "backend";
    json_t *root = json_pack("{s:s, s:s}", "error", e->message, "error_type", type);
    char *s = root ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    if (!s) s = strdup("{\"error\":\"out of memory\",\"error_type\":\"backend\"}");
    return s;
}

static _Thread_local const rr_server_job *rank_job;

static int by_score_desc(const void *a, const void *b) {
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    size_t n = rank_job->n_out;
    float x = rank_job->scores[i * n + n - 1], y = rank_job->scores[j * n + n - 1];
    if (x != y) return x > y ? -1 : 1;
    return i < j ? -1 : i > j;
}

size_t *rr_server_rank(const rr_server_job *job, size_t top_n) {
    (void)top_n;
    size_t *order = malloc((job->n_pairs ? job->n_pairs : 1) * sizeof *order);
    if (!order) return NULL;
    for (size_t i = 0; i < job->n_pairs; i++) order[i] = i;
    /* qsort takes no context in C11: a thread-local pointer keeps this reentrant */
    rank_job = job;
    qsort(order, job->n_pairs, sizeof *order, by_score_desc);
    return order;
}
