/* test_model_decoder.c - the decoder LLMs (Gemma BF16, Qwen3, Qwen2, MiniCPM layerwise) against the golden
 * logits of transformers: every row one by one and all rows packed, full last-position rows, each cutoff
 * layer, layers above the cutoff not run, descriptions and config/tensor errors. */
#include <unistd.h>

#include "arch/model.h"
#include "base/file.h"
#include "base/json.h"
#include "io/safetensors.h"
#include "test.h"

#define TOL 1e-4

/* All rows of a .jsonl file as one JSON array (NULL if unreadable). */
static json_t *read_rows(const char *dir, const char *file) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    char *buf;
    size_t len;
    rerank_error err;
    if (rr_file_read(path, 1 << 27, &buf, &len, &err)) return NULL;
    json_t *rows = json_array();
    for (char *line = buf, *nl; line < buf + len; line = nl + 1) {
        nl = strchr(line, '\n');
        if (!nl) nl = buf + len;
        if (nl == line) continue;
        json_t *row;
        if (rr_json_parse(line, (size_t)(nl - line), path, &row, &err)) break;
        json_array_append_new(rows, row);
    }
    free(buf);
    return rows;
}

static json_t *read_json(const char *dir, const char *file) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    json_t *j = NULL;
    rerank_error err;
    if (rr_json_load_file(path, 1 << 24, &j, &err)) fprintf(stderr, "    %s\n", err.message);
    return j;
}

static rr_model *load_model(const char *dir, rerank_error *err) {
    json_t *config = read_json(dir, "config.json");
    rr_model *m = NULL;
    if (config && rr_model_load(dir, config, RERANK_DTYPE_AUTO, &m, err)) m = NULL;
    json_decref(config);
    return m;
}

static int oracle_int(const char *dir, const char *key) {
    json_t *o = read_json(dir, "oracle_info.json");
    int v = (int)json_integer_value(json_object_get(o, key));
    json_decref(o);
    return v;
}

/* Packed token ids of the rows that have `key`. */
typedef struct {
    int32_t *ids;
    size_t *offsets;
    const json_t **rows;
    size_t n_seqs;
} packed;

/* Packs the rows with `key` (and, when max_length > 0, that max_length). */
static void pack_rows(const json_t *rows, const char *key, int max_length, packed *p) {
    size_t n_tok = 0, i;
    const json_t *row;
    memset(p, 0, sizeof *p);
#define KEEP(row)                                                                                             \
    (json_object_get(row, key) &&                                                                             \
     (max_length <= 0 || json_integer_value(json_object_get(row, "max_length")) == max_length))
    json_array_foreach(rows, i, row) if (KEEP(row)) n_tok += json_array_size(json_object_get(row, "input_ids"));
    p->ids = malloc((n_tok + 1) * sizeof *p->ids);
    p->offsets = malloc((json_array_size(rows) + 1) * sizeof *p->offsets);
    p->rows = malloc((json_array_size(rows) + 1) * sizeof *p->rows);
    if (!p->ids || !p->offsets || !p->rows) abort();
    p->offsets[0] = 0;
    json_array_foreach(rows, i, row) {
        if (!KEEP(row)) continue;
        const json_t *ids = json_object_get(row, "input_ids");
        size_t at = p->offsets[p->n_seqs];
        for (size_t t = 0; t < json_array_size(ids); t++) p->ids[at + t] = (int32_t)json_integer_value(json_array_get(ids, t));
        p->rows[p->n_seqs] = row;
        p->offsets[++p->n_seqs] = at + json_array_size(ids);
    }
#undef KEEP
}

static void packed_free(packed *p) {
    free(p->ids);
    free(p->offsets);
    free(p->rows);
}

/* Runs the rows of `file` that have `key` (an array of golden logits) one by one and packed, with the
 * output selection of `tmpl`: output j must be within TOL of golden[j] (of golden[pick] when pick >= 0),
 * packed within 1e-5 of one by one. max_length > 0 keeps only the rows of that max_length. Returns max
 * |diff|, INFINITY when nothing ran. */
static double check_rows(const char *dir, const char *file, const char *key, int pick, int max_length,
                         const rr_batch *tmpl) {
    rerank_error err;
    rr_model *m = load_model(dir, &err);
    json_t *rows = read_rows(dir, file);
    if (!m || !rows) {
        CHECK(0, "cannot load %s (%s)", dir, m ? file : err.message);
        rr_model_free(m);
        json_decref(rows);
        return INFINITY;
    }
    packed p;
    pack_rows(rows, key, max_length, &p);
    rr_workspace *ws = rr_workspace_new();
    size_t n_out = rr_model_n_outputs(m, tmpl);
    float *one = calloc(p.n_seqs * n_out + 1, sizeof *one), *all = calloc(p.n_seqs * n_out + 1, sizeof *all);
    double worst = p.n_seqs ? 0.0 : INFINITY;
    for (size_t s = 0; s < p.n_seqs; s++) {
        size_t offs[2] = {0, p.offsets[s + 1] - p.offsets[s]};
        rr_batch b = *tmpl;
        b.ids = p.ids + p.offsets[s];
        b.offsets = offs;
        b.n_seqs = 1;
        CHECK(rr_model_forward(m, &b, ws, one + s * n_out, &err) == RERANK_OK, "%s", err.message);
        const json_t *g = json_object_get(p.rows[s], key);
        for (size_t j = 0; j < n_out; j++) {
            double want = json_number_value(json_array_get(g, pick >= 0 ? (size_t)pick : j));
            double d = fabs(one[s * n_out + j] - want);
            if (!(d <= worst)) worst = d;
        }
    }
    rr_batch b = *tmpl;
    b.ids = p.ids;
    b.offsets = p.offsets;
    b.n_seqs = p.n_seqs;
    CHECK(rr_model_forward(m, &b, ws, all, &err) == RERANK_OK, "%s", err.message);
    double packed_worst = 0;
    for (size_t i = 0; i < p.n_seqs * n_out; i++)
        if (!(fabs(all[i] - one[i]) <= packed_worst)) packed_worst = fabs(all[i] - one[i]);
    CHECK(packed_worst <= 1e-5, "%s %s: packed batch differs from one by one by %g", dir, file, packed_worst);
    CHECK(worst <= TOL, "%s %s '%s': max |diff| %g", dir, file, key, worst);
    fprintf(stderr, "    %s %s '%s'%s: %zu rows x %zu outputs, max |diff| = %.3g (packed vs single %.3g)\n",
            strrchr(dir, '/') + 1, file, key, tmpl->layers ? " (cutoff)" : "", p.n_seqs, n_out, worst, packed_worst);
    free(one);
    free(all);
    packed_free(&p);
    rr_workspace_free(ws);
    json_decref(rows);
    rr_model_free(m);
    return worst;
}

TEST(gemma_matches_golden) {
    const char *dir = rr_shared_path("testdata/gemma-causal-tiny-bf16");
    int32_t yes = oracle_int(dir, "yes_token_id");
    rr_batch t = {.score_tokens = &yes, .n_score_tokens = 1};
    CHECK(check_rows(dir, "golden_fast.jsonl", "logits", -1, 0, &t) <= TOL);
    CHECK(check_rows(dir, "golden.jsonl", "logits", -1, 0, &t) <= TOL);
    rr_batch full = {.all_vocab = true};
    CHECK(check_rows(dir, "golden.jsonl", "last_position_logits", -1, 0, &full) <= TOL);
}

static void check_qwen(const char *dir) {
    int32_t no_yes[2] = {oracle_int(dir, "no_token_id"), oracle_int(dir, "yes_token_id")};
    rr_batch t = {.score_tokens = no_yes, .n_score_tokens = 2};
    CHECK(check_rows(dir, "golden_fast.jsonl", "logits", -1, 0, &t) <= TOL);
    int32_t yes = oracle_int(dir, "flagllm_yes_token_id");
    rr_batch f = {.score_tokens = &yes, .n_score_tokens = 1};
    CHECK(check_rows(dir, "golden_flagllm.jsonl", "logits", -1, 0, &f) <= TOL);
}

TEST(qwen3_matches_golden) { check_qwen(rr_shared_path("testdata/qwen3-causal-tiny")); }
TEST(qwen2_matches_golden) { check_qwen(rr_shared_path("testdata/qwen2-causal-tiny")); }

TEST(minicpm_layerwise_matches_golden) {
    const char *dir = rr_shared_path("testdata/minicpm-layerwise-tiny");
    rr_batch dflt = {0};
    CHECK(check_rows(dir, "golden_fast.jsonl", "logits", -1, 0, &dflt) <= TOL);
    static const int all[3] = {2, 3, 4};
    rr_batch t = {.layers = all, .n_layers = 3};
    CHECK(check_rows(dir, "golden.jsonl", "logits_per_layer", -1, 0, &t) <= TOL);
    for (int k = 0; k < 3; k++) {
        rr_batch one = {.layers = &all[k], .n_layers = 1};
        fprintf(stderr, "    cutoff [%d] (max_length 64 rows):\n", all[k]);
        CHECK(check_rows(dir, "golden.jsonl", "logits_per_layer", k, 64, &one) <= TOL);
    }
}

TEST(decoder_describe) {
    static const struct {
        const char *dir;
        rerank_model_kind kind;
        int max_tokens, bos, eos, pad, start, n_layers;
    } want[] = {
        {"testdata/gemma-causal-tiny-bf16", RERANK_KIND_LLM, 8192, 2, 1, 0, 0, 2},
        {"testdata/minicpm-layerwise-tiny", RERANK_KIND_LAYERWISE, 2048, 1, 2, -1, 2, 4},
        {"testdata/qwen3-causal-tiny", RERANK_KIND_QWEN3, 40960, 3260, 3262, -1, 0, 2},
        {"testdata/qwen2-causal-tiny", RERANK_KIND_LLM, 40960, 3260, 3262, -1, 0, 2},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        rerank_error err;
        rr_model *m = load_model(rr_shared_path(want[i].dir), &err);
        REQUIRE(m, "%s: %s", want[i].dir, err.message);
        const rr_model_desc *d = rr_model_describe(m);
        CHECK(d->kind == want[i].kind, "%s", want[i].dir);
        CHECK(d->max_tokens == want[i].max_tokens && d->bos_token_id == want[i].bos && d->eos_token_id == want[i].eos &&
                  d->pad_token_id == want[i].pad && d->start_layer == want[i].start && d->n_layers == want[i].n_layers,
              "%s: max %d bos %d eos %d pad %d start %d layers %d", want[i].dir, d->max_tokens, d->bos_token_id,
              d->eos_token_id, d->pad_token_id, d->start_layer, d->n_layers);
        rr_model_free(m);
    }
}

/* ---- config and input errors ---- */

static rerank_status check_config_edit(const char *dir, const char *key, json_t *value, rerank_error *err) {
    json_t *c = read_json(rr_shared_path(dir), "config.json");
    if (value) json_object_set_new(c, key, value);
    else json_object_del(c, key);
    rerank_status st = rr_model_check_config(c, NULL, err);
    json_decref(c);
    return st;
}

TEST(decoder_config_errors) {
    rerank_error err;
    CHECK(check_config_edit("testdata/qwen3-causal-tiny", "num_key_value_heads", json_integer(3), &err) ==
              RERANK_ERR_FORMAT &&
              strstr(err.message, "config.json") && strstr(err.message, "num_key_value_heads"),
          "%s", err.message);
    CHECK(check_config_edit("testdata/qwen2-causal-tiny", "hidden_size", json_integer(66), &err) == RERANK_ERR_FORMAT &&
              strstr(err.message, "hidden_size"),
          "%s", err.message);
    CHECK(check_config_edit("testdata/gemma-causal-tiny-bf16", "hidden_activation", json_string("relu"), &err) ==
              RERANK_ERR_UNSUPPORTED &&
              strstr(err.message, "hidden_activation"),
          "%s", err.message);
    CHECK(check_config_edit("testdata/minicpm-layerwise-tiny", "start_layer", json_integer(5), &err) ==
              RERANK_ERR_FORMAT &&
              strstr(err.message, "start_layer"),
          "%s", err.message);
    CHECK(check_config_edit("testdata/minicpm-layerwise-tiny", "head_type", json_string("raw"), &err) ==
              RERANK_ERR_UNSUPPORTED,
          "%s", err.message);
    CHECK(check_config_edit("testdata/qwen3-causal-tiny", "rope_scaling", json_pack("{s:s}", "type", "yarn"), &err) ==
              RERANK_ERR_UNSUPPORTED &&
              strstr(err.message, "rope_scaling"),
          "%s", err.message);
    CHECK(check_config_edit("testdata/qwen3-causal-tiny", "head_dim", json_integer(15), &err) == RERANK_ERR_FORMAT &&
              strstr(err.message, "head_dim"),
          "%s", err.message);
    CHECK(check_config_edit("testdata/qwen3-causal-tiny", "num_attention_heads", NULL, &err) == RERANK_ERR_FORMAT &&
              strstr(err.message, "num_attention_heads"),
          "%s", err.message);
}

TEST(decoder_input_errors) {
    rerank_error err;
    rr_model *m = load_model(rr_shared_path("testdata/minicpm-layerwise-tiny"), &err);
    REQUIRE(m, "%s", err.message);
    rr_workspace *ws = rr_workspace_new();
    int32_t ids[4] = {1, 5, 6, 7};
    size_t offs[2] = {0, 4};
    float out[4];
    static const int bad_low[1] = {1}, bad_high[1] = {5}, unsorted[2] = {3, 2};
    rr_batch b = {.ids = ids, .offsets = offs, .n_seqs = 1, .layers = bad_low, .n_layers = 1};
    CHECK(rr_model_forward(m, &b, ws, out, &err) == RERANK_ERR_INVALID_ARGUMENT &&
              strstr(err.message, "cutoff layers must be in [start_layer, num_hidden_layers]"),
          "%s", err.message);
    b.layers = bad_high;
    CHECK(rr_model_forward(m, &b, ws, out, &err) == RERANK_ERR_INVALID_ARGUMENT, "%s", err.message);
    b.layers = unsorted;
    b.n_layers = 2;
    CHECK(rr_model_forward(m, &b, ws, out, &err) == RERANK_ERR_INVALID_ARGUMENT, "%s", err.message);
    b.layers = NULL;
    ids[2] = 4000;
    CHECK(rr_model_forward(m, &b, ws, out, &err) == RERANK_ERR_INPUT, "%s", err.message);
    rr_model_free(m);
    m = load_model(rr_shared_path("testdata/qwen3-causal-tiny"), &err);
    REQUIRE(m, "%s", err.message);
    ids[2] = 6;
    rr_batch q = {.ids = ids, .offsets = offs, .n_seqs = 1};
    CHECK(rr_model_forward(m, &q, ws, out, &err) == RERANK_ERR_INVALID_ARGUMENT, "no score tokens: %s", err.message);
    int32_t tok = 3286;
    q.score_tokens = &tok;
    q.n_score_tokens = 1;
    CHECK(rr_model_forward(m, &q, ws, out, &err) == RERANK_ERR_INVALID_ARGUMENT, "%s", err.message);
    rr_model_free(m);
    rr_workspace_free(ws);
}

/* ---- layers above the cutoff are not run ---- */

/* Copies model dir `src` to a new temporary directory (written to tmp), replacing every tensor whose name
 * starts with one of `poison` by NaNs and leaving out tensors named `drop`. Returns 0 on failure. */
static int copy_model(const char *src, char *tmp, size_t tmp_size, const char *const *poison, const char *drop) {
    const char *base = getenv("TMPDIR");
    snprintf(tmp, tmp_size, "%s/rr_dec_XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmp)) return 0;
    char path[1024], *cfg;
    size_t len;
    rerank_error err;
    snprintf(path, sizeof path, "%s/config.json", src);
    if (rr_file_read(path, 1 << 20, &cfg, &len, &err)) return 0;
    snprintf(path, sizeof path, "%s/config.json", tmp);
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(cfg, 1, len, f) == len;
    if (f) fclose(f);
    free(cfg);
    rr_safetensors *st;
    snprintf(path, sizeof path, "%s/model.safetensors", src);
    if (!ok || rr_safetensors_open(path, &st, &err)) return 0;
    size_t n = rr_safetensors_count(st), k = 0;
    rr_st_write_tensor *wt = calloc(n, sizeof *wt);
    void **owned = calloc(n, sizeof *owned);
    for (size_t i = 0; i < n; i++) {
        const rr_st_tensor *t = rr_safetensors_at(st, i);
        if (drop && strcmp(t->name, drop) == 0) continue;
        wt[k] = (rr_st_write_tensor){t->name, t->dtype, t->n_dims, {0}, t->data};
        memcpy(wt[k].shape, t->shape, sizeof t->shape);
        for (const char *const *p = poison; *p; p++)
            if (strncmp(t->name, *p, strlen(*p)) == 0 && t->dtype == RR_ST_F32) {
                float *nan = malloc(t->n_elems * sizeof *nan);
                for (size_t e = 0; e < t->n_elems; e++) nan[e] = NAN;
                wt[k].data = owned[i] = nan;
            }
        k++;
    }
    snprintf(path, sizeof path, "%s/model.safetensors", tmp);
    ok = rr_safetensors_write(path, wt, k, &err) == RERANK_OK;
    for (size_t i = 0; i < n; i++) free(owned[i]);
    free(owned);
    free(wt);
    rr_safetensors_free(st);
    return ok;
}

static void remove_model(const char *tmp) {
    char path[1024];
    snprintf(path, sizeof path, "%s/config.json", tmp);
    unlink(path);
    snprintf(path, sizeof path, "%s/model.safetensors", tmp);
    unlink(path);
    rmdir(tmp);
}

TEST(minicpm_cutoff_skips_upper_layers) {
    const char *src = rr_shared_path("testdata/minicpm-layerwise-tiny");
    static const char *const poison[] = {"model.layers.2.", "model.layers.3.", NULL};
    char tmp[512];
    REQUIRE(copy_model(src, tmp, sizeof tmp, poison, NULL), "cannot copy %s", src);
    rerank_error err;
    rr_model *m = load_model(tmp, &err);
    json_t *rows = read_rows(src, "golden.jsonl");
    if (m && rows) {
        const json_t *row = json_array_get(rows, 0);
        const json_t *ids = json_object_get(row, "input_ids");
        size_t n = json_array_size(ids), offs[2] = {0, n};
        int32_t *buf = malloc(n * sizeof *buf);
        for (size_t i = 0; i < n; i++) buf[i] = (int32_t)json_integer_value(json_array_get(ids, i));
        rr_workspace *ws = rr_workspace_new();
        static const int two[1] = {2}, three[2] = {2, 3};
        float out[2];
        rr_batch b = {.ids = buf, .offsets = offs, .n_seqs = 1, .layers = two, .n_layers = 1};
        CHECK(rr_model_forward(m, &b, ws, out, &err) == RERANK_OK, "%s", err.message);
        double want = json_number_value(json_array_get(json_object_get(row, "logits_per_layer"), 0));
        CHECK_NEAR(out[0], want, TOL); /* finite and exact: poisoned layers 3..4 were never run */
        b.layers = three;
        b.n_layers = 2;
        CHECK(rr_model_forward(m, &b, ws, out, &err) == RERANK_OK, "%s", err.message);
        CHECK_NEAR(out[0], want, TOL);
        CHECK(isnan(out[1]), "layer 3 ran on NaN weights but gave %g", out[1]); /* the poison is effective */
        rr_workspace_free(ws);
        free(buf);
    } else {
        CHECK(0, "%s", m ? "no golden rows" : err.message);
    }
    json_decref(rows);
    rr_model_free(m);
    remove_model(tmp);
}

TEST(minicpm_missing_head_is_named) {
    const char *src = rr_shared_path("testdata/minicpm-layerwise-tiny");
    static const char *const none[] = {NULL};
    char tmp[512];
    REQUIRE(copy_model(src, tmp, sizeof tmp, none, "lm_head.1.linear_head.weight"), "cannot copy %s", src);
    rerank_error err;
    rr_model *m = load_model(tmp, &err);
    CHECK(!m && strstr(err.message, "lm_head.1.linear_head.weight"), "%s", m ? "loaded" : err.message);
    rr_model_free(m);
    remove_model(tmp);
}
