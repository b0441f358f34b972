#!/usr/bin/env bash
# Runs the README's "Try it" block exactly as written, against a fresh embedded server, and fails
# unless it ends with the reservation CONFIRMED and an order id.
#
#   scripts/try_it.sh
#
# The block is the first ```sh block under the README's "## Try it" heading. It talks to
# http://127.0.0.1:8000, so the server is started there (port 8000 must be free), from the newest
# of target/{debug,release}/tacos-local (built with `cargo build -p tacos-local` when neither
# exists), with the demo events and an empty data directory of its own when the binary has one
# (`--data-dir` / TACOS_DATA_DIR). The block runs under `bash -euo pipefail`, as a reader's shell
# would run it with every error made fatal. It needs curl and jq; jq is installed with apt-get
# when it is missing and the script may (root on Debian, as in CI). Output and the server's log:
# target/try-it/.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=target/try-it
PORT=8000
BASE=http://127.0.0.1:$PORT
mkdir -p "$OUT"

fail() { echo "try_it: $*" >&2; exit 1; }

# The block, from the README as committed to the working tree.
python3 - README.md >"$OUT/block.sh" <<'PY'
import re, sys
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
try:
    start = next(i for i, l in enumerate(lines) if re.fullmatch(r"##\s+Try it\s*", l))
except StopIteration:
    sys.exit('README.md has no "## Try it" heading')
block = None
for i in range(start + 1, len(lines)):
    if re.match(r"#{1,2}\s", lines[i]):
        break
    if re.fullmatch(r"```sh\s*", lines[i]):
        end = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == "```"), None)
        if end is None:
            sys.exit('README.md: the "Try it" block is not closed')
        block = lines[i + 1:end]
        break
if not block:
    sys.exit('README.md: no ```sh block under "## Try it"')
print("\n".join(block))
PY
[[ -s "$OUT/block.sh" ]] || fail "could not extract the README's Try it block"

# What the block needs.
command -v curl >/dev/null || fail "curl is missing (the Try it block needs curl and jq)"
if ! command -v jq >/dev/null; then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    echo "==> apt-get install jq (the Try it block needs it)"
    { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq jq >/dev/null 2>&1 ||
      { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq jq >/dev/null; }; } ||
      fail "jq is missing and apt-get could not install it"
  else
    fail "jq is missing: install it (apt-get install jq, brew install jq); the Try it block needs it"
  fi
fi

# The server binary: the newest build there is, else a debug build.
TARGET=${CARGO_TARGET_DIR:-target}
BIN=
for candidate in "$TARGET/debug/tacos-local" "$TARGET/release/tacos-local"; do
  if [[ -x $candidate && ( -z $BIN || $candidate -nt $BIN ) ]]; then BIN=$candidate; fi
done
if [[ -z $BIN ]]; then
  echo "==> cargo build -p tacos-local"
  cargo build -q -p tacos-local
  BIN=$TARGET/debug/tacos-local
fi

if curl -s -o /dev/null --max-time 2 "$BASE/"; then
  fail "something already answers on $BASE; the Try it block talks to that address, so stop it first"
fi

DATA_DIR=$(mktemp -d "${TMPDIR:-/tmp}/tacos-try-it.XXXXXX")
SERVER=
cleanup() {
  if [[ -n $SERVER ]]; then kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; fi
  rm -rf "$DATA_DIR"
}
trap cleanup EXIT

args=(--port "$PORT" --host 127.0.0.1)
if "$BIN" --help 2>&1 | grep -q -- '--data-dir'; then args+=(--data-dir "$DATA_DIR"); fi
echo "==> $BIN ${args[*]}"
TACOS_DATA_DIR=$DATA_DIR TACOS_DEMO_EVENT=true RUST_LOG=${RUST_LOG:-warn} \
  "$BIN" "${args[@]}" >"$OUT/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 300); do
  curl -s -o /dev/null "$BASE/healthz" && break
  kill -0 "$SERVER" 2>/dev/null || { cat "$OUT/server.log" >&2; fail "the server exited at start-up"; }
  sleep 0.2
done
curl -s -o /dev/null "$BASE/healthz" || fail "the server did not answer on $BASE within 60 s"

echo "==> the README's Try it block (bash -euo pipefail)"
status=0
timeout 120 bash -euo pipefail "$OUT/block.sh" 2>&1 | tee "$OUT/output.txt" || status=$?
if [[ $status != 0 ]]; then
  echo "--- server log (last lines)" >&2; tail -n 20 "$OUT/server.log" >&2
  fail "the Try it block failed (exit $status)"
fi

# The block's last output is the reservation's status and order id, as jq prints them.
python3 - "$OUT/output.txt" <<'PY' || fail "the Try it block did not end with a CONFIRMED reservation and an order id"
import json, sys
text = open(sys.argv[1], encoding="utf-8").read().rstrip()
final = None
for start in (i for i in range(len(text) - 1, -1, -1) if text[i] == "{"):
    try:
        value, end = json.JSONDecoder().raw_decode(text, start)
    except ValueError:
        continue
    if end == len(text):  # the object the output ends with (the outermost, if nested)
        final = value
    elif final is not None:
        break
if not isinstance(final, dict):
    sys.exit(f"no JSON object at the end of the output: {text[-200:]!r}")
if final.get("status") != "CONFIRMED" or not final.get("order_id"):
    sys.exit(f"the final output is {final}")
print(f"try_it: the reservation is {final['status']}, order {final['order_id']}")
PY
