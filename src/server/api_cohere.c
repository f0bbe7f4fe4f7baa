/* api_cohere.c - the Cohere/Jina shape of POST /v1/rerank and /v2/rerank: request fields and the
 * {"id", "results": [{"index", "relevance_score"[, "document"]}], "meta", "usage"} response.
 *
 * return_documents defaults to true on /v1/rerank (Jina's API and Cohere v1 return the documents; Jina
 * clients read results[].document.text) and to false on /v2/rerank (Cohere v2). An object document is
 * echoed whole, every field kept, as Cohere does; a string document as {"text": ...}. */
#include <stdlib.h>
#include <string.h>

#include "server/internal.h"

int rr_server_cohere_parse(json_t *root, const rr_server_config *cfg, rr_server_request *out, rr_server_error *e) {
    int st;
    if ((st = rr_server_field_string(root, "model", false, false, &out->model, NULL, e))) return st;
    if ((st = rr_server_field_string(root, "query", true, true, &out->query, &out->query_len, e))) return st;
    if (!(out->query = rr_server_nul_free(out, json_object_get(root, "query"))))
        return rr_server_fail(e, 500, "internal", "out of memory");
    json_t *rank_fields = json_object_get(root, "rank_fields");
    if (json_is_null(rank_fields)) rank_fields = NULL;
    if (rank_fields) {
        bool ok = json_is_array(rank_fields) && json_array_size(rank_fields) > 0 && json_array_size(rank_fields) <= 64;
        for (size_t i = 0; ok && i < json_array_size(rank_fields); i++) {
            json_t *f = json_array_get(rank_fields, i);
            ok = json_is_string(f) && json_string_length(f) > 0 && json_string_length(f) == strlen(json_string_value(f));
        }
        if (!ok)
            return rr_server_fail(e, 400, "invalid_request",
                                  "field 'rank_fields' must be a non-empty array of at most 64 field names");
    }
    if ((st = rr_server_field_texts(root, "documents", true, rank_fields, cfg, out, e))) return st;
    long long top_n = (long long)out->n_docs;
    if ((st = rr_server_field_int(root, "top_n", 1, INT64_MAX, &top_n, e))) return st;
    out->top_n = top_n < (long long)out->n_docs ? (size_t)top_n : out->n_docs;
    out->return_documents = out->api == RR_API_COHERE_V1;
    if ((st = rr_server_field_bool(root, "return_documents", &out->return_documents, e))) return st;
    if ((st = rr_server_field_int(root, "max_tokens_per_doc", 1, 1 << 30, &out->max_tokens_per_doc, e))) return st;
    return 0;
}

char *rr_server_cohere_render(const rr_server_request *r, const rr_server_job *job, const char *model_name,
                              const char *id) {
    size_t *order = rr_server_rank(job, r->top_n);
    json_t *results = json_array();
    json_t *root = NULL;
    if (!order || !results) goto done;
    for (size_t k = 0; k < r->top_n; k++) {
        size_t i = order[k];
        const float *s = job->scores + i * job->n_out;
        json_t *res = json_pack("{s:I, s:f}", "index", (json_int_t)i, "relevance_score", (double)s[job->n_out - 1]);
        if (!res) goto done;
        if (job->n_out > 1) {
            json_t *layers = json_array();
            for (size_t j = 0; j < job->n_out; j++) json_array_append_new(layers, json_real(s[j]));
            json_object_set_new(res, "layer_scores", layers);
        }
        if (r->return_documents) {
            json_t *d = json_array_get(r->doc_items, i);
            json_object_set_new(res, "document", json_is_object(d) ? json_incref(d) : json_pack("{s:O}", "text", d));
        }
        json_array_append_new(results, res);
    }
    json_int_t tokens = (json_int_t)job->n_tokens;
    root = json_pack("{s:s, s:s, s:O, s:{s:{s:s}, s:{s:I}, s:{s:I, s:I}}, s:{s:I, s:I}}", "id", id, "model",
                     r->model ? r->model : model_name, "results", results, "meta", "api_version", "version",
                     r->api == RR_API_COHERE_V2 ? "2" : "1", "billed_units", "search_units",
                     (json_int_t)((r->n_docs + 99) / 100), "tokens", "input_tokens", tokens, "output_tokens",
                     (json_int_t)0, "usage", "prompt_tokens", tokens, "total_tokens", tokens);
done:;
    char *s = root ? json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(9)) : NULL;
    json_decref(root);
    json_decref(results);
    free(order);
    return s;
}
