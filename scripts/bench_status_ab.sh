#!/usr/bin/env bash
# Same-run A/B of two tacos-local binaries on queue status, durable store (fresh data
# directories, 1,000 waiting tokens each, rate limit off): wrk -t2 -c64 -d8s, 3 runs interleaved.
#
#   flock /tmp/bench.lock scripts/bench_status_ab.sh OLD_BINARY NEW_BINARY
set -euo pipefail
A=$1 B=$2
D=${OUT:-target/bench/status-ab}; rm -rf $D; mkdir -p $D
PIDS=()
trap 'kill ${PIDS[@]} 2>/dev/null' EXIT
start() { TACOS_DATA_DIR=$D/data-$1 TACOS_RATE_LIMIT=off RUST_LOG=info $2 --port $3 > $D/$1.log 2>&1 & PIDS+=($!); }
start a "$A" 8611
start b "$B" 8612
for p in 8611 8612; do for i in $(seq 100); do curl -s -o /dev/null http://127.0.0.1:$p/healthz && break; sleep 0.1; done; done
for p in 8611 8612; do
python3 - $p > $D/status-$p.lua <<'PY'
import json, sys, urllib.request, uuid
port = sys.argv[1]
tokens = []
for _ in range(1000):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/queue/join", data=json.dumps({"event_id": "evt_demo_ga"}).encode(), headers={"Content-Type": "application/json", "Idempotency-Key": str(uuid.uuid4())})
    tokens.append(json.load(urllib.request.urlopen(req))["waiting_token"])
print("tokens = {" + ",".join(f'"{t}"' for t in tokens) + "}")
print('local i = 0\nrequest = function()\n  i = i % #tokens + 1\n  return wrk.format("GET", "/api/v1/queue/status?token=" .. tokens[i])\nend')
PY
done
for run in 1 2 3; do
  for p in 8611 8612; do
    echo "$run $p $(wrk -t2 -c64 -d8s -s $D/status-$p.lua http://127.0.0.1:$p/api/v1/queue/status | grep -E 'Requests/sec|Non-2xx' | tr '\n' ' ')"
  done
done
