/* json.h - JSON documents through jansson, with errors that name the file, line and field. */
#ifndef RR_BASE_JSON_H
#define RR_BASE_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include "rerank.h"

/* Parses len bytes; `name` (a path, or "line 7") prefixes any error. Rejects invalid UTF-8 and nesting
 * deeper than jansson's limit. */
rerank_status rr_json_parse(const char *buf, size_t len, const char *name, json_t **out, rerank_error *err);

/* Reads and parses a file of at most max_bytes. */
rerank_status rr_json_load_file(const char *path, size_t max_bytes, json_t **out, rerank_error *err);

/* Typed field getters on an object. A missing (or null) field yields `dflt` and, for required getters,
 * an error; a field of the wrong type is always an error naming `where` and the key. */
rerank_status rr_json_get_int(const json_t *obj, const char *key, bool required, long long dflt, long long *out,
                              const char *where, rerank_error *err);
/* rr_json_get_int for an int in [lo, hi]; out of range is an error naming `where`, the key and the range. */
rerank_status rr_json_get_int_in(const json_t *obj, const char *key, bool required, long long dflt, long long lo,
                                 long long hi, int *out, const char *where, rerank_error *err);
rerank_status rr_json_get_num(const json_t *obj, const char *key, bool required, double dflt, double *out,
                              const char *where, rerank_error *err);
rerank_status rr_json_get_bool(const json_t *obj, const char *key, bool required, bool dflt, bool *out,
                               const char *where, rerank_error *err);
/* *out borrows the string from obj (valid while obj lives); *len may be NULL. */
rerank_status rr_json_get_str(const json_t *obj, const char *key, bool required, const char *dflt,
                              const char **out, size_t *len, const char *where, rerank_error *err);

#endif
