#!/usr/bin/env bash
# bench/isa_diff.sh: scores of every golden pair of four tiny checkpoints at RERANK_ISA=scalar and =avx2, per
# dtype; prints the largest difference (run from the repository root after make).
set -e
for m in xlmr-seqcls-tiny bert-seqcls-tiny qwen3-causal-tiny gemma-causal-tiny-bf16; do
  d=tests/data/testdata/$m
  python3 -c "
import json,sys
for l in open('$d/golden.jsonl'):
    r=json.loads(l); print(json.dumps({'query':r['query'],'passage':r['passage']}))" > /tmp/pairs_$m.jsonl
  for dt in f32 bf16 int8; do
    for isa in scalar avx2; do
      RERANK_ISA=$isa build/rerank score --model $d --dtype $dt --max-length 64 --input /tmp/pairs_$m.jsonl > /tmp/s_${m}_${dt}_$isa.jsonl
    done
    python3 -c "
import json
a=[json.loads(l)['score'] for l in open('/tmp/s_${m}_${dt}_scalar.jsonl')]
b=[json.loads(l)['score'] for l in open('/tmp/s_${m}_${dt}_avx2.jsonl')]
print('$m $dt: %d pairs, max |score(avx2) - score(scalar)| = %.3g' % (len(a), max(abs(x-y) for x,y in zip(a,b))))"
  done
done
