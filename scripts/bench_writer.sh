#!/usr/bin/env bash
# What a join costs the durable store's writer thread, and the whole server, for two builds of
# tacos-local (BENCHMARKS §8.14):
#
#   flock /tmp/bench.lock scripts/bench_writer.sh OLD_BINARY NEW_BINARY [ROUNDS]
#
# Each run starts one server on a fresh data directory (the README's server: durable store,
# default log level, rate limit off), joins it with `wrk -t2 -c64 -d8s` (a fresh Idempotency-Key
# per join), and reads the CPU time of its `tacos-db-writer` thread and of the whole process from
# /proc. Rounds (default 10) run OLD then NEW, then NEW then OLD, and so on: on this shared
# two-core machine the speed of the whole machine drifts by a fifth within minutes, so only runs
# next to each other compare, and a same-round pair is read as one comparison. Prints every run,
# then per build the medians and how many rounds each measure was lower for NEW.
set -euo pipefail
OLD=$1 NEW=$2 ROUNDS=${3:-10}
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
PORT=8720
DATA=$(mktemp -d)
OUT=$(mktemp)
SERVER=
trap '[[ -n "$SERVER" ]] && kill "$SERVER" 2>/dev/null; rm -rf "$DATA" "$OUT"' EXIT
ticks() { awk '{print $14 + $15}' "$1"; }

run() { # name binary
  rm -rf "$DATA/store"
  TACOS_DATA_DIR="$DATA/store" TACOS_RATE_LIMIT=off RUST_LOG=info "$2" --port $PORT > "$DATA/server.log" 2>&1 &
  local pid=$!
  SERVER=$pid
  wait_for "http://127.0.0.1:$PORT/healthz" 10
  local writer
  writer=$(ps -L -o tid=,comm= -p "$pid" | awk '$2 == "tacos-db-writer" {print $1}')
  local w0 p0 w1 p1 joins
  w0=$(ticks "/proc/$pid/task/$writer/stat") p0=$(ticks "/proc/$pid/stat")
  joins=$(wrk -t2 -c64 -d8s -s scripts/wrk/join.lua "http://127.0.0.1:$PORT/api/v1/queue/join" |
    awk '/requests in/ {print $1}')
  w1=$(ticks "/proc/$pid/task/$writer/stat") p1=$(ticks "/proc/$pid/stat")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  SERVER=
  local tick_us=$((1000000 / $(getconf CLK_TCK)))
  echo "$1 $joins $(((w1 - w0) * tick_us * 100 / joins)) $(((p1 - p0) * tick_us * 100 / joins))" | tee -a "$OUT" |
    awk '{printf "%-4s %8d joins  writer %6.2f us/join  process %6.2f us/join\n", $1, $2, $3 / 100, $4 / 100}'
}

for round in $(seq "$ROUNDS"); do
  if ((round % 2)); then run old "$OLD"; run new "$NEW"; else run new "$NEW"; run old "$OLD"; fi
done
python3 - "$OUT" <<'PY'
import statistics, sys
runs = {"old": [], "new": []}
for line in open(sys.argv[1]):
    name, joins, writer, process = line.split()
    runs[name].append((int(joins) / 8, int(writer) / 100, int(process) / 100))
for name, rows in runs.items():
    print(f"{name}: median {statistics.median(r[0] for r in rows):,.0f} joins/s, "
          f"writer {statistics.median(r[1] for r in rows):.2f} us/join, "
          f"process {statistics.median(r[2] for r in rows):.2f} us/join")
pairs = list(zip(runs["old"], runs["new"]))
print(f"new lower in {sum(n[1] < o[1] for o, n in pairs)} of {len(pairs)} rounds (writer), "
      f"{sum(n[2] < o[2] for o, n in pairs)} (process); more joins/s in {sum(n[0] > o[0] for o, n in pairs)}")
PY
