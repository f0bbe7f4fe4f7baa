#!/usr/bin/env bash
# load_server.sh - drives `rerank serve` on 127.0.0.1 with wrk: 64 connections for a fixed time (below
# capacity: expect no errors), then 10x the connections against a bounded queue (expect only 503s).
# Prints throughput, p50/p99 latency and counts per status. Usage:
#   bench/load_server.sh [MODEL_DIR] [SECONDS]     (defaults: tests/data/testdata/xlmr-seqcls-tiny, 10)
# Environment: RERANK (CLI, default build/rerank), PORT (default 18080), DOCS (documents per request, 8),
# CONNS (64), SERVER_ARGS (extra `rerank serve` options).
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:-${RERANK_SHARED:-tests/data}/testdata/xlmr-seqcls-tiny}
SECS=${2:-10}
RERANK=${RERANK:-build/rerank}
PORT=${PORT:-18080}
DOCS=${DOCS:-8}
CONNS=${CONNS:-64}
command -v wrk >/dev/null || { echo "wrk not found: apt-get install wrk (scripts/install-deps.sh)" >&2; exit 1; }
[ -x "$RERANK" ] || make -s "$RERANK"

tmp=$(mktemp -d)
trap 'kill $srv 2>/dev/null || true; rm -rf "$tmp"' EXIT
# queue bound: room for every request of the 64-connection phase, not for 10x
QUEUE=$((CONNS * DOCS * 2))
"$RERANK" serve --model "$MODEL" --host 127.0.0.1 --port "$PORT" --max-queue-pairs "$QUEUE" ${SERVER_ARGS:-} >"$tmp/log" 2>&1 &
srv=$!
for _ in $(seq 100); do grep -q "ready" "$tmp/log" 2>/dev/null && break; sleep 0.1; done
grep -q "ready" "$tmp/log" || { cat "$tmp/log"; exit 1; }

docs=""
for i in $(seq "$DOCS"); do
  docs+="${docs:+,}\"Passage $i: the giant panda is a bear native to south central China; it eats bamboo shoots and leaves, number $i.\""
done
cat >"$tmp/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"model":"m","query":"what do giant pandas eat?","documents":[$docs],"top_n":3}'
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) codes = {} end
function response(status, headers, body) codes[status] = (codes[status] or 0) + 1 end
function done(summary, latency, requests)
  local agg, total = {}, 0
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("codes")) do agg[k] = (agg[k] or 0) + v; total = total + v end
  end
  local e = summary.errors
  io.write(string.format("  throughput   %.1f requests/s (%.1f pairs/s)\n", summary.requests / (summary.duration / 1e6),
                         summary.requests / (summary.duration / 1e6) * $DOCS))
  io.write(string.format("  latency      p50 %.2f ms, p99 %.2f ms, max %.2f ms\n", latency:percentile(50) / 1e3,
                         latency:percentile(99) / 1e3, latency.max / 1e3))
  local line = "  status      "
  for k, v in pairs(agg) do line = line .. string.format(" %s: %d", k, v) end
  io.write(line .. "\n")
  io.write(string.format("  socket errors connect %d, read %d, write %d, timeout %d\n", e.connect, e.read, e.write, e.timeout))
end
LUA

echo "== $CONNS connections, ${SECS}s, $DOCS documents per request (queue bound $QUEUE pairs)"
wrk -t4 -c"$CONNS" -d"${SECS}s" --timeout 30s -s "$tmp/post.lua" "http://127.0.0.1:$PORT/v1/rerank" | sed -n '/throughput/,$p'
echo "== $((CONNS * 10)) connections (10x), ${SECS}s: expect 200s and 503s only"
wrk -t4 -c"$((CONNS * 10))" -d"${SECS}s" --timeout 30s -s "$tmp/post.lua" "http://127.0.0.1:$PORT/v1/rerank" | sed -n '/throughput/,$p'
curl -s "http://127.0.0.1:$PORT/metrics" | grep -E '^rerank_(batch_requests|batch_pairs)_(sum|count)|^rerank_rejected_total' | sed 's/^/  /'
kill -TERM $srv; wait $srv && echo "server exited 0 after SIGTERM"
