#!/usr/bin/env bash
# The load benchmarks of BENCHMARKS.md, one command each, on the embedded server (release build):
#
#   scripts/bench.sh ceiling   join and status against the ceiling (max rate, same driver, same
#                              concurrency, interleaved), then join vs ceiling at fixed rates
#   scripts/bench.sh flows     complete purchase flows per second, zero failures, ledger checked
#   scripts/bench.sh rush      30,000 buyers shaped like the original's load test
#   scripts/bench.sh memory    peak RSS of the server holding 1,000,000 waiting users
#   scripts/bench.sh smoke     every scenario for a second or two on a debug build (CI runs this)
#   scripts/bench.sh all       ceiling, flows, rush, memory
#
# RUNS (default 3) repeats each measurement; summaries quote medians. BENCH_BIN=DIR runs the
# tacos-local and tacos-load binaries in DIR as they are, without building (an A/B of two builds).
# The server runs with RUST_LOG=warn (no per-request access log; see BENCHMARKS.md). Results:
# target/bench/<name>/*.json (one report per run, `tacos-load --json`), target/bench/<name>.md (the
# summary), and an HTML plot per run. Other benchmarks: scripts/bench_dynamo.sh, scripts/bench_lambda.sh,
# `cargo bench -p tacos-embedded`.
set -euo pipefail
cd "$(dirname "$0")/.."

WHAT=${1:-all}
RUNS=${RUNS:-3}
PORT=${BENCH_PORT:-8600}
CEILING_PORT=${BENCH_CEILING_PORT:-8601}
PROFILE=release
[[ "$WHAT" == smoke ]] && PROFILE=debug
BIN=${BENCH_BIN:-${CARGO_TARGET_DIR:-target}/$PROFILE}
OUT=target/bench
ADMIN_PASSWORD=bench-admin-password
PIDS=()

log() { printf '\n==> %s\n' "$*" >&2; }
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

wait_for() { # url
  for _ in $(seq 1 100); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done
  echo "timed out waiting for $1" >&2
  return 1
}

# Starts the embedded server on $PORT; its pid in SERVER_PID.
start_server() {
  # No per-caller rate limits: the load driver is one address sending thousands of requests a second;
  # for the same reason one address may hold every connection (the driver's and the server's own
  # webhook deliveries all come from 127.0.0.1).
  # A fresh data directory each time: BENCH_STORE=durable (the README's server, the default) or
  # memory.
  rm -rf "$OUT/data"
  TACOS_STORE=${BENCH_STORE:-durable} TACOS_DATA_DIR=$OUT/data \
  TACOS_ADMIN_PASSWORD=$ADMIN_PASSWORD TACOS_DEMO_EVENT=false TACOS_RATE_LIMIT=off RUST_LOG=${BENCH_RUST_LOG:-warn} \
  TACOS_MAX_CONNECTIONS_PER_ADDRESS=${BENCH_CONNECTIONS_PER_ADDRESS:-4096} \
    "$BIN/tacos-local" --port "$PORT" >"$OUT/server.log" 2>&1 &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  wait_for "http://127.0.0.1:$PORT/healthz"
}
stop_server() { kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; }

start_ceiling() {
  "$BIN/tacos-load" ceiling --addr "127.0.0.1:$CEILING_PORT" 2>/dev/null &
  PIDS+=("$!")
  wait_for "http://127.0.0.1:$CEILING_PORT/"
}

# load NAME ARGS...: one driver run, its report in $DIR/NAME.json and a plot beside it.
load() {
  local name=$1
  shift
  "$BIN/tacos-load" run --quiet --json "$DIR/$name.json" --plot "$DIR/$name.html" "$@" \
    > "$DIR/$name.txt"
  tail -n +2 "$DIR/$name.txt" | head -3 >&2
}
server() { echo "--base-url http://127.0.0.1:$PORT --admin-password $ADMIN_PASSWORD"; }
ceiling() { echo "--base-url http://127.0.0.1:$CEILING_PORT --event-id evt_ceiling"; }

bench_ceiling() {
  DIR=$OUT/ceiling; rm -rf "$DIR"; mkdir -p "$DIR"
  start_server; start_ceiling
  local c=${CONCURRENCY:-64} secs=${SECONDS_PER_RUN:-10}
  for run in $(seq 1 "$RUNS"); do
    log "max rate, $c workers, ${secs}s each: run $run of $RUNS"
    load "ceiling-join-$run" $(ceiling) --scenario join --concurrency "$c" --duration "$secs"
    load "join-$run" $(server) --scenario join --concurrency "$c" --duration "$secs"
    load "ceiling-status-$run" $(ceiling) --scenario status --tokens 1 --concurrency "$c" --duration "$secs"
    load "status-$run" $(server) --scenario status --tokens 10000 --concurrency "$c" --duration "$secs"
  done
  for rate in ${RATES:-2000 5000 10000 15000 20000}; do
    for run in $(seq 1 "$RUNS"); do
      log "fixed rate $rate/s, 5s: run $run of $RUNS"
      load "ceiling-join-at-$rate-$run" $(ceiling) --scenario join --rate "$rate" --duration 5
      load "join-at-$rate-$run" $(server) --scenario join --rate "$rate" --duration 5
    done
  done
  stop_server
  python3 scripts/bench_summary.py ceiling "$DIR" | tee "$OUT/ceiling.md"
}

bench_flows() {
  DIR=$OUT/flows; rm -rf "$DIR"; mkdir -p "$DIR"
  start_server
  local c=${CONCURRENCY:-512} secs=${SECONDS_PER_RUN:-10}
  for run in $(seq 1 "$RUNS"); do
    log "purchase flows, max rate, $c buyers at a time, ${secs}s: run $run of $RUNS"
    # Accounts enough for every buyer a max-rate run may start (about 1,500/s) within each
    # account's purchase cap (10 tickets across orders, issue 14): 64 accounts sold out their
    # caps after 640 tickets and every later hold was a 409, and 1,500 after 15,000 tickets once
    # the server bought more than 1,500 a second.
    load "flows-$run" $(server) --scenario purchase --concurrency "$c" --duration "$secs" \
      --poll 100 --accounts "${FLOW_ACCOUNTS:-3000}"
  done
  for run in $(seq 1 "$RUNS"); do
    log "purchase flows at a fixed 1000 buyers/s, ${secs}s: run $run of $RUNS"
    load "flows-at-1000-$run" $(server) --scenario purchase --rate 1000 --duration "$secs" \
      --poll 100 --accounts 64
  done
  stop_server
  python3 scripts/bench_summary.py flows "$DIR" | tee "$OUT/flows.md"
}

bench_rush() {
  DIR=$OUT/rush; rm -rf "$DIR"; mkdir -p "$DIR"
  for run in $(seq 1 "$RUNS"); do
    start_server
    log "30,000 buyers arriving at 1,000/s, polling every 2-4 s, 20,000 tickets: run $run of $RUNS"
    load "rush-$run" $(server) --scenario purchase --count 30000 --rate 1000 \
      --poll 2000-4000 --tickets 20000 --admission-rate 1000 --accounts 64 --patience 600
    stop_server
  done
  python3 scripts/bench_summary.py rush "$DIR" | tee "$OUT/rush.md"
}

bench_memory() {
  DIR=$OUT/memory; rm -rf "$DIR"; mkdir -p "$DIR"
  for run in $(seq 1 "$RUNS"); do
    start_server
    grep -E 'VmRSS' "/proc/$SERVER_PID/status" | awk '{print $2}' > "$DIR/idle-kib-$run"
    log "1,000,000 anonymous joins, 64 workers: run $run of $RUNS"
    load "memory-$run" $(server) --scenario join --count 1000000 --concurrency 64
    grep -E 'VmHWM' "/proc/$SERVER_PID/status" | awk '{print $2}' > "$DIR/peak-kib-$run"
    grep -E 'VmRSS' "/proc/$SERVER_PID/status" | awk '{print $2}' > "$DIR/rss-kib-$run"
    stop_server
    # Disk used by the durable store's data directory, once the server has stopped (its last
    # connection checkpoints the log into the database file).
    if [[ -d "$OUT/data" ]]; then du -sb "$OUT/data" | awk '{print $1}' > "$DIR/disk-bytes-$run"; fi
  done
  python3 scripts/bench_summary.py memory "$DIR" | tee "$OUT/memory.md"
}

# Seconds, on the debug build the tests already made: every scenario and the ceiling, strict.
bench_smoke() {
  DIR=$OUT/smoke; rm -rf "$DIR"; mkdir -p "$DIR"
  start_server; start_ceiling
  load ceiling-join $(ceiling) --scenario join --concurrency 4 --duration 1 --strict
  load join $(server) --scenario join --concurrency 4 --duration 1 --strict
  load status $(server) --scenario status --tokens 50 --rate 200 --duration 1 --strict
  load purchase $(server) --scenario purchase --rate 40 --count 40 --poll 50 --accounts 2 \
    --tickets 30 --strict
  stop_server
  python3 scripts/bench_summary.py smoke "$DIR"
}

mkdir -p "$OUT"
if [[ -n "${BENCH_BIN:-}" ]]; then
  : # the binaries as they are
elif [[ "$PROFILE" == release ]]; then
  cargo build --release -p tacos-local -p tacos-load
else
  # `--workspace` resolves features as `cargo test --workspace` does, so after the test run (CI)
  # this builds nothing; `-p` alone would rebuild dozens of crates with other features.
  cargo build --workspace --bin tacos-local --bin tacos-load
fi
case "$WHAT" in
  ceiling) bench_ceiling ;;
  flows) bench_flows ;;
  rush) bench_rush ;;
  memory) bench_memory ;;
  smoke) bench_smoke ;;
  all) bench_ceiling; bench_flows; bench_rush; bench_memory ;;
  *) echo "usage: $0 ceiling|flows|rush|memory|smoke|all" >&2; exit 2 ;;
esac
