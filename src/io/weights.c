/* weights.c - a model directory's safetensors (single file or sharded with an index), with shape-checked
 * fp32 views: F32 used in place from the mmap, F16/BF16 converted once. */
#include "io/weights.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/error.h"
#include "base/file.h"
#include "base/json.h"

#define INDEX_NAME "model.safetensors.index.json"
#define SINGLE_NAME "model.safetensors"
#define MAX_INDEX_BYTES ((size_t)64 << 20)
#define MAX_SHARDS 4096

typedef struct shard {
    char *file; /* base name, e.g. "model-00001-of-00002.safetensors" */
    rr_safetensors *st;
} shard;

struct rr_weights {
    shard *shards;
    size_t n_shards;
    json_t *weight_map; /* index: tensor name -> shard file; NULL for a single file */
    float **owned;      /* converted or realigned copies */
    size_t n_owned, cap_owned;
    char **over_names;  /* rr_weights_override: tensor names and their fp32 replacements (kept in owned) */
    float **over_data;
    size_t n_over;
};

float rr_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu, bits;
    float f;
    if (exp == 0) {
        f = ldexpf((float)man, -24); /* zero or subnormal: man * 2^-24, exact in fp32 */
        return sign ? -f : f;
    }
    if (exp == 31) bits = sign | 0x7f800000u | (man << 13); /* inf / nan (payload kept) */
    else bits = sign | ((exp + 112u) << 23) | (man << 13);
    memcpy(&f, &bits, sizeof f);
    return f;
}

float rr_bf16_to_f32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

void rr_weights_free(rr_weights *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_shards; i++) {
        free(w->shards[i].file);
        rr_safetensors_free(w->shards[i].st);
    }
    free(w->shards);
    json_decref(w->weight_map);
    for (size_t i = 0; i < w->n_owned; i++) free(w->owned[i]);
    free(w->owned);
    for (size_t i = 0; i < w->n_over; i++) free(w->over_names[i]);
    free(w->over_names);
    free(w->over_data);
    free(w);
}

static rerank_status add_shard(rr_weights *w, const char *dir, const char *file, rerank_error *err) {
    for (size_t i = 0; i < w->n_shards; i++)
        if (strcmp(w->shards[i].file, file) == 0) return RERANK_OK;
    if (w->n_shards >= MAX_SHARDS)
        return rr_fail(err, RERANK_ERR_FORMAT, "%s: more than %d shards", INDEX_NAME, MAX_SHARDS);
    if (!*file || strchr(file, '/') || strcmp(file, ".") == 0 || strcmp(file, "..") == 0)
        return rr_fail(err, RERANK_ERR_FORMAT, "%s: bad shard file name '%s'", INDEX_NAME, file);
    char path[4096];
    if (!rr_path_join(path, sizeof path, dir, file))
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "%s: path too long", dir);
    if (!rr_file_exists(path))
        return rr_fail(err, RERANK_ERR_IO, "%s: shard '%s' named in %s does not exist", dir, file, INDEX_NAME);
    shard *ns = realloc(w->shards, (w->n_shards + 1) * sizeof *ns);
    if (!ns) return rr_fail(err, RERANK_ERR_NOMEM, "%s: out of memory", path);
    w->shards = ns;
    shard *s = &w->shards[w->n_shards];
    s->st = NULL;
    if (!(s->file = strdup(file))) return rr_fail(err, RERANK_ERR_NOMEM, "%s: out of memory", path);
    rerank_status st = rr_safetensors_open(path, &s->st, err);
    if (st) {
        free(s->file);
        return st;
    }
    w->n_shards++;
    return RERANK_OK;
}

static rerank_status open_index(rr_weights *w, const char *dir, const char *path, rerank_error *err) {
    json_t *root;
    rerank_status st = rr_json_load_file(path, MAX_INDEX_BYTES, &root, err);
    if (st) return st;
    json_t *map = json_object_get(root, "weight_map");
    if (!json_is_object(map)) {
        json_decref(root);
        return rr_fail(err, RERANK_ERR_FORMAT, "%s: missing object 'weight_map'", path);
    }
    w->weight_map = json_incref(map);
    json_decref(root);
    const char *key;
    json_t *v;
    json_object_foreach(w->weight_map, key, v) {
        if (!json_is_string(v))
            return rr_fail(err, RERANK_ERR_FORMAT, "%s: weight_map['%s'] is not a string", path, key);
        if ((st = add_shard(w, dir, json_string_value(v), err))) return st;
    }
    if (w->n_shards == 0) return rr_fail(err, RERANK_ERR_FORMAT, "%s: 'weight_map' is empty", path);
    return RERANK_OK;
}

rerank_status rr_weights_open(const char *dir, rr_weights **out, rerank_error *err) {
    *out = NULL;
    rr_weights *w = calloc(1, sizeof *w);
    if (!w) return rr_fail(err, RERANK_ERR_NOMEM, "%s: out of memory", dir);
    char path[4096];
    rerank_status st;
    if (!rr_path_join(path, sizeof path, dir, INDEX_NAME)) {
        st = rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "%s: path too long", dir);
    } else if (rr_file_exists(path)) {
        st = open_index(w, dir, path, err);
    } else if (rr_path_join(path, sizeof path, dir, SINGLE_NAME), rr_file_exists(path)) {
        st = add_shard(w, dir, SINGLE_NAME, err);
    } else if (rr_path_join(path, sizeof path, dir, "pytorch_model.bin"), rr_file_exists(path)) {
        st = rr_fail(err, RERANK_ERR_UNSUPPORTED,
                     "%s: only pytorch_model.bin found; rerank reads safetensors. Convert once with: python3 -c "
                     "\"from transformers import AutoModelForSequenceClassification as M; "
                     "M.from_pretrained('%s').save_pretrained('%s', safe_serialization=True)\"",
                     dir, dir, dir);
    } else {
        st = rr_fail(err, RERANK_ERR_IO, "%s: no %s or %s", dir, SINGLE_NAME, INDEX_NAME);
    }
    if (st) {
        rr_weights_free(w);
        return st;
    }
    *out = w;
    return RERANK_OK;
}

const rr_st_tensor *rr_weights_find(const rr_weights *w, const char *name, const char **file) {
    if (!w || !name) return NULL;
    const rr_st_tensor *t = NULL;
    const shard *s = NULL;
    if (w->weight_map) {
        const char *f = json_string_value(json_object_get(w->weight_map, name));
        for (size_t i = 0; f && i < w->n_shards; i++)
            if (strcmp(w->shards[i].file, f) == 0) s = &w->shards[i];
        if (s) t = rr_safetensors_find(s->st, name);
    } else if (w->n_shards == 1) {
        s = &w->shards[0];
        t = rr_safetensors_find(s->st, name);
    }
    if (file) *file = t ? s->file : NULL;
    return t;
}

static rerank_status keep(rr_weights *w, float *p, rerank_error *err) {
    if (w->n_owned == w->cap_owned) {
        size_t cap = w->cap_owned ? 2 * w->cap_owned : 64;
        float **n = realloc(w->owned, cap * sizeof *n);
        if (!n) {
            free(p);
            return rr_fail(err, RERANK_ERR_NOMEM, "out of memory keeping converted weights");
        }
        w->owned = n;
        w->cap_owned = cap;
    }
    w->owned[w->n_owned++] = p;
    return RERANK_OK;
}

/* The tensor `name` with exactly `shape`, and its file; errors name both. */
static rerank_status find_shaped(const rr_weights *w, const char *name, const int64_t *shape, int n_dims,
                                 const rr_st_tensor **out, const char **file, rerank_error *err) {
    const rr_st_tensor *t = *out = rr_weights_find(w, name, file);
    char a[160], b[160];
    if (!t) {
        if (w->weight_map)
            return rr_fail(err, RERANK_ERR_FORMAT, "%s: missing tensor '%s'", INDEX_NAME, name);
        return rr_fail(err, RERANK_ERR_FORMAT, "%s: missing tensor '%s'", w->n_shards ? w->shards[0].file : "?", name);
    }
    int same = t->n_dims == n_dims;
    for (int i = 0; same && i < n_dims; i++) same = t->shape[i] == shape[i];
    if (!same)
        return rr_fail(err, RERANK_ERR_FORMAT, "%s: tensor '%s' is %s, expected %s", *file, name,
                       rr_st_shape_str(a, sizeof a, t->shape, t->n_dims), rr_st_shape_str(b, sizeof b, shape, n_dims));
    return RERANK_OK;
}

rerank_status rr_weights_require_raw(const rr_weights *w, const char *name, rr_st_dtype dtype, const int64_t *shape,
                                     int n_dims, size_t align, const rr_st_tensor **out, rerank_error *err) {
    const char *file;
    rerank_status st = find_shaped(w, name, shape, n_dims, out, &file, err);
    if (st) return st;
    const rr_st_tensor *t = *out;
    *out = NULL;
    if (t->dtype != dtype)
        return rr_fail(err, RERANK_ERR_FORMAT, "%s: tensor '%s' has dtype %s, expected %s", file, name,
                       rr_st_dtype_name(t->dtype), rr_st_dtype_name(dtype));
    if (align > 1 && t->file_offset % align != 0)
        return rr_fail(err, RERANK_ERR_FORMAT, "%s: tensor '%s' starts at byte %zu of the file, not a multiple of %zu",
                       file, name, t->file_offset, align);
    *out = t;
    return RERANK_OK;
}

size_t rr_weights_count(const rr_weights *w) {
    size_t n = 0;
    for (size_t i = 0; w && i < w->n_shards; i++) n += rr_safetensors_count(w->shards[i].st);
    return n;
}

const rr_st_tensor *rr_weights_at(const rr_weights *w, size_t i, const char **file) {
    for (size_t s = 0; w && s < w->n_shards; s++) {
        size_t n = rr_safetensors_count(w->shards[s].st);
        if (i < n) {
            if (file) *file = w->shards[s].file;
            return rr_safetensors_at(w->shards[s].st, i);
        }
        i -= n;
    }
    return NULL;
}

bool rr_weights_to_f32(const rr_st_tensor *t, float *dst) {
    if (t->dtype == RR_ST_F32) {
        memcpy(dst, t->data, t->n_bytes);
        return true;
    }
    if (t->dtype != RR_ST_F16 && t->dtype != RR_ST_BF16) return false;
    for (size_t i = 0; i < t->n_elems; i++) {
        uint16_t h = (uint16_t)(t->data[2 * i] | t->data[2 * i + 1] << 8);
        dst[i] = t->dtype == RR_ST_F16 ? rr_f16_to_f32(h) : rr_bf16_to_f32(h);
    }
    return true;
}

static const float *override_of(const rr_weights *w, const char *name) {
    for (size_t i = 0; i < w->n_over; i++)
        if (strcmp(w->over_names[i], name) == 0) return w->over_data[i];
    return NULL;
}

rerank_status rr_weights_override(rr_weights *w, const char *name, float *data, rerank_error *err) {
    const rr_st_tensor *t = rr_weights_find(w, name, NULL);
    rerank_status st = keep(w, data, err); /* owned from here on, whatever happens below */
    if (st) return st;
    if (!t || override_of(w, name))
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "tensor '%s' is %s", name, t ? "replaced twice" : "absent");
    char **names = realloc(w->over_names, (w->n_over + 1) * sizeof *names);
    if (names) w->over_names = names;
    float **datas = names ? realloc(w->over_data, (w->n_over + 1) * sizeof *datas) : NULL;
    if (datas) w->over_data = datas;
    char *copy = datas ? strdup(name) : NULL;
    if (!copy) return rr_fail(err, RERANK_ERR_NOMEM, "out of memory replacing tensor '%s'", name);
    w->over_names[w->n_over] = copy;
    w->over_data[w->n_over++] = data;
    return RERANK_OK;
}

rerank_status rr_weights_require(rr_weights *w, const char *name, const int64_t *shape, int n_dims,
                                 const float **out, rerank_error *err) {
    *out = NULL;
    const char *file;
    const rr_st_tensor *t;
    rerank_status st = find_shaped(w, name, shape, n_dims, &t, &file, err);
    if (st) return st;
    const float *replaced = override_of(w, name);
    if (replaced) {
        *out = replaced;
        return RERANK_OK;
    }
    if (t->dtype != RR_ST_F32 && t->dtype != RR_ST_F16 && t->dtype != RR_ST_BF16)
        return rr_fail(err, RERANK_ERR_UNSUPPORTED, "%s: tensor '%s' has dtype %s, expected F32, F16 or BF16", file,
                       name, rr_st_dtype_name(t->dtype));
    if (t->n_elems == 0) {
        static const float empty[1];
        *out = empty;
        return RERANK_OK;
    }
    if (t->dtype == RR_ST_F32 && (uintptr_t)t->data % _Alignof(float) == 0) {
        *out = (const float *)(const void *)t->data; /* zero-copy from the mmap */
        return RERANK_OK;
    }
    float *p = malloc(t->n_elems * sizeof *p); /* n_elems * 4 <= file size: no overflow */
    if (!p) return rr_fail(err, RERANK_ERR_NOMEM, "%s: tensor '%s': cannot allocate %zu floats", file, name, t->n_elems);
    rr_weights_to_f32(t, p);
    if ((st = keep(w, p, err))) return st;
    *out = p;
    return RERANK_OK;
}

void rr_weights_release(rr_weights *w, const float *p, size_t n) {
    long page = sysconf(_SC_PAGESIZE);
    if (!p || n == 0 || page <= 0) return;
    uintptr_t lo = ((uintptr_t)p + (uintptr_t)page - 1) & ~((uintptr_t)page - 1);
    uintptr_t hi = (uintptr_t)(p + n) & ~((uintptr_t)page - 1);
    if (hi <= lo) return;
    bool mapped = false;
    for (size_t i = 0; w && i < w->n_shards && !mapped; i++) mapped = rr_safetensors_maps(w->shards[i].st, p, n * sizeof *p);
    /* A mapped file's pages are also made inaccessible: otherwise the read of a small neighbour (a bias, a
     * LayerNorm) maps the page cache's whole large folio around it, released pages included (on a 6.18 kernel
     * ~40 MiB of bge-reranker-base's fp32 sources came back during the first forward pass). Advice only:
     * where either call fails, RSS stays as it was. */
    if (mapped) (void)mprotect((void *)lo, hi - lo, PROT_NONE);
    (void)madvise((void *)lo, hi - lo, MADV_DONTNEED);
}
