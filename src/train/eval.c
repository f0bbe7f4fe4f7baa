/* eval.c - ranking metrics of training-format rows and the collapsed-scores check; see eval.h. */
#include "train/eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"

typedef struct scored {
    float score;
    bool relevant;
    size_t index;
} scored;

static int by_score(const void *x, const void *y) {
    const scored *a = x, *b = y;
    if (a->score != b->score) return a->score < b->score ? 1 : -1;
    if (a->relevant != b->relevant) return a->relevant ? 1 : -1; /* ties: irrelevant first */
    return a->index < b->index ? -1 : a->index > b->index;
}

void rr_rank_metrics_compute(const float *scores, const bool *relevant, size_t n, rr_rank_metrics *m) {
    memset(m, 0, sizeof *m);
    scored *s = malloc((n ? n : 1) * sizeof *s);
    if (!s) return;
    size_t n_rel = 0;
    for (size_t i = 0; i < n; i++) {
        s[i] = (scored){scores[i], relevant[i], i};
        n_rel += relevant[i];
    }
    qsort(s, n, sizeof *s, by_score);
    double dcg = 0, idcg = 0, ap = 0;
    size_t hits = 0;
    for (size_t r = 0; r < n; r++) {
        if (r < 10 && r < n_rel) idcg += 1.0 / log2((double)r + 2.0);
        if (!s[r].relevant) continue;
        hits++;
        if (r < 10) {
            dcg += 1.0 / log2((double)r + 2.0);
            if (hits == 1) m->mrr10 = 1.0 / (double)(r + 1);
        }
        ap += (double)hits / (double)(r + 1);
    }
    m->ndcg10 = idcg > 0 ? dcg / idcg : 0;
    m->map = n_rel ? ap / (double)n_rel : 0;
    free(s);
}

rerank_status rr_eval_rows(rerank_session *session, const rerank_score_params *params, size_t n_out,
                           const rr_train_data *data, rr_rows_metrics *out, rerank_error *err) {
    memset(out, 0, sizeof *out);
    rerank_score_params sp = *params;
    rerank_status st = RERANK_OK;
    double sum[3] = {0, 0, 0};
    for (size_t i = 0; i < data->n_rows && !st; i++) {
        const rr_train_row *r = &data->rows[i];
        size_t n = r->n_pos + r->n_neg;
        rerank_pair *pairs = malloc((n ? n : 1) * sizeof *pairs);
        float *scores = malloc((n ? n : 1) * (n_out ? n_out : 1) * sizeof *scores);
        bool *rel = malloc((n ? n : 1) * sizeof *rel);
        if (!pairs || !scores || !rel) st = rr_fail(err, RERANK_ERR_NOMEM, "out of memory");
        for (size_t k = 0; !st && k < n; k++) {
            bool pos = k < r->n_pos;
            size_t j = pos ? k : k - r->n_pos;
            pairs[k] = (rerank_pair){r->query, r->query_len, pos ? r->pos[j] : r->neg[j], pos ? r->pos_len[j] : r->neg_len[j]};
            rel[k] = pos;
        }
        sp.prompt = r->prompt ? r->prompt : params->prompt; /* LLM rerankers: the row's prompt, else the caller's */
        if (!st && (st = rerank_score(session, &sp, pairs, n, scores, err)))
            rr_error_prefix(err, "%s:%ld", data->files[r->file], r->line);
        if (!st) {
            for (size_t k = 0; k < n; k++) scores[k] = scores[k * n_out + n_out - 1]; /* the highest cutoff layer */
            rr_rank_metrics m;
            rr_rank_metrics_compute(scores, rel, n, &m);
            sum[0] += m.mrr10, sum[1] += m.ndcg10, sum[2] += m.map;
            float lo = scores[0], hi = scores[0];
            for (size_t k = 1; k < n; k++) lo = scores[k] < lo ? scores[k] : lo, hi = scores[k] > hi ? scores[k] : hi;
            double tol = 1e-6 * (fabs((double)hi) > 1 ? fabs((double)hi) : 1);
            if (n > 1 && (double)hi - (double)lo <= tol && out->n_collapsed++ == 0) out->collapsed_value = hi;
        }
        free(pairs), free(scores), free(rel);
    }
    if (st) return st;
    out->n_rows = data->n_rows;
    double nr = data->n_rows ? (double)data->n_rows : 1;
    out->mean = (rr_rank_metrics){sum[0] / nr, sum[1] / nr, sum[2] / nr};
    return RERANK_OK;
}
