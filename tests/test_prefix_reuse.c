/* test_prefix_reuse.c - query-prefix reuse: sequences continuing a shared prefix (rr_model_prefix_forward +
 * rr_batch.prefix) score as the whole sequences do for the four tiny decoders (golden rows and a long
 * synthetic prefix, every output selection), prefix errors, and encoders rejecting prefixes. */
#include <unistd.h>

#include "arch/model.h"
#include "base/json.h"
#include "golden.h"
#include "test.h"

#define TOL 1e-4       /* vs transformers */
#define REUSE_TOL 1e-5 /* prefix reuse vs whole sequences */

static rr_model *load_edit(const char *rel, const char *key, int value, rerank_error *err) {
    const char *dir = rr_shared_path(rel);
    char path[1024];
    snprintf(path, sizeof path, "%s/config.json", dir);
    json_t *config = NULL;
    rr_model *m = NULL;
    if (rr_json_load_file(path, 1 << 24, &config, err)) return NULL;
    if (key) json_object_set_new(config, key, json_integer(value));
    if (rr_model_load(dir, config, RERANK_DTYPE_AUTO, &m, err)) m = NULL;
    json_decref(config);
    return m;
}

static rr_model *load(const char *rel, rerank_error *err) { return load_edit(rel, NULL, 0, err); }

static double max_abs_diff(const float *a, const float *b, size_t n) {
    double worst = 0;
    for (size_t i = 0; i < n; i++)
        if (!(fabs((double)a[i] - b[i]) <= worst)) worst = fabs((double)a[i] - b[i]);
    return worst;
}

/* Packed sequences. */
typedef struct {
    int32_t *ids;
    size_t *offsets;
    size_t n_seqs;
} seqs;

static void seqs_free(seqs *s) {
    free(s->ids);
    free(s->offsets);
}

/* Scores `all` whole (one packed batch) into whole[], and as all[0][0..n_pre) (run once with
 * rr_model_prefix_forward over prefix_layers layers) + the rest of each sequence, packed, into reused[];
 * each suffix is also run alone with the prefix and must match the packed run within REUSE_TOL. Every
 * sequence must start with those n_pre tokens. Returns max |whole - reused|, INFINITY on a failed call. */
static double reuse_vs_whole(const rr_model *m, const rr_batch *tmpl, const seqs *all, size_t n_pre, int prefix_layers,
                             float *whole, float *reused) {
    rerank_error err;
    rr_workspace *ws = rr_workspace_new();
    size_t n_out = rr_model_n_outputs(m, tmpl), n_tok = all->offsets[all->n_seqs];
    rr_batch b = *tmpl;
    b.ids = all->ids;
    b.offsets = all->offsets;
    b.n_seqs = all->n_seqs;
    double worst = INFINITY;
    rr_prefix *p = NULL;
    int32_t *suf = malloc(n_tok * sizeof *suf);
    size_t *offs = malloc((all->n_seqs + 1) * sizeof *offs);
    float *one = malloc(n_out * sizeof *one);
    rerank_status st = rr_model_forward(m, &b, ws, whole, &err);
    CHECK(st == RERANK_OK, "whole: %s", err.message);
    if (!st) {
        st = rr_model_prefix_forward(m, all->ids, n_pre, prefix_layers, ws, &p, &err);
        CHECK(st == RERANK_OK && rr_prefix_len(p) == n_pre, "prefix: %s", err.message);
    }
    if (!st) {
        offs[0] = 0;
        for (size_t s = 0; s < all->n_seqs; s++) {
            size_t a = all->offsets[s], len = all->offsets[s + 1] - a;
            if (len <= n_pre || memcmp(all->ids + a, all->ids, n_pre * sizeof *suf) != 0) {
                CHECK(0, "sequence %zu does not continue the prefix", s);
                st = RERANK_ERR_INTERNAL;
                break;
            }
            memcpy(suf + offs[s], all->ids + a + n_pre, (len - n_pre) * sizeof *suf);
            offs[s + 1] = offs[s] + len - n_pre;
        }
    }
    if (!st) {
        b.ids = suf;
        b.offsets = offs;
        b.prefix = p;
        st = rr_model_forward(m, &b, ws, reused, &err);
        CHECK(st == RERANK_OK, "suffixes: %s", err.message);
    }
    if (!st) {
        worst = max_abs_diff(whole, reused, all->n_seqs * n_out);
        double alone = 0;
        for (size_t s = 0; s < all->n_seqs && !st; s++) {
            size_t o[2] = {0, offs[s + 1] - offs[s]};
            b.ids = suf + offs[s];
            b.offsets = o;
            b.n_seqs = 1;
            st = rr_model_forward(m, &b, ws, one, &err);
            CHECK(st == RERANK_OK, "suffix %zu: %s", s, err.message);
            double d = max_abs_diff(one, reused + s * n_out, n_out);
            if (d > alone) alone = d;
        }
        CHECK(alone <= REUSE_TOL, "one suffix at a time differs from the packed suffixes by %g", alone);
    }
    rr_prefix_free(p);
    free(one);
    free(suf);
    free(offs);
    rr_workspace_free(ws);
    return worst;
}

/* The first max_rows rows of a golden file that have `key`, packed (and returned). */
static json_t *golden_seqs(const char *rel, const char *file, const char *key, size_t max_rows, seqs *out) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", rr_shared_path(rel), file);
    json_t *all = golden_load(path), *rows = json_array(), *row;
    size_t at;
    memset(out, 0, sizeof *out);
    json_array_foreach(all, at, row) if (json_object_get(row, key)) json_array_append(rows, row);
    json_decref(all);
    size_t n = json_array_size(rows) < max_rows ? json_array_size(rows) : max_rows, total = 0;
    out->offsets = calloc(n + 1, sizeof *out->offsets);
    for (size_t i = 0; i < n; i++) total += json_array_size(json_object_get(json_array_get(rows, i), "input_ids"));
    out->ids = malloc((total + 1) * sizeof *out->ids);
    for (size_t i = 0; i < n; i++) {
        size_t len;
        int32_t *ids = golden_ints(json_array_get(rows, i), "input_ids", &len);
        memcpy(out->ids + out->offsets[i], ids, len * sizeof *ids);
        out->offsets[i + 1] = out->offsets[i] + len;
        free(ids);
    }
    out->n_seqs = n;
    return rows;
}

/* Longest common prefix of all sequences, leaving each at least one token of its own. */
static size_t common_prefix(const seqs *s) {
    size_t lcp = s->offsets[1];
    for (size_t i = 0; i < s->n_seqs; i++) {
        size_t a = s->offsets[i], len = s->offsets[i + 1] - a, k = 0;
        while (k < lcp && k < len && s->ids[a + k] == s->ids[k]) k++;
        lcp = k < len ? k : len - 1;
    }
    return lcp;
}

/* Row 0 minus its last token as the prefix of every row's own tail (its tokens after what it shares with
 * row 0): a long prefix that is not what any row started with. */
static void synthetic_seqs(const seqs *g, seqs *out) {
    size_t n_pre = g->offsets[1] - 1, total = 0;
    out->n_seqs = g->n_seqs - 1;
    out->offsets = calloc(out->n_seqs + 1, sizeof *out->offsets);
    out->ids = malloc((g->offsets[g->n_seqs] + g->n_seqs * n_pre + 1) * sizeof *out->ids);
    for (size_t i = 1; i < g->n_seqs; i++) {
        size_t a = g->offsets[i], len = g->offsets[i + 1] - a, k = 0;
        while (k < len - 1 && k < n_pre && g->ids[a + k] == g->ids[k]) k++;
        memcpy(out->ids + total, g->ids, n_pre * sizeof *out->ids);
        memcpy(out->ids + total + n_pre, g->ids + a + k, (len - k) * sizeof *out->ids);
        total += n_pre + len - k;
        out->offsets[i] = total;
    }
}

/* Golden rows with their own shared prefix (reuse within REUSE_TOL of whole, both within TOL of golden
 * key[pick or j]), then the synthetic long prefix. Returns the max |reuse - whole| of both. */
static double check_model(const char *rel, const char *file, const char *key, int pick, const rr_batch *tmpl,
                          int prefix_layers) {
    rerank_error err;
    rr_model *m = load(rel, &err);
    seqs g, syn = {0};
    json_t *rows = golden_seqs(rel, file, key, 12, &g);
    double worst = INFINITY;
    if (!m || !rows || g.n_seqs < 3) {
        CHECK(0, "%s %s: %s", rel, file, m ? "no golden rows" : err.message);
        goto done;
    }
    size_t n_out = rr_model_n_outputs(m, tmpl), n_pre = common_prefix(&g);
    float *whole = calloc(g.n_seqs * n_out, sizeof *whole), *reused = calloc(g.n_seqs * n_out, sizeof *reused);
    double d_rows = reuse_vs_whole(m, tmpl, &g, n_pre, prefix_layers, whole, reused), d_gold = 0;
    for (size_t s = 0; s < g.n_seqs; s++)
        for (size_t j = 0; j < n_out; j++) {
            const json_t *want = json_array_get(json_object_get(json_array_get(rows, s), key), pick >= 0 ? (size_t)pick : j);
            double d = fabs(reused[s * n_out + j] - json_number_value(want));
            if (!(d <= d_gold)) d_gold = d;
        }
    CHECK(n_pre >= 2, "%s: golden rows share only %zu tokens", rel, n_pre);
    CHECK(d_rows <= REUSE_TOL, "%s %s: reuse vs whole %g", rel, file, d_rows);
    CHECK(d_gold <= TOL, "%s %s '%s': reuse vs golden %g", rel, file, key, d_gold);
    synthetic_seqs(&g, &syn);
    size_t n_syn = g.offsets[1] - 1;
    float *w2 = calloc(syn.n_seqs * n_out, sizeof *w2), *r2 = calloc(syn.n_seqs * n_out, sizeof *r2);
    double d_syn = reuse_vs_whole(m, tmpl, &syn, n_syn, prefix_layers, w2, r2);
    CHECK(d_syn <= REUSE_TOL, "%s: synthetic prefix, reuse vs whole %g", rel, d_syn);
    worst = d_rows > d_syn ? d_rows : d_syn;
    fprintf(stderr,
            "    %s %s%s: %zu rows x %zu outputs; max |reuse - whole| = %.3g (shared %zu tokens), %.3g (synthetic "
            "%zu-token prefix); reuse vs golden %.3g\n",
            strrchr(rel, '/') + 1, file, tmpl->layers ? " (cutoff)" : "", g.n_seqs, n_out, d_rows, n_pre, d_syn, n_syn,
            d_gold);
    free(whole);
    free(reused);
    free(w2);
    free(r2);
done:
    seqs_free(&syn);
    seqs_free(&g);
    json_decref(rows);
    rr_model_free(m);
    return worst;
}

static int oracle_int(const char *rel, const char *key) {
    char path[1024];
    snprintf(path, sizeof path, "%s/oracle_info.json", rr_shared_path(rel));
    json_t *o = NULL;
    rerank_error err;
    if (rr_json_load_file(path, 1 << 20, &o, &err)) return -1;
    int v = (int)json_integer_value(json_object_get(o, key));
    json_decref(o);
    return v;
}

TEST(prefix_reuse_gemma) {
    const char *rel = "testdata/gemma-causal-tiny-bf16";
    int32_t yes = oracle_int(rel, "yes_token_id");
    rr_batch t = {.score_tokens = &yes, .n_score_tokens = 1};
    CHECK(check_model(rel, "golden_fast.jsonl", "logits", -1, &t, 0) <= REUSE_TOL);
    rr_batch full = {.all_vocab = true};
    CHECK(check_model(rel, "golden.jsonl", "last_position_logits", -1, &full, 0) <= REUSE_TOL);
}

static void check_qwen(const char *rel) {
    int32_t no_yes[2] = {oracle_int(rel, "no_token_id"), oracle_int(rel, "yes_token_id")};
    rr_batch t = {.score_tokens = no_yes, .n_score_tokens = 2};
    CHECK(check_model(rel, "golden_fast.jsonl", "logits", -1, &t, 0) <= REUSE_TOL);
    int32_t yes = oracle_int(rel, "flagllm_yes_token_id");
    rr_batch f = {.score_tokens = &yes, .n_score_tokens = 1};
    CHECK(check_model(rel, "golden_flagllm.jsonl", "logits", -1, &f, 0) <= REUSE_TOL);
}

TEST(prefix_reuse_qwen3) { check_qwen("testdata/qwen3-causal-tiny"); }
TEST(prefix_reuse_qwen2) { check_qwen("testdata/qwen2-causal-tiny"); }

TEST(prefix_reuse_minicpm_layerwise) {
    const char *rel = "testdata/minicpm-layerwise-tiny";
    rr_batch dflt = {0};
    CHECK(check_model(rel, "golden_fast.jsonl", "logits", -1, &dflt, 0) <= REUSE_TOL);
    static const int all[3] = {2, 3, 4};
    rr_batch t = {.layers = all, .n_layers = 3};
    CHECK(check_model(rel, "golden.jsonl", "logits_per_layer", -1, &t, 0) <= REUSE_TOL);
    /* a prefix run only up to the highest cutoff serves that cutoff */
    for (int k = 0; k < 2; k++) {
        rr_batch one = {.layers = &all[k], .n_layers = 1};
        CHECK(check_model(rel, "golden.jsonl", "logits_per_layer", k, &one, all[k]) <= REUSE_TOL);
    }
}

/* ---- errors ---- */

TEST(prefix_errors) {
    rerank_error err;
    const char *rel = "testdata/minicpm-layerwise-tiny";
    rr_model *m = load_edit(rel, "max_position_embeddings", 16, &err);
    rr_model *other = load("testdata/qwen2-causal-tiny", &err);
    REQUIRE(m && other, "%s", err.message);
    CHECK(rr_model_prefix_max_tokens(m) == 15, "%zu", rr_model_prefix_max_tokens(m));
    rr_workspace *ws = rr_workspace_new();
    rr_prefix *p = NULL;
    int32_t ids[20];
    for (int i = 0; i < 20; i++) ids[i] = 5 + i;
    float out[4];
    CHECK(rr_model_prefix_forward(m, ids, 0, 0, ws, &p, &err) == RERANK_ERR_INVALID_ARGUMENT &&
              strstr(err.message, "empty"),
          "%s", err.message);
    CHECK(rr_model_prefix_forward(m, ids, 16, 0, ws, &p, &err) == RERANK_ERR_INPUT && strstr(err.message, "prefix"),
          "%s", err.message);
    CHECK(rr_model_prefix_forward(m, ids, 4, 7, ws, &p, &err) == RERANK_ERR_INVALID_ARGUMENT, "%s", err.message);
    ids[1] = 4000;
    CHECK(rr_model_prefix_forward(m, ids, 4, 0, ws, &p, &err) == RERANK_ERR_INPUT, "%s", err.message);
    ids[1] = 6;
    CHECK(rr_prefix_len(p) == 0);
    size_t offs[2] = {0, 4};
    rr_batch b = {.ids = ids + 10, .offsets = offs, .n_seqs = 1, .prefix = p};
    CHECK(rr_model_forward(m, &b, ws, out, &err) == RERANK_ERR_INVALID_ARGUMENT, "a failed prefix: %s", err.message);
    /* positions: prefix + suffix must fit max_position_embeddings */
    REQUIRE(rr_model_prefix_forward(m, ids, 10, 0, ws, &p, &err) == RERANK_OK, "%s", err.message);
    CHECK(rr_prefix_len(p) == 10);
    CHECK(rr_model_forward(m, &b, ws, out, &err) == RERANK_OK, "%s", err.message);
    offs[1] = 7;
    CHECK(rr_model_forward(m, &b, ws, out, &err) == RERANK_ERR_INPUT && strstr(err.message, "with its prefix"), "%s",
          err.message);
    offs[1] = 4;
    /* a 3-layer prefix cannot serve a batch that runs layer 4 */
    REQUIRE(rr_model_prefix_forward(m, ids, 10, 3, ws, &p, &err) == RERANK_OK, "%s", err.message);
    static const int four[1] = {4}, three[1] = {3};
    b.layers = four;
    b.n_layers = 1;
    CHECK(rr_model_forward(m, &b, ws, out, &err) == RERANK_ERR_INVALID_ARGUMENT && strstr(err.message, "layers"), "%s",
          err.message);
    b.layers = three;
    CHECK(rr_model_forward(m, &b, ws, out, &err) == RERANK_OK, "%s", err.message);
    /* another model's prefix */
    int32_t tok = 5;
    rr_batch q = {.ids = ids, .offsets = offs, .n_seqs = 1, .score_tokens = &tok, .n_score_tokens = 1, .prefix = p};
    CHECK(rr_model_forward(other, &q, ws, out, &err) == RERANK_ERR_INVALID_ARGUMENT &&
              strstr(err.message, "another model"),
          "%s", err.message);
    /* encoders: no prefix, neither computed nor continued */
    rr_model *enc = load("testdata/xlmr-seqcls-tiny", &err);
    REQUIRE(enc, "%s", err.message);
    CHECK(rr_model_prefix_max_tokens(enc) == 0);
    rr_prefix *ep = NULL;
    CHECK(rr_model_prefix_forward(enc, ids, 4, 0, ws, &ep, &err) == RERANK_ERR_INVALID_ARGUMENT &&
              strstr(err.message, "encoder") && !ep,
          "%s", err.message);
    rr_batch e = {.ids = ids, .offsets = offs, .n_seqs = 1, .prefix = p};
    CHECK(rr_model_forward(enc, &e, ws, out, &err) == RERANK_ERR_INVALID_ARGUMENT && strstr(err.message, "encoder"),
          "%s", err.message);
    e.prefix = NULL;
    CHECK(rr_model_forward(enc, &e, ws, out, &err) == RERANK_OK, "%s", err.message);
    rr_prefix_free(p);
    rr_prefix_free(NULL);
    rr_model_free(enc);
    rr_model_free(other);
    rr_model_free(m);
    rr_workspace_free(ws);
}

/* ---- through rerank_score: prefix_reuse on vs off ---- */

/* A copy of decoder checkpoint `rel` (config.json, model.safetensors linked) with a stand-in WordPiece
 * vocab.txt: BERT tiny's vocabulary cut to the model's vocab_size, "yes"/"Yes" last. Lets rerank_score run
 * the decoders whatever tokenizers are supported; reuse vs no reuse only needs consistent ids. */
static int proxy_model_dir(const char *rel, int vocab, char *tmp, size_t tmp_size) {
    const char *base = getenv("TMPDIR");
    snprintf(tmp, tmp_size, "%s/rr_prefix_XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmp)) return 0;
    char src[1024], dst[1024], line[512];
    snprintf(src, sizeof src, "%s/model.safetensors", rr_shared_path(rel));
    snprintf(dst, sizeof dst, "%s/model.safetensors", tmp);
    char abs[4096];
    if (!realpath(src, abs) || symlink(abs, dst) != 0) return 0;
    snprintf(src, sizeof src, "%s/config.json", rr_shared_path(rel));
    snprintf(dst, sizeof dst, "%s/config.json", tmp);
    FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
    int ok = in && out;
    size_t n;
    while (ok && (n = fread(line, 1, sizeof line, in)) > 0) ok = fwrite(line, 1, n, out) == n;
    if (in) fclose(in);
    if (out) fclose(out);
    snprintf(src, sizeof src, "%s/vocab.txt", rr_shared_path("testdata/bert-seqcls-tiny"));
    snprintf(dst, sizeof dst, "%s/vocab.txt", tmp);
    in = fopen(src, "rb");
    out = fopen(dst, "wb");
    ok = ok && in && out;
    for (int k = 0; ok && k < vocab - 2 && fgets(line, sizeof line, in);)
        if (strcmp(line, "yes\n") && strcmp(line, "Yes\n")) fputs(line, out), k++;
    if (out) fputs("yes\nYes\n", out);
    if (in) fclose(in);
    if (out) ok = fclose(out) == 0 && ok;
    return ok;
}

static void remove_proxy(const char *tmp) {
    static const char *const files[] = {"config.json", "model.safetensors", "vocab.txt"};
    char path[1024];
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", tmp, files[i]);
        unlink(path);
    }
    rmdir(tmp);
}

static const char *const words[] = {"the", "giant", "panda", "is", "a", "bear", "native", "to", "south", "central",
                                    "china", "paris", "capital", "of", "france", "river", "bamboo", "eats", "mostly",
                                    "sleeps", "mountains", "forest", "history", "city", "people", "water"};

/* Two queries with 12 passages each (interleaved, one passage repeated) and a query with one passage. */
enum { N_PAIRS = 25 };
typedef struct {
    char text[N_PAIRS][600];
    rerank_pair pairs[N_PAIRS];
} pair_set;

static void make_pairs(pair_set *ps) {
    static const char *const queries[3] = {"what is a giant panda and where does it live?",
                                           "tell me about the history of paris", "bamboo"};
    uint64_t r = 42;
    for (int i = 0; i < N_PAIRS; i++) {
        char *t = ps->text[i];
        size_t at = 0, n_words = 3 + (size_t)(i * 7 % 40);
        for (size_t w = 0; w < n_words; w++) {
            r = r * 6364136223846793005ull + 1442695040888963407ull;
            at += (size_t)snprintf(t + at, sizeof ps->text[i] - at, "%s%s", w ? " " : "", words[(r >> 33) % 26]);
        }
        if (i == 5) memcpy(t, ps->text[1], sizeof ps->text[1]); /* a repeated passage */
        const char *q = queries[i == N_PAIRS - 1 ? 2 : i % 2];
        ps->pairs[i] = (rerank_pair){q, strlen(q), t, strlen(t)};
    }
}

/* rerank_score with prefix_reuse on and off; returns max |on - off| (INFINITY on failure). */
static double score_on_off(const rerank_model *model, rerank_score_params sp, const rerank_pair *pairs, size_t n,
                           size_t n_out) {
    rerank_error err;
    rerank_session *s;
    if (rerank_session_new(model, &s, &err)) return INFINITY;
    float *on = calloc(n * n_out, sizeof *on), *off = calloc(n * n_out, sizeof *off);
    rerank_score_stats st_on = {0}, st_off = {0};
    sp.prefix_reuse = true;
    rerank_status a = rerank_score(s, &sp, pairs, n, on, &err);
    CHECK(a == RERANK_OK, "reuse on: %s", err.message);
    rerank_session_last_stats(s, &st_on);
    sp.prefix_reuse = false;
    rerank_status b = rerank_score(s, &sp, pairs, n, off, &err);
    CHECK(b == RERANK_OK, "reuse off: %s", err.message);
    rerank_session_last_stats(s, &st_off);
    CHECK(st_on.n_windows == n && st_off.n_windows == n);
    CHECK(st_on.n_tokens < st_off.n_tokens, "reuse ran %zu tokens, whole pairs %zu", st_on.n_tokens, st_off.n_tokens);
    double d = a || b ? INFINITY : max_abs_diff(on, off, n * n_out);
    fprintf(stderr, "      %zu pairs x %zu outputs, batch %d: tokens %zu (reuse) vs %zu, max |on - off| = %.3g\n", n, n_out,
            sp.batch_size, st_on.n_tokens, st_off.n_tokens, d);
    free(on);
    free(off);
    rerank_session_free(s);
    return d;
}

TEST(prefix_reuse_through_rerank_score) {
    static const struct {
        const char *rel, *recipe;
        int vocab;
    } models[] = {
        {"testdata/qwen3-causal-tiny", NULL, 3286},       {"testdata/qwen3-causal-tiny", "flag-llm", 3286},
        {"testdata/qwen2-causal-tiny", NULL, 3286},       {"testdata/gemma-causal-tiny-bf16", NULL, 4000},
        {"testdata/minicpm-layerwise-tiny", NULL, 4000},
    };
    pair_set ps;
    make_pairs(&ps);
    for (size_t i = 0; i < sizeof models / sizeof *models; i++) {
        char tmp[512];
        REQUIRE(proxy_model_dir(models[i].rel, models[i].vocab, tmp, sizeof tmp), "cannot build a proxy of %s",
                models[i].rel);
        rerank_model_params mp = rerank_model_default_params();
        mp.recipe = models[i].recipe;
        rerank_model *model;
        rerank_error err;
        rerank_status st = rerank_model_load(tmp, &mp, &model, &err);
        CHECK(st == RERANK_OK, "%s: %s", models[i].rel, err.message);
        if (!st) {
            fprintf(stderr, "    %s (%s recipe, stand-in vocabulary):\n", strrchr(models[i].rel, '/') + 1,
                    models[i].recipe ? models[i].recipe : "default");
            rerank_score_params sp = rerank_score_default_params();
            CHECK(sp.prefix_reuse);
            CHECK(score_on_off(model, sp, ps.pairs, N_PAIRS, 1) <= REUSE_TOL, "%s", models[i].rel);
            sp.batch_size = 5;
            sp.max_length = 64;
            CHECK(score_on_off(model, sp, ps.pairs, N_PAIRS, 1) <= REUSE_TOL, "%s", models[i].rel);
            if (strstr(models[i].rel, "minicpm")) {
                static const int cut[3] = {2, 3, 4}, three[1] = {3};
                sp = rerank_score_default_params();
                sp.cutoff_layers = cut;
                sp.n_cutoff_layers = 3;
                CHECK(score_on_off(model, sp, ps.pairs, N_PAIRS, 3) <= REUSE_TOL);
                sp.cutoff_layers = three;
                sp.n_cutoff_layers = 1;
                CHECK(score_on_off(model, sp, ps.pairs, N_PAIRS, 1) <= REUSE_TOL);
            }
            rerank_model_free(model);
        }
        remove_proxy(tmp);
    }
}
