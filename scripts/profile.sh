#!/usr/bin/env bash
# Instructions per request of the embedded server, under valgrind's callgrind (BENCHMARKS.md §7).
#
#   scripts/profile.sh [N]      N joins, N status polls of one waiting ticket, N /healthz (default 2000)
#
# callgrind counts instructions, not seconds, so the figures repeat on a busy machine. The server
# runs with its defaults (access log on); instrumentation is switched on after a warm-up (600 joins,
# so the line is long past what is admitted) and each phase is dumped on its own. Prints the
# instructions per request of each phase; the dumps stay in target/profile/ for
# `callgrind_annotate --inclusive=yes target/profile/callgrind.out.<pid>.<n>`.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-2000}
PORT=${PROFILE_PORT:-8612}
OUT=target/profile
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 1; }
cargo build --release -p tacos-local
rm -rf "$OUT"; mkdir -p "$OUT"

# No rate limit: every request of the phases comes from one address.
TACOS_RATE_LIMIT=off valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$OUT/callgrind.out.%p" \
  "${CARGO_TARGET_DIR:-target}/release/tacos-local" --port "$PORT" --data-dir "$OUT/data" >"$OUT/server.log" 2>"$OUT/valgrind.log" &
VPID=$!
trap 'kill $VPID 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 1; done

# drive MODE N [TOKEN]: N requests on one keep-alive connection; prints the last waiting token.
drive() {
  python3 - "$PORT" "$@" <<'PY'
import http.client, json, sys, uuid
port, mode, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
last = None
for _ in range(n):
    if mode == "healthz":
        c.request("GET", "/healthz")
        r = c.getresponse(); body = r.read(); assert r.status == 200, (r.status, body)
    elif mode == "join":
        c.request("POST", "/api/v1/queue/join", body='{"event_id":"evt_demo_ga"}',
                  headers={"Idempotency-Key": str(uuid.uuid4()), "Content-Type": "application/json"})
        r = c.getresponse(); body = r.read(); assert r.status == 202, (r.status, body)
        last = json.loads(body)["waiting_token"]
    else:
        c.request("GET", "/api/v1/queue/status?token=" + sys.argv[4])
        r = c.getresponse(); body = r.read(); assert r.status == 200, (r.status, body)
print(last)
PY
}

drive join 600 >/dev/null
TOKEN=$(drive join 1)
drive status 50 "$TOKEN" >/dev/null
callgrind_control -i on "$VPID" >/dev/null
drive join "$N" >/dev/null
callgrind_control -d join "$VPID" >/dev/null
drive status "$N" "$TOKEN" >/dev/null
callgrind_control -d status "$VPID" >/dev/null
drive healthz "$N" >/dev/null
callgrind_control -d healthz "$VPID" >/dev/null
callgrind_control -i off "$VPID" >/dev/null
kill "$VPID"; wait "$VPID" 2>/dev/null || true

for f in "$OUT"/callgrind.out.*.[0-9]*; do
  phase=$(grep -m1 '^desc: Trigger' "$f" | sed 's/.*Trigger: *//')
  total=$(grep -m1 '^summary:\|^totals:' "$f" | awk '{print $2}')
  [[ -n "$total" && "$total" -gt 0 ]] && echo "$phase: $((total / N)) instructions per request ($f)"
done
