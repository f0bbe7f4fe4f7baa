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
    "usage: rerank serve --model DIR [options]\n"
    "\n"
    "HTTP/1.1 reranking server (keep-alive) on one loaded model, with cross-request dynamic batching.\n"
    "\n"
    "Routes:\n"
    "  POST /v1/rerank, /v2/rerank  Cohere/Jina: {model, query, documents: [str | {text}], top_n,\n"
    "                               return_documents, max_tokens_per_doc} -> {id, results: [{index,\n"
    "                               relevance_score[, document: {text}]}], meta, usage}, best first\n"
    "  POST /rerank                 TEI: {query, texts, raw_scores, return_text, truncate,\n"
    "                               truncation_direction} -> [{index, score[, text]}], best first\n"
    "  GET  /health                 200 {\"status\":\"ok\"} once the model is loaded, else 503\n"
    "  GET  /metrics                Prometheus text format\n"
    "  GET  /v1/models              the served model\n"
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
    "  --model DIR             Hugging Face model directory, or a hub id ORG/NAME[@REVISION] (required)\n"
    "  --model-name NAME       name reported by /v1/models and responses (default: DIR's base name)\n"
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
    "  --api-key KEY           require 'Authorization: Bearer KEY' on every route but /health\n"
    "                          (or set RERANK_API_KEY)\n"
    "  -h, --help              this text\n"
    "\n"
    "Errors are JSON {\"error\": {\"message\", \"type\", \"code\"[, \"limit\", \"limit_value\"]}}: 400 malformed\n"
    "or invalid input, 401 API key, 404/405 route or method, 413 a size limit, 422 input the model cannot\n"
    "take, 503 queue full or shutting down, 504 timeout. SIGTERM stops accepting, finishes in-flight\n"
    "requests and exits 0.\n";

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
    static char name[256];
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/') n--;
    size_t b = n;
    while (b > 0 && dir[b - 1] != '/') b--;
    snprintf(name, sizeof name, "%.*s", (int)(n - b), dir + b);
    return name;
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
           O_DOCS, O_DOCTOK, O_QUEUE, O_TIMEOUT, O_CONNS, O_IDLE, O_KEY };
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
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    optind = 0; /* full re-initialisation: rr_serve_main may run more than once in a process */
    opterr = 1;
    int ch;
    long long v = 0;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        bool ok = true;
        switch (ch) {
        case 'h': fputs(usage, stdout); return 0;
        case O_MODEL: c->model_dir = optarg; break;
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
    if (!c->model_dir) {
        fprintf(stderr, "rerank serve: --model DIR is required (run 'rerank serve --help')\n");
        return 2;
    }
    if (c->max_documents > c->max_queue_pairs) {
        fprintf(stderr, "rerank serve: --max-documents (%zu) must not exceed --max-queue-pairs (%zu)\n",
                c->max_documents, c->max_queue_pairs);
        return 2;
    }
    if (!c->model_name) c->model_name = base_name(c->model_dir);
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
