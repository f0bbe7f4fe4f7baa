#!/usr/bin/env bash
# Quick start on a fresh Debian 12 machine: install dependencies, build, and rank example passages.
# With a real checkpoint: scripts/quickstart.sh --model /path/to/bge-reranker-v2-m3
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
make -j2 all build/make_example_model
model=build/example-model
if [ "${1:-}" = "--model" ] && [ -n "${2:-}" ]; then
  model=$2
else
  build/make_example_model "$model"
  echo "NOTE: $model is a smoke-test model with random weights; its scores carry no meaning." >&2
fi
echo "rerank rank --model $model --query 'What is the capital of France?' --input examples/passages.txt"
build/rerank rank --model "$model" --query "What is the capital of France?" --input examples/passages.txt
