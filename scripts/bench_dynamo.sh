#!/usr/bin/env bash
# DynamoDB cost per sold ticket, and the hottest items at 30k joins/s, measured on moto (issue 4).
#
#   scripts/bench_dynamo.sh            # prints markdown tables, writes target/bench/dynamo.json
#
# Starts (and stops on exit) everything it needs: moto_server with its request log
# (scripts/moto_serial.py, MOTO_REQUEST_LOG), the resources of template.yaml (aws_setup.py),
# `tacos-container http` with the AWS settings (64 queue shards, 250 ms queue views),
# `tacos-container lambda` playing payment-simulator, expire and payment-followup behind a small
# Lambda runtime API (scripts/dynamo_cost.py lambda-api), and scripts/aws_emulator.py firing the
# schedules and feeding the SQS follow-up queue to them. Then scripts/dynamo_cost.py runs
# BUYERS complete purchase flows phase by phase (a mark in the log before each), HOT_JOINS joins
# and HOT_STATUSES statuses on a second event, and counts.
#
# Settings (environment): BUYERS (100), HOT_JOINS (500), HOT_STATUSES (500), CONCURRENCY (16),
# MOTO_PORT (5085), CONTAINER_PORT (9285), LAMBDA_PORT (9286; runtimes on the next 3 ports),
# BENCH_NO_BUILD=1 to use the built target/debug/tacos-container as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

BUYERS=${BUYERS:-100}
HOT_JOINS=${HOT_JOINS:-500}
HOT_STATUSES=${HOT_STATUSES:-500}
CONCURRENCY=${CONCURRENCY:-16}
MOTO_PORT=${MOTO_PORT:-5085}
CONTAINER_PORT=${CONTAINER_PORT:-9285}
LAMBDA_PORT=${LAMBDA_PORT:-9286}
OUT=target/bench
LOGS=$OUT/dynamo-logs
REQUEST_LOG=$OUT/dynamo-requests.jsonl
mkdir -p "$OUT" "$LOGS"

log() { printf '==> %s\n' "$*" >&2; }
trap stop_started EXIT

if [[ "${BENCH_NO_BUILD:-}" != 1 ]]; then
  log "build: tacos-container"
  cargo build -p tacos-container --features lambda >&2
fi
BIN=target/debug/tacos-container

log "moto on :$MOTO_PORT with its request log ($REQUEST_LOG)"
scripts/moto.sh stop "$MOTO_PORT" >/dev/null 2>&1 || true
rm -f "$REQUEST_LOG"
MOTO_REQUEST_LOG=$PWD/$REQUEST_LOG scripts/moto.sh start "$MOTO_PORT" >&2
export AWS_ENDPOINT_URL=http://127.0.0.1:$MOTO_PORT AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
eval "$(python3 scripts/aws_setup.py --endpoint-url "$AWS_ENDPOINT_URL" --prefix tacos 2>"$LOGS/setup.log")"

export TACOS_JWT_SECRET=bench-jwt-secret TACOS_WEBHOOK_SECRET=bench-webhook-secret
export TACOS_ADMIN_USERNAME=admin TACOS_ADMIN_PASSWORD=bench-admin-password
# As on AWS (template.yaml): 64 join counters, 250 ms queue views, 60 s holds.
export TACOS_QUEUE_SHARDS=64 TACOS_STOCK_SHARDS=16 TACOS_QUEUE_VIEW_MS=250 TACOS_QUEUE_ADVANCE_MS=200 TACOS_HOLD_SECONDS=60
# No per-caller rate limits: the load driver is one address (AWS limits by API Gateway and WAF).
export TACOS_RATE_LIMIT=off
export TACOS_PUBLIC_URL=http://127.0.0.1:$CONTAINER_PORT RUST_LOG=${RUST_LOG:-warn}
AWS_SDK_UA_APP_ID=seed "$BIN" seed >"$LOGS/seed.log" 2>&1

log "container on :$CONTAINER_PORT; functions behind the Lambda API on :$LAMBDA_PORT; AWS emulator"
PORT=$CONTAINER_PORT TACOS_HOST=127.0.0.1 TACOS_FUNCTION_CONCURRENCY=16 AWS_SDK_UA_APP_ID=http \
  "$BIN" http >"$LOGS/container.log" 2>&1 &
PIDS+=($!)
python3 scripts/dynamo_cost.py lambda-api --invoke-port "$LAMBDA_PORT" \
  --function payment-simulator=$((LAMBDA_PORT + 1)) --function expire=$((LAMBDA_PORT + 2)) \
  --function payment-followup=$((LAMBDA_PORT + 3)) >"$LOGS/lambda-api.log" 2>&1 &
PIDS+=($!)
wait_for "http://127.0.0.1:$LAMBDA_PORT/" 20
start_function() { # name, runtime port
  AWS_LAMBDA_RUNTIME_API=127.0.0.1:$2 AWS_LAMBDA_FUNCTION_NAME=tacos-$1 AWS_LAMBDA_FUNCTION_MEMORY_SIZE=512 \
    AWS_LAMBDA_FUNCTION_VERSION='$LATEST' AWS_LAMBDA_LOG_STREAM_NAME=bench AWS_LAMBDA_LOG_GROUP_NAME=/bench/$1 \
    TACOS_FUNCTION=$1 AWS_SDK_UA_APP_ID=$1 "$BIN" lambda >>"$LOGS/$1.log" 2>&1 &
  PIDS+=($!)
}
# Two simulators: the settle jobs of a phase all fall due within the same couple of seconds.
start_function payment-simulator $((LAMBDA_PORT + 1))
start_function payment-simulator $((LAMBDA_PORT + 1))
start_function expire $((LAMBDA_PORT + 2))
start_function payment-followup $((LAMBDA_PORT + 3))
python3 scripts/aws_emulator.py --endpoint-url "$AWS_ENDPOINT_URL" --watch "http://127.0.0.1:$LAMBDA_PORT" \
  --group "$TACOS_SCHEDULE_GROUP" --queue-url "$TACOS_FOLLOWUP_QUEUE_URL" >"$LOGS/emulator.log" 2>&1 &
PIDS+=($!)
wait_for "http://127.0.0.1:$CONTAINER_PORT/healthz" 60

log "flows: $BUYERS purchases, then $HOT_JOINS joins and $HOT_STATUSES statuses on a second event"
python3 scripts/dynamo_cost.py flows --base-url "http://127.0.0.1:$CONTAINER_PORT" \
  --moto "$AWS_ENDPOINT_URL" --log "$REQUEST_LOG" --buyers "$BUYERS" --hot-joins "$HOT_JOINS" \
  --hot-statuses "$HOT_STATUSES" --concurrency "$CONCURRENCY" --admin-password "$TACOS_ADMIN_PASSWORD" \
  --out "$OUT/dynamo-flows.json"

python3 scripts/dynamo_cost.py analyze --log "$REQUEST_LOG" --flows "$OUT/dynamo-flows.json" \
  --json "$OUT/dynamo.json"
log "wrote $OUT/dynamo.json (request log $REQUEST_LOG)"
