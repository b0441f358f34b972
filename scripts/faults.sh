#!/usr/bin/env bash
# Faults on the AWS-protocol stack: the store going away mid-flow, and coming back.
#
#   scripts/faults.sh          # short: 16 buyers, one outage (~1 min once built)
#   scripts/faults.sh --long   # long: 120 buyers, five outages (TACOS_FAULTS_LONG=1; ~1-2 min)
#   TACOS_FAULTS_BUYERS=n TACOS_FAULTS_OUTAGES=k scripts/faults.sh   # any size
#
# Starts, on free ports, its own moto (scripts/moto_serial.py with MOTO_STATE_FILE, so stopping it
# with SIGTERM snapshots DynamoDB, Scheduler, EventBridge and SQS and starting it loads them back,
# as durable as the real services), the resources of template.yaml (scripts/aws_setup.py), the
# container's HTTP mode on it, and scripts/aws_emulator.py (due schedules → `expire` /
# `payment-simulator`, the SQS follow-up queue → `payment-followup`). First it checks that the
# snapshot round-trips (scripts/moto_state_check.py: an item, a schedule, a queued message, the bus
# rule). Then the driver, tests/tests/aws/faults.rs, serves those three functions' invoke API with
# their own handlers (losing every third ack, delivering every SQS batch twice), drives buyers,
# stops moto mid-flow, checks that requests get 503 UNAVAILABLE with Retry-After within a bound,
# starts moto again, lets the buyers finish with their Idempotency-Keys and the holds expire, and
# checks the ledger over HTTP. It prints "faults injected: N, ..., sales lost: 0, sales
# duplicated: 0", also written to target/faults/summary.txt. Everything started here is stopped on
# exit.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

[[ "${1:-}" == "--long" ]] && export TACOS_FAULTS_LONG=1
LOGS=target/faults
mkdir -p "$LOGS"
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
MOTO_PORT=${FAULTS_MOTO_PORT:-$(free_port)}
CONTAINER_PORT=$(free_port)
INVOKE_PORT=$(free_port)
export MOTO_STATE_FILE="$PWD/$LOGS/moto-$MOTO_PORT.state"
rm -f "$MOTO_STATE_FILE"

log() { printf '\n==> [%s +%ds] %s\n' "$(date -u +%H:%M:%S)" "$SECONDS" "$*"; }
cleanup() {
  stop_started
  rm -f "$MOTO_STATE_FILE"
}
trap cleanup EXIT

log "build: the container (with the functions, as parity builds them) and the aws test binary"
build_stack   # the container with parity's features: one build serves both
cargo test --workspace --test aws --no-run

log "moto on :$MOTO_PORT with its state in $MOTO_STATE_FILE, and the resources of template.yaml"
scripts/moto.sh start "$MOTO_PORT"
export AWS_ENDPOINT_URL=http://127.0.0.1:$MOTO_PORT AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
eval "$(python3 scripts/aws_setup.py --endpoint-url "$AWS_ENDPOINT_URL" --prefix tacos 2>/dev/null)"

log "moto's snapshot survives a restart"
probe() {
  python3 scripts/moto_state_check.py "$1" --endpoint-url "$AWS_ENDPOINT_URL" --table "$TACOS_TABLE" \
    --group "$TACOS_SCHEDULE_GROUP" --queue-url "$TACOS_FOLLOWUP_QUEUE_URL" --bus "$TACOS_EVENT_BUS"
}
probe write
scripts/moto.sh stop "$MOTO_PORT"
scripts/moto.sh start "$MOTO_PORT"
probe check

export TACOS_JWT_SECRET=faults-jwt-secret TACOS_WEBHOOK_SECRET=faults-webhook-secret
export TACOS_DEMO_EVENT=false TACOS_QUEUE_SHARDS=1 RUST_LOG=${RUST_LOG:-warn}
# The driver is one address playing many buyers; per-caller limits are tested by the suites.
export TACOS_RATE_LIMIT=off
# Holds long enough for most purchases to get through an outage, short enough to watch the rest
# expire (Scheduler takes no at() closer than 5 s ahead).
export TACOS_HOLD_SECONDS=${TACOS_HOLD_SECONDS:-15}
# A hold being paid is kept past its expiry until its payment's deadline (default 120 s); short
# here, so every hold settles within the test's bound (its expiry plus 90 s).
export TACOS_PAYMENT_GRACE_SECONDS=${TACOS_PAYMENT_GRACE_SECONDS:-10}
export TACOS_PUBLIC_URL=http://127.0.0.1:$CONTAINER_PORT

log "container (HTTP mode) on :$CONTAINER_PORT, AWS emulator invoking :$INVOKE_PORT"
PORT=$CONTAINER_PORT TACOS_HOST=127.0.0.1 TACOS_FUNCTION_CONCURRENCY=16 target/debug/tacos-container http \
  >"$LOGS/container.log" 2>&1 &
PIDS+=($!)
python3 scripts/aws_emulator.py --endpoint-url "$AWS_ENDPOINT_URL" --watch "http://127.0.0.1:$INVOKE_PORT" \
  --group "$TACOS_SCHEDULE_GROUP" --queue-url "$TACOS_FOLLOWUP_QUEUE_URL" >"$LOGS/emulator.log" 2>&1 &
PIDS+=($!)
wait_for "http://127.0.0.1:$CONTAINER_PORT/healthz" 60

log "the driver: buyers, moto stopped and restarted mid-flow, the ledger"
started=$SECONDS
set +e
TACOS_FAULTS_BASE_URL=http://127.0.0.1:$CONTAINER_PORT TACOS_FAULTS_MOTO_PORT=$MOTO_PORT \
  TACOS_FAULTS_INVOKE_PORT=$INVOKE_PORT \
  cargo test -q --workspace --test aws faults:: -- --nocapture --test-threads 1 >"$LOGS/driver.log" 2>&1
status=$?
set -e
grep -v '^{"_aws"' "$LOGS/driver.log" | grep -E 'fault:|VIOLATION|panicked|sales lost|test result' || true
summary=$(grep -E '^faults injected' "$LOGS/driver.log" || true)
echo "${summary:-no summary: the driver failed before the ledger; see $LOGS/driver.log}" >"$LOGS/summary.txt"
mode=short
[[ -n "${TACOS_FAULTS_LONG:-}" ]] && mode=long
echo "driver took $((SECONDS - started)) s (mode: $mode)" | tee -a "$LOGS/summary.txt"
if ((status != 0)); then
  echo "faults: FAILED; logs in $LOGS (driver.log, container.log, emulator.log, target/moto-$MOTO_PORT.log)" >&2
  exit 1
fi
log "faults: passed ($summary)"
