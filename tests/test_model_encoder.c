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

static rerank_dtype load_dtype = RERANK_DTYPE_AUTO; /* what load_model asks for */

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
    if (rr_model_load(dir, config, load_dtype, &m, &err)) fprintf(stderr, "    %s\n", err.message);
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

/* Spearman rank correlation (ties get their mean rank). */
static double spearman(const float *a, const float *b, size_t n) {
    double *ra = calloc(n, sizeof *ra), *rb = calloc(n, sizeof *rb);
    for (int pass = 0; pass < 2; pass++) {
        const float *v = pass ? b : a;
        double *r = pass ? rb : ra;
        for (size_t i = 0; i < n; i++) {
            double below = 0, equal = 0;
            for (size_t j = 0; j < n; j++) below += v[j] < v[i], equal += v[j] == v[i];
            r[i] = below + (equal + 1) / 2;
        }
    }
    double ma = 0, mb = 0, sab = 0, saa = 0, sbb = 0;
    for (size_t i = 0; i < n; i++) ma += ra[i] / n, mb += rb[i] / n;
    for (size_t i = 0; i < n; i++)
        sab += (ra[i] - ma) * (rb[i] - mb), saa += (ra[i] - ma) * (ra[i] - ma), sbb += (rb[i] - mb) * (rb[i] - mb);
    free(ra), free(rb);
    return saa > 0 && sbb > 0 ? sab / sqrt(saa * sbb) : 1.0;
}

static double sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

/* bf16 and int8 weights keep the ranking of the golden rows (Spearman >= 0.995 against fp32) and move no
 * normalized score by more than 0.02. */
TEST(low_precision_keeps_golden_ranking) {
    const char *dirs[] = {"testdata/xlmr-seqcls-tiny", "testdata/bert-seqcls-tiny"};
    const rerank_dtype dtypes[] = {RERANK_DTYPE_BF16, RERANK_DTYPE_INT8};
    for (size_t d = 0; d < 2; d++) {
        const char *dir = rr_shared_path(dirs[d]);
        seqs s;
        REQUIRE(read_golden(dir, 0, &s));
        rr_batch b = {.ids = s.ids, .type_ids = s.types, .offsets = s.offsets, .n_seqs = s.n_seqs};
        rr_workspace *ws = rr_workspace_new();
        rerank_error err;
        float *f32 = calloc(s.n_seqs, sizeof *f32), *low = calloc(s.n_seqs, sizeof *low);
        load_dtype = RERANK_DTYPE_F32;
        rr_model *m = load_model(dir);
        CHECK(m && rr_model_forward(m, &b, ws, f32, &err) == RERANK_OK);
        rr_model_free(m);
        for (size_t t = 0; t < 2; t++) {
            load_dtype = dtypes[t];
            m = load_model(dir);
            CHECK(m && rr_model_forward(m, &b, ws, low, &err) == RERANK_OK);
            rr_model_free(m);
            double rho = spearman(f32, low, s.n_seqs), worst = 0;
            for (size_t i = 0; i < s.n_seqs; i++) {
                double dd = fabs(sigmoid(f32[i]) - sigmoid(low[i]));
                if (dd > worst) worst = dd;
            }
            fprintf(stderr, "    %s %s: Spearman %.4f, max |sigmoid diff| %.4f vs fp32\n", dirs[d],
                    t ? "int8" : "bf16", rho, worst);
            CHECK(rho >= 0.995, "%s dtype %d: Spearman %g", dirs[d], (int)dtypes[t], rho);
            CHECK(worst <= 0.02, "%s dtype %d: sigmoid diff %g", dirs[d], (int)dtypes[t], worst);
        }
        load_dtype = RERANK_DTYPE_AUTO;
        free(f32), free(low);
        rr_workspace_free(ws);
        seqs_free(&s);
    }
}
