#!/usr/bin/env bash
# Peers side by side in one run: rerank (fp32, bf16, int8) against ONNX Runtime (onnxruntime-node, fp32 batch 1 and
# int8 by dynamic quantisation of the MatMul weights) on the same synthetic checkpoint, the same seeded
# workloads and the same token ids (bench_rerank writes them, ONNX Runtime reads them), plus the fp32 GEMM peak
# that bench_rerank measures in the same run.
#   bench/run_peers.sh [base|m3] [W1,W2,W3]     (default: base W1,W2,W3; only base was tried: m3's fp32 ONNX
#                                               passes protobuf's 2 GB and is written with external data)
# Prints per workload each engine's pairs/s, GFLOP/s (the same fp32-equivalent work for every engine), % of the
# fp32 peak, rerank / ORT (fp32 vs fp32 batch 1, int8 vs int8, our bf16 vs ORT fp32: ORT has no bf16 on most
# CPUs) and each engine's Spearman vs its own fp32.
# Environment: THREADS=N (default 2, every engine); REPEAT=N runs N rounds of every engine, one after the other,
# and keeps each engine's best round (a shared machine's neighbours only ever slow a run down); RAW=1 times rerank without its tokenizer (see bench_rerank.c);
# BF16=0 skips rerank's bf16 row; PER_CHANNEL=1 quantises the ORT weights per output column instead of per
# tensor (quantize_dynamic's default); BENCH_BIN=path uses a prebuilt bench_rerank; RERANK_ISA=avx2 (read by
# the library) measures our AVX2 path on an AVX-512 machine.
# Needs: make, node + npm (onnxruntime-node is installed by `npm ci` into bench/peers/node_modules, from
# bench/peers/package-lock.json), Debian's python3-torch and python3-onnx (scripts/install-deps.sh --bench).
# First run on base: synth + ONNX export + quantisation take ~3 minutes and ~3.1 GB under bench/out/base.
set -euo pipefail
cd "$(dirname "$0")/.."
shape=${1:-base}
workloads=${2:-W1,W2,W3}
threads=${THREADS:-2}
B=${BENCH_BIN:-build/bench_rerank}
[ -n "${BENCH_BIN:-}" ] || make -s -j2 build/bench_rerank
py=/usr/bin/python3
$py -c 'import torch, onnx' 2>/dev/null || { echo "run_peers: needs python3-torch and python3-onnx (scripts/install-deps.sh --bench)" >&2; exit 1; }
command -v node >/dev/null && command -v npm >/dev/null || { echo "run_peers: needs node and npm" >&2; exit 1; }
if [ ! -d bench/peers/node_modules/onnxruntime-node ]; then
  # the CPU binaries ship in the npm package; its install script would only fetch optional CUDA ones
  (cd bench/peers && ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund --loglevel=error >&2)
fi

out=bench/out; dir=$out/$shape; mkdir -p "$dir"
[ -f "$dir/model.safetensors" ] || $B synth --shape "$shape" --out "$dir" >/dev/null
fp32=$dir/model.onnx
qopt=""; [ "${PER_CHANNEL:-0}" != 1 ] || qopt=--per-channel
q=$dir/model.int8${qopt:+.pc}.onnx
if [ ! -s "$fp32" ] || [ "$fp32" -ot "$dir/model.safetensors" ]; then
  $py bench/peers/export_onnx.py "$dir" "$fp32" 2> >(grep -v -i warn >&2) >&2
fi
if [ ! -s "$q" ] || [ "$q" -ot "$fp32" ]; then
  $py bench/peers/quantize_dynamic.py "$fp32" "$q" $qopt >&2
fi

val() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }
# better TOP NEW: the one of two output lines with the higher pairs_per_s ("failed=1" sticks: a failed run fails
# the engine)
better() {
  if [ -n "$(val "$1" failed)" ] || [ -n "$(val "$2" failed)" ]; then echo "failed=1"; return; fi
  if [ -z "$1" ] || awk -v a="$(val "$2" pairs_per_s)" -v b="$(val "$1" pairs_per_s)" 'BEGIN{exit !(a > b)}'; then
    echo "$2"
  else
    echo "$1"
  fi
}
peakof() { for _ in 1 2 3; do $B peak --threads "$threads" --dtype "$1"; done | sort -t= -k2 -g | tail -1; }
pk=$(peakof f32); pk8=$(peakof int8)
peak=$(val "$pk" peak_gflops)
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "rerank isa=$(val "$pk" isa) (f32 kernel $(val "$pk" kernel), int8 kernel $(val "$pk8" kernel)); onnxruntime-node $(node -p "require('./bench/peers/node_modules/onnxruntime-node/package.json').version")"
echo "fp32 GEMM peak (bench_rerank peak, 512x768 -> 3072, best of 3): $peak GFLOP/s; int8: $(val "$pk8" peak_gflops) GOP/s; $threads threads, shape $shape, raw ${RAW:-0}"
printf '\n%-3s %-16s %8s %8s %8s %6s %9s %9s %8s\n' wl engine pairs/s seconds GFLOP/s %peak rerank/ORT Spearman rss_MiB
for wl in ${workloads//,/ }; do
  ids=$out/$shape-$wl.ids; s=$out/$shape-$wl
  rm -f "$s.f32.scores" "$s.bf16.scores" "$s.int8.scores" "$s.ort-f32.scores" "$s.ort-int8.scores" # a failed engine leaves none
  # REPEAT rounds, each running every engine once (a slow or fast phase of a shared VM then hits every engine
  # alike, not the ones run back to back in it); each engine keeps its best round
  rf="" rb="" ri="" of="" oi=""
  for _ in $(seq "${REPEAT:-1}"); do
    rf=$(better "$rf" "$($B run --model "$dir" --workload "$wl" --dtype f32 --raw "${RAW:-0}" --threads "$threads" \
      --ids "$ids" --scores "$s.f32.scores" || echo failed=1)")
    if [ -n "$(val "$rf" skipped)" ] || [ -n "$(val "$rf" failed)" ]; then break; fi
    [ "${BF16:-1}" = 0 ] || rb=$(better "$rb" "$($B run --model "$dir" --workload "$wl" --dtype bf16 --raw "${RAW:-0}" \
      --threads "$threads" --scores "$s.bf16.scores" || echo failed=1)")
    ri=$(better "$ri" "$($B run --model "$dir" --workload "$wl" --dtype int8 --raw "${RAW:-0}" --threads "$threads" \
      --scores "$s.int8.scores" || echo failed=1)")
    of=$(better "$of" "$(node bench/peers/ort_run.mjs "$fp32" "$ids" "$threads" "$s.ort-f32.scores" || echo failed=1)")
    oi=$(better "$oi" "$(node bench/peers/ort_run.mjs "$q" "$ids" "$threads" "$s.ort-int8.scores" || echo failed=1)")
  done
  [ "${BF16:-1}" != 0 ] || rb="skipped=1"
  [ -z "$(val "$rf" skipped)" ] || continue
  [ -z "$(val "$rf" failed)" ] || { echo "$wl: bench_rerank f32 failed" >&2; continue; }
  # every engine does the same fp32-equivalent work on these ids: bench_rerank's count over the seconds
  work=$(awk -v g="$(val "$rf" gflops)" -v t="$(val "$rf" seconds)" 'BEGIN{print g * t}')
  sp() { [ -s "$1" ] && [ -s "$2" ] && val "$($py bench/peers/compare.py "$1" "$2")" spearman || echo -; }
  row() { # row ENGINE RESULT SPEARMAN RATIO
    if [ -n "$(val "$2" failed)" ]; then printf '%-3s %-16s %8s\n' "$wl" "$1" failed; return; fi
    local sec; sec=$(val "$2" seconds)
    printf '%-3s %-16s %8s %8s %8.1f %5.0f%% %9s %9s %8s\n' "$wl" "$1" "$(val "$2" pairs_per_s)" "$sec" \
      "$(awk -v w="$work" -v t="$sec" 'BEGIN{print w / t}')" "$(awk -v w="$work" -v t="$sec" -v p="$peak" 'BEGIN{print 100 * w / t / p}')" \
      "$4" "$3" "$(val "$2" peak_rss_mib)"
  }
  ratio() { [ -z "$(val "$1" failed)" ] && [ -z "$(val "$2" failed)" ] && awk -v a="$(val "$1" seconds)" -v b="$(val "$2" seconds)" 'BEGIN{printf "%.2fx", b / a}' || echo -; }
  row "rerank fp32" "$rf" "-" "$(ratio "$rf" "$of")"
  row "ORT fp32 batch1" "$of" "-" ""
  [ -n "$(val "$rb" skipped)" ] || row "rerank bf16" "$rb" "$(sp "$s.bf16.scores" "$s.f32.scores")" "$(ratio "$rb" "$of")"
  row "rerank int8" "$ri" "$(sp "$s.int8.scores" "$s.f32.scores")" "$(ratio "$ri" "$oi")"
  row "ORT int8" "$oi" "$(sp "$s.ort-int8.scores" "$s.ort-f32.scores")" ""
  if [ -s "$s.ort-f32.scores" ]; then
    same=$($py bench/peers/compare.py "$s.ort-f32.scores" "$s.f32.scores")
    echo "    ($wl: $(val "$rf" pairs) pairs, $(val "$rf" tokens) tokens; ORT fp32 vs rerank fp32 on the same ids: $same)"
    # both run the same weights on the same ids: a larger gap means the export or the ids went wrong
    if awk -v d="$(val "$same" max_abs)" 'BEGIN{exit !(d > 1e-4)}'; then
      echo "    WARNING: ORT fp32 and rerank fp32 disagree by $(val "$same" max_abs): not the same model or ids" >&2
    fi
  fi
done
