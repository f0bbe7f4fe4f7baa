/* json.c - jansson wrappers: parse with located errors, typed field access. */
#include "base/json.h"

#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/file.h"

rerank_status rr_json_parse(const char *buf, size_t len, const char *name, json_t **out, rerank_error *err) {
    json_error_t je;
    *out = json_loadb(buf, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (!*out)
        return rr_fail(err, RERANK_ERR_FORMAT, "%s: invalid JSON at line %d column %d: %s", name, je.line,
                       je.column, je.text);
    return RERANK_OK;
}

rerank_status rr_json_load_file(const char *path, size_t max_bytes, json_t **out, rerank_error *err) {
    char *buf;
    size_t len;
    *out = NULL;
    rerank_status st = rr_file_read(path, max_bytes, &buf, &len, err);
    if (st) return st;
    st = rr_json_parse(buf, len, path, out, err);
    free(buf);
    return st;
}

static rerank_status missing(const char *key, bool required, const char *where, rerank_error *err) {
    if (required) return rr_fail(err, RERANK_ERR_FORMAT, "%s: missing field '%s'", where, key);
    return RERANK_OK;
}

rerank_status rr_json_get_int(const json_t *obj, const char *key, bool required, long long dflt, long long *out,
                              const char *where, rerank_error *err) {
    const json_t *v = json_object_get(obj, key);
    *out = dflt;
    if (!v || json_is_null(v)) return missing(key, required, where, err);
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return RERANK_OK;
    }
    /* configs written by some tools store integers as 512.0 */
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d > -9e18 && d < 9e18 && d == (double)(long long)d) { /* range first: the cast is UB outside it */
            *out = (long long)d;
            return RERANK_OK;
        }
    }
    return rr_fail(err, RERANK_ERR_FORMAT, "%s: field '%s' must be an integer", where, key);
}

rerank_status rr_json_get_int_in(const json_t *obj, const char *key, bool required, long long dflt, long long lo,
                                 long long hi, int *out, const char *where, rerank_error *err) {
    long long v;
    rerank_status st = rr_json_get_int(obj, key, required, dflt, &v, where, err);
    if (st) return st;
    if (v < lo || v > hi)
        return rr_fail(err, RERANK_ERR_FORMAT, "%s: field '%s' is %lld, must be in [%lld, %lld]", where, key, v, lo,
                       hi);
    *out = (int)v;
    return RERANK_OK;
}

rerank_status rr_json_get_num(const json_t *obj, const char *key, bool required, double dflt, double *out,
                              const char *where, rerank_error *err) {
    const json_t *v = json_object_get(obj, key);
    *out = dflt;
    if (!v || json_is_null(v)) return missing(key, required, where, err);
    if (!json_is_number(v)) return rr_fail(err, RERANK_ERR_FORMAT, "%s: field '%s' must be a number", where, key);
    *out = json_number_value(v);
    return RERANK_OK;
}

rerank_status rr_json_get_bool(const json_t *obj, const char *key, bool required, bool dflt, bool *out,
                               const char *where, rerank_error *err) {
    const json_t *v = json_object_get(obj, key);
    *out = dflt;
    if (!v || json_is_null(v)) return missing(key, required, where, err);
    if (!json_is_boolean(v)) return rr_fail(err, RERANK_ERR_FORMAT, "%s: field '%s' must be true or false", where, key);
    *out = json_is_true(v);
    return RERANK_OK;
}

rerank_status rr_json_get_str(const json_t *obj, const char *key, bool required, const char *dflt,
                              const char **out, size_t *len, const char *where, rerank_error *err) {
    const json_t *v = json_object_get(obj, key);
    *out = dflt;
    if (len) *len = dflt ? strlen(dflt) : 0;
    if (!v || json_is_null(v)) return missing(key, required, where, err);
    if (!json_is_string(v)) return rr_fail(err, RERANK_ERR_FORMAT, "%s: field '%s' must be a string", where, key);
    *out = json_string_value(v);
    if (len) *len = json_string_length(v);
    return RERANK_OK;
}
