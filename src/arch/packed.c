/* packed.c - converted models (format in packed.h): reading the config key, borrowing the stored panels at
 * load, and writing a converted model directory (rr_model_save_converted). */
#include "arch/packed.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/error.h"
#include "base/file.h"

#define CONFIG "config.json"

/* Tensor-name suffixes of a packed matrix, by role. */
static const char *const suffixes[] = {".rr_bf16", ".rr_int8", ".rr_scale", ".rr_colsum"};
enum { SFX_BF16, SFX_INT8, SFX_SCALE, SFX_COLSUM, N_SFX };

rerank_status rr_packed_read_config(const json_t *config, rerank_dtype *dtype, rerank_error *err) {
    *dtype = RERANK_DTYPE_AUTO;
    const json_t *p = json_object_get(config, RR_PACKED_KEY);
    if (!p || json_is_null(p)) return RERANK_OK;
    const json_t *fmt = json_object_get(p, "format"), *dt = json_object_get(p, "dtype"),
                 *panel = json_object_get(p, "panel");
    if (!json_is_object(p) || !json_is_integer(fmt))
        return rr_fail(err, RERANK_ERR_FORMAT, "%s: field '%s' must be an object with an integer 'format'", CONFIG,
                       RR_PACKED_KEY);
    if (json_integer_value(fmt) != RR_PACKED_FORMAT)
        return rr_fail(err, RERANK_ERR_UNSUPPORTED,
                       "%s: '%s' format %lld is not supported (this rerank reads format %d); convert the original "
                       "model again", CONFIG, RR_PACKED_KEY, (long long)json_integer_value(fmt), RR_PACKED_FORMAT);
    const char *s = json_string_value(dt);
    if (!s || (strcmp(s, "bf16") != 0 && strcmp(s, "int8") != 0))
        return rr_fail(err, RERANK_ERR_UNSUPPORTED, "%s: '%s' dtype '%.32s' is not supported (bf16, int8)", CONFIG,
                       RR_PACKED_KEY, s ? s : "(not a string)");
    if (!json_is_integer(panel) || json_integer_value(panel) != RR_WMAT_PANEL)
        return rr_fail(err, RERANK_ERR_UNSUPPORTED, "%s: '%s' panel must be %d (this rerank's panel width)", CONFIG,
                       RR_PACKED_KEY, RR_WMAT_PANEL);
    *dtype = strcmp(s, "bf16") == 0 ? RERANK_DTYPE_BF16 : RERANK_DTYPE_INT8;
    return RERANK_OK;
}

/* <d->name><suffix> into buf. */
static const char *packed_name(char *buf, size_t size, const rr_dense *d, int sfx) {
    snprintf(buf, size, "%s%s", d->name, suffixes[sfx]);
    return buf;
}

/* One stored tensor of a packed matrix, checked for dtype, shape and 64-byte alignment. */
static rerank_status stored(rr_weights *w, const rr_dense *d, int sfx, rr_st_dtype dtype, const int64_t *shape,
                            int n_dims, const void **out, rerank_error *err) {
    char name[sizeof d->name + 16];
    const rr_st_tensor *t;
    rerank_status st = rr_weights_require_raw(w, packed_name(name, sizeof name, d, sfx), dtype, shape, n_dims,
                                              RR_PACKED_ALIGN, &t, err);
    *out = st ? NULL : t->data;
    return st;
}

rerank_status rr_packed_bind(rr_weights *w, const rr_dense *d, rr_wtype type, rerank_error *err) {
    int64_t P = (d->out + RR_WMAT_PANEL - 1) / RR_WMAT_PANEL;
    rerank_status st;
    if (type == RR_W_F32) {
        const float *v;
        if ((st = RR_WEIGHTS_REQUIRE(w, d->name, &v, err, d->out, d->in))) return st;
        rr_wmat_init(d->mat, RR_W_F32, v, d->out, d->in); /* a view: cannot fail */
        return RERANK_OK;
    }
    const void *panels, *scale = NULL, *colsum = NULL;
    if (type == RR_W_BF16) {
        st = stored(w, d, SFX_BF16, RR_ST_BF16, (const int64_t[]){P, (d->in + 1) / 2, RR_WMAT_PANEL, 2}, 4, &panels, err);
        /* an int8 file converted by an older rerank on a CPU without AVX512_BF16 kept its down-projections as
         * stored: still loads, in fp32 */
        const float *v;
        if (st && d->down && !RR_WEIGHTS_REQUIRE(w, d->name, &v, NULL, d->out, d->in)) {
            rr_wmat_init(d->mat, RR_W_F32, v, d->out, d->in);
            return RERANK_OK;
        }
    } else if (!(st = stored(w, d, SFX_INT8, RR_ST_I8, (const int64_t[]){P, (d->in + 3) / 4, RR_WMAT_PANEL, 4}, 4,
                             &panels, err)) &&
               !(st = stored(w, d, SFX_SCALE, RR_ST_F32, (const int64_t[]){P, RR_WMAT_PANEL}, 2, &scale, err))) {
        st = stored(w, d, SFX_COLSUM, RR_ST_I32, (const int64_t[]){P, RR_WMAT_PANEL}, 2, &colsum, err);
    }
    if (st) return st;
    rr_wmat_borrow(d->mat, type, d->out, d->in, panels, scale, colsum);
    return RERANK_OK;
}

/* ---- writing a converted model directory ---- */

/* out_dir created, or already there and empty: a conversion never overwrites files (its source's among them). */
static rerank_status fresh_dir(const char *dir, rerank_error *err) {
    DIR *d = opendir(dir);
    if (!d) return errno == ENOENT ? rr_dir_make(dir, err) : rr_fail(err, RERANK_ERR_IO, "%s: %s", dir, strerror(errno));
    struct dirent *e;
    bool empty = true;
    while (empty && (e = readdir(d))) empty = !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..");
    closedir(d);
    return empty ? RERANK_OK
                 : rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "%s: exists and is not empty; give a new directory", dir);
}

static bool ends_with(const char *s, const char *end) {
    size_t a = strlen(s), b = strlen(end);
    return a >= b && strcmp(s + a - b, end) == 0;
}

/* Every regular file of src_dir but config.json (rewritten) and the weights in any format (model.safetensors is
 * rewritten; the others would hold the unconverted weights). Subdirectories are left out. */
static rerank_status copy_other_files(const char *src_dir, const char *out_dir, rerank_error *err) {
    static const char *const weights[] = {".safetensors", ".safetensors.index.json", ".bin", ".bin.index.json", ".pt",
                                          ".pth", ".ckpt", ".h5", ".msgpack", ".onnx", ".gguf"};
    DIR *d = opendir(src_dir);
    if (!d) return rr_fail(err, RERANK_ERR_IO, "%s: %s", src_dir, strerror(errno));
    rerank_status st = RERANK_OK;
    struct dirent *e;
    while (!st && (e = readdir(d))) {
        bool skip = !strcmp(e->d_name, CONFIG);
        for (size_t i = 0; i < sizeof weights / sizeof *weights; i++) skip = skip || ends_with(e->d_name, weights[i]);
        char src[4096], dst[4096];
        if (skip || !rr_path_join(src, sizeof src, src_dir, e->d_name) || !rr_file_exists(src)) continue;
        if (!rr_path_join(dst, sizeof dst, out_dir, e->d_name))
            st = rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "%s: path too long", out_dir);
        else
            st = rr_file_copy(src, dst, err);
    }
    closedir(d);
    return st;
}

static rerank_status write_config(const json_t *config, rerank_dtype dtype, const char *out_dir, rerank_error *err) {
    char path[4096];
    if (!rr_path_join(path, sizeof path, out_dir, CONFIG))
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "%s: path too long", out_dir);
    json_t *c = json_deep_copy(config);
    json_t *key = json_pack("{s:i, s:s, s:i}", "format", RR_PACKED_FORMAT, "dtype",
                            dtype == RERANK_DTYPE_BF16 ? "bf16" : "int8", "panel", RR_WMAT_PANEL);
    rerank_status st = RERANK_OK;
    if (!c || !key || json_object_set_new(c, RR_PACKED_KEY, key))
        st = rr_fail(err, RERANK_ERR_NOMEM, "%s: out of memory", path);
    else if (json_dump_file(c, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0)
        st = rr_fail(err, RERANK_ERR_IO, "%s: cannot write", path);
    if (!c) json_decref(key);
    json_decref(c);
    return st;
}

static int by_name(const void *a, const void *b) {
    return strcmp((*(const rr_dense *const *)a)->name, (*(const rr_dense *const *)b)->name);
}

/* The dense matrix (sorted by name) whose source `name` is, or whose stored panels it is (*packed set); NULL
 * for the other tensors. */
static const rr_dense *dense_of(const rr_dense *const *sorted, size_t n, const char *name, bool *packed) {
    rr_dense key;
    snprintf(key.name, sizeof key.name, "%s", name);
    *packed = false;
    for (int s = 0; s < N_SFX && !*packed; s++)
        if (ends_with(key.name, suffixes[s])) {
            key.name[strlen(key.name) - strlen(suffixes[s])] = '\0';
            *packed = true;
        }
    const rr_dense *k = &key, *const *hit = bsearch(&k, sorted, n, sizeof *sorted, by_name);
    return hit ? *hit : NULL;
}

/* The tensors of a converted model.safetensors: the dense matrices as m holds them (packed panels first: their
 * sizes are multiples of 64 bytes, so no fillers between them), then every other tensor of the source. *names
 * owns the packed tensors' names. */
static rerank_status converted_tensors(rr_model *m, rr_st_write_tensor **out, size_t *n_out, char **names,
                                       rerank_error *err) {
    enum { NAME = sizeof ((rr_dense *)0)->name + 16 };
    size_t n_dense = m->row->family->dense(m, NULL), n_src = rr_weights_count(m->weights), n = 0;
    rr_dense *list = calloc(n_dense ? n_dense : 1, sizeof *list);
    const rr_dense **sorted = calloc(n_dense ? n_dense : 1, sizeof *sorted);
    rr_st_write_tensor *ts = calloc(3 * n_dense + n_src + 1, sizeof *ts);
    char *nm = *names = calloc(3 * n_dense + 1, NAME);
    rerank_status st = RERANK_OK;
    if (!list || !sorted || !ts || !nm) {
        st = rr_fail(err, RERANK_ERR_NOMEM, "out of memory listing the tensors to write");
        goto done;
    }
    m->row->family->dense(m, list);
    for (size_t i = 0; i < n_dense; i++) {
        const rr_dense *d = &list[i];
        const rr_wmat *w = d->mat;
        int64_t P = (d->out + RR_WMAT_PANEL - 1) / RR_WMAT_PANEL;
        sorted[i] = d;
        if (w->type == RR_W_BF16) {
            ts[n++] = (rr_st_write_tensor){packed_name(nm, NAME, d, SFX_BF16), RR_ST_BF16, 4,
                                           {P, (d->in + 1) / 2, RR_WMAT_PANEL, 2}, w->packed};
            nm += NAME;
        } else if (w->type == RR_W_INT8) {
            ts[n++] = (rr_st_write_tensor){packed_name(nm, NAME, d, SFX_INT8), RR_ST_I8, 4,
                                           {P, (d->in + 3) / 4, RR_WMAT_PANEL, 4}, w->packed};
            ts[n++] = (rr_st_write_tensor){packed_name(nm + NAME, NAME, d, SFX_SCALE), RR_ST_F32, 2, {P, RR_WMAT_PANEL},
                                           w->scale};
            ts[n++] = (rr_st_write_tensor){packed_name(nm + 2 * NAME, NAME, d, SFX_COLSUM), RR_ST_I32, 2,
                                           {P, RR_WMAT_PANEL}, w->colsum};
            nm += 3 * NAME;
        }
    }
    qsort(sorted, n_dense, sizeof *sorted, by_name);
    for (size_t i = 0; i < n_src; i++) {
        const rr_st_tensor *t = rr_weights_at(m->weights, i, NULL);
        bool packed;
        const rr_dense *d = dense_of(sorted, n_dense, t->name, &packed);
        /* written above; a matrix kept fp32 would stay as stored */
        if ((d && (packed || d->mat->type != RR_W_F32)) || !strncmp(t->name, RR_ST_PAD_PREFIX, strlen(RR_ST_PAD_PREFIX)))
            continue;
        rr_st_write_tensor *x = &ts[n++];
        *x = (rr_st_write_tensor){t->name, t->dtype, t->n_dims, {0}, t->data};
        memcpy(x->shape, t->shape, sizeof x->shape);
    }
    *out = ts;
    *n_out = n;
    ts = NULL;
done:
    free(ts);
    free(sorted);
    free(list);
    return st;
}

rerank_status rr_model_save_converted(rr_model *m, const json_t *config, const char *src_dir, const char *out_dir,
                                      rerank_error *err) {
    if (!m || !m->weights || (m->dtype != RERANK_DTYPE_BF16 && m->dtype != RERANK_DTYPE_INT8))
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT,
                       "rr_model_save_converted: a model loaded as bf16 or int8 is needed");
    char path[4096];
    if (!rr_path_join(path, sizeof path, out_dir, "model.safetensors"))
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "%s: path too long", out_dir);
    rr_st_write_tensor *ts = NULL;
    size_t n = 0;
    char *names = NULL;
    rerank_status st = fresh_dir(out_dir, err);
    if (!st) st = converted_tensors(m, &ts, &n, &names, err);
    if (!st) st = rr_safetensors_write_aligned(path, ts, n, RR_PACKED_ALIGN, err);
    if (!st) st = copy_other_files(src_dir, out_dir, err);
    if (!st) st = write_config(config, m->dtype, out_dir, err); /* last: a directory without it does not load */
    free(ts);
    free(names);
    return st;
}
