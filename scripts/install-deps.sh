#!/usr/bin/env bash
# Installs the Debian 12 packages rerank needs to build and test. Idempotent; run as root (or with sudo).
set -euo pipefail
PKGS=(
  build-essential pkg-config   # compiler, make
  clang libclang-rt-14-dev     # fuzz targets (libFuzzer) and sanitizers
  libjansson-dev               # JSON: config.json, tokenizer.json, JSONL input
  libutf8proc-dev              # Unicode: categories, NFD/NFC, case folding, grapheme clusters
  libmicrohttpd-dev            # rerank serve: HTTP/1.1 server
  wrk                          # bench/load_server.sh: HTTP load generator
  libpcre2-dev                 # regexes of Split/ByteLevel pre-tokenizers (BPE tokenizers)
  libcurl4-openssl-dev libssl-dev  # models by hub id: downloads (libcurl), sha256 of LFS files (libcrypto)
  openmpi-bin libopenmpi-dev   # `mpirun -np N rerank train`: the MPI shim build/librerank_mpi.so (optional at run time)
  python3 python3-yaml curl    # tests/clients/urllib_client.py, the deploy/ manifest check, curl's view of a 413
  debhelper dpkg-dev           # `make deb-check`: dpkg-buildpackage of debian/ (librerank0, librerank-dev, rerank)
  python3-venv python3-pip python3-setuptools   # the Python package: `pip install --no-build-isolation .` in a venv
  python3-pytest python3-numpy python3-distributed   # its tests (make test-python): pytest, numpy arrays, Dask
)
# bench/run.sh compares against a plain PyTorch implementation: scripts/install-deps.sh --bench. Debian's
# python3-torch multiplies through libblas.so.3 (Debian alternatives); with only the reference BLAS there it
# runs at ~1 GFLOP/s, so OpenBLAS (which takes over the alternative, priority 100) is part of the baseline.
# bench/run_peers.sh also exports that model to ONNX (python3-torch) and quantises it (python3-onnx) for ONNX
# Runtime, which it runs through npm's onnxruntime-node (bench/peers/package-lock.json) under Debian's nodejs
# (npm only where no npm is there: a NodeSource nodejs bundles its own and conflicts with Debian's package).
if [ "${1:-}" = "--bench" ]; then
  PKGS+=(python3-torch python3-numpy libopenblas0-pthread python3-onnx)
fi
# tests/clients (the npm cohere-ai SDK run against `rerank serve`, npm ci below) and bench/run_peers.sh need
# Node.js and npm: Debian's, unless a Node.js is there already (a NodeSource nodejs bundles its own npm and
# conflicts with Debian's npm package).
command -v node >/dev/null 2>&1 || PKGS+=(nodejs)
command -v npm >/dev/null 2>&1 || PKGS+=(npm)
# `make check-arm64` cross-builds for ARM64 and runs the suite under user-mode emulation: the cross compiler,
# qemu, and the arm64 builds of the libraries (Debian multiarch; libc6:arm64 comes with them and is what the
# emulated binaries load). `scripts/install-deps.sh --arm64` (as .ci/run does) adds them.
ARM64_PKGS=(libjansson-dev:arm64 libutf8proc-dev:arm64 libpcre2-dev:arm64 libmicrohttpd-dev:arm64
            libcurl4-openssl-dev:arm64 libssl-dev:arm64)
if [ "${1:-}" = "--arm64" ]; then
  PKGS+=(gcc-aarch64-linux-gnu qemu-user-static "${ARM64_PKGS[@]}")
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO dpkg --add-architecture arm64
  fi
fi
missing=()
for p in "${PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi
# The real client SDKs the server tests run (tests/test_server_clients.c skips them, saying so, when absent).
# Pinned by tests/clients/package-lock.json; --ignore-scripts: no install hooks run.
if command -v npm >/dev/null 2>&1; then
  (cd "$(dirname "$0")/../tests/clients" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) ||
    echo "install-deps: npm ci in tests/clients failed; the cohere-ai client test will be skipped" >&2
fi
