/* fuzz_train_data.c - libFuzzer target: arbitrary bytes as a JSONL training file (src/train/data.c) read from an
 * in-memory file; the rows it accepts are sampled (epoch order, groups) and tokenized with the encoder layout
 * (XLM-R) and the LLM layout (Gemma) at small max lengths. The input's size picks skip_bad / need_scores. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/utf8.h"
#include "fuzz_common.h"
#include "train/data.h"

static rr_train_tok *enc_tok, *llm_tok;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    char path[1024];
    rerank_error err;
    if (!rr_fuzz_data_path("xlmr-seqcls-tiny", path, sizeof path) ||
        rr_train_tok_open(path, RERANK_KIND_CROSS_ENCODER, 8, 16, &enc_tok, &err) ||
        !rr_fuzz_data_path("gemma-causal-tiny-bf16", path, sizeof path) ||
        rr_train_tok_open(path, RERANK_KIND_LLM, 8, 16, &llm_tok, &err)) {
        fprintf(stderr, "fuzz_train_data: %s\n", err.message);
        abort();
    }
    return 0;
}

/* The rows' contract (data.h): at least one positive and one negative, valid UTF-8 texts, scores for every
 * passage or none. */
static void check_row(const rr_train_row *r, bool need_scores) {
    if (!r->query || r->n_pos == 0 || r->n_neg == 0 || !rr_utf8_valid(r->query, r->query_len, NULL)) abort();
    for (size_t i = 0; i < r->n_pos; i++)
        if (!r->pos[i] || !rr_utf8_valid(r->pos[i], r->pos_len[i], NULL)) abort();
    for (size_t i = 0; i < r->n_neg; i++)
        if (!r->neg[i] || !rr_utf8_valid(r->neg[i], r->neg_len[i], NULL)) abort();
    if (need_scores && (!r->pos_scores || !r->neg_scores)) abort();
    if (!r->pos_scores != !r->neg_scores) abort();
}

static void tokenize_row(rr_train_tok *t, const rr_train_row *r, size_t passage) {
    rr_i32vec ids = {0}, types = {0};
    rerank_error err;
    const char *p = passage < r->n_pos ? r->pos[passage] : r->neg[passage - r->n_pos];
    size_t pn = passage < r->n_pos ? r->pos_len[passage] : r->neg_len[passage - r->n_pos];
    if (rr_train_tok_pair(t, r, p, pn, &ids, &types, &err) == RERANK_OK) {
        /* encoder: the budget (8 + 16) plus its specials; LLM: the texts' cut plus bos, separators and prompt */
        if (ids.n != types.n || (!t->llm && ids.n > 24 + 4)) abort();
    } else if (!err.message[0] || strchr(err.message, '\n')) {
        abort();
    }
    rr_i32vec_free(&ids);
    rr_i32vec_free(&types);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    int fd = memfd_create("train.jsonl", 0);
    if (fd < 0 || write(fd, data, size) != (ssize_t)size) abort();
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    rr_train_data_opts o = {.skip_bad = size & 1, .need_scores = size % 4 == 3};
    rr_train_data *d = NULL;
    rerank_error err;
    rerank_status st = rr_train_data_load(path, &o, &d, &err);
    close(fd);
    if (st) {
        if (st != RERANK_ERR_INPUT || !err.message[0] || strchr(err.message, '\n')) abort();
        rr_fuzz_rejected("train.jsonl", err.message);
        rr_train_data_free(d);
        return 0;
    }
    if (d->n_rows == 0 || (!o.skip_bad && d->n_bad)) abort();
    size_t perm[64], pos, neg[4], scratch[4096];
    size_t n = d->n_rows < 64 ? d->n_rows : 64;
    rr_train_epoch_order(n, 42, size, perm);
    for (size_t i = 0; i < n; i++) {
        if (perm[i] >= n) abort();
        const rr_train_row *r = &d->rows[perm[i]];
        check_row(r, o.need_scores);
        if (r->n_neg + 5 <= sizeof scratch / sizeof *scratch) {
            rr_train_pick_group(r, 5, i, &pos, neg, scratch);
            if (pos >= r->n_pos) abort();
            for (int k = 0; k < 4; k++)
                if (neg[k] >= r->n_neg) abort();
        }
        if (i < 4) {
            tokenize_row(enc_tok, r, i % (r->n_pos + r->n_neg));
            tokenize_row(llm_tok, r, (i + 1) % (r->n_pos + r->n_neg));
        }
    }
    rr_train_data_free(d);
    return 0;
}
