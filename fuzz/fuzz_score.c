/* fuzz_score.c - arbitrary bytes as a query/passage pair (split at the first '\n') through the whole public
 * scoring path: tokenizer, input recipe (cross-encoder, FlagLLM, Qwen3, layerwise), batching, forward. */
#include <stdlib.h>
#include <string.h>

#include "rerank.h"

static const char *const dirs[] = {"xlmr-seqcls-tiny", "bert-seqcls-tiny", "qwen3-causal-tiny",
                                   "minicpm-layerwise-tiny"};
enum { N_MODELS = sizeof dirs / sizeof dirs[0] };
static rerank_model *models[N_MODELS];
static rerank_session *sessions[N_MODELS];

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    if (!models[0]) {
        const char *root = getenv("RERANK_SHARED");
        for (int i = 0; i < N_MODELS; i++) {
            char path[1024];
            snprintf(path, sizeof path, "%s/testdata/%s", root && *root ? root : "tests/data", dirs[i]);
            if (rerank_model_load(path, NULL, &models[i], NULL) || rerank_session_new(models[i], &sessions[i], NULL))
                abort();
        }
    }
    const char *text = (const char *)data;
    const char *nl = memchr(text, '\n', size);
    size_t qn = nl ? (size_t)(nl - text) : size / 2;
    const char *p = nl ? nl + 1 : text + qn;
    rerank_pair pairs[3] = {{text, qn, p, size - (size_t)(p - text)}, {text, qn, "x", 1}, {"", 0, p, size - (size_t)(p - text)}};
    for (int i = 0; i < N_MODELS; i++) {
        rerank_score_params sp = rerank_score_default_params();
        sp.max_length = 64 + (int)(size % 64);
        sp.long_doc = size % 2 ? RERANK_LONG_DOC_CHUNK : RERANK_LONG_DOC_TRUNCATE;
        sp.split_special_tokens = size % 3 == 0;
        float scores[3];
        rerank_status st = rerank_score(sessions[i], &sp, pairs, 3, scores, NULL);
        /* the only acceptable failure is rejected input (invalid UTF-8) */
        if (st != RERANK_OK && st != RERANK_ERR_INPUT) abort();
        if (st == RERANK_OK)
            for (int k = 0; k < 3; k++)
                if (scores[k] != scores[k]) abort(); /* NaN */
    }
    return 0;
}
