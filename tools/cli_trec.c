/* cli_trec.c - `rerank trec`: rerank each query's top-k of a first-stage TREC run with a model and write a
 * TREC run, one query at a time (memory: one query's candidates; the corpus stays memory-mapped), optionally
 * one shard of the queries (cli_shard.h), resumable, evaluated against qrels at the end. Scores through
 * rerank.h; the file formats are src/eval/collection.h. */
#include "cli_trec.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli_shard.h"
#include "eval/collection.h"
#include "eval/trec_eval.h"
#include "options.h"
#include "rerank.h"

static int fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("rerank: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

typedef struct trec_opts {
    const char *model, *run, *queries, *corpus, *beir, *qrels, *output, *shard_spec;
    long top_k, shard_count;
    bool resume, quiet;
    rerank_model_params mp;
    rerank_score_params sp;
    char beir_paths[3][4096];
} trec_opts;

/* The parsed options, with --beir DIR's files filling what --corpus, --queries and --qrels left unset. */
static int trec_options(rr_cli_args *a, trec_opts *o) {
    *o = (trec_opts){.model = a->model, .run = a->run, .queries = a->queries, .corpus = a->corpus, .beir = a->beir,
                     .qrels = a->qrels, .output = a->output, .shard_spec = a->shard, .top_k = a->trec_top_k,
                     .shard_count = a->shard_count, .resume = a->resume, .quiet = a->quiet, .mp = a->mp,
                     .sp = *rr_cli_score_params(a)};
    if (o->beir) {
        const char *names[3] = {"corpus.jsonl", "queries.jsonl", "qrels/test.tsv"};
        for (int k = 0; k < 3; k++)
            if ((size_t)snprintf(o->beir_paths[k], sizeof o->beir_paths[k], "%s/%s", o->beir, names[k]) >=
                sizeof o->beir_paths[k])
                return rr_cli_usage_error("trec", "--beir path too long");
        if (!o->corpus) o->corpus = o->beir_paths[0];
        if (!o->queries) o->queries = o->beir_paths[1];
        if (!o->qrels && access(o->beir_paths[2], R_OK) == 0) o->qrels = o->beir_paths[2];
    }
    if (!o->queries || !o->corpus) return rr_cli_usage_error("trec", "--queries and --corpus (or --beir DIR) are required");
    if (o->resume && !o->output) return rr_cli_usage_error("trec", "--resume needs --output FILE");
    return 0;
}

/* ---- resume: which queries an existing output already holds complete ---- */

/* Reads path (missing = nothing done), marks done[q] for each complete query block and truncates the file
 * after the last complete one. A block is complete when it has as many lines as the query has candidates
 * (capped at top_k); only the last block may be incomplete. */
static int resume_scan(const char *path, const rr_run_index *ix, const bool *mine, size_t top_k, bool *done,
                       size_t *n_done) {
    *n_done = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return errno == ENOENT ? 0 : fail("%s: %s", path, strerror(errno));
    char line[8192], qid[4096] = "";
    long keep = 0, pos = 0;
    size_t count = 0, q = 0, line_no = 0;
    bool in_block = false;
    int rc = 0;
    for (;;) {
        bool eof = !fgets(line, sizeof line, f);
        char cur[4096] = "";
        if (!eof) {
            line_no++;
            if (!strchr(line, '\n') || sscanf(line, "%4095s", cur) != 1) {
                /* a line cut by a crash, or garbage: the block ends here, incomplete */
                eof = true;
            }
        }
        if (in_block && (eof || strcmp(cur, qid))) {
            size_t expected = ix->first[q + 1] - ix->first[q];
            if (expected > top_k) expected = top_k;
            if (count == expected) {
                done[q] = true;
                (*n_done)++;
                keep = pos;
            } else if (!eof) {
                rc = fail("%s:%zu: query '%s' has %zu lines, expected %zu: not an output of this run and --top-k", path,
                          line_no, qid, count, expected);
                break;
            }
            in_block = false;
        }
        if (eof) break;
        if (!in_block) {
            const rr_strmap_entry *e = rr_strmap_get(&ix->qid_map, cur, strlen(cur));
            if (!e || done[e - ix->qid_map.entries] || !mine[e - ix->qid_map.entries]) {
                rc = fail("%s:%zu: query '%s' is not in %s, not in this shard, or appears twice: not an output of this "
                          "run", path, line_no, cur, ix->path);
                break;
            }
            q = (size_t)(e - ix->qid_map.entries);
            snprintf(qid, sizeof qid, "%s", cur);
            count = 0;
            in_block = true;
        }
        count++;
        pos = ftell(f);
    }
    fclose(f);
    if (!rc && truncate(path, keep)) rc = fail("%s: truncate: %s", path, strerror(errno));
    return rc;
}

/* ---- the job ---- */

typedef struct scored_doc {
    const char *docno;
    float score;
} scored_doc;

static int scored_doc_order(const void *a, const void *b) {
    const scored_doc *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return strcmp(y->docno, x->docno);
}

/* Running sums of the evaluation at the end: first-stage and reranked, nDCG@10, RR@10, AP, R@k. */
enum { N_EVAL = 4 };
typedef struct eval_sums {
    rr_measure m[N_EVAL];
    double before[N_EVAL], after[N_EVAL];
    size_t n;
} eval_sums;

static void eval_init(eval_sums *e, long top_k) {
    memset(e, 0, sizeof *e);
    e->m[0] = (rr_measure){.kind = RR_MEASURE_NDCG_CUT, .cutoff = 10, .name = "nDCG@10"};
    e->m[1] = (rr_measure){.kind = RR_MEASURE_RECIP_RANK, .rank_cut = 10, .name = "RR@10"};
    e->m[2] = (rr_measure){.kind = RR_MEASURE_MAP, .name = "AP"};
    e->m[3] = (rr_measure){.kind = RR_MEASURE_RECALL, .cutoff = top_k};
    snprintf(e->m[3].name, sizeof e->m[3].name, "R@%ld", top_k);
}

static int eval_add(eval_sums *e, const rr_qrels *qrels, const rr_run_query *first, const scored_doc *docs, size_t n) {
    const rr_qrels_query *judged = rr_qrels_find(qrels, first->qid);
    if (!judged) return 0;
    rr_run_doc *after = malloc((n ? n : 1) * sizeof *after);
    if (!after) return fail("out of memory");
    for (size_t i = 0; i < n; i++) after[i] = (rr_run_doc){docs[i].docno, (double)docs[i].score};
    rr_run_query rq = {first->qid, after, n};
    rr_ranked a, b;
    rerank_error err;
    int rc = 0;
    if (rr_eval_rank(first, judged, 0, &b, &err) || rr_eval_rank(&rq, judged, 0, &a, &err))
        rc = fail("%s", err.message);
    else {
        for (int m = 0; m < N_EVAL; m++) {
            e->before[m] += rr_measure_value(&e->m[m], &b, 1);
            e->after[m] += rr_measure_value(&e->m[m], &a, 1);
        }
        e->n++;
        rr_ranked_free(&a);
        rr_ranked_free(&b);
    }
    free(after);
    return rc;
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void progress(const trec_opts *o, const rr_cli_shard *sh, size_t done, size_t total, size_t pairs,
                     double t0, bool final) {
    if (o->quiet) return;
    double dt = now_s() - t0, rate = dt > 0 ? (double)pairs / dt : 0;
    double eta = done && done < total ? dt / (double)done * (double)(total - done) : 0;
    fprintf(stderr, "rerank trec: shard %ld/%ld: %zu/%zu queries, %zu pairs, %.1f pairs/s, %s %d:%02d:%02d\n",
            sh->index, sh->count, done, total, pairs, rate, final ? "elapsed" : "eta", (int)((final ? dt : eta) / 3600),
            (int)((final ? dt : eta) / 60) % 60, (int)(final ? dt : eta) % 60);
}

int rr_cli_trec(int argc, char **argv) {
    rr_cli_args args;
    rr_cli_args_init(&args);
    int rc = rr_cli_parse("trec", argc, argv, &args);
    if (rc) return rc < 0 ? 0 : rc;
    trec_opts o;
    if ((rc = trec_options(&args, &o))) return rc;
    rr_cli_shard sh;
    char msg[256], out_path[4096];
    if (!rr_cli_shard_resolve(o.shard_spec, o.shard_count, &sh, msg, sizeof msg))
        return rr_cli_usage_error("trec", "%s", msg);
    if (o.output && !rr_cli_shard_path(&sh, o.output, out_path, sizeof out_path))
        return rr_cli_usage_error("trec", "--output too long");

    rerank_error err = {0};
    rr_run_index ix;
    rr_queries queries = {0};
    rr_qrels qrels = {0};
    rr_corpus corpus = {0};
    rr_strmap wanted = {0};
    rr_bytes wanted_ids = {0}, texts = {0};
    bool *done = NULL;
    size_t *text_off = NULL;
    rerank_pair *pairs = NULL;
    float *scores = NULL;
    scored_doc *order = NULL;
    rerank_model *model = NULL;
    rerank_session *session = NULL;
    FILE *out = stdout;
    if (rr_run_index_open(o.run, &ix, &err)) return fail("%s", err.message);
    if (rr_queries_read(o.queries, &queries, &err)) rc = fail("%s", err.message);
    size_t qlen = o.qrels ? strlen(o.qrels) : 0;
    if (!rc && o.qrels &&
        (qlen > 4 && !strcmp(o.qrels + qlen - 4, ".tsv") ? rr_qrels_read_beir(o.qrels, &qrels, &err)
                                                          : rr_qrels_read(o.qrels, &qrels, &err)))
        rc = fail("%s", err.message);
    done = calloc(ix.n_queries, sizeof *done);
    bool *mine = calloc(ix.n_queries, sizeof *mine);
    if (!rc && (!done || !mine)) rc = fail("out of memory");
    for (size_t si = 0; !rc && si < ix.n_queries; si++) mine[ix.sorted[si]] = rr_cli_shard_owns(&sh, si);
    size_t n_done = 0;
    if (!rc && o.resume) rc = resume_scan(out_path, &ix, mine, (size_t)o.top_k, done, &n_done);

    /* this shard's queries: check their texts, collect the docids to find in the corpus */
    size_t n_mine = 0, n_todo = 0, max_k = 0;
    for (size_t si = 0; !rc && si < ix.n_queries; si++) {
        if (!rr_cli_shard_owns(&sh, si)) continue;
        n_mine++;
        size_t q = ix.sorted[si];
        if (done[q]) continue;
        n_todo++;
        if (!rr_queries_get(&queries, ix.qids[q])) {
            rc = fail("%s: no text for query '%s' of %s", o.queries, ix.qids[q], o.run);
            break;
        }
        rr_candidates c;
        if (rr_run_index_query(&ix, q, (size_t)o.top_k, &c, &err)) {
            rc = fail("%s", err.message);
            break;
        }
        if (c.query.n_docs > max_k) max_k = c.query.n_docs;
        for (size_t i = 0; !rc && i < c.query.n_docs; i++)
            if (rr_bytes_append(&wanted_ids, c.query.docs[i].docno, strlen(c.query.docs[i].docno) + 1))
                rc = fail("out of memory");
        rr_candidates_free(&c);
    }
    for (size_t off = 0; !rc && off < wanted_ids.n;) { /* the arena is final: keys may point into it */
        size_t len = strlen(wanted_ids.data + off), index;
        int added;
        if (rr_strmap_put(&wanted, wanted_ids.data + off, len, 0, &index, &added)) rc = fail("out of memory");
        off += len + 1;
    }
    if (!rc && rr_corpus_open(o.corpus, &wanted, &corpus, &err)) rc = fail("%s", err.message);
    for (size_t i = 0; !rc && i < wanted.n; i++)
        if (corpus.line_start[i] == UINT64_MAX)
            rc = fail("%s: no passage with docid '%.*s' (a candidate in %s)", o.corpus, (int)wanted.entries[i].len,
                      wanted.entries[i].key, o.run);

    if (!rc && rerank_model_load(o.model, &o.mp, &model, &err)) rc = fail("%s", err.message);
    if (!rc && rerank_session_new(model, &session, &err)) rc = fail("%s", err.message);
    size_t n_out = 1;
    if (!rc && rerank_score_n_outputs(model, &o.sp, &n_out, &err)) rc = fail("%s", err.message);
    if (!rc && o.output) {
        out = fopen(out_path, o.resume ? "ab" : "wb");
        if (!out) rc = fail("%s: %s", out_path, strerror(errno));
    }
    text_off = malloc((max_k + 1) * sizeof *text_off);
    pairs = malloc((max_k + 1) * sizeof *pairs);
    scores = malloc((max_k + 1) * n_out * sizeof *scores);
    order = malloc((max_k + 1) * sizeof *order);
    if (!rc && (!text_off || !pairs || !scores || !order)) rc = fail("out of memory");
    if (!rc && !o.quiet)
        fprintf(stderr, "rerank trec: shard %ld/%ld (%s): %zu of %zu queries%s, top %ld candidates, %zu passages found\n",
                sh.index, sh.count, sh.source, n_mine, ix.n_queries,
                n_done ? " (some already complete in the output)" : "", o.top_k, corpus.n_found);

    eval_sums ev;
    eval_init(&ev, o.top_k);
    double t0 = now_s(), last = t0;
    size_t n_pairs = 0, n_finished = 0;
    for (size_t si = 0; !rc && si < ix.n_queries; si++) {
        size_t q = ix.sorted[si];
        if (!rr_cli_shard_owns(&sh, si) || done[q]) continue;
        rr_candidates c;
        if (rr_run_index_query(&ix, q, (size_t)o.top_k, &c, &err)) {
            rc = fail("%s", err.message);
            break;
        }
        const char *qtext = rr_queries_get(&queries, c.query.qid);
        size_t n = c.query.n_docs;
        texts.n = 0;
        for (size_t i = 0; !rc && i < n; i++) {
            text_off[i] = texts.n;
            if (rr_corpus_passage(&corpus, c.query.docs[i].docno, &texts, &err)) rc = fail("%s", err.message);
        }
        text_off[n] = texts.n;
        for (size_t i = 0; !rc && i < n; i++)
            pairs[i] = (rerank_pair){qtext, strlen(qtext), texts.data + text_off[i], text_off[i + 1] - text_off[i]};
        if (!rc && n && rerank_score(session, &o.sp, pairs, n, scores, &err))
            rc = fail("%s: query '%s': %s", o.run, c.query.qid, err.message);
        for (size_t i = 0; !rc && i < n; i++) order[i] = (scored_doc){c.query.docs[i].docno, scores[i * n_out + n_out - 1]};
        if (!rc) qsort(order, n, sizeof *order, scored_doc_order);
        for (size_t i = 0; !rc && i < n; i++)
            fprintf(out, "%s Q0 %s %zu %.9g rerank\n", c.query.qid, order[i].docno, i + 1, (double)order[i].score);
        if (!rc && (fflush(out) || ferror(out))) rc = fail("%s: write failed", o.output ? out_path : "standard output");
        if (!rc && o.qrels) rc = eval_add(&ev, &qrels, &c.query, order, n);
        rr_candidates_free(&c);
        n_pairs += n;
        n_finished++;
        double t = now_s();
        if (!rc && t - last >= 2.0) {
            progress(&o, &sh, n_finished, n_todo, n_pairs, t0, false);
            last = t;
        }
    }
    if (!rc) progress(&o, &sh, n_finished, n_todo, n_pairs, t0, true);
    if (!rc && o.qrels && ev.n) {
        fprintf(stderr, "rerank trec: %zu judged queries (%s), first stage -> reranked:", ev.n, o.qrels);
        for (int m = 0; m < N_EVAL; m++)
            fprintf(stderr, "%s %s %.4f -> %.4f", m ? "," : "", ev.m[m].name, ev.before[m] / (double)ev.n,
                    ev.after[m] / (double)ev.n);
        fputc('\n', stderr);
    }
    if (out && out != stdout && fclose(out) && !rc) rc = fail("%s: write failed", out_path);
    free(order);
    free(scores);
    free(pairs);
    free(text_off);
    rr_bytes_free(&texts);
    rerank_session_free(session);
    rerank_model_free(model);
    rr_corpus_close(&corpus);
    rr_strmap_free(&wanted);
    rr_bytes_free(&wanted_ids);
    free(done);
    free(mine);
    rr_qrels_free(&qrels);
    rr_queries_free(&queries);
    rr_run_index_close(&ix);
    return rc;
}
