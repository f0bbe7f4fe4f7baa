/* score.c - rerank_score: tokenize every pair, assemble model inputs (truncated, or chunked into windows),
 * sort by length, run packed batches, and write the scores back in input order.
 *
 * Sorting by length only groups similar sequences; batches are packed without padding, so a score never
 * depends on which batch its pair landed in. Decoders with prefix_reuse: the pairs of one query form a
 * group whose common leading tokens run once (rr_model_prefix_forward); its batches hold only the rest. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "score/score.h"

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
    size_t n_special = model->recipe.recipe == RR_RECIPE_CROSS_ENCODER ? rr_tokenizer_n_special(model->tok, true) : 0;
    if (max_length <= n_special)
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "max_length %zu leaves no room beside the %zu special tokens",
                       max_length, n_special);
    lim->max_length = max_length;
    /* FlagEmbedding: query_max_length defaults to max_length * 3 // 4 */
    lim->query_max_length = params->query_max_length > 0 ? (size_t)params->query_max_length : max_length * 3 / 4;
    return RERANK_OK;
}

/* Tokenizes every pair into s->tokens/types and lists its sequences (one, or several MaxP windows). */
static rerank_status build_inputs(rerank_session *s, const rerank_score_params *params, const rr_call *call,
                                  const rerank_pair *pairs, size_t n_pairs, rerank_error *err) {
    s->tokens.n = s->types.n = s->ends.n = 0;
    s->n_seqs = 0;
    for (size_t i = 0; i < n_pairs; i++) {
        size_t first_end = s->ends.n;
        rerank_status st = rr_inputs_add_pair(s->model, params, call, &pairs[i], i, &s->scratch, &s->tokens,
                                              &s->types, &s->ends, err);
        if (st) return st;
        for (size_t e = first_end; e < s->ends.n; e++) {
            if (s->n_seqs == s->cap_seqs) {
                size_t cap = s->cap_seqs ? 2 * s->cap_seqs : 64;
                rr_seq *n = realloc(s->seqs, cap * sizeof *n);
                if (!n) return rr_fail(err, RERANK_ERR_NOMEM, "rerank_score: out of memory");
                s->seqs = n;
                s->cap_seqs = cap;
            }
            size_t begin = e ? (size_t)s->ends.data[e - 1] : 0, stop = (size_t)s->ends.data[e];
            s->seqs[s->n_seqs++] = (rr_seq){i, begin, stop - begin, SIZE_MAX, 0};
        }
    }
    return RERANK_OK;
}

/* A group shares a prefix worth running apart only when it saves at least this many token passes. */
enum { RR_PREFIX_MIN_SAVED = 32 };

typedef struct query_key {
    uint64_t hash;
    size_t seq;
} query_key;

static int by_hash(const void *a, const void *b) {
    const query_key *x = a, *y = b;
    if (x->hash != y->hash) return x->hash < y->hash ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static uint64_t fnv1a(const char *p, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
    return h;
}

/* Prefix reuse: groups the sequences of pairs with the same query text and gives each group the longest
 * common prefix of its token ids, leaving every sequence one token of its own (the scored last token)
 * and within the model's prefix bound. Taking it from the ids makes it exact for every recipe. */
static rerank_status plan_prefixes(rerank_session *s, const rerank_score_params *params, const rerank_pair *pairs,
                                   rerank_error *err) {
    size_t max_prefix = rr_model_prefix_max_tokens(s->model->net), n = s->n_seqs;
    if (!params->prefix_reuse || max_prefix == 0 || n < 2) return RERANK_OK;
    query_key *keys = malloc(n * sizeof *keys);
    if (!keys) return rr_fail(err, RERANK_ERR_NOMEM, "rerank_score: out of memory");
    for (size_t i = 0; i < n; i++) {
        const rerank_pair *p = &pairs[s->seqs[i].pair];
        keys[i] = (query_key){fnv1a(p->query, p->query_len), i};
    }
    qsort(keys, n, sizeof *keys, by_hash);
    const int32_t *tok = s->tokens.data;
    for (size_t a = 0, z; a < n; a = z) {
        for (z = a + 1; z < n && keys[z].hash == keys[a].hash;) z++;
        const rr_seq *lead = &s->seqs[keys[a].seq];
        const rerank_pair *lq = &pairs[lead->pair];
        size_t lcp = lead->len - 1, members = 0;
        if (lcp > max_prefix) lcp = max_prefix;
        for (size_t k = a; k < z; k++) { /* a hash collision only leaves a sequence out of the group */
            const rr_seq *q = &s->seqs[keys[k].seq];
            const rerank_pair *pq = &pairs[q->pair];
            if (pq->query_len != lq->query_len || (lq->query_len && memcmp(pq->query, lq->query, lq->query_len)))
                continue;
            size_t c = 0, cap = lcp < q->len - 1 ? lcp : q->len - 1;
            while (c < cap && tok[q->offset + c] == tok[lead->offset + c]) c++;
            lcp = c;
            members++;
        }
        if (members < 2 || lcp * (members - 1) < RR_PREFIX_MIN_SAVED) continue;
        for (size_t k = a; k < z; k++) {
            rr_seq *q = &s->seqs[keys[k].seq];
            const rerank_pair *pq = &pairs[q->pair];
            if (pq->query_len != lq->query_len || (lq->query_len && memcmp(pq->query, lq->query, lq->query_len)))
                continue;
            q->group = keys[a].seq;
            q->n_prefix = lcp;
        }
    }
    free(keys);
    return RERANK_OK;
}

/* Sort key of a sequence: by prefix group (sequences in none last), longest first, then input order (keeps
 * the sort deterministic). */
static int longer_first(const void *a, const void *b) {
    const rr_sort_key *x = a, *y = b;
    if (x->group != y->group) return x->group < y->group ? -1 : 1;
    if (x->len != y->len) return x->len < y->len ? 1 : -1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static rerank_status grow_floats(float **p, size_t *cap, size_t n) {
    if (n <= *cap) return RERANK_OK;
    float *q = realloc(*p, n * sizeof *q);
    if (!q) return RERANK_ERR_NOMEM;
    *p = q;
    *cap = n;
    return RERANK_OK;
}

static rerank_status reserve_run_buffers(rerank_session *s, size_t n_out) {
    size_t n = s->n_seqs;
    if (n > s->cap_order) {
        rr_sort_key *order = realloc(s->order, n * sizeof *order);
        if (order) s->order = order;
        size_t *offsets = realloc(s->offsets, (n + 1) * sizeof *offsets);
        if (offsets) s->offsets = offsets;
        if (!order || !offsets) return RERANK_ERR_NOMEM;
        s->cap_order = n;
    }
    if (n_out && n > SIZE_MAX / n_out) return RERANK_ERR_NOMEM;
    return grow_floats(&s->logits, &s->cap_logits, n * n_out);
}

/* Token budget of one forward pass: bounds activation memory whatever the batch size (an encoder needs about
 * 4 * hidden floats per token plus a chunk of its FFN: bge-reranker-base's activations take 71 MiB at 4096
 * tokens, 47 at 2048, 35 at 1024). 2048 rows keep the matrix kernels at full speed: on the AVX2 EPYC, W1 of
 * bench_rerank ran as fast at 1024 and 2048 tokens as at 4096 in every dtype. Not lower: the fp32 GEMM packs
 * its weight panels once per call, a cost that grows as batches shrink. */
enum { RR_MAX_BATCH_TOKENS = 2048 };

/* Runs all sequences group by group, longest first, in batches of at most batch_size sequences and
 * RR_MAX_BATCH_TOKENS tokens (a longer single sequence runs alone) that never mix groups; a group's prefix
 * runs once before its first batch. s->logits[i*n_out + k] gets score k of sequence i. */
static rerank_status run_batches(rerank_session *s, const rerank_score_params *params, const rr_call *call,
                                 rerank_error *err) {
    const rr_recipe_consts *rc = &s->model->recipe;
    if (reserve_run_buffers(s, call->n_out)) return rr_fail(err, RERANK_ERR_NOMEM, "rerank_score: out of memory");
    for (size_t i = 0; i < s->n_seqs; i++) s->order[i] = (rr_sort_key){s->seqs[i].group, s->seqs[i].len, i};
    qsort(s->order, s->n_seqs, sizeof *s->order, longer_first);
    size_t batch = params->batch_size > 0 ? (size_t)params->batch_size : 32, prefix_group = SIZE_MAX;
    /* the layerwise model needs the prefix only up to the highest cutoff layer */
    int prefix_layers = call->n_layers ? call->layers[call->n_layers - 1] : 0;
    rr_workspace_set_threads(s->ws, params->n_threads);
    for (size_t first = 0; first < s->n_seqs;) {
        size_t n = 0, group = s->order[first].group;
        const rr_seq *lead = &s->seqs[s->order[first].seq];
        size_t n_pre = lead->n_prefix;
        if (n_pre && group != prefix_group) {
            rerank_status st = rr_model_prefix_forward(s->model->net, s->tokens.data + lead->offset, n_pre,
                                                       prefix_layers, s->ws, &s->prefix, err);
            if (st) return st;
            prefix_group = group;
            s->stats.n_batches++;
            s->stats.n_tokens += n_pre;
        }
        s->batch_ids.n = s->batch_types.n = 0;
        s->offsets[0] = 0;
        while (first + n < s->n_seqs && n < batch && s->order[first + n].group == group) {
            const rr_seq *q = &s->seqs[s->order[first + n].seq];
            size_t len = q->len - n_pre;
            if (n && s->batch_ids.n + len > RR_MAX_BATCH_TOKENS) break;
            if (rr_i32vec_append(&s->batch_ids, s->tokens.data + q->offset + n_pre, len) ||
                rr_i32vec_append(&s->batch_types, s->types.data + q->offset + n_pre, len))
                return rr_fail(err, RERANK_ERR_NOMEM, "rerank_score: out of memory");
            s->offsets[++n] = s->batch_ids.n;
        }
        rr_batch b = {
            .ids = s->batch_ids.data,
            .type_ids = s->batch_types.data,
            .offsets = s->offsets,
            .n_seqs = n,
            .score_tokens = rc->score_tokens,
            .n_score_tokens = rc->n_score_tokens,
            .layers = call->n_layers ? call->layers : NULL,
            .n_layers = call->n_layers,
            .prefix = n_pre ? s->prefix : NULL,
        };
        size_t n_model_out = rr_model_n_outputs(s->model->net, &b);
        if (grow_floats(&s->out_buf, &s->cap_out_buf, n * n_model_out))
            return rr_fail(err, RERANK_ERR_NOMEM, "rerank_score: out of memory");
        rerank_status st = rr_model_forward(s->model->net, &b, s->ws, s->out_buf, err);
        if (st) return st;
        for (size_t j = 0; j < n; j++) {
            const float *o = s->out_buf + j * n_model_out;
            float *dst = s->logits + s->order[first + j].seq * call->n_out;
            if (rc->recipe == RR_RECIPE_QWEN3) dst[0] = o[1] - o[0]; /* log-odds of "yes" over "no" */
            else memcpy(dst, o, call->n_out * sizeof *dst);
        }
        s->stats.n_batches++;
        s->stats.n_tokens += s->batch_ids.n;
        first += n;
    }
    return RERANK_OK;
}

rerank_status rerank_score_n_outputs(const rerank_model *model, const rerank_score_params *params, size_t *n_out,
                                     rerank_error *err) {
    if (!model || !n_out) return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "rerank_score_n_outputs: NULL argument");
    rerank_score_params defaults = rerank_score_default_params();
    rr_input_scratch sc = {0};
    rr_call call;
    rerank_status st = rr_call_begin(model, params ? params : &defaults, &sc, &call, err);
    rr_input_scratch_free(&sc);
    *n_out = st ? 0 : call.n_out;
    return st;
}

rerank_status rerank_score(rerank_session *s, const rerank_score_params *params, const rerank_pair *pairs,
                           size_t n_pairs, float *scores, rerank_error *err) {
    if (!s) return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "rerank_score: session is NULL");
    if (n_pairs && (!pairs || !scores))
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "rerank_score: pairs or scores is NULL");
    rerank_score_params defaults = rerank_score_default_params();
    if (!params) params = &defaults;
    s->stats = (rerank_score_stats){0};
    rr_call call;
    rerank_status st = rr_call_begin(s->model, params, &s->scratch, &call, err);
    if (st || n_pairs == 0) return st;
    if ((st = build_inputs(s, params, &call, pairs, n_pairs, err))) return st;
    s->stats.n_windows = s->n_seqs;
    if ((st = plan_prefixes(s, params, pairs, err))) return st;
    if ((st = run_batches(s, params, &call, err))) return st;
    size_t n_out = call.n_out;
    for (size_t i = 0; i < n_pairs * n_out; i++) scores[i] = -INFINITY;
    for (size_t i = 0; i < s->n_seqs; i++) /* MaxP: a chunked pair keeps its best window */
        for (size_t k = 0; k < n_out; k++) {
            float *dst = &scores[s->seqs[i].pair * n_out + k];
            if (s->logits[i * n_out + k] > *dst) *dst = s->logits[i * n_out + k];
        }
    if (params->normalize)
        for (size_t i = 0; i < n_pairs * n_out; i++) scores[i] = (float)(1.0 / (1.0 + exp(-(double)scores[i])));
    return RERANK_OK;
}
