/* collection.h - the inputs of `rerank trec`, read without loading a corpus into memory: a first-stage run
 * indexed by query over a memory-mapped file, the query texts (BEIR queries.jsonl or TSV `qid<TAB>text`), and
 * a corpus (BEIR corpus.jsonl or MS MARCO collection.tsv `pid<TAB>text`) memory-mapped with the line of each
 * wanted docid recorded, so that a passage is parsed from the mapping only when it is scored. */
#ifndef RR_EVAL_COLLECTION_H
#define RR_EVAL_COLLECTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/file.h"
#include "base/vec.h"
#include "eval/strmap.h"
#include "eval/trec_eval.h"

/* ---- run, by query ---- */
typedef struct rr_run_index {
    char *path;
    rr_mapped_file file;
    rr_strmap qid_map;     /* qid -> query index; keys point into the mapping */
    char **qids;           /* [n_queries] NUL-terminated copies */
    size_t n_queries;
    size_t *sorted;        /* [n_queries] query indexes in qid byte order (trec_eval's order) */
    size_t *first;         /* [n_queries + 1] each query's range in line_starts */
    uint64_t *line_starts; /* offsets of the lines, grouped by query, in file order within a query */
} rr_run_index;

/* Maps and indexes a run file (`qid Q0 docid rank score tag`; blank and '#' lines skipped); every line is
 * checked here (6 fields, a finite score) so that errors name the line before any work starts. */
rerank_status rr_run_index_open(const char *path, rr_run_index *out, rerank_error *err);
void rr_run_index_close(rr_run_index *ix);

/* One query's candidates: docs ranked as trec_eval ranks them, docnos NUL-terminated in `strings`. */
typedef struct rr_candidates {
    rr_run_query query; /* query.qid borrowed from the index */
    char *strings;
} rr_candidates;

/* Reads query `q` (an index, not a rank in `sorted`); keeps the first top_k (0: all) after ranking. A docid
 * listed twice for the query is refused, naming it. Free with rr_candidates_free. */
rerank_status rr_run_index_query(const rr_run_index *ix, size_t q, size_t top_k, rr_candidates *out,
                                 rerank_error *err);
void rr_candidates_free(rr_candidates *c);

/* ---- query texts ---- */
typedef struct rr_queries {
    char *arena;     /* "id\0text\0" records */
    rr_strmap map;   /* id -> offset of the text in arena */
} rr_queries;

/* Reads BEIR queries.jsonl ({"_id", "text"}, _id a string or an integer) or TSV `qid<TAB>text` (the format
 * is chosen by the first non-blank character: '{' is JSON Lines). A repeated qid is refused. */
rerank_status rr_queries_read(const char *path, rr_queries *out, rerank_error *err);
/* The text of qid (NUL-terminated), or NULL. */
const char *rr_queries_get(const rr_queries *q, const char *qid);
void rr_queries_free(rr_queries *q);

/* ---- corpus ---- */
typedef struct rr_corpus {
    char *path;
    rr_mapped_file file;
    bool jsonl;
    const rr_strmap *wanted; /* docid -> its index in `spans`; borrowed */
    uint64_t *line_start;    /* [wanted->n] offset of the docid's line in the mapping; UINT64_MAX = absent */
    uint64_t *line_end;      /* [wanted->n] offset of its end (the '\n' or the end of the file) */
    size_t n_found;
} rr_corpus;

/* Maps a corpus (BEIR corpus.jsonl {"_id", "title", "text"} or TSV `pid<TAB>text`, by the first character
 * as for queries) and records the line of every docid in `wanted` (which must outlive the corpus). A wanted
 * docid on two lines is refused. */
rerank_status rr_corpus_open(const char *path, const rr_strmap *wanted, rr_corpus *out, rerank_error *err);
/* Appends the passage of docid to out: title + " " + text when the title is not empty, else text.
 * RERANK_ERR_INPUT when the corpus has no such docid. */
rerank_status rr_corpus_passage(const rr_corpus *c, const char *docid, rr_bytes *out, rerank_error *err);
void rr_corpus_close(rr_corpus *c);

#endif
