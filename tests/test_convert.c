/* test_convert.c - converted models (rerank convert, arch/packed.h): the file stores exactly the panels that
 * loading with --dtype builds, loading it borrows them from the map, scores equal (==) the original's with that
 * dtype for every tiny checkpoint, and bad converted files or requests fail with one line naming the file and
 * tensor or key. Every CPU runs both dtypes, so nothing here depends on the machine. */
#include <unistd.h>

#include "arch/arch.h"
#include "arch/packed.h"
#include "base/file.h"
#include "base/json.h"
#include "golden.h"
#include "io/safetensors.h"
#include "rerank.h"
#include "test.h"
#include "train/trainer.h"

static const char *const models[] = {"xlmr-seqcls-tiny", "xlmr-seqcls-tiny-f16", "bert-seqcls-tiny",
                                     "gemma-causal-tiny-bf16", "qwen3-causal-tiny", "qwen2-causal-tiny",
                                     "minicpm-layerwise-tiny"};
static const rerank_dtype dtypes[] = {RERANK_DTYPE_BF16, RERANK_DTYPE_INT8};


static const char *model_dir(const char *name) {
    char rel[256];
    snprintf(rel, sizeof rel, "testdata/%s", name);
    return rr_shared_path(rel);
}

static char *make_tmpdir(void) {
    char *d = strdup("/tmp/rerank-convert-XXXXXX");
    return mkdtemp(d) ? d : NULL;
}

static void rm_tree(const char *dir) {
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "    cannot remove %s\n", dir);
}

/* Scores of the golden pairs of `name` (at their max_length, one call per pair) by the model in dir. */
static bool score_rows(const char *dir, rerank_dtype dtype, const json_t *rows, float *out, rerank_error *err) {
    rerank_model_params mp = rerank_model_default_params();
    mp.dtype = dtype;
    rerank_model *m;
    rerank_session *s = NULL;
    if (rerank_model_load(dir, &mp, &m, err) || rerank_session_new(m, &s, err)) {
        rerank_model_free(m);
        return false;
    }
    bool ok = true;
    for (size_t i = 0; ok && i < json_array_size(rows); i++) {
        const json_t *row = json_array_get(rows, i), *q = json_object_get(row, "query"), *p = json_object_get(row, "passage");
        rerank_pair pair = {json_string_value(q), json_string_length(q), json_string_value(p), json_string_length(p)};
        rerank_score_params sp = rerank_score_default_params();
        sp.max_length = (int)json_integer_value(json_object_get(row, "max_length"));
        ok = rerank_score(s, &sp, &pair, 1, &out[i], err) == RERANK_OK;
    }
    rerank_session_free(s);
    rerank_model_free(m);
    return ok;
}

/* The stored tensor `name` has exactly n bytes equal to p, and starts 64-byte aligned. */
static bool stored_equals(const rr_safetensors *st, const char *name, const void *p, size_t n) {
    const rr_st_tensor *t = rr_safetensors_find(st, name);
    return t && t->n_bytes == n && memcmp(t->data, p, n) == 0 && t->file_offset % RR_PACKED_ALIGN == 0;
}

/* Every dense matrix of the original loaded with dtype is in the converted file byte for byte (int8: panels,
 * scales, column sums; the down-projections as bf16 panels), and the converted model borrows exactly those bytes
 * from its map. Returns the number of matrices compared. */
static size_t check_stored_panels(const char *orig, const char *conv, rerank_dtype dtype) {
    json_t *ca = NULL, *cb = NULL;
    rerank_error err;
    char path[1024], path2[1024];
    snprintf(path, sizeof path, "%s/config.json", orig);
    snprintf(path2, sizeof path2, "%s/config.json", conv);
    rr_model *a = NULL, *b = NULL;
    rr_safetensors *st = NULL;
    size_t n = 0, checked = 0;
    rr_dense *la = NULL, *lb = NULL;
    if (rr_json_load_file(path, 1 << 20, &ca, &err) || rr_json_load_file(path2, 1 << 20, &cb, &err) ||
        rr_model_load(orig, ca, dtype, &a, &err) || rr_model_load(conv, cb, RERANK_DTYPE_AUTO, &b, &err) ||
        (snprintf(path, sizeof path, "%s/model.safetensors", conv), rr_safetensors_open(path, &st, &err))) {
        CHECK(0, "%s", err.message);
        goto done;
    }
    n = a->row->family->dense(a, NULL);
    la = calloc(n, sizeof *la), lb = calloc(n, sizeof *lb);
    a->row->family->dense(a, la);
    b->row->family->dense(b, lb);
    CHECK(b->packed && b->dtype == dtype && b->row->family->dense(b, NULL) == n);
    for (size_t i = 0; i < n; i++) {
        const rr_wmat *x = la[i].mat, *y = lb[i].mat;
        size_t P = (size_t)(x->out + RR_WMAT_PANEL - 1) / RR_WMAT_PANEL;
        rr_wtype want = dtype == RERANK_DTYPE_BF16 || la[i].down ? RR_W_BF16 : RR_W_INT8;
        CHECK(!strcmp(la[i].name, lb[i].name) && x->type == want && y->type == want && y->out == x->out &&
              y->in == x->in, "%s", la[i].name);
        /* what the converted model reads is its own map's bytes, not a copy */
#define STORED(sfx, field, bytes)                                                                           \
    do {                                                                                                    \
        char name[256];                                                                                     \
        snprintf(name, sizeof name, "%s%s", la[i].name, sfx);                                              \
        const rr_st_tensor *t = rr_weights_find(b->weights, name, NULL);                                   \
        CHECK(stored_equals(st, name, x->field, bytes) && t && (const void *)t->data == y->field, "%s", name); \
    } while (0)
        if (want == RR_W_BF16) {
            STORED(".rr_bf16", packed, P * (size_t)((x->in + 1) / 2) * RR_WMAT_PANEL * 2 * sizeof(uint16_t));
        } else if (want == RR_W_INT8) {
            STORED(".rr_int8", packed, P * (size_t)((x->in + 3) / 4) * RR_WMAT_PANEL * 4);
            STORED(".rr_scale", scale, P * RR_WMAT_PANEL * sizeof(float));
            STORED(".rr_colsum", colsum, P * RR_WMAT_PANEL * sizeof(int32_t));
        }
#undef STORED
        CHECK(want == RR_W_F32 ? !y->borrowed && rr_safetensors_find(st, la[i].name) != NULL
                               : y->borrowed && !rr_safetensors_find(st, la[i].name),
              "%s: the fp32 original is %s", la[i].name, want == RR_W_F32 ? "missing" : "still there");
        checked++;
    }
done:
    free(la);
    free(lb);
    rr_safetensors_free(st);
    rr_model_free(a);
    rr_model_free(b);
    json_decref(ca);
    json_decref(cb);
    return checked;
}

/* Converting then loading scores exactly (==) as converting at load, for every tiny checkpoint, encoder and
 * decoder, bf16 and int8, loaded with dtype auto or the same dtype; the file holds what loading builds. */
TEST(convert_scores_equal_converting_at_load) {
    char *tmp = make_tmpdir();
    REQUIRE(tmp);
    for (size_t t = 0; t < 2; t++) {
        for (size_t i = 0; i < sizeof models / sizeof *models; i++) {
            char out[1024], rel[256];
            snprintf(out, sizeof out, "%s/%s-%s", tmp, models[i], t ? "int8" : "bf16");
            snprintf(rel, sizeof rel, "testdata/%s/golden_fast.jsonl", models[i]);
            json_t *rows = golden_load(rr_shared_path(rel));
            REQUIRE(rows && json_array_size(rows) > 0, "%s", rel);
            size_t n = json_array_size(rows);
            float *want = calloc(n, sizeof *want), *got = calloc(n, sizeof *got), *got2 = calloc(n, sizeof *got2);
            rerank_error err;
            const char *dir = model_dir(models[i]);
            CHECK(rerank_model_convert(dir, out, dtypes[t], &err) == RERANK_OK, "%s", err.message);
            CHECK(score_rows(dir, dtypes[t], rows, want, &err), "%s", err.message);
            CHECK(score_rows(out, RERANK_DTYPE_AUTO, rows, got, &err), "%s", err.message);
            CHECK(score_rows(out, dtypes[t], rows, got2, &err), "%s", err.message);
            size_t same = 0;
            for (size_t r = 0; r < n; r++) same += got[r] == want[r] && got2[r] == want[r];
            CHECK(same == n, "%s %s: %zu of %zu scores equal", models[i], t ? "int8" : "bf16", same, n);
            size_t mats = check_stored_panels(dir, out, dtypes[t]);
            CHECK(mats > 0);
            fprintf(stderr, "    %s %s: %zu scores equal, %zu matrices stored as built\n", models[i],
                    t ? "int8" : "bf16", same, mats);
            free(want), free(got), free(got2);
            json_decref(rows);
        }
    }
    rm_tree(tmp);
    free(tmp);
}

/* The converted directory has the original's other files unchanged and config.json with the key; converting a
 * converted model again with its dtype reproduces it byte for byte. */
TEST(convert_copies_files_and_is_idempotent) {
    rerank_dtype dt = RERANK_DTYPE_INT8;
    char *tmp = make_tmpdir();
    REQUIRE(tmp);
    char a[1024], b[1024], cmd[4096];
    snprintf(a, sizeof a, "%s/a", tmp);
    snprintf(b, sizeof b, "%s/b", tmp);
    const char *src = model_dir("xlmr-seqcls-tiny");
    rerank_error err;
    REQUIRE(rerank_model_convert(src, a, dt, &err) == RERANK_OK, "%s", err.message);
    static const char *const same[] = {"tokenizer.json", "sentencepiece.bpe.model", "special_tokens_map.json",
                                       "tokenizer_config.json"};
    for (size_t i = 0; i < sizeof same / sizeof *same; i++) {
        snprintf(cmd, sizeof cmd, "cmp -s '%s/%s' '%s/%s'", src, same[i], a, same[i]);
        CHECK(system(cmd) == 0, "%s differs", same[i]);
    }
    json_t *cfg, *orig;
    snprintf(cmd, sizeof cmd, "%s/config.json", a);
    REQUIRE(rr_json_load_file(cmd, 1 << 20, &cfg, &err) == RERANK_OK, "%s", err.message);
    snprintf(cmd, sizeof cmd, "%s/config.json", src);
    REQUIRE(rr_json_load_file(cmd, 1 << 20, &orig, &err) == RERANK_OK, "%s", err.message);
    json_t *key = json_object_get(cfg, RR_PACKED_KEY);
    CHECK(json_integer_value(json_object_get(key, "format")) == 1 &&
          !strcmp(json_string_value(json_object_get(key, "dtype")), dt == RERANK_DTYPE_INT8 ? "int8" : "bf16") &&
          json_integer_value(json_object_get(key, "panel")) == 32);
    json_object_del(cfg, RR_PACKED_KEY);
    CHECK(json_equal(cfg, orig), "config.json changed beyond the key");
    json_decref(cfg), json_decref(orig);
    REQUIRE(rerank_model_convert(a, b, dt, &err) == RERANK_OK, "%s", err.message);
    snprintf(cmd, sizeof cmd, "cmp -s '%s/model.safetensors' '%s/model.safetensors'", a, b);
    CHECK(system(cmd) == 0, "a second conversion changed model.safetensors");
    /* never into a directory with files in it (the source's own, for one) */
    CHECK(rerank_model_convert(src, a, dt, &err) == RERANK_ERR_INVALID_ARGUMENT);
    CHECK(strstr(err.message, "exists and is not empty") && !strchr(err.message, '\n'), "%s", err.message);
    CHECK(rerank_model_convert(src, b, RERANK_DTYPE_F32, &err) == RERANK_ERR_INVALID_ARGUMENT);
    rm_tree(tmp);
    free(tmp);
}

/* A converted model loads with dtype auto or its own only; another dtype is refused naming the stored one, and
 * training refuses it. */
TEST(convert_refuses_another_dtype) {
    rerank_dtype dt = RERANK_DTYPE_INT8;
    char *tmp = make_tmpdir();
    REQUIRE(tmp);
    char out[1024];
    snprintf(out, sizeof out, "%s/m", tmp);
    rerank_error err;
    REQUIRE(rerank_model_convert(model_dir("qwen3-causal-tiny"), out, dt, &err) == RERANK_OK, "%s", err.message);
    const char *name = dt == RERANK_DTYPE_INT8 ? "int8" : "bf16";
    rerank_dtype others[] = {RERANK_DTYPE_F32, dt == RERANK_DTYPE_INT8 ? RERANK_DTYPE_BF16 : RERANK_DTYPE_INT8};
    for (size_t i = 0; i < 2; i++) {
        rerank_model_params mp = rerank_model_default_params();
        mp.dtype = others[i];
        rerank_model *m = NULL;
        CHECK(rerank_model_load(out, &mp, &m, &err) == RERANK_ERR_UNSUPPORTED && !m);
        char want[64];
        snprintf(want, sizeof want, "the model is converted to %s", name);
        CHECK(strstr(err.message, want) && strstr(err.message, out) && !strchr(err.message, '\n'), "%s", err.message);
    }
    /* nor can it be trained (its fp32 dense weights are gone) */
    rr_trainer *tr = NULL;
    rr_trainer_opts topts = {0};
    CHECK(rr_trainer_open(out, &topts, &tr, &err) == RERANK_ERR_UNSUPPORTED && !tr);
    CHECK(strstr(err.message, "converted model") && strstr(err.message, "train the original"), "%s", err.message);
    rr_trainer_free(tr);
    rm_tree(tmp);
    free(tmp);
}

/* ---- bad converted files ---- */

/* Rewrites dir/model.safetensors from its own tensors (fillers dropped) with the tensor `name` given another
 * dtype / shape (when set) or left out (drop), aligned to `align`. */
static bool rewrite(const char *dir, const char *name, bool drop, int dtype, const int64_t *shape, int n_dims,
                    size_t align) {
    char path[1024], tmp[1100];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    snprintf(tmp, sizeof tmp, "%s.old", path);
    rerank_error err;
    rr_safetensors *st;
    if (rename(path, tmp) != 0 || rr_safetensors_open(tmp, &st, &err)) return false;
    size_t n = rr_safetensors_count(st), k = 0;
    rr_st_write_tensor *ts = calloc(n, sizeof *ts);
    for (size_t i = 0; i < n; i++) {
        const rr_st_tensor *t = rr_safetensors_at(st, i);
        if (!strncmp(t->name, RR_ST_PAD_PREFIX, strlen(RR_ST_PAD_PREFIX)) || (drop && !strcmp(t->name, name))) continue;
        rr_st_write_tensor *x = &ts[k++];
        *x = (rr_st_write_tensor){t->name, t->dtype, t->n_dims, {0}, t->data};
        memcpy(x->shape, t->shape, sizeof x->shape);
        if (strcmp(t->name, name) != 0) continue;
        if (dtype >= 0) x->dtype = (rr_st_dtype)dtype;
        if (shape) x->n_dims = n_dims, memcpy(x->shape, shape, (size_t)n_dims * sizeof *shape);
    }
    bool ok = (align > 1 ? rr_safetensors_write_aligned(path, ts, k, align, &err) : rr_safetensors_write(path, ts, k, &err)) ==
              RERANK_OK;
    free(ts);
    rr_safetensors_free(st);
    unlink(tmp);
    return ok;
}

/* Sets config.json's rerank_packed.<field> to v (NULL: removes the whole key). */
static bool edit_key(const char *dir, const char *field, json_t *v) {
    char path[1024];
    snprintf(path, sizeof path, "%s/config.json", dir);
    json_t *c;
    rerank_error err;
    if (rr_json_load_file(path, 1 << 20, &c, &err)) return false;
    if (field) json_object_set_new(json_object_get(c, RR_PACKED_KEY), field, v);
    else json_object_set_new(c, RR_PACKED_KEY, v);
    bool ok = json_dump_file(c, path, JSON_INDENT(2)) == 0;
    json_decref(c);
    return ok;
}

/* Loads dir with dtype auto: fails with `status` and a one-line message containing `want`. */
static void expect_error(const char *dir, rerank_status status, const char *want, const char *what) {
    rerank_model *m = NULL;
    rerank_error err;
    rerank_status st = rerank_model_load(dir, NULL, &m, &err);
    CHECK(st == status && !m, "%s: status %d: %s", what, (int)st, st ? err.message : "loaded");
    CHECK(st && strstr(err.message, want) && !strchr(err.message, '\n'), "%s: '%s' lacks '%s'", what, err.message, want);
    rerank_model_free(m);
}

TEST(convert_bad_files_fail_with_one_line) {
    char *tmp = make_tmpdir();
    REQUIRE(tmp);
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/m", tmp);
    const char *src = model_dir("xlmr-seqcls-tiny");
    rerank_error err;
    const char *q = "roberta.encoder.layer.1.attention.self.query.weight";
    char name[256], want[512];
#define FRESH()                                                                                           \
    do {                                                                                                  \
        rm_tree(dir);                                                                                     \
        REQUIRE(rerank_model_convert(src, dir, RERANK_DTYPE_INT8, &err) == RERANK_OK, "%s", err.message); \
    } while (0)
    /* missing panels / scales */
    FRESH();
    snprintf(name, sizeof name, "%s.rr_scale", q);
    REQUIRE(rewrite(dir, name, true, -1, NULL, 0, 64));
    snprintf(want, sizeof want, "model.safetensors: missing tensor '%s'", name);
    expect_error(dir, RERANK_ERR_FORMAT, want, "missing");
    /* mis-shaped: the same bytes as [2,16,128] */
    FRESH();
    snprintf(name, sizeof name, "%s.rr_int8", q);
    REQUIRE(rewrite(dir, name, false, -1, (const int64_t[]){2, 16, 128}, 3, 64));
    snprintf(want, sizeof want, "model.safetensors: tensor '%s' is [2,16,128], expected [2,16,32,4]", name);
    expect_error(dir, RERANK_ERR_FORMAT, want, "shape");
    /* wrong dtype: column sums as F32 */
    FRESH();
    snprintf(name, sizeof name, "%s.rr_colsum", q);
    REQUIRE(rewrite(dir, name, false, RR_ST_F32, NULL, 0, 64));
    snprintf(want, sizeof want, "model.safetensors: tensor '%s' has dtype F32, expected I32", name);
    expect_error(dir, RERANK_ERR_FORMAT, want, "dtype");
    /* misaligned: the same tensors back to back */
    FRESH();
    REQUIRE(rewrite(dir, "", false, -1, NULL, 0, 1));
    expect_error(dir, RERANK_ERR_FORMAT, "not a multiple of 64", "alignment");
    expect_error(dir, RERANK_ERR_FORMAT, "model.safetensors: tensor 'roberta.encoder.layer.", "alignment names the tensor");
    /* the key says bf16, the file holds int8 */
    FRESH();
    REQUIRE(edit_key(dir, "dtype", json_string("bf16")));
    snprintf(want, sizeof want, "model.safetensors: missing tensor 'roberta.encoder.layer.0.attention.self.query.weight.rr_bf16'");
    expect_error(dir, RERANK_ERR_FORMAT, want, "dtype mismatch");
    /* the key: unknown format version, dtype, panel width; not an object; removed (the dense weights are gone) */
    REQUIRE(edit_key(dir, "format", json_integer(2)));
    expect_error(dir, RERANK_ERR_UNSUPPORTED, "config.json: 'rerank_packed' format 2 is not supported", "format");
    REQUIRE(edit_key(dir, "format", json_integer(1)) && edit_key(dir, "dtype", json_string("fp8")));
    expect_error(dir, RERANK_ERR_UNSUPPORTED, "config.json: 'rerank_packed' dtype 'fp8' is not supported", "dtype");
    REQUIRE(edit_key(dir, "dtype", json_string("int8")) && edit_key(dir, "panel", json_integer(16)));
    expect_error(dir, RERANK_ERR_UNSUPPORTED, "config.json: 'rerank_packed' panel must be 32", "panel");
    REQUIRE(edit_key(dir, NULL, json_string("int8")));
    expect_error(dir, RERANK_ERR_FORMAT, "config.json: field 'rerank_packed' must be an object", "not an object");
    REQUIRE(edit_key(dir, NULL, json_null()));
    expect_error(dir, RERANK_ERR_FORMAT, "model.safetensors: missing tensor 'roberta.encoder.layer.0.attention.self.query.weight'",
                 "no key");
    /* and the converted model itself still loads */
    FRESH();
    rerank_model *m = NULL;
    CHECK(rerank_model_load(dir, NULL, &m, &err) == RERANK_OK, "%s", err.message);
    rerank_model_free(m);
#undef FRESH
    rm_tree(tmp);
    free(tmp);
}
