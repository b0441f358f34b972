#!/usr/bin/env bash
# Same-run A/B of two tacos-local binaries on queue status and join (fresh data directories,
# 1,000 waiting tokens each, rate limit off, default log level): wrk -t2 -c64 -d8s, 3 runs,
# A and B interleaved so both see the same machine.
#
#   flock /tmp/bench.lock scripts/bench_ab.sh OLD_BINARY NEW_BINARY
#
# AB_STORE=memory runs both on the memory store (default: durable, the README's server);
# AB_ROUTES="status" or "join" measures one route only. Prints one line per route, run and
# binary (requests/s, non-2xx) and the medians.
set -euo pipefail
A=$1 B=$2
JOIN_LUA="$(cd "$(dirname "$0")" && pwd)/wrk/join.lua"
STORE=${AB_STORE:-durable}
ROUTES=${AB_ROUTES:-status join}
D=${OUT:-target/bench/ab}; rm -rf "$D"; mkdir -p "$D"
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
PIDS=()
trap 'kill ${PIDS[@]} 2>/dev/null' EXIT
start() {
  TACOS_STORE=$STORE TACOS_DATA_DIR=$D/data-$1 TACOS_RATE_LIMIT=off RUST_LOG=info \
    "$2" --port "$3" > "$D/$1.log" 2>&1 &
  PIDS+=($!)
}
start a "$A" 8611
start b "$B" 8612
for p in 8611 8612; do for _ in $(seq 100); do curl -s -o /dev/null http://127.0.0.1:$p/healthz && break; sleep 0.1; done; done
for p in 8611 8612; do
status_lua $p > "$D/status-$p.lua"
done
for run in 1 2 3; do
  for route in $ROUTES; do
    for p in 8611 8612; do
      case $route in
        status) script=$D/status-$p.lua; path=/api/v1/queue/status ;;
        join) script=$JOIN_LUA; path=/api/v1/queue/join ;;
      esac
      line=$(wrk -t2 -c64 -d8s -s "$script" "http://127.0.0.1:$p$path" | grep -E 'Requests/sec|Non-2xx' | tr '\n' ' ')
      echo "$route $run $([[ $p == 8611 ]] && echo A || echo B) $line" | tee -a "$D/runs.txt"
    done
  done
done
python3 - "$D/runs.txt" <<'PY'
import re, statistics, sys
rates = {}
for line in open(sys.argv[1]):
    route, _, side = line.split()[:3]
    rate = float(re.search(r"Requests/sec:\s*([\d.]+)", line).group(1))
    rates.setdefault((route, side), []).append(rate)
for route in sorted({r for r, _ in rates}):
    a, b = statistics.median(rates[(route, "A")]), statistics.median(rates[(route, "B")])
    print(f"{route}: A {a:,.0f}/s, B {b:,.0f}/s (medians), B/A {b / a:.2f}")
PY
