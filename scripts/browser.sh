#!/usr/bin/env bash
# Browser tests of the web app (web/): Playwright (playwright-core) driving Debian's Chromium
# against the embedded server, screenshots of every page state in target/browser/screenshots/.
#
#  1. Chromium from apt when /usr/bin/chromium is missing (Playwright's downloaded browsers are
#     never used); `npm ci` in web/;
#  2. `npm run build`; with CI=true, fails when the committed web/dist differs from the fresh build;
#     the unit tests of the app's pure logic (vitest);
#  3. three tacos-local servers on their own ports: one with 60 s holds, one with 8 s holds (the
#     expiry test), one with the sample catalogue (catalog/sample.yaml: the 10,000-seat arena of
#     the seat map's speed test); fast admission, no rate limit, an administrator;
#  4. the app as tacos-local serves it at `/` (web/dist, embedded in the binary);
#  5. the tests (web/tests/browser/*.test.mjs, node's test runner), one file at a time (the seat
#     map's timing must not share the CPU with another file's browser); everything started is
#     stopped on exit.
#
# `scripts/browser.sh --tools-only` does step 1 alone (the test command runs it in the background
# while cargo compiles).
#
# TACOS_BROWSER_PORT (default 8160) is the first of the three ports used. Arguments, if any, are
# the test files to run (relative to web/; default all of tests/browser/). TACOS_BROWSER_BENCH=1
# also runs the benchmark among them, the proof of work's timing (BENCHMARKS.md §11):
#   TACOS_BROWSER_BENCH=1 scripts/browser.sh tests/browser/pow.test.mjs
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
stop_all() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap stop_all EXIT

log() { printf '\n==> %s\n' "$*"; }
started=$SECONDS

PORT=${TACOS_BROWSER_PORT:-8160}
API=$PORT API_SHORT=$((PORT + 1)) API_ARENA=$((PORT + 2))
OUT=$PWD/target/browser
mkdir -p "$OUT/screenshots"
rm -f "$OUT/screenshots/"*.png

if [[ ! -x /usr/bin/chromium ]]; then
  log "installing Chromium (apt)"
  SUDO=""; [[ $(id -u) == 0 ]] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
command -v npm >/dev/null || { echo "npm is needed (Node 20+)" >&2; exit 1; }

log "npm ci (web/)"
(cd web && npm ci --no-audit --no-fund --loglevel=error)
[[ ${1:-} == --tools-only ]] && exit 0

log "building the app (web/dist)"
if [[ ${CI:-} == true ]]; then
  committed=$(mktemp -d)
  cp -a web/dist/. "$committed/"
  (cd web && npm run build --silent)
  if ! diff -r "$committed" web/dist; then
    echo "web/dist is not the build of web/src: run 'npm run build' in web/ and commit web/dist" >&2
    rm -rf "$committed"
    exit 1
  fi
  rm -rf "$committed"
else
  (cd web && npm run build --silent)
fi

log "unit tests of the app (vitest)"
(cd web && npx vitest run --reporter=dot)

log "tacos-local (holds of 60 s on :$API, of 8 s on :$API_SHORT, the sample catalogue on :$API_ARENA)"
# `--workspace`: the feature set of `cargo test --workspace`, so nothing is rebuilt.
cargo build -q --workspace --bin tacos-local
export TACOS_ADMIN_PASSWORD=${TACOS_ADMIN_PASSWORD:-browser-tests-admin}
run_local() { # port hold-seconds [catalogue]
  rm -rf "$OUT/data-$1"
  TACOS_DATA_DIR=$OUT/data-$1 TACOS_RATE_LIMIT=off TACOS_ADMISSION_RATE=500 TACOS_HOLD_SECONDS=$2 \
    TACOS_CATALOG=${3:-} "${CARGO_TARGET_DIR:-target}/debug/tacos-local" --port "$1" >"$OUT/tacos-local-$1.log" 2>&1 &
  PIDS+=($!)
}
run_local "$API" 60
run_local "$API_SHORT" 8
run_local "$API_ARENA" 60 "$PWD/catalog/sample.yaml"
wait_for "http://127.0.0.1:$API/healthz" 60
wait_for "http://127.0.0.1:$API_SHORT/healthz" 60
wait_for "http://127.0.0.1:$API_ARENA/healthz" 60

# The app as the buyer gets it: from tacos-local itself (the README's run command serves it).
if ! curl -sf "http://127.0.0.1:$API/" | grep -q '<div id="root">'; then
  echo "tacos-local does not serve the web app at /" >&2
  exit 1
fi
export TACOS_WEB_URL="http://127.0.0.1:$API" TACOS_WEB_URL_SHORT_HOLD="http://127.0.0.1:$API_SHORT"
export TACOS_WEB_URL_ARENA="http://127.0.0.1:$API_ARENA"

log "browser tests (Chromium $(/usr/bin/chromium --version 2>/dev/null | awk '{print $2}'))"
export TACOS_SCREENSHOTS="$OUT/screenshots"
TESTS=("$@")
[[ ${#TESTS[@]} -gt 0 ]] || TESTS=(tests/browser/)
(cd web && node --test --test-concurrency=1 --test-reporter=spec "${TESTS[@]}")
log "browser tests passed in $((SECONDS - started)) s; screenshots: $OUT/screenshots/"
ls "$OUT/screenshots"
