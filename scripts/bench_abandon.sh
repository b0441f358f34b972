#!/usr/bin/env bash
# How fast the README's server gives up a crowd that stopped asking (BENCHMARKS.md §14): a flood of
# anonymous joins that never ask again (JOIN_SECS of wrk, default 12 s: about 300,000 people here),
# then 1,000 people behind them who keep asking (2 s of wrk over their statuses every 10 s). Prints
# the first of those 1,000's position every 10 s for MINUTES (default 5) and the statuses a second
# the server answered meanwhile. Places are given up after 2 minutes unseen (the default).
#
#   scripts/bench_abandon.sh [BINARY]   (default target/release/tacos-local; PORT default 8703)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
BIN=${1:-target/release/tacos-local}
PORT=${PORT:-8703}
D=target/bench/abandon; rm -rf "$D"; mkdir -p "$D"
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
TACOS_STORE=durable TACOS_DATA_DIR=$D/data TACOS_RATE_LIMIT=off RUST_LOG=info "$BIN" --port "$PORT" > "$D/server.log" 2>&1 &
PIDS+=($!)
trap 'kill "${PIDS[@]}" 2>/dev/null' EXIT
wait_for "http://127.0.0.1:$PORT/healthz" 30
wrk -t2 -c64 -d"${JOIN_SECS:-12}s" -s scripts/wrk/join.lua "http://127.0.0.1:$PORT/api/v1/queue/join" | grep -E 'requests in|Requests/sec'
status_lua "$PORT" > "$D/status.lua"
first=$(grep -oP 'wtkn_[0-9a-f]+' "$D/status.lua" | sed -n 1p)
start=$SECONDS
for _ in $(seq $((${MINUTES:-5} * 6))); do
  out=$(wrk -t2 -c64 -d2s -s "$D/status.lua" "http://127.0.0.1:$PORT/api/v1/queue/status")
  position=$(curl -s "http://127.0.0.1:$PORT/api/v1/queue/status?token=$first" | python3 -c 'import json, sys; print(json.load(sys.stdin)["position"])')
  echo "$((SECONDS - start)) s: position $position, $(grep -oP 'Requests/sec:\s*\K[\d.]+' <<< "$out") statuses/s"
  sleep 8
done
