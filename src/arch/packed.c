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
    } else if (!(st = stored(w, d, SFX_INT8, RR_ST_I8, (const int64_t[]){P, (d->in + 3) / 4, RR_WMAT_PANEL, 4}, 4,
                             &panels, err)) &&
               !(st = stored(w, d, SFX_SCALE, RR_ST_F32, (const int64_t[]){P, RR_WMAT_PANEL}, 2, &scale, err))) {
        st = stored(w, d, SFX_COLSUM, RR_ST_I32, (const int64_t[]){P, RR_WMAT_PANEL}, 2, &colsum, err);
    }
    if (st) return st;
    rr_wmat_borrow(d->mat, type, d->out, d->in, panels, scale, colsum);
    return RERANK_OK;
}
