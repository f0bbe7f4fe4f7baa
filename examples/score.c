/* score.c - the smallest program on librerank: the relevance logit of one (query, passage) pair.
 *   cc examples/score.c $(pkg-config --cflags --libs librerank) -o score
 *   ./score MODEL_DIR "what is panda?" "The giant panda is a bear."
 * `make deb-check` compiles it against the installed librerank-dev package. */
#include <rerank.h>
#include <stdio.h>

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s MODEL_DIR QUERY PASSAGE\n", argv[0]);
        return 2;
    }
    rerank_error err;
    rerank_model *model = NULL;
    rerank_session *session = NULL;
    rerank_model_params mp = rerank_model_default_params();
    rerank_score_params sp = rerank_score_default_params();
    rerank_pair pair = RERANK_PAIR(argv[2], argv[3]);
    float score;
    rerank_status st = rerank_model_load(argv[1], &mp, &model, &err);
    if (st == RERANK_OK) st = rerank_session_new(model, &session, &err);
    if (st == RERANK_OK) st = rerank_score(session, &sp, &pair, 1, &score, &err);
    if (st == RERANK_OK) printf("%.9g\n", score);
    else fprintf(stderr, "score: %s\n", err.message);
    rerank_session_free(session);
    rerank_model_free(model);
    return st == RERANK_OK ? 0 : 1;
}
