/* routes.c - what each URL does: the GET routes (/health, /ready, /info, /metrics, /v1/models[/{id}]),
 * which served model a request picks, and the rerank pipeline shared by the Cohere/Jina and TEI routes
 * (validate, tokenize to check limits, build the job, render).
 *
 * /health is liveness (200 while the process serves HTTP, its body saying loading/ok/draining); /ready is
 * readiness (503 while the models load and once SIGTERM starts the drain), for load balancers. */
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
    if (strcmp(url, "/ready") == 0) return RR_ROUTE_READY;
    if (strcmp(url, "/info") == 0) return RR_ROUTE_INFO;
    if (strncmp(url, "/v1/models/", 11) == 0 && url[11]) return RR_ROUTE_MODEL;
    return RR_ROUTE_OTHER;
}

rr_server_model *rr_server_pick_model(rr_server *s, rr_server_api api, const char *name, rr_server_error *e) {
    if (s->n_models == 1 && (!name || !s->cfg.models_named || api == RR_API_TEI)) return &s->models[0];
    if (!name) return &s->models[0];
    for (size_t i = 0; i < s->n_models; i++)
        if (strcmp(s->models[i].name, name) == 0) return &s->models[i];
    char served[400];
    size_t n = 0;
    served[0] = 0;
    for (size_t i = 0; i < s->n_models && n < sizeof served; i++)
        n += (size_t)snprintf(served + n, sizeof served - n, "%s'%s'", i ? ", " : "", s->models[i].name);
    rr_server_fail(e, 404, "not_found", "model '%.100s' is not served here; served: %s", name, served);
    return NULL;
}

bool rr_server_route_is_post(rr_server_route route) { return route <= RR_ROUTE_TEI_RERANK; }

void rr_server_error_response(const rr_server_error *e, rr_server_response *resp) {
    resp->status = e->status;
    resp->body = rr_server_error_json(e);
    resp->content_type = "application/json";
    resp->retry_after = e->status == 503 ? 1 : 0;
}

void rr_server_error_response_for(rr_server_route route, const rr_server_error *e, rr_server_response *resp) {
    rr_server_error_response(e, resp);
    if (route == RR_ROUTE_TEI_RERANK || route == RR_ROUTE_INFO) {
        free(resp->body);
        resp->body = rr_server_tei_error_json(e);
    }
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

static json_t *model_json(const rr_server_model *m, bool ready) {
    json_t *j = json_pack("{s:s, s:s, s:s, s:b}", "id", m->name, "object", "model", "owned_by", "rerank", "ready", ready);
    if (j && ready) {
        json_object_set_new(j, "architecture", json_string(m->info.architecture ? m->info.architecture : ""));
        json_object_set_new(j, "kind", json_string(kind_name(m->info.kind)));
        json_object_set_new(j, "max_tokens", json_integer(m->info.max_tokens));
    }
    return j;
}

/* TEI's /info object for the default model (TEI serves one model; the others are in /v1/models). */
static json_t *tei_info(rr_server *s, bool ready) {
    const rr_server_model *m = &s->models[0];
    int max_input = ready && m->info.max_tokens > 0 && m->info.max_tokens < s->cfg.max_length ? m->info.max_tokens
                                                                                              : s->cfg.max_length;
    return json_pack("{s:s, s:n, s:s, s:{s:{s:{s:s}, s:{s:i}}}, s:i, s:i, s:i, s:n, s:i, s:b, s:i, s:s, s:n, s:n}",
                     "model_id", m->name, "model_sha", "model_dtype", "float32", "model_type", "reranker", "id2label",
                     "0", "LABEL_0", "label2id", "LABEL_0", 0, "max_concurrent_requests", s->cfg.max_connections,
                     "max_input_length", max_input, "max_batch_tokens", s->cfg.max_batch_tokens,
                     "max_batch_requests", "max_client_batch_size", (int)s->cfg.max_documents, "auto_truncate",
                     s->cfg.auto_truncate, "tokenization_workers", s->cfg.http_threads, "version", RERANK_VERSION,
                     "sha", "docker_label");
}

void rr_server_handle_get(rr_server *s, rr_server_route route, const char *url, rr_server_response *resp) {
    resp->status = 200;
    resp->content_type = "application/json";
    bool ready = s->ready;
    bool serving = ready && !s->stopping && !s->draining;
    const char *state = s->draining ? "draining" : ready ? "ok" : "loading";
    switch (route) {
    case RR_ROUTE_HEALTH:
        resp->body = dump(json_pack("{s:s}", "status", state));
        return;
    case RR_ROUTE_READY:
        if (serving) {
            resp->body = dump(json_pack("{s:s}", "status", "ready"));
        } else {
            rr_server_error e;
            rr_server_fail(&e, 503, "unavailable", "%s", ready ? "server is shutting down" : "model is loading");
            rr_server_error_response(&e, resp);
        }
        return;
    case RR_ROUTE_INFO:
        resp->body = dump(tei_info(s, ready));
        return;
    case RR_ROUTE_METRICS: {
        rr_server_batcher *b[RR_SERVER_MAX_MODELS];
        for (size_t i = 0; i < s->n_models; i++) b[i] = ready ? s->models[i].batcher : NULL;
        resp->body = rr_server_metrics_render(b, s->n_models, ready);
        resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
        return;
    }
    case RR_ROUTE_MODELS: {
        json_t *list = json_array();
        for (size_t i = 0; list && i < s->n_models; i++) json_array_append_new(list, model_json(&s->models[i], ready));
        resp->body = dump(json_pack("{s:s, s:o}", "object", "list", "data", list));
        return;
    }
    case RR_ROUTE_MODEL: {
        const char *id = url + strlen("/v1/models/");
        for (size_t i = 0; i < s->n_models; i++)
            if (strcmp(s->models[i].name, id) == 0) {
                resp->body = dump(model_json(&s->models[i], ready));
                return;
            }
        rr_server_error e;
        rr_server_pick_model(s, RR_API_COHERE_V1, id, &e);
        if (s->n_models == 1 && !s->cfg.models_named) /* any name is accepted, so it is not "not served" */
            rr_server_fail(&e, 404, "not_found", "model '%.100s' is not served here; served: '%s'", id, s->models[0].name);
        rr_server_error_response(&e, resp);
        return;
    }
    default: {
        rr_server_error e;
        rr_server_fail(&e, 404, "not_found",
                       "no such route; try POST /v1/rerank, /v2/rerank, /rerank or GET /health, /ready, /info, /metrics, "
                       "/v1/models");
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
static int count_tokens(const rr_server_model *s, const rerank_score_params *sp, const rerank_pair *pair, size_t *n,
                        rerank_error *err) {
    rerank_encoding enc = {0};
    rerank_status st = rerank_tokenize(s->model, sp, pair, &enc, err);
    if (st != RERANK_OK) return st;
    *n = enc.n_tokens;
    rerank_encoding_free(&enc);
    return RERANK_OK;
}

/* TEI truncation_direction "Left": keep the passage's end. The shortest suffix is not needed, the longest
 * that fits is: binary search over byte offsets (on UTF-8 boundaries), each probe one tokenization. */
static int cut_left(const rr_server_model *m, const rerank_score_params *sp, rerank_pair *pair, size_t limit,
                    size_t *n_tokens, rerank_error *err) {
    const char *doc = pair->passage;
    size_t len = pair->passage_len, lo = 0, hi = len; /* offset lo does not fit, hi does (empty passage) */
    size_t best_n = 0;
    for (int guard = 0; hi - lo > 1 && guard < 64; guard++) {
        size_t mid = lo + (hi - lo) / 2;
        while (mid < hi && ((unsigned char)doc[mid] & 0xC0) == 0x80) mid++;
        if (mid >= hi) { /* no character starts in (lo, hi): hi is the answer */
            break;
        }
        rerank_pair probe = {pair->query, pair->query_len, doc + mid, len - mid};
        size_t n = 0;
        int st = count_tokens(m, sp, &probe, &n, err);
        if (st != RERANK_OK) return st;
        if (n < limit) hi = mid, best_n = n;
        else lo = mid;
    }
    if (hi >= len) hi = len - 1; /* keep at least the last byte's character */
    while (hi > 0 && ((unsigned char)doc[hi] & 0xC0) == 0x80) hi--;
    pair->passage = doc + hi;
    pair->passage_len = len - hi;
    if (best_n) *n_tokens = best_n;
    return RERANK_OK;
}

int rr_server_rerank_prepare(rr_server *s, rr_server_api api, const char *body, size_t len, int64_t t0,
                             rr_server_pending *p, rr_server_error *e) {
    memset(p, 0, sizeof *p);
    int st = rr_server_request_parse(api, body, len, &s->cfg, &p->req, e);
    if (st) return st;
    rr_server_request *r = &p->req;
    rr_server_model *m = p->model = rr_server_pick_model(s, api, r->model, e);
    if (!m) return e->status;
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
    if (rerank_score_n_outputs(m->model, &sp, &j->n_out, &err) != RERANK_OK)
        return rr_server_fail(e, 422, "unprocessable_entity", "%s", err.message);
    int model_max = m->info.max_tokens > 0 ? m->info.max_tokens : sp.max_length;
    int eff_max = sp.max_length < model_max ? sp.max_length : model_max;
    /* tokens of the query with an empty passage: the fixed cost of every pair of this request */
    size_t n0 = 0;
    rerank_pair empty = {r->query, r->query_len, "", 0};
    if (count_tokens(m, &sp, &empty, &n0, &err) != RERANK_OK)
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
        if (count_tokens(m, &sp, &j->pairs[i], &n, &err) != RERANK_OK)
            return rr_server_fail(e, 400, "invalid_request", "%s[%zu]: %s", field, i, err.message);
        bool cut = n >= (size_t)eff_max;
        if (!r->truncate && cut) /* TEI's answer to an input over the limit is a 413 (its "validation" error) */
            return rr_server_fail_limit(e, 413, "max_tokens", eff_max,
                                        "%s[%zu] with the query needs more than %d tokens and truncate is false", field,
                                        i, eff_max - 1);
        if (cut && r->truncate_left && sp.long_doc == RERANK_LONG_DOC_TRUNCATE) {
            if (cut_left(m, &sp, &j->pairs[i], (size_t)eff_max, &n, &err) != RERANK_OK)
                return rr_server_fail(e, 400, "invalid_request", "%s[%zu]: %s", field, i, err.message);
            cut = false;
        }
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

/* The route whose error shape a request's failures take. */
static rr_server_route api_route(const rr_server_pending *p) {
    return p->req.api == RR_API_TEI ? RR_ROUTE_TEI_RERANK : RR_ROUTE_V1_RERANK;
}

void rr_server_rerank_finish(rr_server *s, rr_server_pending *p, rr_server_response *resp) {
    rr_server_job *j = &p->job;
    if (j->http_status) {
        rr_server_error_response_for(api_route(p), &j->error, resp);
        return;
    }
    if (j->deadline_ns && rr_server_now_ns() > j->deadline_ns) {
        rr_server_error e;
        rr_server_fail_limit(&e, 504, "timeout_ms", s->cfg.timeout_ms, "request timed out after %d ms (limit timeout_ms)",
                             s->cfg.timeout_ms);
        e.type = "timeout";
        rr_server_error_response_for(api_route(p), &e, resp);
        return;
    }
    for (size_t i = 0; i < j->n_pairs * j->n_out; i++)
        if (!isfinite(j->scores[i])) {
            rr_server_error e;
            rr_server_fail(&e, 500, "internal", "the model produced a non-finite score for document %zu", i / j->n_out);
            rr_server_error_response_for(api_route(p), &e, resp);
            return;
        }
    resp->status = 200;
    resp->content_type = "application/json";
    resp->body = p->req.api == RR_API_TEI ? rr_server_tei_render(&p->req, j)
                                          : rr_server_cohere_render(&p->req, j, p->model->name, p->id);
    if (!resp->body) {
        rr_server_error e;
        rr_server_fail(&e, 500, "internal", "out of memory while rendering the response");
        rr_server_error_response_for(api_route(p), &e, resp);
    }
}
