/* pair_input.c - FlagReranker (encoder) pair assembly; see pair_input.h and flagembedding-spec.md §1.2. */
#include "score/pair_input.h"

static size_t min_size(size_t a, size_t b) { return a < b ? a : b; }

size_t rr_pair_passage_room(const rr_tokenizer *tok, const rr_pair_limits *lim, size_t n_query) {
    size_t nq = min_size(n_query, lim->query_max_length);
    size_t fixed = nq + rr_tokenizer_n_special(tok, true);
    return fixed >= lim->max_length ? 0 : lim->max_length - fixed;
}

rerank_status rr_pair_build(const rr_tokenizer *tok, const rr_pair_limits *lim, const int32_t *query, size_t n_query,
                            const int32_t *passage, size_t n_passage, rr_i32vec *ids, rr_i32vec *type_ids) {
    size_t nq = min_size(n_query, lim->query_max_length);
    size_t np = min_size(n_passage, lim->max_length);
    size_t total = nq + np + rr_tokenizer_n_special(tok, true);
    if (total > lim->max_length) {
        size_t remove = total - lim->max_length;
        /* transformers' truncate_sequences(only_second): cut only when the passage can absorb it all */
        if (np > remove) np -= remove;
    }
    return rr_tokenizer_build(tok, true, query, nq, passage, np, ids, type_ids);
}
