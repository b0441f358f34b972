#!/usr/bin/env bash
# Same-run A/B of two tacos-local binaries by what they cost, not only how fast they answer:
# for each route, 5 rounds of wrk -t2 -c64 -d5s against the ceiling, A and B in turn, each
# recording requests/s and the server's CPU time per request (user + system ticks of the whole
# process from /proc/<pid>/stat, divided by the requests wrk counted).
#
#   flock /tmp/bench.lock scripts/bench_cpu.sh OLD_BINARY NEW_BINARY
#
# On a two-core machine the load generator shares the CPU with the server, so throughput also
# depends on how the scheduler shares it between them; CPU per request does not. CPU_STORE
# (default durable, the README's server; or memory), CPU_ROUTES (default "healthz status"; also
# "join", a fresh Idempotency-Key per request),
# RUST_LOG as the servers' log level (default info: the access log on), CPU_LINE_SECS (default 0:
# the statuses are of the first people in line, with stock to spare; N: the line is first filled
# by N seconds of joins on A's store, then copied to B's, so both answer statuses of the same
# people far beyond the stock, where a status follows the places coming back: BENCHMARKS §12.3).
set -euo pipefail
A=$1 B=$2
STORE=${CPU_STORE:-durable}
ROUTES=${CPU_ROUTES:-healthz status}
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CEILING=${CEILING:-$ROOT/target/release/tacos-load}
D=${OUT:-target/bench/cpu}; rm -rf "$D"; mkdir -p "$D"
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"
PIDS=()
trap 'kill ${PIDS[@]} 2>/dev/null' EXIT
"$CEILING" ceiling --addr 127.0.0.1:8660 > "$D/ceiling.log" 2>&1 &
PIDS+=($!)
start() {
  TACOS_STORE=$STORE TACOS_DATA_DIR=$D/data-$1 TACOS_RATE_LIMIT=off RUST_LOG=${RUST_LOG:-info} \
    "$2" --port "$3" > "$D/$1.log" 2>&1 &
  PIDS+=($!)
}
up() { for p in "$@"; do wait_for "http://127.0.0.1:$p/healthz" 10; done; }
LINE_SECS=${CPU_LINE_SECS:-0}
if ((LINE_SECS > 0)); then
  # The line, built on A's store alone, then copied to B's (A stopped, so its files are whole).
  start a "$A" 8661
  up 8661
  wrk -t2 -c64 -d"${LINE_SECS}s" -s scripts/wrk/join.lua http://127.0.0.1:8661/api/v1/queue/join > "$D/line.txt"
  status_lua 8661 > "$D/status-8661.lua"
  kill "${PIDS[1]}"; wait "${PIDS[1]}" || true
  unset 'PIDS[1]'; PIDS=("${PIDS[@]}")
  cp -r "$D/data-a" "$D/data-b"
  cp "$D/status-8661.lua" "$D/status-8662.lua"
fi
start a "$A" 8661
start b "$B" 8662
up 8660 8661 8662
if ((LINE_SECS == 0)); then
  for p in 8661 8662; do
    status_lua $p > "$D/status-$p.lua"
  done
fi
# The ceiling answers a status with its fixed body, whatever the token.
cp "$D/status-8661.lua" "$D/status-8660.lua"
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
for round in 1 2 3 4 5; do
  for route in $ROUTES; do
    for i in 0 1 2; do
      p=$((8660 + i)); pid=${PIDS[$i]}; side=$(echo ceiling A B | cut -d' ' -f$((i + 1)))
      case $route in
        healthz) args=("http://127.0.0.1:$p/healthz") ;;
        status) args=(-s "$D/status-$p.lua" "http://127.0.0.1:$p/api/v1/queue/status") ;;
        join) args=(-s scripts/wrk/join.lua "http://127.0.0.1:$p/api/v1/queue/join") ;;
      esac
      before=$(ticks "$pid")
      out=$(wrk -t2 -c64 -d5s "${args[@]}")
      after=$(ticks "$pid")
      rate=$(grep -oP 'Requests/sec:\s*\K[\d.]+' <<< "$out")
      count=$(grep -oP '^\s*\K\d+(?= requests in)' <<< "$out")
      echo "$route $round $side $rate $count $((after - before))" | tee -a "$D/runs.txt"
    done
  done
done
python3 - "$D/runs.txt" "$(getconf CLK_TCK)" <<'PY'
import statistics, sys
tck = int(sys.argv[2])
runs = {}
for line in open(sys.argv[1]):
    route, _, side, rate, count, ticks = line.split()
    runs.setdefault((route, side), []).append((float(rate), int(ticks) * 1e6 / tck / int(count)))
for route in sorted({r for r, _ in runs}):
    ceiling = statistics.median(r for r, _ in runs[(route, "ceiling")])
    row = []
    for side in ("A", "B"):
        rate = statistics.median(r for r, _ in runs[(route, side)])
        cpu = statistics.median(c for _, c in runs[(route, side)])
        row.append((rate, cpu))
        print(f"{route} {side}: {rate:,.0f}/s ({rate / ceiling:.2f} of the ceiling's {ceiling:,.0f}), "
              f"{cpu:.1f} µs of CPU per request (medians of 5)")
    print(f"{route}: B/A requests/s {row[1][0] / row[0][0]:.2f}, CPU per request {row[1][1] / row[0][1]:.2f}")
PY
