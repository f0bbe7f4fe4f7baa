/* serve.c - the server's defaults and rr_serve_run: derived settings (the served models and their names,
 * threads per worker), signal set-up, then the HTTP server until SIGTERM. The command line is parsed by the CLI (tools/cli_serve.c). */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
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
 * '/', so a hub id or a path is never split), else the whole argument is the directory, named by
 * --model-name (first model) or its base name. Names must differ. */
static int resolve_models(rr_server_config *c) {
    static char names[RR_SERVER_MAX_MODELS][128];
    for (size_t i = 0; i < c->n_models; i++) {
        const char *arg = c->model_dirs[i], *eq = strchr(arg, '=');
        if (eq && eq > arg && !memchr(arg, '/', (size_t)(eq - arg)) && eq[1]) {
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
            struct stat st; /* a hub id (no such local path) is served under the id itself */
            c->model_names[i] = stat(arg, &st) != 0 && strchr(arg, '/') ? arg : base_name(arg);
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

int rr_serve_run(const rr_server_config *cfg) {
    static rr_server srv; /* one server per process (signals are process-wide) */
    memset(&srv, 0, sizeof srv);
    rr_server_config *c = &srv.cfg;
    *c = *cfg;
    if (c->n_models == 0 && c->model_dir) c->model_dirs[c->n_models++] = c->model_dir;
    if (c->n_models == 0) {
        fprintf(stderr, "rerank serve: no model directory\n");
        return 2;
    }
    if (resolve_models(c) != 0) return 2;
    for (size_t i = 0; i < c->n_models; i++)
        srv.models[i] = (rr_server_model){.name = c->model_names[i], .dir = c->model_dirs[i]};
    srv.n_models = c->n_models;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (c->api_key && !*c->api_key) c->api_key = NULL;
    if (c->cors_origins && !*c->cors_origins) c->cors_origins = NULL;
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
