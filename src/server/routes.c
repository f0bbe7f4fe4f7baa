/* routes.c - what each URL does: the GET routes (/health, /metrics, /v1/models) and the rerank pipeline
 * shared by the Cohere/Jina and TEI routes (validate, tokenize to check limits, build the job, render). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/internal.h"

rr_server_route rr_server_route_of(const char *url) {
    if (strcmp(url, "/v1/rerank") == 0) return RR_ROUTE_V1_RERANK;
    if (strcmp(url, "/v2/rerank") == 0) return RR_ROUTE_V2_RERANK;
    if (strcmp(url, "/rerank") == 0) return RR_ROUTE_TEI_RERANK;
    if (strcmp(url, "/health") == 0) return RR_ROUTE_HEALTH;
    if (strcmp(url, "/metrics") == 0) return RR_ROUTE_METRICS;
    if (strcmp(url, "/v1/models") == 0) return RR_ROUTE_MODELS;
    return RR_ROUTE_OTHER;
}

bool rr_server_route_is_post(rr_server_route route) { return route <= RR_ROUTE_TEI_RERANK; }

void rr_server_error_response(const rr_server_error *e, rr_server_response *resp) {
    resp->status = e->status;
    resp->body = rr_server_error_json(e);
    resp->content_type = "application/json";
    resp->retry_after = e->status == 503 ? 1 : 0;
}

static const char *kind_name(rerank_model_kind k) {
    switch (k) {
    case RERANK_KIND_CROSS_ENCODER: return "cross-encoder";
    case RERANK_KIND_LLM: return "llm";
    case RERANK_KIND_LAYERWISE: return "layerwise";
    case RERANK_KIND_QWEN3: return "qwen3";
    }
    return "unknown";
}

static char *dump(json_t *j) {
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    return s;
}

void rr_server_handle_get(rr_server *s, rr_server_route route, rr_server_response *resp) {
    resp->status = 200;
    resp->content_type = "application/json";
    bool ready = s->ready;
    switch (route) {
    case RR_ROUTE_HEALTH:
        if (ready && !s->draining) {
            resp->body = dump(json_pack("{s:s}", "status", "ok"));
        } else {
            resp->status = 503;
            resp->body = dump(json_pack("{s:s, s:s}", "status", s->draining ? "draining" : "loading", "error",
                                        s->draining ? "server is shutting down" : "model is loading"));
        }
        return;
    case RR_ROUTE_METRICS:
        resp->body = rr_server_metrics_render(ready ? s->batcher : NULL, ready);
        resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
        return;
    case RR_ROUTE_MODELS: {
        json_t *m = json_pack("{s:s, s:s, s:s, s:b}", "id", s->cfg.model_name, "object", "model", "owned_by",
                              "rerank", "ready", ready);
        if (m && ready) {
            json_object_set_new(m, "architecture", json_string(s->info.architecture ? s->info.architecture : ""));
            json_object_set_new(m, "kind", json_string(kind_name(s->info.kind)));
            json_object_set_new(m, "max_tokens", json_integer(s->info.max_tokens));
        }
        resp->body = dump(json_pack("{s:s, s:[o]}", "object", "list", "data", m));
        return;
    }
    default: {
        rr_server_error e;
        rr_server_fail(&e, 404, "not_found",
                       "no such route; try POST /v1/rerank, /v2/rerank, /rerank or GET /health, /metrics, /v1/models");
        rr_server_error_response(&e, resp);
        return;
    }
    }
}

void rr_server_pending_free(rr_server_pending *p) {
    rr_server_request_free(&p->req);
    free(p->job.pairs);
    free(p->job.est_tokens);
    free(p->job.scores);
    memset(p, 0, sizeof *p);
}

/* Tokens the model sees for one pair under params (after truncation); 0 with *e filled on failure. */
static int count_tokens(rr_server *s, const rerank_score_params *sp, const rerank_pair *pair, size_t *n,
                        rerank_error *err) {
    rerank_encoding enc = {0};
    rerank_status st = rerank_tokenize(s->model, sp, pair, &enc, err);
    if (st != RERANK_OK) return st;
    *n = enc.n_tokens;
    rerank_encoding_free(&enc);
    return RERANK_OK;
}

int rr_server_rerank_prepare(rr_server *s, rr_server_api api, const char *body, size_t len, int64_t t0,
                             rr_server_pending *p, rr_server_error *e) {
    memset(p, 0, sizeof *p);
    int st = rr_server_request_parse(api, body, len, &s->cfg, &p->req, e);
    if (st) return st;
    rr_server_request *r = &p->req;
    rr_server_job *j = &p->job;
    rerank_score_params sp = s->cfg.score; /* the server's defaults (--prompt, --cutoff-layers, ...) */
    sp.max_length = s->cfg.max_length;
    sp.normalize = !r->raw_scores;
    sp.long_doc = r->long_doc >= 0 ? (rerank_long_doc)r->long_doc : s->cfg.long_doc;
    if (r->instruction) sp.instruction = r->instruction;
    if (r->n_cutoff_layers) {
        sp.cutoff_layers = r->cutoff_layers;
        sp.n_cutoff_layers = r->n_cutoff_layers;
    }
    rerank_error err;
    if (rerank_score_n_outputs(s->model, &sp, &j->n_out, &err) != RERANK_OK)
        return rr_server_fail(e, 422, "unprocessable_entity", "%s", err.message);
    int model_max = s->info.max_tokens > 0 ? s->info.max_tokens : sp.max_length;
    int eff_max = sp.max_length < model_max ? sp.max_length : model_max;
    /* tokens of the query with an empty passage: the fixed cost of every pair of this request */
    size_t n0 = 0;
    rerank_pair empty = {r->query, r->query_len, "", 0};
    if (count_tokens(s, &sp, &empty, &n0, &err) != RERANK_OK)
        return rr_server_fail(e, 400, "invalid_request", "query: %s", err.message);
    if (r->max_tokens_per_doc > 0 && (long long)n0 + r->max_tokens_per_doc < eff_max)
        sp.max_length = eff_max = (int)n0 + (int)r->max_tokens_per_doc;
    j->params = sp;
    j->n_pairs = r->n_docs;
    j->pairs = malloc(r->n_docs * sizeof *j->pairs);
    j->est_tokens = malloc(r->n_docs * sizeof *j->est_tokens);
    j->scores = malloc(r->n_docs * j->n_out * sizeof *j->scores);
    if (!j->pairs || !j->est_tokens || !j->scores) return rr_server_fail(e, 500, "internal", "out of memory");
    const char *field = api == RR_API_TEI ? "texts" : "documents";
    for (size_t i = 0; i < r->n_docs; i++) {
        j->pairs[i] = (rerank_pair){r->query, r->query_len, r->docs[i], r->doc_lens[i]};
        size_t n = 0;
        if (count_tokens(s, &sp, &j->pairs[i], &n, &err) != RERANK_OK)
            return rr_server_fail(e, 400, "invalid_request", "%s[%zu]: %s", field, i, err.message);
        bool cut = n >= (size_t)eff_max;
        if (!r->truncate && cut)
            return rr_server_fail_limit(e, 422, "max_tokens", eff_max,
                                        "%s[%zu] with the query needs more than %d tokens and truncate is false", field,
                                        i, eff_max - 1);
        if (s->cfg.max_doc_tokens && n > n0 + s->cfg.max_doc_tokens)
            return rr_server_fail_limit(e, 413, "max_doc_tokens", (long long)s->cfg.max_doc_tokens,
                                        "%s[%zu] has more than max_doc_tokens (%zu) tokens", field, i,
                                        s->cfg.max_doc_tokens);
        uint64_t est = n ? n : 1;
        if (cut && sp.long_doc == RERANK_LONG_DOC_CHUNK) { /* several windows: about one token per 4 bytes */
            uint64_t by_bytes = (r->query_len + r->doc_lens[i]) / 4;
            if (by_bytes > est) est = by_bytes;
        }
        j->est_tokens[i] = est > UINT32_MAX ? UINT32_MAX : (uint32_t)est;
    }
    j->deadline_ns = s->cfg.timeout_ms > 0 ? t0 + (int64_t)s->cfg.timeout_ms * 1000000 : 0;
    unsigned long long id = ++s->next_id;
    snprintf(p->id, sizeof p->id, "rr-%08llx-%06llx", (unsigned long long)time(NULL), id);
    return 0;
}

void rr_server_rerank_finish(rr_server *s, rr_server_pending *p, rr_server_response *resp) {
    rr_server_job *j = &p->job;
    if (j->http_status) {
        rr_server_error_response(&j->error, resp);
        return;
    }
    if (j->deadline_ns && rr_server_now_ns() > j->deadline_ns) {
        rr_server_error e;
        rr_server_fail_limit(&e, 504, "timeout_ms", s->cfg.timeout_ms, "request timed out after %d ms (limit timeout_ms)",
                             s->cfg.timeout_ms);
        e.type = "timeout";
        rr_server_error_response(&e, resp);
        return;
    }
    for (size_t i = 0; i < j->n_pairs * j->n_out; i++)
        if (!isfinite(j->scores[i])) {
            rr_server_error e;
            rr_server_fail(&e, 500, "internal", "the model produced a non-finite score for document %zu", i / j->n_out);
            rr_server_error_response(&e, resp);
            return;
        }
    resp->status = 200;
    resp->content_type = "application/json";
    resp->body = p->req.api == RR_API_TEI ? rr_server_tei_render(&p->req, j)
                                          : rr_server_cohere_render(&p->req, j, s->cfg.model_name, p->id);
    if (!resp->body) {
        rr_server_error e;
        rr_server_fail(&e, 500, "internal", "out of memory while rendering the response");
        rr_server_error_response(&e, resp);
    }
}
