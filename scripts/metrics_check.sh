#!/usr/bin/env bash
# "/metrics exposes the operator's series with real values after a load run", checked end to end
# on the embedded server (debug build, the one the tests build):
#
#  1. starts `tacos-local` on $METRICS_PORT (default 8210) with the demo events;
#  2. scrapes /metrics every 200 ms in the background (the largest queue length and admission
#     rate seen during the rush);
#  3. runs a small purchase rush with the load driver (`tacos-load`, the driver of
#     scripts/bench.sh): 40 buyers at 40/s for 30 tickets, admitted at 10/s so that a line forms,
#     each joining, polling, entering, holding, paying and waiting for the webhook's confirmation;
#  4. makes two buyers race for one seat of the demo event (one is refused: an oversell attempt);
#  5. scrapes once more and fails unless every series is there with the values the run must have
#     produced, and every metric the Grafana dashboard queries is in the scrape
#     (scripts/metrics_check.py). Output in target/metrics-check/.
set -euo pipefail
cd "$(dirname "$0")/.."

PORT=${METRICS_PORT:-8210}
BASE=http://127.0.0.1:$PORT
OUT=target/metrics-check
BIN=${CARGO_TARGET_DIR:-target}/debug
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT
mkdir -p "$OUT"

# `--workspace`: the feature set of `cargo test --workspace`, so nothing is rebuilt.
cargo build --quiet --workspace --bin tacos-local --bin tacos-load

rm -rf "$OUT/data"
TACOS_DATA_DIR=$OUT/data TACOS_ADMIN_PASSWORD=metrics-admin-password TACOS_RATE_LIMIT=off RUST_LOG=warn \
  "$BIN/tacos-local" --port "$PORT" >"$OUT/server.log" 2>&1 &
PIDS+=("$!")
for _ in $(seq 1 100); do curl -s -o /dev/null "$BASE/healthz" && break; sleep 0.1; done

python3 scripts/metrics_check.py --base-url "$BASE" watch "$OUT/watched.json" &
WATCH=$!
PIDS+=("$WATCH")

"$BIN/tacos-load" run --base-url "$BASE" --admin-password metrics-admin-password \
  --scenario purchase --rate 40 --count 40 --poll 50 --accounts 2 --tickets 30 \
  --admission-rate 10 --strict --quiet --json "$OUT/load.json"
kill "$WATCH"; wait "$WATCH" 2>/dev/null || true

python3 scripts/metrics_check.py --base-url "$BASE" oversell
curl -s "$BASE/metrics" >"$OUT/metrics.txt"
python3 scripts/metrics_check.py --base-url "$BASE" check --watched "$OUT/watched.json" \
  --dashboard deploy/grafana/traffic-tacos.json
