/* fuzz_trec_eval.c - libFuzzer target: arbitrary bytes as a qrels file and a run file (split at a point the
 * first byte picks; the second byte picks TREC or BEIR qrels), then every measure of every qrels query, as
 * `rerank eval -c -q` computes them. Values must stay within [0, 1]. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eval/trec_eval.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *copy(const uint8_t *p, size_t n) {
    char *s = malloc(n + 1);
    if (s) {
        memcpy(s, p, n);
        s[n] = '\0';
    }
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    size_t split = 2 + (size_t)data[0] * (size - 2) / 255;
    bool beir = data[1] & 1;
    char *qtext = copy(data + 2, split - 2), *rtext = copy(data + split, size - split);
    if (!qtext || !rtext) {
        free(qtext), free(rtext);
        return 0;
    }
    rr_qrels qrels;
    rr_run run;
    rerank_error err;
    rerank_status qs = rr_qrels_parse(qtext, split - 2, "qrels", beir, &qrels, &err);
    rerank_status rs = rr_run_parse(rtext, size - split, "run", &run, &err);
    if (!qs && !rs) {
        rr_measure_list ms = {0};
        bool ignored;
        const char *specs[] = {"map", "recip_rank", "P.1,5,10", "recall.1,100", "ndcg", "ndcg_cut.3,10", "map_cut.2",
                               "RR@3", "nDCG@5"};
        for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) rr_measure_list_add(&ms, specs[i], &ignored, &err);
        rr_measure_list_finish(&ms);
        for (size_t q = 0; q < qrels.n_queries; q++) {
            rr_ranked r;
            if (rr_eval_rank(rr_run_find(&run, qrels.queries[q].qid), &qrels.queries[q], (long)(data[1] >> 4), &r, &err))
                continue;
            for (size_t m = 0; m < ms.n; m++) {
                double v = rr_measure_value(&ms.items[m], &r, 1);
                if (!(v >= 0 && v <= 1.0000001)) __builtin_trap();
            }
            rr_ranked_free(&r);
        }
        rr_measure_list_free(&ms);
    }
    if (!qs) rr_qrels_free(&qrels);
    if (!rs) rr_run_free(&run);
    return 0;
}
