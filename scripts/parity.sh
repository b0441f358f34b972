#!/usr/bin/env bash
# Parity: the black-box HTTP suite, unchanged, against the serverless deployment on this machine.
#
#   (b) the real function binaries under `cargo lambda watch`, behind tacos-gateway (an
#       API-Gateway-style router), with moto_server as DynamoDB, Scheduler, EventBridge, SQS and
#       Secrets Manager (the functions read their secrets from it, as on AWS), and
#       scripts/aws_emulator.py firing due schedules at `expire` / `payment-simulator` and
#       feeding the SQS follow-up queue to `payment-followup`, with real event payloads. `ops`
#       runs as the container binary in its Lambda mode (`tacos-container lambda`,
#       TACOS_FUNCTION=ops: the template's container-image variant) under the same runtime API.
#       Before the suite, every function is invoked with its fixtures (events/) through
#       `cargo lambda invoke` and each answer checked (scripts/invoke_fixtures.sh);
#   (c) the container binary's HTTP mode (`tacos-container http`) on the same moto, with its
#       worker mode (`tacos-container worker`) draining the follow-up queue instead of
#       payment-followup, as in the cluster; the worker's /metrics must count the sales.
#
# (a), the embedded server, is the plain `cargo test` run in scripts/test.sh.
# `scripts/parity.sh --serve` starts the same stack and keeps it up instead of testing it.
# Everything started here is stopped on exit. Ports: moto 5055, watch 9000, gateway 9100,
# container 9200, worker 9210 (override with MOTO_PORT, WATCH_PORT, GATEWAY_PORT, CONTAINER_PORT,
# WORKER_PORT).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

MOTO_PORT=${MOTO_PORT:-5055}
WATCH_PORT=${WATCH_PORT:-9000}
GATEWAY_PORT=${GATEWAY_PORT:-9100}
CONTAINER_PORT=${CONTAINER_PORT:-9200}
WORKER_PORT=${WORKER_PORT:-9210}
LOGS=target/parity
mkdir -p "$LOGS"

log() { printf '\n==> [%s +%ds] %s\n' "$(date -u +%H:%M:%S)" "$SECONDS" "$*"; }
cleanup() {
  stop_started
  # `cargo lambda watch` runs cargo-lambda as a child of the cargo it was started as: stop this
  # run's own watch (its invoke port), not another on the machine.
  pkill -f "cargo-lambda lambda watch.*--invoke-port $WATCH_PORT" 2>/dev/null || true
}
trap cleanup EXIT

log "tools: moto, cargo-lambda"
command -v moto_server >/dev/null || python3 -m pip install --quiet --disable-pip-version-check 'moto[server]'
command -v cargo-lambda >/dev/null || python3 -m pip install --quiet --disable-pip-version-check cargo-lambda

log "build: every function, the container binary, the gateway"
FUNCTIONS=$(ls functions)
build_stack
# The suite's binary too: nothing may compile (and hold cargo's lock) while the functions run.
cargo test -p tacos-tests --test blackbox --no-run

log "moto on :$MOTO_PORT and the resources of template.yaml"
scripts/moto.sh start "$MOTO_PORT"
export AWS_ENDPOINT_URL=http://127.0.0.1:$MOTO_PORT AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
eval "$(python3 scripts/aws_setup.py --endpoint-url "$AWS_ENDPOINT_URL" --prefix tacos)"
# The WebSocket functions post frames to the API's management endpoint; moto serves that API at
# its root (`/@connections/{id}`, no stage).
export TACOS_WS_MANAGEMENT_URL=$AWS_ENDPOINT_URL

export TACOS_JWT_SECRET=parity-jwt-secret TACOS_WEBHOOK_SECRET=parity-webhook-secret
export TACOS_ADMIN_USERNAME=admin TACOS_ADMIN_PASSWORD=parity-admin-password
# The same secrets in moto's Secrets Manager: the functions of (b) are given only the references
# (TACOS_*_ARN) and read them at their cold start, as on AWS; the suite, the container and the
# seed below keep the plain values (a local run's way).
mapfile -t SECRET_REFS < <(python3 scripts/aws_setup.py --endpoint-url "$AWS_ENDPOINT_URL" --prefix tacos --secrets-from-env |
  sed -n 's/^export \(TACOS_\(JWT_SECRET\|WEBHOOK_SECRET\|ADMIN_PASSWORD\)_ARN\)=/\1=/p' | tr -d "'")
((${#SECRET_REFS[@]} == 3)) || { echo "aws_setup.py made ${#SECRET_REFS[@]} secrets, not 3" >&2; exit 1; }
# Holds of 20 s: Scheduler takes no `at()` closer than a few seconds ahead (tacos-aws MIN_LEAD), and
# in the 500-buyer rush the payment → webhook → EventBridge → SQS → follow-up chain, all on one
# moto, takes seconds. Queue views of 1 s (250 ms on AWS): every function instance (~90 here)
# reads the queue's state, counters and inventory once per window, and at 250 ms those reads took
# about a third of what one single-threaded moto can answer, enough to time out joins in the rush.
export TACOS_HOLD_SECONDS=${TACOS_HOLD_SECONDS:-20} TACOS_QUEUE_SHARDS=1
# Holds being paid wait for their payment until expiry + this (default 120 s): long enough for the
# `delay` scenario's approval to travel the moto chain, short enough for the suite's waits.
export TACOS_PAYMENT_GRACE_SECONDS=${TACOS_PAYMENT_GRACE_SECONDS:-15}
export TACOS_QUEUE_VIEW_MS=${TACOS_QUEUE_VIEW_MS:-1000}
export TACOS_PUBLIC_URL=http://127.0.0.1:$GATEWAY_PORT RUST_LOG=${RUST_LOG:-warn}
# The suite calls from one address and its crowd tests register and poll by the hundred: a generous
# default bucket and registration, login at its production limit (the limit test floods it).
export TACOS_RATE_LIMIT=${TACOS_RATE_LIMIT:-10000/20000}
# moto answers one request at a time; in the 500-buyer rush a call may wait longer than the 9 s
# that bounds one on DynamoDB (it answered 503 there): give the emulator room.
export TACOS_AWS_OPERATION_TIMEOUT_MS=${TACOS_AWS_OPERATION_TIMEOUT_MS:-60000}
export TACOS_RATE_LIMIT_ROUTES=${TACOS_RATE_LIMIT_ROUTES:-POST /api/v1/auth/register=10000/20000}
target/debug/tacos-container seed

log "cargo lambda watch on :$WATCH_PORT, the function instances, gateway on :$GATEWAY_PORT, AWS emulator"
# cargo lambda watch serves the Lambda Invoke and Runtime APIs; the function instances are the
# built binaries, started here against its runtime API the way Lambda starts them (one event at a
# time each). Letting `cargo lambda watch` start them instead gives every instance a watchexec
# process with its own recursive inotify watch of the workspace (target/ included): ~90 of them
# exhaust the machine's inotify watches, an instance that cannot watch dies, and the request it
# held answers 500 (a clean CI run failed so). `--only-lambda-apis` starts no watcher at all.
cargo lambda watch --only-lambda-apis --invoke-address 127.0.0.1 \
  --invoke-port "$WATCH_PORT" >"$LOGS/watch.log" 2>&1 &
PIDS+=($!)
wait_for_port "$WATCH_PORT" 300

# One supervised instance: restarted if it exits, as Lambda replaces a crashed execution
# environment. Its output goes to the function's log.
# `ops` is played by the container binary in its Lambda mode, as the template's image variant is.
CONTAINER_FUNCTION=${CONTAINER_FUNCTION:-ops}
run_instance() {
  local f=$1 child= binary=target/debug/$1
  [[ $f == "$CONTAINER_FUNCTION" ]] && binary=target/debug/tacos-container
  trap 'kill $child 2>/dev/null; exit 0' TERM
  while true; do
    env -u TACOS_JWT_SECRET -u TACOS_WEBHOOK_SECRET -u TACOS_ADMIN_PASSWORD "${SECRET_REFS[@]}" \
      TACOS_MODE=lambda TACOS_FUNCTION="$f" \
      AWS_LAMBDA_RUNTIME_API="http://127.0.0.1:$WATCH_PORT/.rt/$f" AWS_LAMBDA_FUNCTION_NAME="$f" \
      AWS_LAMBDA_FUNCTION_VERSION=1 AWS_LAMBDA_FUNCTION_MEMORY_SIZE=1024 "$binary" &
    child=$!
    wait "$child" || true
    echo "instance of $f exited; restarting" >&2
    sleep 0.5
  done
}
# Eight for `queue-join`, where the 500-buyer rush arrives in one second and Lambda would scale
# out: the slowest join took 11.3 and 10.7 s with eight, 14.2 and 14.4 with four (runs in turn).
INSTANCES=${WATCH_CONCURRENCY:-4}
JOIN_INSTANCES=${JOIN_INSTANCES:-8}
for f in $FUNCTIONS; do
  n=$INSTANCES
  [[ $f == queue-join ]] && n=$JOIN_INSTANCES
  for _ in $(seq "$n"); do
    run_instance "$f" >>"$LOGS/$f.log" 2>&1 &
    PIDS+=($!)
  done
done

target/debug/tacos-gateway --port "$GATEWAY_PORT" --watch "http://127.0.0.1:$WATCH_PORT" >"$LOGS/gateway.log" 2>&1 &
PIDS+=($!)
# The emulator fires due schedules, and with --queue-url feeds the follow-up queue to
# payment-followup as Lambda's event source mapping would.
start_emulator() {
  python3 scripts/aws_emulator.py --endpoint-url "$AWS_ENDPOINT_URL" --watch "http://127.0.0.1:$WATCH_PORT" \
    --group "$TACOS_SCHEDULE_GROUP" "$@" >>"$LOGS/emulator.log" 2>&1 &
  EMULATOR=$!
  PIDS+=($!)
}
start_emulator --queue-url "$TACOS_FOLLOWUP_QUEUE_URL"
wait_for "http://127.0.0.1:$GATEWAY_PORT/healthz" 60

start_container() {
  # 16 per function, as the gateway lets through to each function in (b).
  PORT=$CONTAINER_PORT TACOS_HOST=127.0.0.1 TACOS_FUNCTION_CONCURRENCY=16 target/debug/tacos-container http >"$LOGS/container.log" 2>&1 &
  PIDS+=($!)
  wait_for "http://127.0.0.1:$CONTAINER_PORT/healthz" 60
}

if [[ "${1:-}" == "--serve" ]]; then
  start_container
  log "serving: functions behind http://127.0.0.1:$GATEWAY_PORT, container on http://127.0.0.1:$CONTAINER_PORT (Ctrl-C stops)"
  wait
fi

# Which deployments to test: b (functions), c (container); both by default.
TARGETS=${PARITY_TARGETS:-b c}
# Which tests (a libtest filter, e.g. `race`): all by default.
PARITY_FILTER=${PARITY_FILTER:-}
# Tests at a time after the rush tests: the rest of the suite mostly waits on timers (holds, turns,
# token lifetimes), and six took (b) from 163 to 74 s and (c) from 184 to 75 s here.
SUITE_THREADS=${SUITE_THREADS:-6}
status=0
# The black-box suite against one deployment: the rush tests first and one at a time, then the
# rest SUITE_THREADS at a time (or only the tests PARITY_FILTER names, one at a time). First, on a table that
# holds little yet; one at a time, because each rush is a scenario of its own that brings this
# two-core machine to its limit alone (500 buyers polling every 200-500 ms through one
# single-threaded moto): two at once, each buyer's join waited behind the other rush's too, and
# joins timed out at the client's 30 s depending only on how the two tests happened to overlap.
suite() {
  local base_url=$1 rc=0
  shift
  if [[ -z "$PARITY_FILTER" ]]; then
    env "$@" TACOS_BASE_URL="$base_url" cargo test -p tacos-tests --test blackbox -- race:: --test-threads=1 || rc=1
    env "$@" TACOS_BASE_URL="$base_url" cargo test -p tacos-tests --test blackbox -- --skip race:: --test-threads="$SUITE_THREADS" || rc=1
  else
    env "$@" TACOS_BASE_URL="$base_url" cargo test -p tacos-tests --test blackbox -- $PARITY_FILTER --test-threads=1 || rc=1
  fi
  return $rc
}
if [[ " $TARGETS " == *" b "* ]]; then
  log "(b) every function invoked with its fixtures through cargo lambda invoke (scripts/invoke_fixtures.sh)"
  scripts/invoke_fixtures.sh --invoke-port "$WATCH_PORT" --keep "$LOGS/fixtures" || status=1
  log "(b) black-box suite against the functions under cargo lambda watch"
  suite "http://127.0.0.1:$GATEWAY_PORT" || status=1
  # What the gateway tried again for cargo lambda watch (tests/src/bin/gateway.rs), in this log too.
  if grep -q "of [0-9]*: \(tried again\|given up\)$" "$LOGS/gateway.log"; then
    log "(b) requests cargo lambda watch failed or lost, as the gateway logged them:"
    grep "of [0-9]*: \(tried again\|given up\)$" "$LOGS/gateway.log" | sed 's/^/    /'
  fi
fi
if [[ " $TARGETS " == *" c "* ]]; then
  log "(c) black-box suite against the container: HTTP mode, and worker mode draining the follow-up queue"
  # The cluster's shape: the container's worker, not payment-followup, confirms paid holds, so
  # every approval of the suite goes webhook → EventBridge → SQS → worker. Short polls: moto
  # serves a long poll by sleeping inside the request, which would stall every other request.
  kill "$EMULATOR" && wait "$EMULATOR" 2>/dev/null || true
  start_emulator
  TACOS_WORKER_POLL_SECONDS=0 TACOS_WORKER_PORT=$WORKER_PORT TACOS_HOST=127.0.0.1 \
    target/debug/tacos-container worker >"$LOGS/worker.log" 2>&1 &
  PIDS+=($!)
  wait_for "http://127.0.0.1:$WORKER_PORT/healthz" 60
  # The container serves the web app too (the functions do not): its tests run, and its
  # /config.json must say what the container was given.
  export TACOS_WEB_WS_URL=wss://live.parity.test/ws
  start_container
  suite "http://127.0.0.1:$CONTAINER_PORT" TACOS_SERVES_WEB_APP=1 || status=1
  # The worker made the suite's sales, and says so on its own /metrics.
  confirmed=$(curl -sf "http://127.0.0.1:$WORKER_PORT/metrics" |
    awk '/^reservation_status_total\{status="CONFIRMED"\}/ { print $2 }')
  if [[ -z $PARITY_FILTER ]] && ! awk -v n="${confirmed:-0}" 'BEGIN { exit !(n > 0) }'; then
    echo "the worker confirmed nothing (reservation_status_total CONFIRMED: ${confirmed:-none}); $LOGS/worker.log" >&2
    status=1
  else
    log "the worker confirmed ${confirmed:-0} paid holds"
  fi
fi
if ((status == 0)); then
  log "parity: the suite passed against every target ($TARGETS)"
else
  log "parity: the suite FAILED against at least one target ($TARGETS); logs in $LOGS"
fi
exit $status
