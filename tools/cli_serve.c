/* cli_serve.c - `rerank serve`: its options through the option table (options.h) into an rr_server_config,
 * then the server (src/server, rr_serve_run). The model and scoring options are those of rerank score, with
 * the same spelling and meaning; they set the defaults of every request. */
#include <stdlib.h>
#include <string.h>

#include "cli_download.h"
#include "options.h"
#include "server/server.h"

int rr_serve_main(int argc, char **argv) {
    rr_cli_args a;
    rr_cli_args_init(&a);
    a.serve.api_key = getenv("RERANK_API_KEY");
    a.sp.batch_size = a.serve.score.batch_size; /* serve's default: the whole cross-request batch, at most 256 */
    int rc = rr_cli_parse("serve", argc, argv, &a);
    if (rc) return rc < 0 ? 0 : rc;
    rr_server_config c = a.serve;
    if (c.max_documents > c.max_queue_pairs)
        return rr_cli_usage_error("serve", "--max-documents (%zu) must not exceed --max-queue-pairs (%zu)",
                                  c.max_documents, c.max_queue_pairs);
    for (size_t i = 0; i < a.serve_models.n && i < RR_SERVER_MAX_MODELS; i++) c.model_dirs[c.n_models++] = a.serve_models.v[i];
    if (a.serve_models.n > RR_SERVER_MAX_MODELS)
        return rr_cli_usage_error("serve", "at most %d --model options", RR_SERVER_MAX_MODELS);
    for (size_t i = 0; i < c.n_models; i++) { /* hub ids fetched first, with the progress line; the server then
                                                * finds them in the cache (and names each by its id) */
        const char *spec = c.model_dirs[i], *eq = strchr(spec, '=');
        if (eq && eq > spec && !memchr(spec, '/', (size_t)(eq - spec))) spec = eq + 1;
        char fetched[4096];
        if (!rr_cli_prefetch(spec, fetched, sizeof fetched, &rc)) return rc;
    }
    c.model_dir = c.model_dirs[0];
    c.model = a.mp;
    c.score = *rr_cli_score_params(&a); /* points into a: lives until rr_serve_run returns */
    c.long_doc = a.sp.long_doc;
    return rr_serve_run(&c);
}
