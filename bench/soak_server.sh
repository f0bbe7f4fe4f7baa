#!/usr/bin/env bash
# soak_server.sh - runs `rerank serve` under steady load (wrk, 127.0.0.1 only) for SECONDS and samples the
# server's resident memory every 15 s: a leak shows as growth after the first samples.
#   bench/soak_server.sh [MODEL_DIR] [SECONDS]   (defaults: tests/data/testdata/xlmr-seqcls-tiny, 180)
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:-${RERANK_SHARED:-tests/data}/testdata/xlmr-seqcls-tiny}
SECS=${2:-180}
PORT=${PORT:-18081}
RERANK=${RERANK:-build/rerank}
command -v wrk >/dev/null || { echo "wrk not found: scripts/install-deps.sh installs it" >&2; exit 1; }
[ -x "$RERANK" ] || make -s "$RERANK"
tmp=$(mktemp -d)
trap 'kill $srv $load 2>/dev/null || true; rm -rf "$tmp"' EXIT
"$RERANK" serve --model "$MODEL" --host 127.0.0.1 --port "$PORT" >"$tmp/log" 2>&1 &
srv=$!
for _ in $(seq 100); do grep -q ready "$tmp/log" 2>/dev/null && break; sleep 0.1; done
cat >"$tmp/req.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"query":"what is panda?","documents":["hi","The giant panda is a bear species endemic to China.","Paris is the capital of France.","Bamboo is a grass."],"top_n":2,"return_documents":true}'
LUA
wrk -t2 -c16 -d"${SECS}s" --latency -s "$tmp/req.lua" "http://127.0.0.1:$PORT/v1/rerank" >"$tmp/wrk" 2>&1 &
load=$!
echo "seconds rss_kib"
for t in $(seq 0 15 "$SECS"); do
  echo "$t $(awk '/VmRSS/ {print $2}' /proc/$srv/status)"
  sleep 15
done
wait $load || true
grep -E "Requests/sec|Non-2xx|Socket errors|50%|99%" "$tmp/wrk" || true
