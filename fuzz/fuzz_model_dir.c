/* fuzz_model_dir.c - libFuzzer target: a whole model directory is untrusted input (a hub download). The input
 * is a little archive of records [file index: 1 byte][length: 2 bytes little-endian][content] that become the
 * files of a scratch directory (config.json, model.safetensors or shards with their index, tokenizer.json /
 * tokenizer.model / vocab.txt, tokenizer_config.json); rerank_model_load must then succeed or fail with a
 * one-line error, and a loaded model must score one pair (finite score, or a one-line input error). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "rerank.h"

static const char *const names[] = {"config.json",
                                    "model.safetensors",
                                    "model.safetensors.index.json",
                                    "model-00001-of-00002.safetensors",
                                    "model-00002-of-00002.safetensors",
                                    "tokenizer.json",
                                    "tokenizer.model",
                                    "vocab.txt",
                                    "tokenizer_config.json",
                                    "special_tokens_map.json"};
enum { N_NAMES = sizeof names / sizeof names[0] };
static char dir[256];

static void clear_dir(void) {
    char path[512];
    for (int i = 0; i < N_NAMES; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
}

static void remove_dir(void) {
    clear_dir();
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/rr-fuzz-model-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) abort();
    atexit(remove_dir);
    return 0;
}

static bool one_line(const rerank_error *err) { return err->message[0] && !strchr(err->message, '\n'); }

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    clear_dir();
    size_t at = 0;
    while (at + 3 <= size) { /* a record cut short by the input's end keeps what there is */
        int file = data[at] % N_NAMES;
        size_t len = (size_t)data[at + 1] | (size_t)data[at + 2] << 8;
        at += 3;
        if (len > size - at) len = size - at;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, names[file]);
        FILE *f = fopen(path, "wb"); /* a second record of the same file replaces the first */
        if (!f || fwrite(data + at, 1, len, f) != len || fclose(f)) abort();
        at += len;
    }
    rerank_model *m = NULL;
    rerank_error err;
    rerank_model_params mp = rerank_model_default_params();
    mp.dtype = RERANK_DTYPE_F32;
    rerank_status st = rerank_model_load(dir, &mp, &m, &err);
    if (st) {
        if (m || !one_line(&err) || st == RERANK_ERR_INTERNAL) abort();
        rr_fuzz_rejected("model directory", err.message);
        return 0;
    }
    rerank_session *s;
    if (rerank_session_new(m, &s, &err)) abort();
    rerank_score_params sp = rerank_score_default_params();
    sp.n_threads = 1;
    sp.max_length = 16;
    rerank_pair pair = RERANK_PAIR("what is a panda?", "the giant panda is a bear");
    float score[8];
    size_t n_out;
    if (rerank_score_n_outputs(m, &sp, &n_out, &err) == RERANK_OK && n_out <= 8) {
        st = rerank_score(s, &sp, &pair, 1, score, &err);
        if (st == RERANK_OK) {
            /* weights are fuzzed too: inf/nan in them may give a non-finite score, but never a crash */
        } else if (!one_line(&err) || st == RERANK_ERR_INTERNAL) {
            abort();
        }
    }
    rerank_session_free(s);
    rerank_model_free(m);
    return 0;
}
