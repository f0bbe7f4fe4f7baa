/* serve.c - `rerank serve`: command-line options, --help (routes, limits and the score contract per
 * model family), signal set-up, then the HTTP server until SIGTERM. */
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/internal.h"
#include "server/server.h"

static const char usage[] =
    "usage: rerank serve --model [NAME=]DIR [--model NAME=DIR ...] [options]\n"
    "\n"
    "HTTP/1.1 reranking server (keep-alive) on one or more loaded models, with cross-request dynamic batching.\n"
    "\n"
    "Routes:\n"
    "  POST /v1/rerank, /v2/rerank  Cohere/Jina: {model, query, documents: [str | object], rank_fields,\n"
    "                               top_n, return_documents, max_tokens_per_doc} -> {id, model, results:\n"
    "                               [{index, relevance_score[, document]}], meta, usage}, best first.\n"
    "                               return_documents defaults to true on /v1 (Jina, Cohere v1) and false\n"
    "                               on /v2 (Cohere v2); an object document is echoed with all its fields.\n"
    "                               rank_fields: the object fields ranked (default [\"text\"]); several are\n"
    "                               joined as \"name: value\" lines in the order given\n"
    "  POST /rerank                 TEI: {query, texts, raw_scores, return_text, truncate,\n"
    "                               truncation_direction: Right | Left} -> [{index, score[, text]}], best\n"
    "                               first; errors {\"error\", \"error_type\"}; a missing truncate means\n"
    "                               --auto-truncate (off: an input over the limit is a 413, as in TEI)\n"
    "  GET  /health                 liveness: 200 while the process serves, {\"status\": \"loading\" | \"ok\" |\n"
    "                               \"draining\"}\n"
    "  GET  /ready                  readiness: 200 once every model is loaded, 503 while loading and\n"
    "                               after SIGTERM (route load balancers and Kubernetes readiness here)\n"
    "  GET  /info                   TEI's model info (model_id, max_input_length, max_batch_tokens, ...)\n"
    "  GET  /metrics                Prometheus text format\n"
    "  GET  /v1/models[/{id}]       the served models\n"
    "  The request's \"model\" picks the served model. A server given names (--model-name, NAME=DIR) answers\n"
    "  404 naming the served ones for any other name; one unnamed model accepts any name (and echoes it).\n"
    "  On a one-model server /rerank (TEI) ignores the name, as TEI does.\n"
    "  Every rerank route also takes: raw_scores (bool), long_doc (\"truncate\" | \"chunk\"),\n"
    "  instruction (string, Qwen3-Reranker), cutoff_layers (int or [int], layerwise model; the score is\n"
    "  the last listed layer's and results carry layer_scores).\n"
    "\n"
    "Scores: every route returns 0..1 unless the request sets \"raw_scores\": true (Cohere and Jina\n"
    "  return a 0..1 relevance_score, TEI a sigmoid score). The mapping is applied once, by librerank\n"
    "  (rerank_score_params.normalize), never again by the server:\n"
    "  cross-encoders (XLM-R, BERT: bge-reranker-base/large/v2-m3, ms-marco MiniLM)\n"
    "                 raw = the classifier logit; 0..1 = sigmoid(logit)\n"
    "  LLM (bge-reranker-v2-gemma)\n"
    "                 raw = the \"Yes\" logit at the last token; 0..1 = sigmoid of it\n"
    "  layerwise (bge-reranker-v2-minicpm-layerwise)\n"
    "                 raw = each cutoff layer's head logit; 0..1 = sigmoid of it\n"
    "  Qwen3-Reranker raw = the library's raw score (log-odds of \"yes\" over \"no\"); 0..1 = P(yes)\n"
    "\n"
    "Options:\n"
    "  --model [NAME=]DIR      Hugging Face model directory (required); repeat with NAME=DIR to serve\n"
    "                          several models in one process (the first is the default)\n"
    "  --model-name NAME       the (first) model's served name (default: DIR's base name; giving it\n"
    "                          makes other names a 404)\n"
    "  --host ADDR             numeric address to bind (default 127.0.0.1)\n"
    "  --port N                port (default 8080; 0 = any free port, printed on start)\n"
    "  --workers N             scoring sessions sharing the model (default 2)\n"
    "  --threads N             threads per worker (default: cores / workers)\n"
    "  --http-threads N        HTTP polling threads (default 4)\n"
    "  --max-batch-tokens N    token budget of one cross-request batch (default 16384)\n"
    "  --max-length N          token budget of one pair, lowered to the model's limit (default 512)\n"
    "  --long-doc MODE         truncate (default, as FlagReranker) or chunk (MaxP over windows)\n"
    "  --max-body-bytes N      413 above (default 8388608)\n"
    "  --max-documents N       413 above (default 1000)\n"
    "  --max-doc-tokens N      413 when a document has more tokens (default 0 = off; below max_tokens)\n"
    "  --max-queue-pairs N     503 + Retry-After when the queue would exceed it (default 8192)\n"
    "  --timeout-ms N          per-request limit, 504 past it (default 30000)\n"
    "  --max-connections N     concurrent connections (default 512)\n"
    "  --idle-timeout S        close idle or stalled connections after S seconds (default 30)\n"
    "  --api-key KEY           require 'Authorization: Bearer KEY' on every route but /health, /ready\n"
    "                          (or set RERANK_API_KEY)\n"
    "  --auto-truncate         TEI route: truncate inputs over the limit when a request omits truncate\n"
    "  --cors-allow-origin O   answer browsers from origin O (\"*\" = any; comma-separated list); adds\n"
    "                          Access-Control-Allow-Origin and OPTIONS preflights (default: off)\n"
    "  --drain-delay S         after SIGTERM, keep serving S seconds with /ready at 503 before draining\n"
    "                          (default 0; Kubernetes: or a preStop sleep)\n"
    "  -h, --help              this text\n"
    "\n"
    "Errors are JSON {\"error\": {\"message\", \"type\", \"code\"[, \"limit\", \"limit_value\"]}}: 400 malformed\n"
    "or invalid input, 401 API key, 404 route or model, 405 method, 413 a size limit (an oversized body\n"
    "is read and dropped, up to 64 MiB, so that the client receives the 413), 415 a body that is not JSON\n"
    "(Content-Encoding, or a Content-Type other than application/json; none, and curl's default\n"
    "x-www-form-urlencoded, are read as JSON), 422 input the model cannot take, 503 queue full or\n"
    "shutting down, 504 timeout. Bodies may start with a UTF-8 BOM; \\u0000 in texts reads as a space;\n"
    "integer fields accept integral numbers such as 3.0. SIGTERM stops accepting, finishes in-flight\n"
    "requests and exits 0 (see --drain-delay).\n";

static bool parse_int(const char *opt, const char *v, long long min, long long max, long long *out) {
    char *end;
    long long x = strtoll(v, &end, 10);
    if (!*v || *end || x < min || x > max) {
        fprintf(stderr, "rerank serve: %s expects an integer in [%lld, %lld], got '%s'\n", opt, min, max, v);
        return false;
    }
    *out = x;
    return true;
}

static const char *base_name(const char *dir) {
    static char names[RR_SERVER_MAX_MODELS][256];
    static int next;
    char *name = names[next++ % RR_SERVER_MAX_MODELS];
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/') n--;
    size_t b = n;
    while (b > 0 && dir[b - 1] != '/') b--;
    snprintf(name, 256, "%.*s", (int)(n - b), dir + b);
    return name;
}

/* Splits each --model into name and directory: "NAME=DIR" when the part before '=' is a plain name (no
 * '/'), else the whole argument is the directory, named by --model-name (first model) or its base name. */
static int resolve_models(rr_server_config *c) {
    for (size_t i = 0; i < c->n_models; i++) {
        const char *arg = c->model_dirs[i], *eq = strchr(arg, '=');
        if (eq && eq > arg && !memchr(arg, '/', (size_t)(eq - arg)) && eq[1]) {
            static char names[RR_SERVER_MAX_MODELS][128];
            if ((size_t)(eq - arg) >= sizeof names[i]) {
                fprintf(stderr, "rerank serve: --model %s: the name is longer than 127 bytes\n", arg);
                return -1;
            }
            snprintf(names[i], sizeof names[i], "%.*s", (int)(eq - arg), arg);
            c->model_names[i] = names[i];
            c->model_dirs[i] = eq + 1;
            c->models_named = true;
        } else if (i == 0 && c->model_name) {
            c->model_names[i] = c->model_name;
            c->models_named = true;
        } else {
            c->model_names[i] = base_name(arg);
        }
    }
    if (c->n_models > 1) c->models_named = true;
    for (size_t i = 0; i < c->n_models; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(c->model_names[i], c->model_names[j]) == 0) {
                fprintf(stderr, "rerank serve: two models are named '%s'; name them with --model NAME=DIR\n",
                        c->model_names[i]);
                return -1;
            }
    c->model_dir = c->model_dirs[0];
    c->model_name = c->model_names[0];
    return 0;
}

int rr_serve_main(int argc, char **argv) {
    static rr_server srv; /* one server per process (signals are process-wide) */
    memset(&srv, 0, sizeof srv);
    rr_server_config *c = &srv.cfg;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    *c = (rr_server_config){.host = "127.0.0.1", .port = 8080, .workers = 2, .threads = 0, .http_threads = 4,
                            .max_batch_tokens = 16384, .max_length = 512, .long_doc = RERANK_LONG_DOC_TRUNCATE,
                            .max_body_bytes = 8u << 20, .max_documents = 1000, .max_doc_tokens = 0,
                            .max_queue_pairs = 8192, .timeout_ms = 30000, .max_connections = 512,
                            .idle_timeout_s = 30, .api_key = getenv("RERANK_API_KEY")};
    if (c->api_key && !*c->api_key) c->api_key = NULL;
    enum { O_MODEL = 256, O_NAME, O_HOST, O_PORT, O_WORKERS, O_THREADS, O_HTTP, O_MBT, O_MAXLEN, O_LONG, O_BODY,
           O_DOCS, O_DOCTOK, O_QUEUE, O_TIMEOUT, O_CONNS, O_IDLE, O_KEY, O_AUTOTRUNC, O_CORS, O_DRAIN };
    static const struct option opts[] = {
        {"model", required_argument, 0, O_MODEL}, {"model-name", required_argument, 0, O_NAME},
        {"host", required_argument, 0, O_HOST}, {"port", required_argument, 0, O_PORT},
        {"workers", required_argument, 0, O_WORKERS}, {"threads", required_argument, 0, O_THREADS},
        {"http-threads", required_argument, 0, O_HTTP}, {"max-batch-tokens", required_argument, 0, O_MBT},
        {"max-length", required_argument, 0, O_MAXLEN}, {"long-doc", required_argument, 0, O_LONG},
        {"max-body-bytes", required_argument, 0, O_BODY}, {"max-documents", required_argument, 0, O_DOCS},
        {"max-doc-tokens", required_argument, 0, O_DOCTOK}, {"max-queue-pairs", required_argument, 0, O_QUEUE},
        {"timeout-ms", required_argument, 0, O_TIMEOUT}, {"max-connections", required_argument, 0, O_CONNS},
        {"idle-timeout", required_argument, 0, O_IDLE}, {"api-key", required_argument, 0, O_KEY},
        {"auto-truncate", no_argument, 0, O_AUTOTRUNC}, {"cors-allow-origin", required_argument, 0, O_CORS},
        {"drain-delay", required_argument, 0, O_DRAIN},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    optind = 0; /* full re-initialisation: rr_serve_main may run more than once in a process */
    opterr = 1;
    int ch;
    long long v = 0;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        bool ok = true;
        switch (ch) {
        case 'h': fputs(usage, stdout); return 0;
        case O_MODEL:
            if (c->n_models == RR_SERVER_MAX_MODELS) {
                ok = false, fprintf(stderr, "rerank serve: at most %d --model options\n", RR_SERVER_MAX_MODELS);
                break;
            }
            c->model_dirs[c->n_models++] = optarg;
            break;
        case O_NAME: c->model_name = optarg; break;
        case O_HOST: c->host = optarg; break;
        case O_PORT: ok = parse_int("--port", optarg, 0, 65535, &v) && ((c->port = (int)v), 1); break;
        case O_WORKERS: ok = parse_int("--workers", optarg, 1, 256, &v) && ((c->workers = (int)v), 1); break;
        case O_THREADS: ok = parse_int("--threads", optarg, 1, 1024, &v) && ((c->threads = (int)v), 1); break;
        case O_HTTP: ok = parse_int("--http-threads", optarg, 1, 256, &v) && ((c->http_threads = (int)v), 1); break;
        case O_MBT: ok = parse_int("--max-batch-tokens", optarg, 1, INT_MAX, &v) && ((c->max_batch_tokens = (int)v), 1); break;
        case O_MAXLEN: ok = parse_int("--max-length", optarg, 8, 1 << 20, &v) && ((c->max_length = (int)v), 1); break;
        case O_LONG:
            if (strcmp(optarg, "truncate") == 0) c->long_doc = RERANK_LONG_DOC_TRUNCATE;
            else if (strcmp(optarg, "chunk") == 0) c->long_doc = RERANK_LONG_DOC_CHUNK;
            else ok = false, fprintf(stderr, "rerank serve: --long-doc expects truncate or chunk\n");
            break;
        case O_BODY: ok = parse_int("--max-body-bytes", optarg, 64, 1LL << 32, &v) && ((c->max_body_bytes = (size_t)v), 1); break;
        case O_DOCS: ok = parse_int("--max-documents", optarg, 1, 1 << 20, &v) && ((c->max_documents = (size_t)v), 1); break;
        case O_DOCTOK: ok = parse_int("--max-doc-tokens", optarg, 0, 1 << 24, &v) && ((c->max_doc_tokens = (size_t)v), 1); break;
        case O_QUEUE: ok = parse_int("--max-queue-pairs", optarg, 1, 1 << 24, &v) && ((c->max_queue_pairs = (size_t)v), 1); break;
        case O_TIMEOUT: ok = parse_int("--timeout-ms", optarg, 0, 3600000, &v) && ((c->timeout_ms = (int)v), 1); break;
        case O_CONNS: ok = parse_int("--max-connections", optarg, 1, 65536, &v) && ((c->max_connections = (int)v), 1); break;
        case O_IDLE: ok = parse_int("--idle-timeout", optarg, 1, 86400, &v) && ((c->idle_timeout_s = (int)v), 1); break;
        case O_KEY: c->api_key = *optarg ? optarg : NULL; break;
        case O_AUTOTRUNC: c->auto_truncate = true; break;
        case O_CORS: c->cors_origins = *optarg ? optarg : NULL; break;
        case O_DRAIN: ok = parse_int("--drain-delay", optarg, 0, 3600, &v) && ((c->drain_delay_s = (int)v), 1); break;
        default: ok = false; break;
        }
        if (!ok) {
            fprintf(stderr, "run 'rerank serve --help' for the options\n");
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "rerank serve: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (c->n_models == 0) {
        fprintf(stderr, "rerank serve: --model DIR is required (run 'rerank serve --help')\n");
        return 2;
    }
    if (resolve_models(c) != 0) return 2;
    if (c->max_documents > c->max_queue_pairs) {
        fprintf(stderr, "rerank serve: --max-documents (%zu) must not exceed --max-queue-pairs (%zu)\n",
                c->max_documents, c->max_queue_pairs);
        return 2;
    }
    for (size_t i = 0; i < c->n_models; i++)
        srv.models[i] = (rr_server_model){.name = c->model_names[i], .dir = c->model_dirs[i]};
    srv.n_models = c->n_models;
    if (c->threads == 0) c->threads = cores > c->workers ? (int)(cores / c->workers) : 1;

    /* SIGTERM/SIGINT are taken with sigwait by the main thread: block them before any thread starts */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    return rr_server_http_run(&srv);
}
