#!/usr/bin/env bash
# LLM reranker benchmark: synthesises full-size decoder checkpoints (random weights; see bench_llm.c) and runs
# workload W1 (one query + N passages, ~250 tokens per pair, query-prefix reuse on) in fp32, bf16 and int8.
#   bench/run_llm.sh [gemma,qwen3,minicpm] [N passages, default 100]
# Environment: THREADS (default 2), DTYPES (default "f32 bf16 int8"), OUT (checkpoints, default bench/out; a
# full set needs ~18 GB of disk: Gemma-2b BF16 5 GB, Qwen3-0.6B F32 2.4 GB, MiniCPM-2.7B F32 11 GB), VOCAB /
# LAYERS (shrink every shape: small disks or quick runs; the table then says "reduced"), PREFIX=0 (no reuse).
# Memory: loading converts BF16 to fp32 (Gemma-2b: ~10 GB) and bf16/int8 add their converted copies.
set -euo pipefail
cd "$(dirname "$0")/.."
shapes=${1:-gemma,qwen3,minicpm}
n=${2:-100}
out=${OUT:-bench/out}
B=build/bench_llm
make -s -j2 "$B"
mkdir -p "$out"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); threads ${THREADS:-2}"
val() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }
printf '\n%-8s %-5s %7s %8s %9s %8s %7s %8s %s\n' shape dtype layers pairs/s tokens/s GFLOP/s load_s rss_MiB note
for shape in ${shapes//,/ }; do
  dir="$out/llm-$shape${VOCAB:+-v$VOCAB}${LAYERS:+-l$LAYERS}"
  if [ ! -f "$dir/model.safetensors" ]; then
    $B synth --shape "$shape" --out "$dir" ${VOCAB:+--vocab $VOCAB} ${LAYERS:+--layers $LAYERS} >/dev/null
  fi
  for dt in ${DTYPES:-f32 bf16 int8}; do
    r=$($B run --model "$dir" --passages "$n" --threads "${THREADS:-2}" --dtype "$dt" --prefix "${PREFIX:-1}" \
          --scores "$out/llm-$shape.$dt.scores") || { echo "$shape $dt: failed"; continue; }
    printf '%-8s %-5s %7s %8s %9s %8s %7s %8s %s\n' "$shape" "$dt" "$(val "$r" layers_run)" "$(val "$r" pairs_per_s)" \
      "$(val "$r" tokens_per_s)" "$(val "$r" gflops)" "$(val "$r" load_s)" "$(val "$r" peak_rss_mib)" \
      "$([ -n "${VOCAB:-}${LAYERS:-}" ] && echo reduced)"
  done
done
