#!/bin/sh
# trec_beir.sh - throughput of `rerank trec` on tests/data/beir-tiny (19 queries x 12 candidates, the shared test
# texts) with the tiny XLM-R model: pairs per second of the whole command (load, index, score, write), best of
# 3 runs. Usage: bench/trec_beir.sh [MODEL_DIR] (default ../shared/testdata/xlmr-seqcls-tiny); run from the
# repository root after `make`.
set -e
MODEL=${1:-${RERANK_SHARED:-../shared}/testdata/xlmr-seqcls-tiny}
DATA=tests/data/beir-tiny
PAIRS=$(wc -l < "$DATA/run.txt")
best=
for i in 1 2 3; do
    t0=$(date +%s.%N)
    build/rerank trec --model "$MODEL" --run "$DATA/run.txt" --beir "$DATA" --quiet > /dev/null 2>&1
    t1=$(date +%s.%N)
    t=$(echo "$t1 - $t0" | bc)
    if [ -z "$best" ] || [ "$(echo "$t < $best" | bc)" = 1 ]; then best=$t; fi
done
echo "rerank trec on $DATA: $PAIRS pairs in $best s (best of 3) = $(echo "scale=1; $PAIRS / $best" | bc) pairs/s, $(nproc) cores"
