/* serve.c - the server's defaults and rr_serve_run: derived settings (served name, threads per worker),
 * signal set-up, then the HTTP server until SIGTERM. The command line is parsed by the CLI (tools/cli_serve.c). */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "server/internal.h"
#include "server/server.h"

void rr_server_config_default(rr_server_config *c) {
    *c = (rr_server_config){.host = "127.0.0.1", .port = 8080, .workers = 2, .threads = 0, .http_threads = 4,
                            .max_batch_tokens = 16384, .max_length = 512, .long_doc = RERANK_LONG_DOC_TRUNCATE,
                            .max_body_bytes = 8u << 20, .max_documents = 1000, .max_doc_tokens = 0,
                            .max_queue_pairs = 8192, .timeout_ms = 30000, .max_connections = 512,
                            .idle_timeout_s = 30, .api_key = NULL};
    c->model = rerank_model_default_params();
    c->score = rerank_score_default_params();
    c->score.batch_size = 256; /* pairs of one forward pass: the cross-request batch, up to this */
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

int rr_serve_run(const rr_server_config *cfg) {
    static rr_server srv; /* one server per process (signals are process-wide) */
    memset(&srv, 0, sizeof srv);
    rr_server_config *c = &srv.cfg;
    *c = *cfg;
    if (!c->model_dir) {
        fprintf(stderr, "rerank serve: no model directory\n");
        return 2;
    }
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (c->api_key && !*c->api_key) c->api_key = NULL;
    if (!c->model_name) c->model_name = base_name(c->model_dir);
    if (c->workers < 1) c->workers = 1;
    if (c->threads <= 0) c->threads = cores > c->workers ? (int)(cores / c->workers) : 1;

    /* SIGTERM/SIGINT are taken with sigwait by the main thread: block them before any thread starts */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    return rr_server_http_run(&srv);
}
