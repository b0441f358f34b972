#!/usr/bin/env bash
# Requests per second of the embedded server against the ceiling, measured with wrk (a load
# generator lighter than the server, so the server is what is measured), in one run:
#
#   scripts/bench_wrk.sh
#
# Starts, from one release build: the ceiling (`tacos-load ceiling`: the same listener and
# runtime answering every request with a fixed body, no platform), the README's server on the
# durable store (a fresh data directory) and the same server on the memory store
# (`TACOS_STORE=memory`), all at the default log level (RUST_LOG=info: the per-request access log
# included) with the rate limit off. Then, RUNS times (default 3), interleaved so every target
# sees the same machine: `wrk -t2 -c64 -d${SECONDS_PER_RUN:-10}s` on `/healthz`, on
# `GET /api/v1/queue/status` (1,000 waiting tokens in turn) and on `POST /api/v1/queue/join` (a
# fresh Idempotency-Key per request), against each target.
#
# A/B in the same run: BENCH_BASELINE_BIN=/path/to/an/older/tacos-local adds a fourth target,
# `baseline` (that binary on the durable store, its own fresh data directory), measured in turn
# with the others; the summary then gives durable / baseline too.
#
# WRK_PREFIX runs wrk under a command, the same for every target: `WRK_PREFIX="chrt -b 0"` runs it
# as a batch task, so that on a machine where wrk shares the server's cores its wake-ups do not
# preempt the server's workers (BENCHMARKS.md §8.16-§8.17; a change to how the goal is measured,
# reported beside the default, never instead of it).
#
# Results: target/bench/wrk/<target>-<route>-<run>.txt (wrk's own output) and
# target/bench/wrk.md (medians, ratios to the ceiling and durable/memory, non-2xx counts), from
# scripts/bench_wrk_summary.py. Needs wrk (Debian: apt-get install wrk).
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
SECS=${SECONDS_PER_RUN:-10}
THREADS=${WRK_THREADS:-2}
CONNECTIONS=${WRK_CONNECTIONS:-64}
OUT=target/bench/wrk
BIN=${CARGO_TARGET_DIR:-target}/release
CEILING_PORT=${BENCH_CEILING_PORT:-8601}
DURABLE_PORT=${BENCH_DURABLE_PORT:-8602}
MEMORY_PORT=${BENCH_MEMORY_PORT:-8603}
BASELINE_PORT=${BENCH_BASELINE_PORT:-8604}
BASELINE_BIN=${BENCH_BASELINE_BIN:-}
PIDS=()

log() { printf '\n==> %s\n' "$*" >&2; }
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
wait_for() {
  for _ in $(seq 1 200); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done
  echo "timed out waiting for $1" >&2
  return 1
}

command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
# Built one at a time: together, cargo unifies their dependencies' features, and the server
# measured would not be the binary `cargo build --release -p tacos-local` makes (the README's).
cargo build --release -p tacos-local
cargo build --release -p tacos-load
rm -rf "$OUT"; mkdir -p "$OUT"

"$BIN/tacos-load" ceiling --addr "127.0.0.1:$CEILING_PORT" 2>/dev/null &
PIDS+=("$!")
start_local() { # name port store [binary]
  TACOS_STORE=$3 TACOS_DATA_DIR=$OUT/data-$1 TACOS_RATE_LIMIT=off RUST_LOG=${BENCH_RUST_LOG:-info} \
    "${4:-$BIN/tacos-local}" --port "$2" >"$OUT/server-$1.log" 2>&1 &
  PIDS+=("$!")
}
start_local durable "$DURABLE_PORT" durable
start_local memory "$MEMORY_PORT" memory
TARGETS=(durable memory)
[[ -n $BASELINE_BIN ]] && { start_local baseline "$BASELINE_PORT" durable "$BASELINE_BIN"; TARGETS+=(baseline); }
port_of() { case $1 in durable) echo "$DURABLE_PORT" ;; memory) echo "$MEMORY_PORT" ;; baseline) echo "$BASELINE_PORT" ;; ceiling) echo "$CEILING_PORT" ;; esac; }
for target in ceiling "${TARGETS[@]}"; do wait_for "http://127.0.0.1:$(port_of "$target")/healthz"; done

# 1,000 waiting tokens per server, for the status runs; the joins' Lua script.
tokens() { # port
  python3 - "$1" <<'EOF'
import json, sys, urllib.request, uuid
port = sys.argv[1]
tokens = []
for _ in range(1000):
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/queue/join",
        data=json.dumps({"event_id": "evt_demo_ga"}).encode(),
        headers={"Content-Type": "application/json", "Idempotency-Key": str(uuid.uuid4())},
    )
    tokens.append(json.load(urllib.request.urlopen(req))["waiting_token"])
print("tokens = {" + ",".join(f'"{t}"' for t in tokens) + "}")
EOF
}
for target in "${TARGETS[@]}"; do
  port=$(port_of "$target")
  { tokens "$port"; cat <<'EOF'
local i = 0
request = function()
  i = i % #tokens + 1
  return wrk.format("GET", "/api/v1/queue/status?token=" .. tokens[i])
end
EOF
  } > "$OUT/status-$target.lua"
done
# The ceiling answers any path; it gets the same request shape.
cp "$OUT/status-memory.lua" "$OUT/status-ceiling.lua"

run_wrk() { # target port route run
  local script=()
  case $3 in
    status) script=(-s "$OUT/status-$1.lua") ;;
    join) script=(-s scripts/wrk/join.lua) ;;
  esac
  local path=/healthz
  [[ $3 == status || $3 == join ]] && path=/api/v1/queue/$3
  # shellcheck disable=SC2086 # WRK_PREFIX is a command and its arguments.
  ${WRK_PREFIX:-} wrk -t"$THREADS" -c"$CONNECTIONS" -d"${SECS}s" --latency "${script[@]}" \
    "http://127.0.0.1:$2$path" > "$OUT/$1-$3-$4.txt"
  grep -E 'Requests/sec|Non-2xx' "$OUT/$1-$3-$4.txt" | sed "s/^/  $1 $3: /" >&2
}

for run in $(seq 1 "$RUNS"); do
  for route in healthz status join; do
    log "$route, run $run of $RUNS: wrk -t$THREADS -c$CONNECTIONS -d${SECS}s"
    for target in ceiling "${TARGETS[@]}"; do
      run_wrk "$target" "$(port_of "$target")" "$route" "$run"
    done
  done
done
python3 scripts/bench_wrk_summary.py "$OUT" | tee target/bench/wrk.md
