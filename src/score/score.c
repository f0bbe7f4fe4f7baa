/* score.c - rerank_score: tokenize every pair, assemble model inputs (truncated, or chunked into windows),
 * sort by length, run packed batches, and write the scores back in input order.
 *
 * Sorting by length only groups similar sequences; batches are packed without padding, so a score never
 * depends on which batch its pair landed in. */
#include <math.h>
#include <stdlib.h>

#include "base/error.h"
#include "score/score.h"

/* Token budget of one forward pass: bounds the activations (about 10 * hidden floats per token) whatever
 * batch_size is. Batches of a few thousand tokens already keep the matrix kernels at full speed. */
enum { RR_BATCH_TOKENS = 4096 };

rerank_status rr_score_limits(const rerank_model *model, const rerank_score_params *params, rr_pair_limits *lim,
                              rerank_error *err) {
    const rr_model_desc *d = rr_model_describe(model->net);
    if (params->max_length <= 0)
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "max_length must be positive, got %d", params->max_length);
    if (params->query_max_length < 0)
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "query_max_length must not be negative, got %d",
                       params->query_max_length);
    size_t max_length = (size_t)params->max_length;
    if (d->max_tokens > 0 && max_length > (size_t)d->max_tokens) max_length = (size_t)d->max_tokens;
    size_t n_special = rr_tokenizer_n_special(model->tok, true);
    if (max_length <= n_special)
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "max_length %zu leaves no room beside the %zu special tokens",
                       max_length, n_special);
    lim->max_length = max_length;
    /* FlagEmbedding: query_max_length defaults to max_length * 3 // 4 */
    lim->query_max_length = params->query_max_length > 0 ? (size_t)params->query_max_length : max_length * 3 / 4;
    return RERANK_OK;
}

rerank_status rr_score_encode_pair(const rerank_model *model, const rerank_pair *pair, size_t index, rr_i32vec *q,
                                   rr_i32vec *p, rerank_error *err) {
    q->n = p->n = 0;
    if ((!pair->query && pair->query_len) || (!pair->passage && pair->passage_len))
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "pair %zu: NULL text with non-zero length", index);
    rerank_status s = rr_tokenizer_encode(model->tok, pair->query ? pair->query : "", pair->query_len, q, err);
    if (s) {
        rr_error_prefix(err, "pair %zu: query", index);
        return s;
    }
    s = rr_tokenizer_encode(model->tok, pair->passage ? pair->passage : "", pair->passage_len, p, err);
    if (s) rr_error_prefix(err, "pair %zu: passage", index);
    return s;
}

static rerank_status push_seq(rerank_session *s, size_t pair, size_t offset) {
    if (s->n_seqs == s->cap_seqs) {
        size_t cap = s->cap_seqs ? 2 * s->cap_seqs : 64;
        rr_seq *n = realloc(s->seqs, cap * sizeof *n);
        if (!n) return RERANK_ERR_NOMEM;
        s->seqs = n;
        s->cap_seqs = cap;
    }
    s->seqs[s->n_seqs++] = (rr_seq){pair, offset, s->tokens.n - offset};
    return RERANK_OK;
}

/* Appends the sequences of one pair: one truncated input, or the MaxP windows of a long passage. */
static rerank_status add_pair(rerank_session *s, const rerank_score_params *params, const rr_pair_limits *lim,
                              size_t index) {
    const rr_tokenizer *tok = s->model->tok;
    const rr_i32vec *q = &s->query_ids, *p = &s->passage_ids;
    size_t room = rr_pair_passage_room(tok, lim, q->n);
    if (params->long_doc != RERANK_LONG_DOC_CHUNK || p->n <= room || room == 0) {
        size_t offset = s->tokens.n;
        if (rr_pair_build(tok, lim, q->data, q->n, p->data, p->n, &s->tokens, &s->types)) return RERANK_ERR_NOMEM;
        return push_seq(s, index, offset);
    }
    size_t overlap = params->chunk_overlap > 0 ? (size_t)params->chunk_overlap : 0;
    if (overlap >= room) overlap = room / 2;
    for (size_t start = 0;; start += room - overlap) {
        size_t len = p->n - start < room ? p->n - start : room;
        size_t offset = s->tokens.n;
        if (rr_pair_build(tok, lim, q->data, q->n, p->data + start, len, &s->tokens, &s->types))
            return RERANK_ERR_NOMEM;
        if (push_seq(s, index, offset)) return RERANK_ERR_NOMEM;
        if (start + len >= p->n) break;
    }
    return RERANK_OK;
}

/* Sort key of a sequence: longest first, then input order (keeps the sort deterministic). */
static int longer_first(const void *a, const void *b) {
    const rr_sort_key *x = a, *y = b;
    if (x->len != y->len) return x->len < y->len ? 1 : -1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static rerank_status reserve_run_buffers(rerank_session *s) {
    if (s->n_seqs <= s->cap_order) return RERANK_OK;
    size_t n = s->n_seqs;
    rr_sort_key *order = realloc(s->order, n * sizeof *order);
    if (order) s->order = order;
    size_t *offsets = realloc(s->offsets, (n + 1) * sizeof *offsets);
    if (offsets) s->offsets = offsets;
    float *logits = realloc(s->logits, n * sizeof *logits);
    if (logits) s->logits = logits;
    if (!order || !offsets || !logits) return RERANK_ERR_NOMEM;
    s->cap_order = n;
    return RERANK_OK;
}

/* Runs all sequences longest first, batch_size at a time; s->logits[i] gets the logit of sequence i. */
static rerank_status run_batches(rerank_session *s, const rerank_score_params *params, rerank_error *err) {
    if (reserve_run_buffers(s)) return rr_fail(err, RERANK_ERR_NOMEM, "rerank_score: out of memory");
    for (size_t i = 0; i < s->n_seqs; i++) s->order[i] = (rr_sort_key){s->seqs[i].len, i};
    qsort(s->order, s->n_seqs, sizeof *s->order, longer_first);
    size_t batch = params->batch_size > 0 ? (size_t)params->batch_size : 32;
    float batch_logits[256];
    if (batch > 256) batch = 256;
    rr_workspace_set_threads(s->ws, params->n_threads);
    for (size_t first = 0, n; first < s->n_seqs; first += n) {
        /* at most `batch` sequences and RR_BATCH_TOKENS tokens (a longer sequence runs alone) */
        size_t tokens = s->seqs[s->order[first].seq].len;
        for (n = 1; n < batch && first + n < s->n_seqs; n++) {
            size_t len = s->seqs[s->order[first + n].seq].len;
            if (tokens + len > RR_BATCH_TOKENS) break;
            tokens += len;
        }
        s->batch_ids.n = s->batch_types.n = 0;
        s->offsets[0] = 0;
        for (size_t j = 0; j < n; j++) {
            const rr_seq *q = &s->seqs[s->order[first + j].seq];
            if (rr_i32vec_append(&s->batch_ids, s->tokens.data + q->offset, q->len) ||
                rr_i32vec_append(&s->batch_types, s->types.data + q->offset, q->len))
                return rr_fail(err, RERANK_ERR_NOMEM, "rerank_score: out of memory");
            s->offsets[j + 1] = s->batch_ids.n;
        }
        rr_batch b = {s->batch_ids.data, s->batch_types.data, s->offsets, n};
        rerank_status st = rr_model_forward(s->model->net, &b, s->ws, batch_logits, err);
        if (st) return st;
        for (size_t j = 0; j < n; j++) s->logits[s->order[first + j].seq] = batch_logits[j];
        s->stats.n_batches++;
        s->stats.n_tokens += s->batch_ids.n;
    }
    return RERANK_OK;
}

rerank_status rerank_score_n_outputs(const rerank_model *model, const rerank_score_params *params, size_t *n_out,
                                     rerank_error *err) {
    if (!model || !n_out) return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "rerank_score_n_outputs: NULL argument");
    *n_out = 1;
    return RERANK_OK;
}

rerank_status rerank_score(rerank_session *s, const rerank_score_params *params, const rerank_pair *pairs,
                           size_t n_pairs, float *scores, rerank_error *err) {
    if (!s) return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "rerank_score: session is NULL");
    if (n_pairs && (!pairs || !scores))
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "rerank_score: pairs or scores is NULL");
    rerank_score_params defaults = rerank_score_default_params();
    if (!params) params = &defaults;
    s->stats = (rerank_score_stats){0};
    rr_pair_limits lim;
    rerank_status st = rr_score_limits(s->model, params, &lim, err);
    if (st) return st;
    s->tokens.n = s->types.n = 0;
    s->n_seqs = 0;
    for (size_t i = 0; i < n_pairs; i++) {
        st = rr_score_encode_pair(s->model, &pairs[i], i, &s->query_ids, &s->passage_ids, err);
        if (st) return st;
        if (add_pair(s, params, &lim, i)) return rr_fail(err, RERANK_ERR_NOMEM, "rerank_score: out of memory");
    }
    s->stats.n_windows = s->n_seqs;
    st = run_batches(s, params, err);
    if (st) return st;
    for (size_t i = 0; i < n_pairs; i++) scores[i] = -INFINITY;
    for (size_t i = 0; i < s->n_seqs; i++) /* MaxP: a chunked pair keeps its best window */
        if (s->logits[i] > scores[s->seqs[i].pair]) scores[s->seqs[i].pair] = s->logits[i];
    if (params->normalize)
        for (size_t i = 0; i < n_pairs; i++) scores[i] = (float)(1.0 / (1.0 + exp(-(double)scores[i])));
    return RERANK_OK;
}
