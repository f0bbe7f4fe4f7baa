/* measures.c - the measure table (trec_eval names, -m syntax, ir_measures aliases), ranking one query against
 * its judgements, and each measure's value computed with trec_eval's operations in trec_eval's order, so that
 * the printed digits agree. See trec_eval.h. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "eval/trec_eval.h"

/* trec_eval's table, in its printing order (static_assert keeps it in step with rr_measure_kind). */
static const struct {
    const char *name;
    bool has_cutoffs;
} measure_table[] = {
    [RR_MEASURE_MAP] = {"map", false},        [RR_MEASURE_RECIP_RANK] = {"recip_rank", false},
    [RR_MEASURE_P] = {"P", true},             [RR_MEASURE_RECALL] = {"recall", true},
    [RR_MEASURE_NDCG] = {"ndcg", false},      [RR_MEASURE_NDCG_CUT] = {"ndcg_cut", true},
    [RR_MEASURE_MAP_CUT] = {"map_cut", true},
};
_Static_assert(sizeof measure_table / sizeof measure_table[0] == RR_MEASURE_KIND_COUNT, "one row per kind");

static const long default_cutoffs[] = {5, 10, 15, 20, 30, 100, 200, 500, 1000};

/* ir_measures names: NAME or NAME@k (case-insensitive). */
static const struct {
    const char *name;
    rr_measure_kind kind;
    bool takes_k, needs_k;
} alias_table[] = {
    {"nDCG", RR_MEASURE_NDCG, false, false},   {"nDCG", RR_MEASURE_NDCG_CUT, true, true},
    {"P", RR_MEASURE_P, true, true},           {"R", RR_MEASURE_RECALL, true, true},
    {"AP", RR_MEASURE_MAP, false, false},      {"AP", RR_MEASURE_MAP_CUT, true, true},
    {"RR", RR_MEASURE_RECIP_RANK, false, false}, {"RR", RR_MEASURE_RECIP_RANK, true, true},
};

static rerank_status push(rr_measure_list *l, rr_measure m) {
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 16;
        rr_measure *p = realloc(l->items, nc * sizeof *p);
        if (!p) return RERANK_ERR_NOMEM;
        l->items = p;
        l->cap = nc;
    }
    l->items[l->n++] = m;
    return RERANK_OK;
}

static bool parse_positive(const char *s, size_t len, long *out) {
    if (len == 0 || len > 18) return false;
    long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)s[i])) return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return v > 0;
}

static int long_compare(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

static void trec_name(rr_measure *m) {
    if (measure_table[m->kind].has_cutoffs)
        snprintf(m->name, sizeof m->name, "%s_%ld", measure_table[m->kind].name, m->cutoff);
    else
        snprintf(m->name, sizeof m->name, "%s", measure_table[m->kind].name);
}

static rerank_status add_alias(rr_measure_list *l, const char *spec, rerank_error *err) {
    const char *at = strchr(spec, '@');
    size_t base_len = at ? (size_t)(at - spec) : strlen(spec);
    long k = 0;
    if (at && !parse_positive(at + 1, strlen(at + 1), &k))
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "measure '%s': the cutoff after '@' must be a positive integer",
                       spec);
    for (size_t i = 0; i < sizeof alias_table / sizeof alias_table[0]; i++) {
        if (strlen(alias_table[i].name) != base_len || strncasecmp(alias_table[i].name, spec, base_len)) continue;
        if (alias_table[i].takes_k != (at != NULL)) continue;
        rr_measure m = {.kind = alias_table[i].kind, .alias = true};
        if (m.kind == RR_MEASURE_RECIP_RANK)
            m.rank_cut = k;
        else
            m.cutoff = k;
        snprintf(m.name, sizeof m.name, "%s", spec);
        if (push(l, m)) return rr_fail(err, RERANK_ERR_NOMEM, "out of memory");
        return RERANK_OK;
    }
    return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT,
                   "unknown measure '%s' (trec_eval names: map recip_rank P recall ndcg ndcg_cut map_cut, with cutoffs "
                   "as P.5,10; ir_measures names: nDCG@k nDCG RR RR@k AP AP@k P@k R@k)",
                   spec);
}

rerank_status rr_measure_list_add(rr_measure_list *l, const char *spec, bool *ignored, rerank_error *err) {
    *ignored = false;
    const char *dot = strchr(spec, '.');
    size_t name_len = dot ? (size_t)(dot - spec) : strlen(spec);
    int kind = -1;
    for (int i = 0; i < RR_MEASURE_KIND_COUNT; i++)
        if (strlen(measure_table[i].name) == name_len && !strncmp(measure_table[i].name, spec, name_len)) kind = i;
    if (kind < 0) return add_alias(l, spec, err);
    if (dot && !measure_table[kind].has_cutoffs)
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "measure '%s': %s takes no parameters", spec,
                       measure_table[kind].name);
    long cutoffs[64];
    size_t n = 0;
    if (dot) {
        const char *p = dot + 1;
        for (;;) {
            const char *comma = strchr(p, ',');
            size_t len = comma ? (size_t)(comma - p) : strlen(p);
            if (n == sizeof cutoffs / sizeof cutoffs[0] || !parse_positive(p, len, &cutoffs[n]))
                return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT,
                               "measure '%s': cutoffs are up to 64 positive integers separated by commas", spec);
            n++;
            if (!comma) break;
            p = comma + 1;
        }
        qsort(cutoffs, n, sizeof cutoffs[0], long_compare);
        for (size_t i = 1; i < n; i++)
            if (cutoffs[i] == cutoffs[i - 1])
                return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "measure '%s': cutoff %ld is given twice", spec,
                               cutoffs[i]);
    } else if (measure_table[kind].has_cutoffs) {
        n = sizeof default_cutoffs / sizeof default_cutoffs[0];
        memcpy(cutoffs, default_cutoffs, sizeof default_cutoffs);
    }
    if (l->kind_requested[kind]) { /* trec_eval keeps the first request of a measure */
        *ignored = true;
        return RERANK_OK;
    }
    l->kind_requested[kind] = true;
    for (size_t i = 0; i < (n ? n : 1); i++) {
        rr_measure m = {.kind = (rr_measure_kind)kind, .cutoff = n ? cutoffs[i] : 0};
        trec_name(&m);
        if (push(l, m)) return rr_fail(err, RERANK_ERR_NOMEM, "out of memory");
    }
    return RERANK_OK;
}

static int measure_order(const void *a, const void *b) {
    const rr_measure *x = a, *y = b;
    if (x->kind != y->kind) return x->kind < y->kind ? -1 : 1;
    if (x->alias != y->alias) return x->alias ? 1 : -1;
    if (x->cutoff != y->cutoff) return x->cutoff < y->cutoff ? -1 : 1;
    if (x->rank_cut != y->rank_cut) return x->rank_cut < y->rank_cut ? -1 : 1;
    return strcmp(x->name, y->name);
}

void rr_measure_list_finish(rr_measure_list *l) {
    if (!l->n) return;
    qsort(l->items, l->n, sizeof *l->items, measure_order);
    size_t w = 1;
    for (size_t i = 1; i < l->n; i++)
        if (strcmp(l->items[i].name, l->items[w - 1].name)) l->items[w++] = l->items[i];
    l->n = w;
}

void rr_measure_list_free(rr_measure_list *l) {
    if (!l) return;
    free(l->items);
    memset(l, 0, sizeof *l);
}

/* ---- ranking one query ---- */

typedef struct by_docno {
    const char *docno;
    size_t rank;
} by_docno;

static int by_docno_compare(const void *a, const void *b) {
    return strcmp(((const by_docno *)a)->docno, ((const by_docno *)b)->docno);
}

static int qrel_by_docno(const void *key, const void *elem) { return strcmp(key, ((const rr_qrel *)elem)->docno); }

rerank_status rr_eval_rank(const rr_run_query *run, const rr_qrels_query *judged, long max_docs, rr_ranked *out,
                           rerank_error *err) {
    memset(out, 0, sizeof *out);
    const char *qid = judged->qid;
    for (size_t i = 1; i < judged->n_judged; i++)
        if (!strcmp(judged->judged[i - 1].docno, judged->judged[i].docno))
            return rr_fail(err, RERANK_ERR_FORMAT, "qrels: query '%s' judges docno '%s' twice", qid,
                           judged->judged[i].docno);
    long max_rel = -1;
    for (size_t i = 0; i < judged->n_judged; i++)
        if (judged->judged[i].rel > max_rel) max_rel = judged->judged[i].rel;
    size_t n = run ? run->n_docs : 0;
    if (max_docs > 0 && (size_t)max_docs < n) n = (size_t)max_docs;
    out->n_levels = (size_t)(max_rel + 1);
    out->rels = malloc((n ? n : 1) * sizeof *out->rels);
    out->rel_levels = calloc(out->n_levels ? out->n_levels : 1, sizeof *out->rel_levels);
    by_docno *sorted = malloc((n ? n : 1) * sizeof *sorted);
    if (!out->rels || !out->rel_levels || !sorted) {
        free(sorted);
        rr_ranked_free(out);
        return rr_fail(err, RERANK_ERR_NOMEM, "out of memory ranking query '%s'", qid);
    }
    for (size_t i = 0; i < judged->n_judged; i++)
        if (judged->judged[i].rel >= 0) out->rel_levels[judged->judged[i].rel]++;
    for (size_t i = 0; i < n; i++) sorted[i] = (by_docno){run->docs[i].docno, i};
    qsort(sorted, n, sizeof *sorted, by_docno_compare);
    for (size_t i = 1; i < n; i++)
        if (!strcmp(sorted[i - 1].docno, sorted[i].docno)) {
            rerank_status st = rr_fail(err, RERANK_ERR_FORMAT, "run: query '%s' lists docno '%s' twice", qid,
                                       sorted[i].docno);
            free(sorted);
            rr_ranked_free(out);
            return st;
        }
    free(sorted);
    for (size_t i = 0; i < n; i++) {
        const rr_qrel *q = bsearch(run->docs[i].docno, judged->judged, judged->n_judged, sizeof *judged->judged,
                                   qrel_by_docno);
        out->rels[i] = q ? q->rel : -1;
    }
    out->n_ret = n;
    return RERANK_OK;
}

void rr_ranked_free(rr_ranked *r) {
    if (!r) return;
    free(r->rels);
    free(r->rel_levels);
    memset(r, 0, sizeof *r);
}

/* ---- measures of one ranked query (each as trec_eval's m_<name>.c computes it) ---- */

static long num_relevant(const rr_ranked *q, long level) {
    long n = 0;
    for (size_t l = 0; l < q->n_levels; l++)
        if ((long)l >= level) n += q->rel_levels[l];
    return n;
}

/* Sum over ranks i < n of (relevant docs so far) / i, the numerator of average precision. */
static double precision_sum(const rr_ranked *q, size_t n, long level, long *rel_so_far) {
    double sum = 0.0;
    long hits = 0;
    for (size_t i = 0; i < n; i++)
        if (q->rels[i] >= level) {
            hits++;
            sum += (double)hits / (double)(i + 1);
        }
    *rel_so_far = hits;
    return sum;
}

static long relevant_in_top(const rr_ranked *q, size_t n, long level) {
    long hits = 0;
    for (size_t i = 0; i < n; i++) hits += q->rels[i] >= level;
    return hits;
}

/* nDCG with the qrels value as gain and 1/log2(rank+1) discount, over the top k (k = SIZE_MAX: all). */
static double ndcg(const rr_ranked *q, size_t k) {
    double dcg = 0.0;
    size_t n = q->n_ret < k ? q->n_ret : k;
    for (size_t i = 0; i < n; i++)
        if (q->rels[i] > 0) dcg += (double)q->rels[i] / log2((double)(i + 2));
    double ideal = 0.0;
    size_t i = 0;
    for (size_t level = q->n_levels; level-- > 1 && i < k;)
        for (long c = 0; c < q->rel_levels[level] && i < k; c++, i++) ideal += (double)level / log2((double)(i + 2));
    return ideal > 0.0 ? dcg / ideal : dcg;
}

static size_t min_size(size_t a, long b) { return b > 0 && (size_t)b < a ? (size_t)b : a; }

double rr_measure_value(const rr_measure *m, const rr_ranked *q, long relevance_level) {
    size_t n_ret = min_size(q->n_ret, m->rank_cut);
    long hits;
    switch (m->kind) {
    case RR_MEASURE_MAP: {
        double sum = precision_sum(q, n_ret, relevance_level, &hits);
        return hits ? sum / (double)num_relevant(q, relevance_level) : 0.0;
    }
    case RR_MEASURE_RECIP_RANK:
        for (size_t i = 0; i < n_ret; i++)
            if (q->rels[i] >= relevance_level) return (double)1.0 / (double)(i + 1);
        return 0.0;
    case RR_MEASURE_P:
        return (double)relevant_in_top(q, min_size(n_ret, m->cutoff), relevance_level) / (double)m->cutoff;
    case RR_MEASURE_RECALL: {
        long n_rel = num_relevant(q, relevance_level);
        if (!n_rel) return 0.0;
        return (double)relevant_in_top(q, min_size(n_ret, m->cutoff), relevance_level) / (double)n_rel;
    }
    case RR_MEASURE_NDCG:
        return ndcg(q, SIZE_MAX);
    case RR_MEASURE_NDCG_CUT:
        return ndcg(q, (size_t)m->cutoff);
    case RR_MEASURE_MAP_CUT: {
        long n_rel = num_relevant(q, relevance_level);
        if (!n_rel) return 0.0;
        return precision_sum(q, min_size(n_ret, m->cutoff), relevance_level, &hits) / (double)n_rel;
    }
    case RR_MEASURE_KIND_COUNT:
        break;
    }
    return 0.0;
}
