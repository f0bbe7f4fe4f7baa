#!/usr/bin/env bash
# Training throughput (forward + backward + clip + AdamW, tokens/s) on synthetic checkpoints of
# bge-reranker-base's shape with random weights: one group of 8 sequences of 256 tokens per step.
#   bench/run_train.sh [LAYERS...]      default: 1 12
# For each layer count: our fast path, the scalar reference kernels (only up to REF_LAYERS layers, default 1:
# they take minutes per layer), and the PyTorch baseline (Debian's python3-torch, scripts/install-deps.sh
# --bench) with the same shapes. Environment: THREADS (default all cores), STEPS (timed, default 2), WARMUP
# (default 1), DROPOUT (0|1, default 1), BENCH_BIN (a prebuilt bench_train).
set -euo pipefail
cd "$(dirname "$0")/.."
layers=${*:-1 12}
threads=${THREADS:-$(nproc)}
B=${BENCH_BIN:-build/bench_train}
[ -n "${BENCH_BIN:-}" ] || make -s -j2 build/bench_train
opts="--threads $threads --steps ${STEPS:-2} --warmup ${WARMUP:-1} --dropout ${DROPOUT:-1}"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $threads threads"
for L in $layers; do
  dir=bench/out/train-base-L$L
  [ -f "$dir/model.safetensors" ] || $B synth --out "$dir" --layers "$L" >/dev/null
  echo "rerank fast:      $($B run --model "$dir" $opts 2>/dev/null)"
  if [ "$L" -le "${REF_LAYERS:-1}" ]; then
    echo "rerank reference: $($B run --model "$dir" $opts --reference 1 --warmup 0 --steps 1 2>/dev/null)"
  fi
  if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
    echo "pytorch:          $(/usr/bin/python3 bench/torch_train_baseline.py --layers "$L" --threads "$threads" \
      --steps "${STEPS:-2}" --warmup "${WARMUP:-1}" --dropout "${DROPOUT:-1}")"
  else
    echo "pytorch:          skipped (python3-torch is not installed: scripts/install-deps.sh --bench)"
  fi
done
