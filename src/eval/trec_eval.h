/* trec_eval.h - TREC evaluation of a ranked run against relevance judgements, computing what NIST trec_eval
 * 10.0 computes (same ranking, same tie-breaks, same floating-point order of operations), for the measures
 * map, recip_rank, P, recall, ndcg, ndcg_cut, map_cut and their ir_measures names (nDCG@10, RR@10, AP, ...).
 *
 * DESIGN: files are read whole and split in place; every qid and docno is a pointer into that text. A query's
 * evaluation starts from its "ranked relevance list": the run's documents sorted as trec_eval sorts them
 * (score descending as a C double, equal scores by docno descending in byte order; the rank column and the
 * line order are ignored), each replaced by its qrels value (-1 when not judged). */
#ifndef RR_EVAL_TREC_EVAL_H
#define RR_EVAL_TREC_EVAL_H

#include <stdbool.h>
#include <stddef.h>

#include "rerank.h"

/* ---- qrels: `qid iter docno rel` ---- */
typedef struct rr_qrel {
    const char *docno;
    long rel; /* graded relevance; negative = in the pool but unjudged (never relevant, not counted) */
} rr_qrel;

typedef struct rr_qrels_query {
    const char *qid;
    rr_qrel *judged; /* sorted by docno (strcmp); duplicates kept: rr_eval_rank refuses them */
    size_t n_judged;
} rr_qrels_query;

typedef struct rr_qrels {
    char *text;               /* the file, split in place */
    rr_qrel *pool;            /* every line */
    rr_qrels_query *queries;  /* sorted by qid (strcmp), trec_eval's order */
    size_t n_queries;
} rr_qrels;

/* Reads a qrels file: 4 fields a line split on spaces, tabs and CR (CRLF files work), the 2nd ignored, the
 * 4th an integer; blank lines and lines starting with '#' are skipped. Errors name the file and line. */
rerank_status rr_qrels_read(const char *path, rr_qrels *out, rerank_error *err);
/* The same for BEIR's qrels/<split>.tsv: `query-id corpus-id score` lines after a header line. */
rerank_status rr_qrels_read_beir(const char *path, rr_qrels *out, rerank_error *err);
/* The same from memory: text[0..len] (NUL-terminated at text[len]) is a malloc'd buffer the qrels take over
 * (freed by rr_qrels_free, also on failure); path names it in errors. */
rerank_status rr_qrels_parse(char *text, size_t len, const char *path, bool beir, rr_qrels *out, rerank_error *err);
void rr_qrels_free(rr_qrels *q);
/* The judgements of qid, or NULL. */
const rr_qrels_query *rr_qrels_find(const rr_qrels *q, const char *qid);

/* ---- run: `qid Q0 docno rank score tag` ---- */
typedef struct rr_run_doc {
    const char *docno;
    double score; /* parsed as trec_eval's atof: a double, so 1, 1.0, +1 and 10e-1 tie */
} rr_run_doc;

typedef struct rr_run_query {
    const char *qid;
    rr_run_doc *docs; /* sorted as trec_eval ranks them (rr_run_doc_compare) */
    size_t n_docs;
} rr_run_query;

typedef struct rr_run {
    char *text;
    rr_run_doc *pool;
    rr_run_query *queries; /* sorted by qid (strcmp) */
    size_t n_queries;
} rr_run;

/* Reads a run file: at least 6 fields a line (2nd and 4th ignored, fields after the 6th ignored), blank and
 * '#' lines skipped, a score that is not a finite number refused. Each query's documents come out ranked. */
rerank_status rr_run_read(const char *path, rr_run *out, rerank_error *err);
/* The same from memory, taking over text as rr_qrels_parse does. */
rerank_status rr_run_parse(char *text, size_t len, const char *path, rr_run *out, rerank_error *err);
void rr_run_free(rr_run *r);
const rr_run_query *rr_run_find(const rr_run *r, const char *qid);
/* trec_eval's ranking order for qsort: score descending, then docno descending (strcmp). */
int rr_run_doc_compare(const void *a, const void *b);

/* ---- measures ---- */
typedef enum rr_measure_kind {
    /* in trec_eval's printing order (its measure table) */
    RR_MEASURE_MAP,
    RR_MEASURE_RECIP_RANK,
    RR_MEASURE_P,
    RR_MEASURE_RECALL,
    RR_MEASURE_NDCG,
    RR_MEASURE_NDCG_CUT,
    RR_MEASURE_MAP_CUT,
    RR_MEASURE_KIND_COUNT
} rr_measure_kind;

typedef struct rr_measure {
    rr_measure_kind kind;
    long cutoff;   /* P, recall, ndcg_cut, map_cut: k */
    long rank_cut; /* > 0: evaluate the ranking cut at this rank (RR@k = recip_rank with trec_eval -M k) */
    bool alias;    /* requested by its ir_measures name */
    char name[40]; /* as printed: trec_eval's "P_10", "ndcg_cut_5", "map", or the ir_measures name given */
} rr_measure;

/* The measures to compute, in printing order once rr_measure_list_finish has run. */
typedef struct rr_measure_list {
    rr_measure *items;
    size_t n, cap;
    bool kind_requested[RR_MEASURE_KIND_COUNT]; /* by a trec_eval name: a second request is ignored */
} rr_measure_list;

/* Adds the measures of one -m argument: a trec_eval name with optional cutoffs ("map", "P", "P.5,10",
 * "ndcg_cut.10") or an ir_measures name ("nDCG@10", "RR@10", "RR", "AP", "AP@100", "R@100", "P@10", "nDCG").
 * A trec_eval measure without cutoffs gets 5,10,15,20,30,100,200,500,1000; cutoffs must be positive and
 * distinct. As in trec_eval, a trec_eval name already requested is ignored: *ignored is set to true. */
rerank_status rr_measure_list_add(rr_measure_list *l, const char *spec, bool *ignored, rerank_error *err);
/* Sorts into trec_eval's printing order (its table order, cutoffs ascending) and drops repeated names. */
void rr_measure_list_finish(rr_measure_list *l);
void rr_measure_list_free(rr_measure_list *l);

/* One query ranked against its judgements: the input of every measure. */
typedef struct rr_ranked {
    long *rels;        /* [n_ret] qrels value of the doc at rank i+1; -1 when not in the qrels */
    size_t n_ret;
    long *rel_levels;  /* [n_levels] number of judged docs (retrieved or not) with rel == level, levels >= 0 */
    size_t n_levels;
} rr_ranked;

/* Ranks a run query (NULL: a query absent from the run, as -c evaluates it) against its judgements, keeping
 * the first max_docs documents (0: all). Refuses a docno listed twice in either, naming it. */
rerank_status rr_eval_rank(const rr_run_query *run, const rr_qrels_query *judged, long max_docs, rr_ranked *out,
                           rerank_error *err);
void rr_ranked_free(rr_ranked *r);

/* The value of one measure for one ranked query; relevance_level is trec_eval's -l (default 1): docs with
 * rel >= it are relevant for every measure but ndcg and ndcg_cut, which use the raw rel as gain. */
double rr_measure_value(const rr_measure *m, const rr_ranked *q, long relevance_level);

#endif
