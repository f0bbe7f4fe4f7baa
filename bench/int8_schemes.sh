#!/usr/bin/env bash
# int8_schemes.sh - golden-text Spearman (int8 vs fp32) of int8 schemes whose pair sums fit int16 without the sign
# move, so that AVX2 without VNNI could use ONNX Runtime's three instructions exactly: each patch in
# bench/int8_schemes/ changes the portable kernels' row or weight quantisation; the suite's
# low_precision_keeps_golden_ranking test then prints the Spearman figures (RERANK_ISA=scalar: the portable kernels,
# which give the same int32 sums as every other instruction set). Builds each variant in a scratch worktree of HEAD.
# A patch with a .runs file beside it runs once per line of that file, with the line's environment (a patch that
# reads its settings from the environment: activations-per-group.patch).
# Usage: bench/int8_schemes.sh            (about four builds of the test binary)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
scratch=$(mktemp -d)
trap 'git -C "$root" worktree remove --force "$scratch/wt" >/dev/null 2>&1 || true; rm -rf "$scratch"' EXIT
git worktree add -q --detach "$scratch/wt" HEAD
[ -e "$root/tests/data/testdata" ] || [ -n "${RERANK_SHARED:-}" ] || export RERANK_SHARED="$root/../shared"
for variant in none bench/int8_schemes/*.patch; do
  git -C "$scratch/wt" checkout -q -- .
  [ "$variant" = none ] || git -C "$scratch/wt" apply "$root/$variant"
  make -s -C "$scratch/wt" -j2 build/test_rerank >/dev/null
  runs=("")
  [ ! -f "${variant%.patch}.runs" ] || mapfile -t runs < <(grep -v '^#' "${variant%.patch}.runs")
  for env in "${runs[@]}"; do
    echo "== ${variant##*/}${env:+ $env}"
    # shellcheck disable=SC2086 # env is a list of NAME=value words
    (cd "$scratch/wt" && env $env RERANK_ISA=scalar build/test_rerank low_precision_keeps_golden_ranking 2>&1 |
      grep -E "int8:" || true)
  done
done
