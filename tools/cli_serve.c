/* cli_serve.c - `rerank serve`: its options through the option table (options.h) into an rr_server_config,
 * then the server (src/server, rr_serve_run). The model and scoring options are those of rerank score, with
 * the same spelling and meaning; they set the defaults of every request. */
#include <stdlib.h>

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
    c.model_dir = a.model;
    c.model = a.mp;
    c.score = *rr_cli_score_params(&a); /* points into a: lives until rr_serve_run returns */
    c.long_doc = a.sp.long_doc;
    return rr_serve_run(&c);
}
