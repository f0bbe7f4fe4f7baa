/* request.c - JSON body -> validated rr_server_request: the byte checks, the parse, the field readers
 * shared by the Cohere/Jina and TEI parsers, and the extensions every route accepts. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "server/internal.h"

#define RR_SERVER_MAX_DEPTH 32
#define RR_SERVER_MAX_CUTOFF_LAYERS 256

/* Deepest [ / { nesting outside strings; stops counting once past the limit. */
static int json_depth_exceeds(const char *s, size_t n, int limit) {
    int depth = 0;
    bool in_str = false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\') i++;
            else if (c == '"') in_str = false;
        } else if (c == '"') in_str = true;
        else if (c == '[' || c == '{') {
            if (++depth > limit) return 1;
        } else if (c == ']' || c == '}') depth--;
    }
    return 0;
}

int rr_server_request_parse(rr_server_api api, const char *body, size_t len, const rr_server_config *cfg,
                            rr_server_request *out, rr_server_error *e) {
    memset(out, 0, sizeof *out);
    out->api = api;
    out->long_doc = -1;
    out->truncate = true;
    if (len > cfg->max_body_bytes)
        return rr_server_fail_limit(e, 413, "max_body_bytes", (long long)cfg->max_body_bytes,
                                    "request body of %zu bytes exceeds max_body_bytes (%zu)", len, cfg->max_body_bytes);
    /* a UTF-8 byte order mark (Windows tools write one) is not JSON but carries no meaning: skip it */
    if (len >= 3 && memcmp(body, "\xEF\xBB\xBF", 3) == 0) body += 3, len -= 3;
    if (len == 0) return rr_server_fail(e, 400, "invalid_request", "request body is empty; expected a JSON object");
    if (len >= 2 && (unsigned char)body[0] == 0x1f && (unsigned char)body[1] == 0x8b)
        return rr_server_fail(e, 415, "unsupported_media_type",
                              "request body is gzip-compressed; send it uncompressed (Content-Encoding is not supported)");
    size_t bad = 0;
    if (!rr_server_utf8_valid(body, len, &bad))
        return rr_server_fail(e, 400, "invalid_request", "request body is not valid UTF-8 (byte %zu)", bad);
    if (json_depth_exceeds(body, len, RR_SERVER_MAX_DEPTH))
        return rr_server_fail(e, 400, "invalid_request", "JSON nested deeper than %d levels", RR_SERVER_MAX_DEPTH);
    json_error_t je;
    /* "\u0000" is valid JSON: accepted, and read as a space in texts (rr_server_nul_free) */
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
    if (!root)
        return rr_server_fail(e, 400, "invalid_request", "malformed JSON at line %d column %d: %s", je.line,
                              je.column, je.text);
    out->root = root;
    if (!json_is_object(root)) {
        rr_server_request_free(out);
        return rr_server_fail(e, 400, "invalid_request", "request body must be a JSON object");
    }
    int st = api == RR_API_TEI ? rr_server_tei_parse(root, cfg, out, e) : rr_server_cohere_parse(root, cfg, out, e);
    if (st == 0) st = rr_server_field_extensions(root, out, e);
    if (st != 0) rr_server_request_free(out);
    return st;
}

void rr_server_request_free(rr_server_request *r) {
    if (!r) return;
    json_decref(r->root);
    json_decref(r->owned);
    free(r->docs);
    free(r->doc_lens);
    free(r->cutoff_layers);
    memset(r, 0, sizeof *r);
}

int rr_server_field_bool(json_t *root, const char *key, bool *out, rr_server_error *e) {
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_boolean(v)) return rr_server_fail(e, 400, "invalid_request", "field '%s' must be a boolean", key);
    *out = json_is_true(v);
    return 0;
}

int rr_server_field_int(json_t *root, const char *key, long long min, long long max, long long *out,
                        rr_server_error *e) {
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) return 0;
    long long x;
    if (json_is_integer(v)) {
        x = json_integer_value(v);
    } else if (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)) && fabs(json_real_value(v)) < 9e15) {
        x = (long long)json_real_value(v); /* JavaScript clients send 3 as 3.0 at times */
    } else {
        return rr_server_fail(e, 400, "invalid_request", "field '%s' must be an integer", key);
    }
    if (x < min || x > max)
        return rr_server_fail(e, 400, "invalid_request", "field '%s' is %lld; it must be between %lld and %lld", key,
                              x, min, max);
    *out = x;
    return 0;
}

int rr_server_field_string(json_t *root, const char *key, bool required, bool nonempty, const char **out,
                           size_t *len, rr_server_error *e) {
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) {
        if (required) return rr_server_fail(e, 400, "invalid_request", "field '%s' is required", key);
        return 0;
    }
    if (!json_is_string(v)) return rr_server_fail(e, 400, "invalid_request", "field '%s' must be a string", key);
    if (nonempty && json_string_length(v) == 0)
        return rr_server_fail(e, 400, "invalid_request", "field '%s' is empty", key);
    *out = json_string_value(v);
    if (len) *len = json_string_length(v);
    return 0;
}

const char *rr_server_nul_free(rr_server_request *r, json_t *str) {
    const char *v = json_string_value(str);
    size_t n = json_string_length(str);
    if (!memchr(v, 0, n)) return v;
    char *copy = malloc(n + 1);
    if (!copy) return NULL;
    for (size_t i = 0; i < n; i++) copy[i] = v[i] ? v[i] : ' ';
    copy[n] = 0;
    json_t *keep = json_stringn_nocheck(copy, n);
    free(copy);
    if (!keep || (!r->owned && !(r->owned = json_array())) || json_array_append_new(r->owned, keep) != 0) return NULL;
    return json_string_value(keep);
}

/* The text of object document d under rank_fields: one field's value as is, several as "name: value"
 * lines in the order given (fields a document lacks are skipped). NULL with *e set on error. */
static const char *rank_text(json_t *d, json_t *rank_fields, const char *key, size_t i, rr_server_request *out,
                             size_t *len, rr_server_error *e) {
    size_t nf = json_array_size(rank_fields);
    json_t *parts = json_array();
    if (!parts) return rr_server_fail(e, 500, "internal", "out of memory"), NULL;
    size_t cap = 0;
    for (size_t f = 0; f < nf; f++) {
        const char *name = json_string_value(json_array_get(rank_fields, f));
        json_t *v = json_object_get(d, name);
        if (!v || json_is_null(v)) continue;
        json_t *t = json_is_string(v) ? json_incref(v) : NULL;
        if (!t && (json_is_number(v) || json_is_boolean(v))) {
            char *dumped = json_dumps(v, JSON_ENCODE_ANY);
            t = dumped ? json_string(dumped) : NULL;
            free(dumped);
        }
        if (!t) {
            json_decref(parts);
            return rr_server_fail(e, 400, "invalid_request", "%s[%zu].%s must be a string, number or boolean to be ranked",
                                  key, i, name), NULL;
        }
        json_array_append_new(parts, json_pack("[s, o]", name, t));
        cap += strlen(name) + 3 + json_string_length(t);
    }
    size_t np = json_array_size(parts);
    if (np == 0) {
        json_decref(parts);
        return rr_server_fail(e, 400, "invalid_request", "%s[%zu] has none of the rank_fields", key, i), NULL;
    }
    json_t *result;
    if (np == 1 && nf == 1) {
        result = json_incref(json_array_get(json_array_get(parts, 0), 1));
    } else {
        char *buf = malloc(cap + 1);
        size_t n = 0;
        for (size_t p = 0; buf && p < np; p++) {
            json_t *pair = json_array_get(parts, p);
            json_t *t = json_array_get(pair, 1);
            n += (size_t)sprintf(buf + n, "%s%s: ", p ? "\n" : "", json_string_value(json_array_get(pair, 0)));
            memcpy(buf + n, json_string_value(t), json_string_length(t));
            n += json_string_length(t);
        }
        result = buf ? json_stringn_nocheck(buf, n) : NULL;
        free(buf);
    }
    json_decref(parts);
    if (!result || (!out->owned && !(out->owned = json_array())) || json_array_append_new(out->owned, result) != 0)
        return rr_server_fail(e, 500, "internal", "out of memory"), NULL;
    *len = json_string_length(result);
    return rr_server_nul_free(out, result);
}

int rr_server_field_texts(json_t *root, const char *key, bool allow_objects, json_t *rank_fields,
                          const rr_server_config *cfg, rr_server_request *out, rr_server_error *e) {
    json_t *arr = json_object_get(root, key);
    if (!arr || json_is_null(arr)) return rr_server_fail(e, 400, "invalid_request", "field '%s' is required", key);
    if (!json_is_array(arr))
        return rr_server_fail(e, 400, "invalid_request", "field '%s' must be an array of %s", key,
                              allow_objects ? "strings or {\"text\": string} objects" : "strings");
    size_t n = json_array_size(arr);
    if (n == 0) return rr_server_fail(e, 400, "invalid_request", "field '%s' must be a non-empty array", key);
    if (n > cfg->max_documents)
        return rr_server_fail_limit(e, 413, "max_documents", (long long)cfg->max_documents,
                                    "'%s' has %zu entries; the limit max_documents is %zu", key, n, cfg->max_documents);
    out->docs = malloc(n * sizeof *out->docs);
    out->doc_lens = malloc(n * sizeof *out->doc_lens);
    if (!out->docs || !out->doc_lens) return rr_server_fail(e, 500, "internal", "out of memory");
    out->doc_items = arr;
    for (size_t i = 0; i < n; i++) {
        json_t *d = json_array_get(arr, i);
        if (allow_objects && json_is_object(d) && rank_fields) {
            out->docs[i] = rank_text(d, rank_fields, key, i, out, &out->doc_lens[i], e);
            if (!out->docs[i]) return e->status;
        } else {
            if (allow_objects && json_is_object(d)) {
                json_t *t = json_object_get(d, "text");
                if (!json_is_string(t))
                    return rr_server_fail(e, 400, "invalid_request", "%s[%zu] is an object without a string 'text'%s",
                                          key, i, " (or name its fields in rank_fields)");
                d = t;
            } else if (!json_is_string(d)) {
                return rr_server_fail(e, 400, "invalid_request", "%s[%zu] must be a string%s", key, i,
                                      allow_objects ? " or an object with 'text'" : "");
            }
            out->docs[i] = rr_server_nul_free(out, d);
            out->doc_lens[i] = json_string_length(d);
            if (!out->docs[i]) return rr_server_fail(e, 500, "internal", "out of memory");
        }
        if (out->doc_lens[i] == 0) return rr_server_fail(e, 400, "invalid_request", "%s[%zu] is empty", key, i);
    }
    out->n_docs = n;
    return 0;
}

int rr_server_field_extensions(json_t *root, rr_server_request *out, rr_server_error *e) {
    int st;
    if ((st = rr_server_field_bool(root, "raw_scores", &out->raw_scores, e))) return st;
    const char *ld = NULL;
    if ((st = rr_server_field_string(root, "long_doc", false, false, &ld, NULL, e))) return st;
    if (ld) {
        if (strcmp(ld, "truncate") == 0) out->long_doc = RERANK_LONG_DOC_TRUNCATE;
        else if (strcmp(ld, "chunk") == 0) out->long_doc = RERANK_LONG_DOC_CHUNK;
        else return rr_server_fail(e, 400, "invalid_request", "field 'long_doc' must be \"truncate\" or \"chunk\"");
    }
    if ((st = rr_server_field_string(root, "instruction", false, false, &out->instruction, NULL, e))) return st;
    json_t *cl = json_object_get(root, "cutoff_layers");
    if (cl && !json_is_null(cl)) {
        if (json_is_integer(cl)) {
            json_t *one = json_pack("[O]", cl);
            json_object_set_new(root, "cutoff_layers", one);
            cl = one;
        }
        if (!json_is_array(cl) || json_array_size(cl) == 0 || json_array_size(cl) > RR_SERVER_MAX_CUTOFF_LAYERS)
            return rr_server_fail(e, 400, "invalid_request",
                                  "field 'cutoff_layers' must be an integer or a non-empty array of at most %d integers",
                                  RR_SERVER_MAX_CUTOFF_LAYERS);
        size_t n = json_array_size(cl);
        out->cutoff_layers = malloc(n * sizeof *out->cutoff_layers);
        if (!out->cutoff_layers) return rr_server_fail(e, 500, "internal", "out of memory");
        for (size_t i = 0; i < n; i++) {
            json_t *v = json_array_get(cl, i);
            if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 100000)
                return rr_server_fail(e, 400, "invalid_request", "cutoff_layers[%zu] must be a layer number (integer >= 0)", i);
            out->cutoff_layers[i] = (int)json_integer_value(v);
            if (i > 0 && out->cutoff_layers[i] <= out->cutoff_layers[i - 1])
                return rr_server_fail(e, 400, "invalid_request", "cutoff_layers must be strictly ascending");
        }
        out->n_cutoff_layers = n;
    }
    return 0;
}
