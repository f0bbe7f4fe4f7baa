#!/bin/sh
# trec_beir.sh - throughput of `rerank trec` on tests/data/beir-tiny (19 queries x 12 candidates, the shared test
# texts) with the tiny XLM-R model: pairs per second of the whole command (load, index, score, write), best of
# 3 runs. Usage: bench/trec_beir.sh [MODEL_DIR] (default ../shared/testdata/xlmr-seqcls-tiny); run from the
# repository root after `make`.
set -e
MODEL=${1:-${RERANK_SHARED:-../shared}/testdata/xlmr-seqcls-tiny}
DATA=tests/data/beir-tiny
PAIRS=$(wc -l < "$DATA/run.txt")
best=999999
for i in 1 2 3; do
    t0=$(date +%s.%N)
    build/rerank trec --model "$MODEL" --run "$DATA/run.txt" --beir "$DATA" --quiet > /dev/null 2>&1
    t1=$(date +%s.%N)
    best=$(awk -v a="$t0" -v b="$t1" -v best="$best" 'BEGIN { t = b - a; print (t < best ? t : best) }')
done
awk -v n="$PAIRS" -v t="$best" -v c="$(nproc)" -v d="$DATA" \
    'BEGIN { printf "rerank trec on %s: %d pairs in %.3f s (best of 3) = %.1f pairs/s, %d cores\n", d, n, t, n / t, c }'
