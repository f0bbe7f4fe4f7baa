/* eval.c - ranking metrics; see eval.h. */
#include "train/eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

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
