#!/usr/bin/env bash
# One-command benchmark: synthesises full-size checkpoints (random weights), runs the workloads with rerank
# (2 threads and 1 thread) and the PyTorch baseline on the same token ids, and prints a table.
#   bench/run.sh [base|m3|all] [W1,W2,W3,W4]
# Environment: DTYPE=f32|bf16|int8 (weights' compute precision, default f32); RAW=1 runs the model on random
# ids of the workload's lengths without the tokenizer (see bench_rerank.c); BENCH_BIN=path uses a prebuilt
# bench_rerank instead of building one.
# Needs: make, and for the baseline Debian's python3-torch (scripts/install-deps.sh --bench).
set -euo pipefail
cd "$(dirname "$0")/.."
shapes=${1:-all}; [ "$shapes" = all ] && shapes="base m3"
workloads=${2:-W1,W2,W3,W4}
B=${BENCH_BIN:-build/bench_rerank}
[ -n "${BENCH_BIN:-}" ] || make -s -j2 build/bench_rerank
out=bench/out; mkdir -p "$out"
opts="--dtype ${DTYPE:-f32} --raw ${RAW:-0}"
val() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
peak1=$($B peak --threads 1 | sed 's/peak_gflops=\([0-9.]*\).*/\1/')
peak=$($B peak --threads 2 | sed 's/peak_gflops=\([0-9.]*\).*/\1/')
echo "our fp32 matmul peak (512x768 -> 3072): $peak1 GFLOP/s 1 thread, $peak GFLOP/s 2 threads; dtype ${DTYPE:-f32}, raw ${RAW:-0}"
printf '\n%-5s %-3s %8s %9s %8s %7s %8s %7s %7s %9s %8s %8s\n' shape wl pairs/s tokens/s GFLOP/s %peak 1thr_p/s 2v1thr torch_p/s speedup load_s rss_MiB
for shape in $shapes; do
  dir=$out/$shape
  mkdir -p "$dir"
  [ -f "$dir/model.safetensors" ] || $B synth --shape "$shape" --out "$dir" >/dev/null
  for wl in ${workloads//,/ }; do
    r2=$($B run --model "$dir" --workload "$wl" $opts --threads 2 --ids "$out/$shape-$wl.ids" --scores "$out/$shape-$wl.c.scores")
    if [ -n "$(val "$r2" skipped)" ]; then continue; fi
    r1=$($B run --model "$dir" --workload "$wl" $opts --threads 1)
    t="-"; sp="-"
    if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
      tr_=$(/usr/bin/python3 bench/torch_baseline.py "$dir" "$out/$shape-$wl.ids" 2 "$out/$shape-$wl.torch.scores")
      t=$(val "$tr_" pairs_per_s)
      sp=$(awk -v a="$(val "$r2" pairs_per_s)" -v b="$t" 'BEGIN{printf "%.2fx", a/b}')
      maxdiff=$(paste "$out/$shape-$wl.c.scores" "$out/$shape-$wl.torch.scores" | awk '{d=$1-$2; if(d<0)d=-d; if(d>m)m=d} END{printf "%.2g", m}')
      echo "  ($shape $wl: max |score(rerank) - score(torch)| = $maxdiff)" >&2
    fi
    printf '%-5s %-3s %8s %9s %8s %6.0f%% %8s %7s %7s %9s %8s %8s\n' "$shape" "$wl" "$(val "$r2" pairs_per_s)" \
      "$(val "$r2" tokens_per_s)" "$(val "$r2" gflops)" "$(awk -v g="$(val "$r2" gflops)" -v p="$peak" 'BEGIN{print 100*g/p}')" \
      "$(val "$r1" pairs_per_s)" "$(awk -v a="$(val "$r2" pairs_per_s)" -v b="$(val "$r1" pairs_per_s)" 'BEGIN{printf "%.2fx", a/b}')" \
      "$t" "$sp" "$(val "$r2" load_s)" "$(val "$r2" peak_rss_mib)"
  done
done
