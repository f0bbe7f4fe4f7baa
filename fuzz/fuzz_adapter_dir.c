/* fuzz_adapter_dir.c - libFuzzer target: a PEFT LoRA adapter directory is untrusted input (adapters are downloaded
 * from the hub). The first byte picks a tiny decoder base checkpoint of the test data (byte % 3) and the dtype the
 * merged weights are converted to (byte / 3 % 3: f32, bf16, int8); the rest is records [file index: 1 byte][length:
 * 2 bytes little-endian][content] that become adapter_config.json and adapter_model.safetensors of a scratch
 * directory. rerank_model_load(base, .adapter = scratch) must then succeed or fail with a one-line error, and a
 * loaded model must score one pair (or fail with a one-line input error). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "rerank.h"

/* the only files rr_adapter_apply reads from the adapter directory (src/arch/adapter.c) */
static const char *const names[] = {"adapter_config.json", "adapter_model.safetensors"};
enum { N_NAMES = sizeof names / sizeof names[0] };

/* The bases, by the first input byte (modulo): Qwen3 (F32, tied embeddings), Gemma (BF16 weights, so the merge
 * converts them), MiniCPM layerwise (its lm_head.N.linear_head heads are modules_to_save). */
static const char *const bases[] = {"qwen3-causal-tiny", "gemma-causal-tiny-bf16", "minicpm-layerwise-tiny"};
enum { N_BASES = sizeof bases / sizeof bases[0] };
static char base_dir[N_BASES][1024];
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
    for (int i = 0; i < N_BASES; i++)
        if (!rr_fuzz_data_path(bases[i], base_dir[i], sizeof base_dir[i])) abort();
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/rr-fuzz-adapter-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) abort();
    atexit(remove_dir);
    return 0;
}

static bool one_line(const rerank_error *err) { return err->message[0] && !strchr(err->message, '\n'); }

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    if (size < 1) return 0;
    const char *base = base_dir[data[0] % N_BASES];
    static const rerank_dtype dtypes[] = {RERANK_DTYPE_F32, RERANK_DTYPE_BF16, RERANK_DTYPE_INT8};
    rerank_dtype dtype = dtypes[data[0] / N_BASES % 3]; /* the merged weights are then converted as --dtype does */
    clear_dir();
    size_t at = 1;
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
    /* NOTE: adapter_config.json's base_model_name_or_path, when it names a local directory holding a config.json,
     * is opened by rr_lora_config_check_base (any path, absolute or relative to the working directory: up to 1 MiB
     * of JSON is read and its architectures[0] may be quoted in the error). The fuzzer can reach such paths
     * ("." has none; the test data has some); the outcome is still one of the checked ones. */
    rerank_model *m = NULL;
    rerank_error err;
    rerank_model_params mp = rerank_model_default_params();
    mp.dtype = dtype;
    mp.adapter = dir;
    rerank_status st = rerank_model_load(base, &mp, &m, &err);
    if (st) {
        if (m || !one_line(&err) || st == RERANK_ERR_INTERNAL) abort();
        rr_fuzz_rejected("adapter directory", err.message);
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
            if (getenv("RR_FUZZ_VERBOSE")) fprintf(stderr, "fuzz: adapter loaded, score %g\n", (double)score[0]);
            /* the adapter's tensors are fuzzed (inf/nan in F32/F16/BF16), and lora_alpha / r may overflow a float:
             * a non-finite score is possible, but never a crash */
        } else if (!one_line(&err) || st == RERANK_ERR_INTERNAL) {
            abort();
        }
    }
    rerank_session_free(s);
    rerank_model_free(m);
    return 0;
}
