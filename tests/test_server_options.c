/* test_server_options.c - `rerank serve` takes the model and scoring options of rerank score (same spelling,
 * --opt=value too): --dtype and --recipe reach the model load, --prompt, --instruction and --cutoff-layers
 * are the defaults of requests that do not set them (a request's own value wins); scores equal rerank_score
 * with the same parameters. */
#include <jansson.h>

#include "rerank.h"
#include "server_client.h"
#include "test.h"

static const char *query = "what is a panda?";
static const char *docs[] = {"The giant panda is a bear native to China.", "Paris is the capital of France."};

/* Reference raw scores straight from the library; n_out outputs per pair, the last one kept. */
static int ref_scores(const char *model, const rerank_model_params *mp, const rerank_score_params *sp, float *out) {
    rerank_model *m;
    rerank_session *s;
    rerank_error err;
    if (rerank_model_load(rr_shared_path(model), mp, &m, &err) != RERANK_OK) return -1;
    if (rerank_session_new(m, &s, &err) != RERANK_OK) return rerank_model_free(m), -1;
    rerank_pair pairs[2] = {RERANK_PAIR(query, docs[0]), RERANK_PAIR(query, docs[1])};
    size_t n_out = 1;
    float all[2 * 16];
    rerank_status st = rerank_score_n_outputs(m, sp, &n_out, &err);
    if (st == RERANK_OK && n_out <= 16) st = rerank_score(s, sp, pairs, 2, all, &err);
    for (size_t i = 0; st == RERANK_OK && i < 2; i++) out[i] = all[i * n_out + n_out - 1];
    rerank_session_free(s);
    rerank_model_free(m);
    return st == RERANK_OK && n_out <= 16 ? 0 : -1;
}

/* POST /rerank (TEI) with raw scores; extra is more JSON fields (",\"cutoff_layers\":4") or "". Fills
 * got[index]; returns the HTTP status. */
static int tei_scores(int port, const char *extra, float *got) {
    char body[1024];
    snprintf(body, sizeof body, "{\"query\":\"%s\",\"texts\":[\"%s\",\"%s\"],\"raw_scores\":true%s}", query, docs[0],
             docs[1], extra);
    rr_ts_response r;
    if (rr_ts_request(port, "POST", "/rerank", NULL, body, &r) != 0) return -1;
    int status = r.status;
    json_t *j = json_loadb(r.body, r.body_len, 0, NULL);
    rr_ts_response_free(&r);
    for (size_t i = 0; i < json_array_size(j); i++) {
        json_t *e = json_array_get(j, i);
        size_t idx = (size_t)json_integer_value(json_object_get(e, "index"));
        if (idx < 2) got[idx] = (float)json_real_value(json_object_get(e, "score"));
    }
    json_decref(j);
    return status;
}

TEST(server_options_cutoff_layers_default) {
    const char *model = "testdata/minicpm-layerwise-tiny";
    rr_ts_server s;
    const char *args[] = {"--workers=1", "--threads", "1", "--cutoff-layers=2", "--max-length", "64", NULL};
    REQUIRE(rr_ts_start(&s, rr_shared_path(model), args) == 0, "server did not start");
    rerank_model_params mp = rerank_model_default_params();
    rerank_score_params sp = rerank_score_default_params();
    sp.max_length = 64;
    int two = 2, four = 4;
    float want2[2], want4[2], got[2] = {0, 0};
    sp.cutoff_layers = &two, sp.n_cutoff_layers = 1;
    REQUIRE(ref_scores(model, &mp, &sp, want2) == 0);
    sp.cutoff_layers = &four;
    REQUIRE(ref_scores(model, &mp, &sp, want4) == 0);
    CHECK(want2[0] != want4[0]); /* the layers differ, so the test tells them apart */
    CHECK(tei_scores(s.port, "", got) == 200);
    CHECK(got[0] == want2[0] && got[1] == want2[1], "--cutoff-layers 2: %g %g, want %g %g", got[0], got[1], want2[0], want2[1]);
    CHECK(tei_scores(s.port, ",\"cutoff_layers\":4", got) == 200); /* the request's own layers win */
    CHECK(got[0] == want4[0] && got[1] == want4[1], "cutoff_layers 4: %g %g, want %g %g", got[0], got[1], want4[0], want4[1]);
    CHECK(rr_ts_stop(&s) == 0);
}

TEST(server_options_recipe_prompt_instruction) {
    const char *model = "testdata/qwen3-causal-tiny";
    rerank_model_params mp = rerank_model_default_params();
    rerank_score_params sp = rerank_score_default_params();
    float want[2], plain[2], got[2] = {0, 0};
    REQUIRE(ref_scores(model, &mp, &sp, plain) == 0);
    /* --recipe and --prompt: the FlagLLMReranker layout with our prompt */
    rr_ts_server s;
    const char *args[] = {"--workers", "1", "--threads=1", "--recipe=flag-llm", "--prompt", "Is it about bears?", NULL};
    REQUIRE(rr_ts_start(&s, rr_shared_path(model), args) == 0, "server did not start");
    mp.recipe = "flag-llm";
    sp.prompt = "Is it about bears?";
    REQUIRE(ref_scores(model, &mp, &sp, want) == 0);
    CHECK(want[0] != plain[0]);
    CHECK(tei_scores(s.port, "", got) == 200);
    CHECK(got[0] == want[0] && got[1] == want[1], "%g %g, want %g %g", got[0], got[1], want[0], want[1]);
    CHECK(rr_ts_stop(&s) == 0);
    /* --instruction: the default instruction of Qwen3-Reranker requests; a request's instruction wins */
    const char *args2[] = {"--workers", "1", "--threads", "1", "--instruction", "Find bears", NULL};
    REQUIRE(rr_ts_start(&s, rr_shared_path(model), args2) == 0, "server did not start");
    mp = rerank_model_default_params();
    sp = rerank_score_default_params();
    sp.instruction = "Find bears";
    REQUIRE(ref_scores(model, &mp, &sp, want) == 0);
    CHECK(want[0] != plain[0]);
    CHECK(tei_scores(s.port, "", got) == 200);
    CHECK(got[0] == want[0] && got[1] == want[1], "%g %g, want %g %g", got[0], got[1], want[0], want[1]);
    sp.instruction = "Find cities";
    REQUIRE(ref_scores(model, &mp, &sp, want) == 0);
    CHECK(tei_scores(s.port, ",\"instruction\":\"Find cities\"", got) == 200);
    CHECK(got[0] == want[0] && got[1] == want[1], "%g %g, want %g %g", got[0], got[1], want[0], want[1]);
    CHECK(rr_ts_stop(&s) == 0);
}

TEST(server_options_dtype) {
    const char *model = "testdata/xlmr-seqcls-tiny";
    rr_ts_server s;
    const char *args[] = {"--workers", "1", "--threads", "1", "--dtype=bf16", NULL};
    REQUIRE(rr_ts_start(&s, rr_shared_path(model), args) == 0, "server did not start");
    rerank_model_params mp = rerank_model_default_params();
    rerank_score_params sp = rerank_score_default_params();
    float want[2], f32[2], got[2] = {0, 0};
    REQUIRE(ref_scores(model, &mp, &sp, f32) == 0);
    mp.dtype = RERANK_DTYPE_BF16;
    REQUIRE(ref_scores(model, &mp, &sp, want) == 0);
    CHECK(want[0] != f32[0] || want[1] != f32[1]); /* bf16 rounding shows */
    CHECK(tei_scores(s.port, "", got) == 200);
    CHECK(got[0] == want[0] && got[1] == want[1], "%g %g, want %g %g", got[0], got[1], want[0], want[1]);
    CHECK(rr_ts_stop(&s) == 0);
}
