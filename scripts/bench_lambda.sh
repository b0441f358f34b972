#!/usr/bin/env bash
# Lambda readiness (issue 4): release arm64 binary size per function, cold start and warm handler
# time, in one command. Goals: every function < 20 MB, cold start < 50 ms.
#
#   scripts/bench_lambda.sh              # build, measure everything, print markdown tables
#   scripts/bench_lambda.sh --no-build   # reuse target/lambda and target/lambda-x86_64
#   scripts/bench_lambda.sh --no-watch   # skip the `cargo lambda watch` contrast figures
#
# What it does (details and definitions in scripts/bench_lambda.py):
#   1. `cargo lambda build --release --arm64` of every function (cargo-lambda's strip and panic
#      abort, neoverse-n1; the workspace's [profile.release]: no LTO, 16 codegen units)
#      -> target/lambda/<name>/bootstrap,
#      and an x86_64 release build of the functions it runs -> target/lambda-x86_64/<name>/bootstrap,
#      since arm64 binaries do not run on this machine (X86_BUILD=lambda: with cargo-lambda's profile);
#   2. sizes of the arm64 bootstraps and of their deployment zips;
#   3. moto on $MOTO_PORT (default 5075) with the resources of scripts/aws_setup.py, then each
#      sampled function's x86_64 release binary exec'd by hand against a Lambda Runtime API stub:
#      cold start = exec -> first response posted (median of $RUNS, default 7), and warm handler time
#      (ops GET /healthz x300, queue-join x60; median/p95), with real events and real state
#      (a GA event, users, holds and payment intents made through the functions themselves);
#   4. for contrast, the first invocation under `cargo lambda watch` on $WATCH_PORT (default 9075),
#      which runs cargo and the debug binary: not the function's cold start;
#   5. target/bench/lambda.json and markdown tables on stdout.
#
# Ports are the bench's own (moto 5075, watch 9075), away from parity.sh's 5055/9000.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=1
WATCH=1
for arg in "$@"; do
  case "$arg" in
    --no-build) BUILD=0 ;;
    --no-watch) WATCH=0 ;;
    *) echo "usage: $0 [--no-build] [--no-watch]" >&2; exit 2 ;;
  esac
done
RUNS=${RUNS:-7}
WATCH_RUNS=${WATCH_RUNS:-5}
MOTO_PORT=${MOTO_PORT:-5075}
WATCH_PORT=${WATCH_PORT:-9075}
SAMPLE=${FUNCTIONS:-ops,queue-join,reserve,payment-webhook,expire}
OUT=target/bench
mkdir -p "$OUT"
# What scripts/bench_lambda.py's fixture makes its state with (admin, event, users, holds, intents).
HELPERS="auth-login admin-create-event auth-register queue-join queue-enter reserve payment-intent"
ALL=$(ls functions)
PKGS=$(for f in $ALL; do printf -- '-p %s ' "$f"; done)

log() { printf '\n==> %s\n' "$*" >&2; }
# The functions measured here are invoked from one address far faster than a caller may.
export TACOS_RATE_LIMIT=off

cleanup() { scripts/moto.sh stop "$MOTO_PORT" >/dev/null 2>&1 || true; }
trap cleanup EXIT

log "tools"
command -v cargo-lambda >/dev/null || python3 -m pip install --quiet --disable-pip-version-check cargo-lambda
if ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
  rustup target add aarch64-unknown-linux-gnu
fi

if ((BUILD)); then
  log "release build, arm64 (the deployment artifacts): target/lambda/<name>/bootstrap"
  # shellcheck disable=SC2086
  CARGO_LAMBDA_GLOBAL=cargo-lambda.toml cargo lambda build --release --arm64 $PKGS
  log "release build, x86_64 (to run here): target/lambda-x86_64/<name>/bootstrap"
  # Only the sample and the functions the fixture makes its state through. By default the
  # workspace's plain release profile in target/release (shared with other release builds, linked
  # in seconds); X86_BUILD=lambda builds them as the arm64 artifacts are (strip, panic abort).
  X86=$(tr ', ' '\n\n' <<<"$SAMPLE $HELPERS" | sort -u)
  # shellcheck disable=SC2046
  if [[ "${X86_BUILD:-release}" == lambda ]]; then
    env -u CARGO_LAMBDA_GLOBAL cargo lambda build --release --x86-64 --lambda-dir target/lambda-x86_64 \
      $(for f in $X86; do printf -- '-p %s ' "$f"; done)
  else
    cargo build --release $(for f in $X86; do printf -- '-p %s ' "$f"; done)
    for f in $X86; do  # a copy: later rebuilds in target/release do not change what is measured
      mkdir -p "target/lambda-x86_64/$f" && cp "target/release/$f" "target/lambda-x86_64/$f/bootstrap"
    done
  fi
fi

log "sizes"
# (falls back to cargo's own output for binaries cargo-lambda has not copied yet: an interrupted build)
python3 scripts/bench_lambda.py sizes --lambda-dir target/lambda \
  --fallback-dir target/aarch64-unknown-linux-gnu/release --out "$OUT/lambda-sizes.json"

log "moto on :$MOTO_PORT"
scripts/moto.sh stop "$MOTO_PORT" >/dev/null 2>&1 || true   # a fresh, empty moto every run
scripts/moto.sh start "$MOTO_PORT"
ENDPOINT=http://127.0.0.1:$MOTO_PORT

log "cold start and warm requests against the runtime-API stub"
python3 scripts/bench_lambda.py stub --endpoint "$ENDPOINT" --bin-dir target/lambda-x86_64 \
  --functions "$SAMPLE" --runs "$RUNS" --out "$OUT/lambda-stub.json"

WATCH_ARG=()
if ((WATCH)); then
  # bench_lambda.py builds each function as watch will (`cargo build --bin NAME`, debug) before
  # timing it, and discards a run in which cargo still compiled something inside watch.
  log "first invocation under cargo lambda watch on :$WATCH_PORT"
  python3 scripts/bench_lambda.py watch --endpoint "$ENDPOINT" --bin-dir target/lambda-x86_64 \
    --functions "$SAMPLE" --runs "$WATCH_RUNS" --port "$WATCH_PORT" --out "$OUT/lambda-watch.json"
  WATCH_ARG=(--watch "$OUT/lambda-watch.json")
fi

python3 - >"$OUT/lambda-machine.json" <<'PY'
import json, os, subprocess, time
cpu = next((l.split(":", 1)[1].strip() for l in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines() if l.startswith("Model name")), "?")
print(json.dumps({"nproc": os.cpu_count(), "cpu": cpu, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                  "rustc": subprocess.run(["rustc", "-V"], capture_output=True, text=True).stdout.split()[1],
                  "loadavg": os.getloadavg()}))
PY

log "report"
python3 scripts/bench_lambda.py report --machine "$OUT/lambda-machine.json" --sizes "$OUT/lambda-sizes.json" \
  --stub "$OUT/lambda-stub.json" "${WATCH_ARG[@]}" --out "$OUT/lambda.json"
echo "wrote $OUT/lambda.json" >&2
