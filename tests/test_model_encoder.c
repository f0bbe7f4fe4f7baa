/* test_model_encoder.c - XLM-R (F32, F16) and BERT cross-encoders against the golden logits of Hugging Face
 * transformers: every row one by one, the longest_first encodings, and all rows packed in one batch. */
#include "arch/model.h"
#include "base/file.h"
#include "base/json.h"
#include "kernels/kernels.h"
#include "test.h"

typedef struct {
    int32_t *ids, *types;
    size_t *offsets;
    float *golden;
    size_t n_seqs, n_tokens, cap;
} seqs;

static void seqs_free(seqs *s) {
    free(s->ids);
    free(s->types);
    free(s->offsets);
    free(s->golden);
}

static void seqs_add(seqs *s, const json_t *ids, const json_t *types, double logit) {
    size_t n = json_array_size(ids);
    s->ids = realloc(s->ids, (s->n_tokens + n) * sizeof *s->ids);
    s->types = realloc(s->types, (s->n_tokens + n) * sizeof *s->types);
    s->offsets = realloc(s->offsets, (s->n_seqs + 2) * sizeof *s->offsets);
    s->golden = realloc(s->golden, (s->n_seqs + 1) * sizeof *s->golden);
    if (!s->ids || !s->types || !s->offsets || !s->golden) abort();
    for (size_t i = 0; i < n; i++) {
        s->ids[s->n_tokens + i] = (int32_t)json_integer_value(json_array_get(ids, i));
        s->types[s->n_tokens + i] = types ? (int32_t)json_integer_value(json_array_get(types, i)) : 0;
    }
    s->offsets[s->n_seqs] = s->n_tokens;
    s->n_tokens += n;
    s->offsets[s->n_seqs + 1] = s->n_tokens;
    s->golden[s->n_seqs++] = (float)logit;
}

/* Reads golden_fast.jsonl of `dir`: rows' input_ids (and token_type_ids) and, when longest_first is set,
 * the longest_first_* fields instead. */
static int read_golden(const char *dir, int longest_first, seqs *out) {
    char path[1024];
    snprintf(path, sizeof path, "%s/golden_fast.jsonl", dir);
    char *buf;
    size_t len;
    rerank_error err;
    if (rr_file_read(path, 1 << 26, &buf, &len, &err)) return 0;
    memset(out, 0, sizeof *out);
    for (char *line = buf, *nl; line < buf + len; line = nl + 1) {
        nl = strchr(line, '\n');
        if (!nl) nl = buf + len;
        if (nl == line) continue;
        json_t *row;
        if (rr_json_parse(line, (size_t)(nl - line), "golden", &row, &err)) break;
        const char *k_ids = longest_first ? "longest_first_input_ids" : "input_ids";
        const char *k_types = longest_first ? "longest_first_token_type_ids" : "token_type_ids";
        const char *k_logits = longest_first ? "longest_first_logits" : "logits";
        seqs_add(out, json_object_get(row, k_ids), json_object_get(row, k_types),
                 json_real_value(json_array_get(json_object_get(row, k_logits), 0)));
        json_decref(row);
    }
    free(buf);
    return out->n_seqs > 0;
}

static rr_model *load_model(const char *dir) {
    char path[1024];
    snprintf(path, sizeof path, "%s/config.json", dir);
    json_t *config;
    rerank_error err;
    if (rr_json_load_file(path, 1 << 20, &config, &err)) {
        fprintf(stderr, "    %s\n", err.message);
        return NULL;
    }
    rr_model *m = NULL;
    if (rr_model_load(dir, config, RERANK_DTYPE_AUTO, &m, &err)) fprintf(stderr, "    %s\n", err.message);
    json_decref(config);
    return m;
}

static int golden_threads = 1; /* threads of the forward passes below */

/* Runs every golden row one by one and all rows packed together; returns max |logit - golden|. */
static double check_model_dir(const char *dir, int longest_first) {
    rr_model *m = load_model(dir);
    seqs s;
    double worst = INFINITY;
    if (!m || !read_golden(dir, longest_first, &s)) {
        CHECK(0, "cannot load %s", dir);
        rr_model_free(m);
        return worst;
    }
    worst = 0;
    rr_workspace *ws = rr_workspace_new();
    rr_workspace_set_threads(ws, golden_threads);
    rerank_error err;
    float *one = calloc(s.n_seqs, sizeof *one), *all = calloc(s.n_seqs, sizeof *all);
    for (size_t i = 0; i < s.n_seqs; i++) {
        size_t offs[2] = {0, s.offsets[i + 1] - s.offsets[i]};
        rr_batch b = {.ids = s.ids + s.offsets[i], .type_ids = s.types + s.offsets[i], .offsets = offs, .n_seqs = 1};
        CHECK(rr_model_forward(m, &b, ws, &one[i], &err) == RERANK_OK, "%s", err.message);
        CHECK_NEAR(one[i], s.golden[i], 1e-4);
        double d = fabs((double)one[i] - s.golden[i]);
        if (d > worst) worst = d;
    }
    rr_batch b = {.ids = s.ids, .type_ids = s.types, .offsets = s.offsets, .n_seqs = s.n_seqs};
    CHECK(rr_model_forward(m, &b, ws, all, &err) == RERANK_OK, "%s", err.message);
    for (size_t i = 0; i < s.n_seqs; i++) CHECK_NEAR(all[i], one[i], 1e-5);
    fprintf(stderr, "    %s%s: %zu rows, max |logit - golden| = %.3g\n", dir, longest_first ? " (longest_first)" : "",
            s.n_seqs, worst);
    free(one);
    free(all);
    seqs_free(&s);
    rr_workspace_free(ws);
    rr_model_free(m);
    return worst;
}

TEST(xlmr_f32_matches_golden) {
    CHECK(check_model_dir(rr_shared_path("testdata/xlmr-seqcls-tiny"), 0) <= 1e-4);
    CHECK(check_model_dir(rr_shared_path("testdata/xlmr-seqcls-tiny"), 1) <= 1e-4);
}

TEST(xlmr_f16_matches_golden) {
    CHECK(check_model_dir(rr_shared_path("testdata/xlmr-seqcls-tiny-f16"), 0) <= 1e-4);
    CHECK(check_model_dir(rr_shared_path("testdata/xlmr-seqcls-tiny-f16"), 1) <= 1e-4);
}

TEST(bert_matches_golden) {
    CHECK(check_model_dir(rr_shared_path("testdata/bert-seqcls-tiny"), 0) <= 1e-4);
    CHECK(check_model_dir(rr_shared_path("testdata/bert-seqcls-tiny"), 1) <= 1e-4);
}

/* The same goldens through every instruction-set path the CPU has, with one and two threads. */
TEST(xlmr_golden_on_every_isa_and_thread_count) {
    rr_isa before = rr_isa_get();
    for (int isa = 0; isa < RR_ISA_COUNT; isa++) {
        if (!rr_isa_set((rr_isa)isa)) continue;
        for (golden_threads = 1; golden_threads <= 2; golden_threads++)
            CHECK(check_model_dir(rr_shared_path("testdata/xlmr-seqcls-tiny"), 0) <= 1e-4, "isa %s, %d threads",
                  rr_isa_name((rr_isa)isa), golden_threads);
    }
    golden_threads = 1;
    rr_isa_set(before);
}
