/* fuzz_score.c - the whole public scoring path on fuzzed texts and parameters: one tiny model per input recipe
 * (cross-encoder XLM-R and BERT, FlagLLM on Gemma, Qwen3, layerwise MiniCPM), loaded once in fp32 and kept;
 * short inputs, one thread. Input: 4 parameter bytes, then "query\npassage\npassage..." (at most 3 passages).
 * Invariants: the call succeeds with finite scores (in [0,1] when normalized) or fails with a one-line error
 * that only bad input (invalid UTF-8) or a bad parameter (cutoff layer) explains. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "rerank.h"

static const char *const dirs[] = {"xlmr-seqcls-tiny", "bert-seqcls-tiny", "gemma-causal-tiny-bf16",
                                   "qwen3-causal-tiny", "minicpm-layerwise-tiny"};
enum { N_MODELS = sizeof dirs / sizeof dirs[0], MAX_PAIRS = 3, MAX_TEXT = 256 };
static rerank_model *models[N_MODELS];
static rerank_session *sessions[N_MODELS];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    for (int i = 0; i < N_MODELS; i++) {
        char path[1024];
        rerank_error err;
        rerank_model_params mp = rerank_model_default_params();
        mp.dtype = RERANK_DTYPE_F32;
        if (!rr_fuzz_data_path(dirs[i], path, sizeof path)) abort();
        if (rerank_model_load(path, &mp, &models[i], &err) || rerank_session_new(models[i], &sessions[i], &err)) {
            fprintf(stderr, "fuzz_score: %s: %s\n", path, err.message);
            abort();
        }
    }
    return 0;
}

static bool one_line(const rerank_error *err) { return err->message[0] && !strchr(err->message, '\n'); }

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    if (size < 4 || size > 4 + MAX_TEXT) return 0; /* short inputs keep the tiny models fast */
    const unsigned char b0 = data[0], b1 = data[1], b2 = data[2], b3 = data[3];
    const char *text = (const char *)data + 4, *end = (const char *)data + size;
    int m = b0 % N_MODELS;

    rerank_score_params sp = rerank_score_default_params();
    sp.n_threads = 1;
    sp.max_length = 4 + b1 % 36; /* from shorter than the specials + instruction to a few words */
    sp.query_max_length = b1 & 0x80 ? (b1 >> 4) % 8 : 0;     /* 0 = 3/4 of max_length */
    sp.normalize = b2 & 1;
    sp.long_doc = b2 & 2 ? RERANK_LONG_DOC_CHUNK : RERANK_LONG_DOC_TRUNCATE;
    sp.chunk_overlap = (b3 >> 4) % (1 + sp.max_length / 4); /* small windows, but not thousands of them */
    sp.split_special_tokens = b2 & 4;
    sp.prefix_reuse = b2 & 8;
    sp.batch_size = 1 + (b2 >> 4) % 4;
    if (b2 & 0x40) sp.instruction = "Judge it";
    if (b2 & 0x80) sp.prompt = "Is B relevant to A? Yes or No.";
    int cutoff[2] = {b3 % 6, 1 + b3 % 6}; /* the layerwise model's valid layers and some invalid ones */
    if (b3 & 8) {
        sp.cutoff_layers = cutoff;
        sp.n_cutoff_layers = 1 + ((b3 >> 2) & 1);
    }

    /* query, then passages split at '\n' */
    rerank_pair pairs[MAX_PAIRS];
    const char *nl = memchr(text, '\n', (size_t)(end - text));
    const char *q = text, *p = nl ? nl + 1 : end;
    size_t qn = (size_t)((nl ? nl : end) - text), n_pairs = 0;
    do {
        const char *e = memchr(p, '\n', (size_t)(end - p));
        if (!e || n_pairs == MAX_PAIRS - 1) e = end;
        pairs[n_pairs++] = (rerank_pair){q, qn, p, (size_t)(e - p)};
        p = e < end ? e + 1 : end;
    } while (p < end && n_pairs < MAX_PAIRS);

    rerank_error err;
    size_t n_out = 0;
    rerank_status no = rerank_score_n_outputs(models[m], &sp, &n_out, &err);
    float scores[MAX_PAIRS * 8];
    rerank_status st = no ? no : n_out <= 2 ? rerank_score(sessions[m], &sp, pairs, n_pairs, scores, &err)
                                            : RERANK_ERR_INTERNAL;
    if (no) {
        if (no != RERANK_ERR_INVALID_ARGUMENT || !one_line(&err)) abort();
        return 0;
    }
    if (st != RERANK_OK) {
        /* too short a max_length for the specials/prompt is an input or argument error too */
        if ((st != RERANK_ERR_INPUT && st != RERANK_ERR_INVALID_ARGUMENT) || !one_line(&err)) abort();
        rr_fuzz_rejected("pair", err.message);
        return 0;
    }
    for (size_t k = 0; k < n_pairs * n_out; k++) {
        if (!isfinite(scores[k])) abort();
        if (sp.normalize && (scores[k] < 0 || scores[k] > 1)) abort();
    }
    return 0;
}
