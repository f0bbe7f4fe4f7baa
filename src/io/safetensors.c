/* safetensors.c - a validating safetensors parser over a byte view (mmap or memory) and a small writer. */
#include "io/safetensors.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"

#define MAX_HEADER_BYTES ((uint64_t)100 << 20) /* the reference implementation's limit */

struct rr_safetensors {
    char *name;           /* path or caller-given name, for messages */
    rr_mapped_file file;  /* set when opened from a path */
    rr_st_tensor *tensors; /* sorted by name */
    size_t n_tensors;
};

static const struct {
    const char *name;
    size_t size;
} dtype_info[RR_ST_DTYPE_COUNT] = {
    [RR_ST_F32] = {"F32", 4}, [RR_ST_F16] = {"F16", 2}, [RR_ST_BF16] = {"BF16", 2}, [RR_ST_F64] = {"F64", 8},
    [RR_ST_I64] = {"I64", 8}, [RR_ST_I32] = {"I32", 4}, [RR_ST_I16] = {"I16", 2},   [RR_ST_I8] = {"I8", 1},
    [RR_ST_U8] = {"U8", 1},   [RR_ST_BOOL] = {"BOOL", 1},
};

const char *rr_st_dtype_name(rr_st_dtype dt) {
    return (unsigned)dt < RR_ST_DTYPE_COUNT ? dtype_info[dt].name : "?";
}

size_t rr_st_dtype_size(rr_st_dtype dt) { return (unsigned)dt < RR_ST_DTYPE_COUNT ? dtype_info[dt].size : 0; }

const char *rr_st_shape_str(char *buf, size_t size, const int64_t *shape, int n_dims) {
    size_t at = 0;
    if (size == 0) return buf;
    buf[0] = '\0';
    at += (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < n_dims && at < size; i++)
        at += (size_t)snprintf(buf + at, size - at, "%s%lld", i ? "," : "", (long long)shape[i]);
    if (at < size) snprintf(buf + at, size - at, "]");
    return buf;
}

static int by_name(const void *a, const void *b) {
    return strcmp(((const rr_st_tensor *)a)->name, ((const rr_st_tensor *)b)->name);
}

void rr_safetensors_free(rr_safetensors *st) {
    if (!st) return;
    for (size_t i = 0; i < st->n_tensors; i++) free((char *)st->tensors[i].name);
    free(st->tensors);
    rr_file_unmap(&st->file);
    free(st->name);
    free(st);
}

static rerank_status parse_dtype(const json_t *v, rr_st_dtype *out) {
    const char *s = json_string_value(v);
    if (!s) return RERANK_ERR_FORMAT;
    for (int i = 0; i < RR_ST_DTYPE_COUNT; i++)
        if (strcmp(s, dtype_info[i].name) == 0) {
            *out = (rr_st_dtype)i;
            return RERANK_OK;
        }
    return RERANK_ERR_UNSUPPORTED;
}

/* Validates one header entry and fills t (except name). data/data_size describe the data area. */
static rerank_status parse_entry(const char *file, const char *key, const json_t *v, const unsigned char *data,
                                 size_t data_size, rr_st_tensor *t, rerank_error *err) {
    if (!json_is_object(v)) return rr_fail(err, RERANK_ERR_FORMAT, "%s: tensor '%s': entry is not an object", file, key);
    const json_t *jd = json_object_get(v, "dtype"), *js = json_object_get(v, "shape"),
                 *jo = json_object_get(v, "data_offsets");
    if (!json_is_string(jd))
        return rr_fail(err, RERANK_ERR_FORMAT, "%s: tensor '%s': missing or non-string 'dtype'", file, key);
    rerank_status st = parse_dtype(jd, &t->dtype);
    if (st)
        return rr_fail(err, RERANK_ERR_UNSUPPORTED, "%s: tensor '%s': unknown dtype '%.32s'", file, key,
                       json_string_value(jd));
    if (!json_is_array(js))
        return rr_fail(err, RERANK_ERR_FORMAT, "%s: tensor '%s': missing or non-array 'shape'", file, key);
    size_t nd = json_array_size(js);
    if (nd > RR_ST_MAX_DIMS)
        return rr_fail(err, RERANK_ERR_UNSUPPORTED, "%s: tensor '%s': %zu dimensions, at most %d supported", file,
                       key, nd, RR_ST_MAX_DIMS);
    t->n_dims = (int)nd;
    size_t n = 1;
    for (size_t i = 0; i < nd; i++) {
        const json_t *d = json_array_get(js, i);
        if (!json_is_integer(d) || json_integer_value(d) < 0)
            return rr_fail(err, RERANK_ERR_FORMAT, "%s: tensor '%s': shape[%zu] is not a non-negative integer",
                           file, key, i);
        json_int_t x = json_integer_value(d);
        if ((unsigned long long)x > SIZE_MAX || (x != 0 && n > SIZE_MAX / (size_t)x))
            return rr_fail(err, RERANK_ERR_FORMAT, "%s: tensor '%s': shape overflows", file, key);
        t->shape[i] = (int64_t)x;
        n *= (size_t)x;
    }
    size_t es = dtype_info[t->dtype].size;
    if (n > SIZE_MAX / es) return rr_fail(err, RERANK_ERR_FORMAT, "%s: tensor '%s': shape overflows", file, key);
    t->n_elems = n;
    t->n_bytes = n * es;
    if (!json_is_array(jo) || json_array_size(jo) != 2 || !json_is_integer(json_array_get(jo, 0)) ||
        !json_is_integer(json_array_get(jo, 1)))
        return rr_fail(err, RERANK_ERR_FORMAT, "%s: tensor '%s': 'data_offsets' must be two integers", file, key);
    json_int_t b = json_integer_value(json_array_get(jo, 0)), e = json_integer_value(json_array_get(jo, 1));
    if (b < 0 || e < 0 || b > e)
        return rr_fail(err, RERANK_ERR_FORMAT, "%s: tensor '%s': bad data_offsets [%lld, %lld]", file, key,
                       (long long)b, (long long)e);
    if ((unsigned long long)e > data_size)
        return rr_fail(err, RERANK_ERR_FORMAT,
                       "%s: tensor '%s': data_offsets [%lld, %lld] past the end of the %zu-byte data area", file,
                       key, (long long)b, (long long)e, data_size);
    if ((size_t)(e - b) != t->n_bytes) {
        char sh[160];
        return rr_fail(err, RERANK_ERR_FORMAT, "%s: tensor '%s': %lld bytes for %s %s, expected %zu", file, key,
                       (long long)(e - b), dtype_info[t->dtype].name,
                       rr_st_shape_str(sh, sizeof sh, t->shape, t->n_dims), t->n_bytes);
    }
    t->data = data ? data + b : NULL;
    t->file_offset = (size_t)b;
    return RERANK_OK;
}

rerank_status rr_safetensors_parse(const void *data, size_t size, const char *name, rr_safetensors **out,
                                   rerank_error *err) {
    *out = NULL;
    const unsigned char *p = data;
    if (!name) name = "safetensors";
    if (size < 8 || !p)
        return rr_fail(err, RERANK_ERR_FORMAT, "%s: %zu bytes, too short for a safetensors header", name, size);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | p[i];
    if (hlen > size - 8)
        return rr_fail(err, RERANK_ERR_FORMAT, "%s: header length %llu runs past the end of the %zu-byte file",
                       name, (unsigned long long)hlen, size);
    if (hlen > MAX_HEADER_BYTES)
        return rr_fail(err, RERANK_ERR_FORMAT, "%s: header length %llu is over the 100 MiB limit", name,
                       (unsigned long long)hlen);
    json_error_t je;
    json_t *root = json_loadb((const char *)p + 8, (size_t)hlen, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return rr_fail(err, RERANK_ERR_FORMAT, "%s: invalid JSON header at column %d: %s", name, je.column, je.text);
    rerank_status st = RERANK_OK;
    rr_safetensors *s = calloc(1, sizeof *s);
    if (!s || !(s->name = strdup(name))) {
        st = rr_fail(err, RERANK_ERR_NOMEM, "%s: out of memory", name);
        goto fail;
    }
    if (!json_is_object(root)) {
        st = rr_fail(err, RERANK_ERR_FORMAT, "%s: header is not a JSON object", name);
        goto fail;
    }
    size_t cap = json_object_size(root);
    s->tensors = calloc(cap ? cap : 1, sizeof *s->tensors);
    if (!s->tensors) {
        st = rr_fail(err, RERANK_ERR_NOMEM, "%s: out of memory", name);
        goto fail;
    }
    const unsigned char *area = p + 8 + hlen;
    size_t area_size = size - 8 - (size_t)hlen;
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        if (strcmp(key, "__metadata__") == 0) {
            if (!json_is_object(v)) {
                st = rr_fail(err, RERANK_ERR_FORMAT, "%s: '__metadata__' is not an object", name);
                goto fail;
            }
            continue;
        }
        rr_st_tensor *t = &s->tensors[s->n_tensors];
        st = parse_entry(name, key, v, area_size ? area : NULL, area_size, t, err);
        if (st) goto fail;
        t->file_offset += 8 + (size_t)hlen;
        if (!(t->name = strdup(key))) {
            st = rr_fail(err, RERANK_ERR_NOMEM, "%s: out of memory", name);
            goto fail;
        }
        s->n_tensors++;
    }
    qsort(s->tensors, s->n_tensors, sizeof *s->tensors, by_name);
    json_decref(root);
    *out = s;
    return RERANK_OK;
fail:
    json_decref(root);
    rr_safetensors_free(s);
    return st;
}

rerank_status rr_safetensors_open(const char *path, rr_safetensors **out, rerank_error *err) {
    *out = NULL;
    rr_mapped_file f;
    rerank_status st = rr_file_map(path, &f, err);
    if (st) return st;
    st = rr_safetensors_parse(f.data, f.size, path, out, err);
    if (st) {
        rr_file_unmap(&f);
        return st;
    }
    (*out)->file = f;
    return RERANK_OK;
}

const rr_st_tensor *rr_safetensors_find(const rr_safetensors *st, const char *name) {
    if (!st || !name) return NULL;
    rr_st_tensor key = {.name = name};
    return bsearch(&key, st->tensors, st->n_tensors, sizeof key, by_name);
}

size_t rr_safetensors_count(const rr_safetensors *st) { return st ? st->n_tensors : 0; }
const rr_st_tensor *rr_safetensors_at(const rr_safetensors *st, size_t i) {
    return st && i < st->n_tensors ? &st->tensors[i] : NULL;
}
bool rr_safetensors_maps(const rr_safetensors *st, const void *p, size_t bytes) {
    if (!st || !st->file.data || !p) return false;
    uintptr_t lo = (uintptr_t)st->file.data, at = (uintptr_t)p;
    return at >= lo && at - lo <= st->file.size && bytes <= st->file.size - (at - lo);
}

const char *rr_safetensors_name(const rr_safetensors *st) { return st ? st->name : ""; }

/* ---- writer ---- */

static rerank_status write_all(FILE *f, const void *p, size_t n, const char *path, rerank_error *err) {
    if (n && fwrite(p, 1, n, f) != n) return rr_fail(err, RERANK_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    return RERANK_OK;
}

/* Bytes of a tensor to write, or SIZE_MAX when its dtype, rank or shape is bad. */
static size_t write_size(const rr_st_write_tensor *t) {
    if ((unsigned)t->dtype >= RR_ST_DTYPE_COUNT || t->n_dims < 0 || t->n_dims > RR_ST_MAX_DIMS) return SIZE_MAX;
    size_t n = dtype_info[t->dtype].size;
    for (int d = 0; d < t->n_dims; d++) {
        if (t->shape[d] < 0 || (t->shape[d] && n > SIZE_MAX / (uint64_t)t->shape[d])) return SIZE_MAX;
        n *= (size_t)t->shape[d];
    }
    return n;
}

/* One header entry: name -> {"dtype", "shape", "data_offsets": [begin, begin + n]}. */
static rerank_status add_entry(json_t *root, const char *name, rr_st_dtype dtype, const int64_t *shape, int n_dims,
                               size_t begin, size_t n, const char *path, rerank_error *err) {
    if (json_object_get(root, name))
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "%s: tensor '%s': duplicate or reserved name", path, name);
    json_t *js = json_array();
    for (int d = 0; js && d < n_dims; d++) json_array_append_new(js, json_integer(shape[d]));
    json_t *e = js ? json_pack("{s:s,s:o,s:[I,I]}", "dtype", dtype_info[dtype].name, "shape", js, "data_offsets",
                               (json_int_t)begin, (json_int_t)(begin + n))
                   : NULL;
    if (!e || json_object_set_new(root, name, e))
        return rr_fail(err, RERANK_ERR_NOMEM, "%s: tensor '%s': cannot build header", path, name);
    return RERANK_OK;
}

static size_t round_up_size(size_t x, size_t a) { return (x + a - 1) / a * a; }

/* The writer: every tensor's data at a multiple of `align` from the start of the file (1: packed back to back),
 * the header padded to a multiple of 8 (and of align). */
static rerank_status write_file(const char *path, const rr_st_write_tensor *tensors, size_t n_tensors, size_t align,
                                rerank_error *err) {
    rerank_status st = RERANK_OK;
    json_t *root = json_object(), *meta = json_pack("{s:s}", "format", "pt");
    char *hdr = NULL;
    FILE *f = NULL;
    size_t *begin = calloc(n_tensors ? n_tensors : 1, sizeof *begin);
    if (!root || !meta || !begin || json_object_set_new(root, "__metadata__", meta)) {
        if (!root) json_decref(meta);
        st = rr_fail(err, RERANK_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    /* data offsets (relative to the data area, which starts aligned): each tensor's rounded up to align, a
     * filler tensor in every gap */
    size_t offset = 0;
    for (size_t i = 0; i < n_tensors; i++) {
        const rr_st_write_tensor *t = &tensors[i];
        size_t n = write_size(t);
        if (n == SIZE_MAX || !t->name || (n && !t->data)) {
            st = rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "%s: tensor %zu ('%s'): bad dtype, shape, name or data", path,
                         i, t->name ? t->name : "");
            goto done;
        }
        if (strcmp(t->name, "__metadata__") == 0 || strncmp(t->name, RR_ST_PAD_PREFIX, strlen(RR_ST_PAD_PREFIX)) == 0) {
            st = rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "%s: tensor '%s': duplicate or reserved name", path, t->name);
            goto done;
        }
        size_t at = round_up_size(offset, align);
        if (at < offset || at > SIZE_MAX - n) {
            st = rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "%s: tensor '%s': bad shape", path, t->name);
            goto done;
        }
        if (at > offset) {
            char pad[64];
            int64_t len = (int64_t)(at - offset);
            snprintf(pad, sizeof pad, "%s%zu", RR_ST_PAD_PREFIX, i);
            if ((st = add_entry(root, pad, RR_ST_U8, &len, 1, offset, at - offset, path, err))) goto done;
        }
        if ((st = add_entry(root, t->name, t->dtype, t->shape, t->n_dims, at, n, path, err))) goto done;
        begin[i] = at;
        offset = at + n;
    }
    hdr = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!hdr) {
        st = rr_fail(err, RERANK_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    size_t hlen = strlen(hdr), padded = round_up_size(8 + hlen, align > 8 ? align : 8) - 8;
    f = fopen(path, "wb");
    if (!f) {
        st = rr_fail(err, RERANK_ERR_IO, "%s: %s", path, strerror(errno));
        goto done;
    }
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    static const char spaces[64] = "                                                                ";
    static const unsigned char zeros[4096];
    if ((st = write_all(f, len8, 8, path, err)) || (st = write_all(f, hdr, hlen, path, err))) goto done;
    for (size_t left = padded - hlen; left > 0;) {
        size_t k = left < sizeof spaces ? left : sizeof spaces;
        if ((st = write_all(f, spaces, k, path, err))) goto done;
        left -= k;
    }
    offset = 0;
    for (size_t i = 0; i < n_tensors; i++) {
        if ((st = write_all(f, zeros, begin[i] - offset, path, err)) ||
            (st = write_all(f, tensors[i].data, write_size(&tensors[i]), path, err)))
            goto done;
        offset = begin[i] + write_size(&tensors[i]);
    }
done:
    if (f && fclose(f) != 0 && !st) st = rr_fail(err, RERANK_ERR_IO, "%s: close failed: %s", path, strerror(errno));
    free(hdr);
    free(begin);
    json_decref(root);
    return st;
}

rerank_status rr_safetensors_write(const char *path, const rr_st_write_tensor *tensors, size_t n_tensors,
                                   rerank_error *err) {
    return write_file(path, tensors, n_tensors, 1, err);
}

rerank_status rr_safetensors_write_aligned(const char *path, const rr_st_write_tensor *tensors, size_t n_tensors,
                                           size_t align, rerank_error *err) {
    if (align == 0 || align > 4096 || (align & (align - 1)))
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "%s: alignment %zu is not a power of two up to 4096", path,
                       align);
    return write_file(path, tensors, n_tensors, align, err);
}
