#!/usr/bin/env bash
# The server's CPU per complete purchase flow, A against B in the same session:
#
#   flock /tmp/bench.lock scripts/bench_flow_cpu.sh OLD_BINARY NEW_BINARY
#
# ROUNDS times (default 2), each binary in turn: a fresh server (durable store in a fresh data
# directory, or FLOW_STORE=memory), one `tacos-load` purchase run at FLOW_RATE buyers/s (default
# 800) for FLOW_SECONDS (default 10), then the server's user + system CPU over the run's last
# FLOW_SECONDS seconds (sampled from /proc/<pid>/stat every half second, so the registration of
# the run's accounts before it, Argon2 hashing, is left out) divided by the flows bought, and each
# route's p99. Throughput and latency on two shared cores depend on how the scheduler shares them
# with the driver; CPU per flow does not.
set -euo pipefail
A=$1 B=$2
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
LOAD=${LOAD:-$ROOT/target/release/tacos-load}
D=${OUT:-$ROOT/target/bench/flow-cpu}; rm -rf "$D"; mkdir -p "$D"
RATE=${FLOW_RATE:-800} SECS=${FLOW_SECONDS:-10}
one() { # LABEL BINARY ROUND
  local dir=$D/$1-$3 pid sampler end flows
  mkdir -p "$dir"
  TACOS_STORE=${FLOW_STORE:-durable} TACOS_DATA_DIR=$dir/data TACOS_ADMIN_PASSWORD=bench-admin-password \
    TACOS_DEMO_EVENT=false TACOS_RATE_LIMIT=off RUST_LOG=warn TACOS_MAX_CONNECTIONS_PER_ADDRESS=4096 \
    "$2" --port 8679 > "$dir/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do curl -s -o /dev/null http://127.0.0.1:8679/healthz && break; sleep 0.1; done
  ( while kill -0 "$pid" 2>/dev/null; do
      echo "$(date +%s.%N) $(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null)"; sleep 0.5
    done ) > "$dir/ticks.txt" &
  sampler=$!
  "$LOAD" run --quiet --base-url http://127.0.0.1:8679 --admin-password bench-admin-password \
    --scenario purchase --rate "$RATE" --duration "$SECS" --poll 100 --accounts 64 > "$dir/report.txt" 2>&1
  end=$(date +%s.%N)
  sleep 0.6
  kill "$pid"; wait "$pid" 2>/dev/null || true; wait "$sampler" 2>/dev/null || true
  flows=$(grep -oP '^flows: \K\d+' "$dir/report.txt")
  python3 - "$dir/ticks.txt" "$end" "$SECS" "$flows" "$(getconf CLK_TCK)" "$1" "$dir/report.txt" <<'PY'
import sys
rows = [tuple(map(float, l.split())) for l in open(sys.argv[1]) if len(l.split()) == 2]
end, secs, flows, tck, label = float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
a = min(rows, key=lambda r: abs(r[0] - (end - secs)))
b = min(rows, key=lambda r: abs(r[0] - end))
span = b[0] - a[0]
cpu = (b[1] - a[1]) / tck
per_flow = cpu / (flows / secs * span) * 1e6
p99 = [f"{l.split()[1]} {l.split()[7]}" for l in open(sys.argv[7]) if l.startswith(("POST", "GET"))]
print(f"{label}: {flows} flows, {cpu / span:.2f} cores, {per_flow:,.0f} µs of CPU per flow; p99 ms: {', '.join(p99)}")
PY
}
for round in $(seq "${ROUNDS:-2}"); do
  one A "$A" "$round"
  one B "$B" "$round"
done
