/* server.h - entry points of `rerank serve`, the HTTP reranking server (a client of rerank.h only): its
 * configuration, its defaults, and the run function. The command line is parsed by the CLI (tools/cli_serve.c,
 * through the option table of tools/options.h), which defines rr_serve_main. */
#ifndef RR_SERVER_H
#define RR_SERVER_H

#include <stddef.h>

#include "rerank.h"

typedef struct rr_server_config {
    const char *model_dir;
    const char *model_name;     /* served name: --model-name; NULL = the directory's base name */
    const char *host;           /* default 127.0.0.1 */
    int port;                   /* default 8080; 0 = ephemeral (the bound port is printed) */
    int workers;                /* scoring sessions sharing the model */
    int threads;                /* rerank_score_params.n_threads of each worker; 0 = cores / workers */
    int http_threads;           /* libmicrohttpd polling threads */
    int max_batch_tokens;       /* token budget of one cross-request batch */
    int max_length;             /* pair token budget (rerank_score_params.max_length) */
    rerank_long_doc long_doc;   /* default long-document policy (a request's long_doc wins) */
    size_t max_body_bytes;      /* 413 above */
    size_t max_documents;       /* 413 above */
    size_t max_doc_tokens;      /* 413 above; 0 = no limit besides the model's */
    size_t max_queue_pairs;     /* 503 + Retry-After when the queue would grow past it */
    int timeout_ms;             /* per request, from its first byte to its response */
    int max_connections;
    int idle_timeout_s;         /* keep-alive / slow-client timeout of a connection */
    const char *api_key;        /* Bearer token required when set */
    rerank_model_params model;  /* how the model is loaded (--dtype, --recipe) */
    /* The scoring defaults of every request: query_max_length, chunk_overlap, split_special_tokens, prompt,
     * instruction and cutoff layers (a request's instruction and cutoff_layers win), prefix_reuse, and
     * batch_size, the most pairs of one forward pass. Its max_length and long_doc are the fields above;
     * normalize comes from each request (raw_scores) and n_threads from `threads`. */
    rerank_score_params score;
} rr_server_config;

/* The defaults of every field (the api_key is NULL: the CLI reads RERANK_API_KEY). */
void rr_server_config_default(rr_server_config *c);

/* Loads the model, serves until SIGTERM/SIGINT, drains; returns the process exit status (0, 1 on a runtime
 * error, 2 on a configuration the model refuses). Prints "rerank serve: ..." lines. One per process. */
int rr_serve_run(const rr_server_config *c);

/* `rerank serve`: argv[0] = "serve", then its options; returns the exit status (tools/cli_serve.c). */
int rr_serve_main(int argc, char **argv);

#endif
