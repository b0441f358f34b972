# Shell helpers of the scripts that start servers (parity.sh, faults.sh, bench_dynamo.sh, and the
# wrk benchmarks bench_ab.sh and bench_cpu.sh).
# Source it from the repository root. A script keeps the pids it starts in PIDS and its moto's
# port in MOTO_PORT, and traps EXIT with `stop_started` (plus whatever else it must undo).

PIDS=()

# wait_for URL SECONDS: until URL answers at all (any status), or fail after SECONDS.
wait_for() {
  local deadline=$((SECONDS + $2))
  until curl -s -o /dev/null "$1"; do
    if ((SECONDS > deadline)); then echo "timed out waiting for $1" >&2; return 1; fi
    sleep 0.3
  done
}

# wait_for_port PORT SECONDS: until something listens on 127.0.0.1:PORT, or fail after SECONDS
# (for servers whose every path may hold a request open, like cargo lambda watch's APIs).
wait_for_port() {
  local deadline=$((SECONDS + $2))
  until (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
    if ((SECONDS > deadline)); then echo "timed out waiting for port $1" >&2; return 1; fi
    sleep 0.3
  done
}

# build_stack: every function binary, the container and the gateway, in one cargo invocation with
# one feature set, so the scripts that run them (parity.sh, faults.sh) share a single build: the
# second finds nothing to do. (`cargo lambda watch` builds each function the same way.) The
# container is built with its Lambda mode (feature `lambda`): parity plays `ops` with it.
build_stack() {
  cargo build $(for f in $(ls functions); do printf -- '-p %s ' "$f"; done) -p tacos-container -p tacos-tests --bins \
    --features tacos-container/lambda
}

# stop_started: every process in PIDS, then the moto on MOTO_PORT (which snapshots its state
# first when it was started with MOTO_STATE_FILE).
stop_started() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  scripts/moto.sh stop "$MOTO_PORT" >/dev/null 2>&1 || true
}

# status_lua PORT: joins the demo event 1,000 times on the server at 127.0.0.1:PORT and prints a
# wrk script that polls those tickets' statuses in turn (bench_ab.sh, bench_cpu.sh).
status_lua() {
  python3 - "$1" <<'PY'
import json, sys, urllib.request, uuid
port = sys.argv[1]
tokens = []
for _ in range(1000):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/queue/join", data=json.dumps({"event_id": "evt_demo_ga"}).encode(), headers={"Content-Type": "application/json", "Idempotency-Key": str(uuid.uuid4())})
    tokens.append(json.load(urllib.request.urlopen(req))["waiting_token"])
print("tokens = {" + ",".join(f'"{t}"' for t in tokens) + "}")
print('local i = 0\nrequest = function()\n  i = i % #tokens + 1\n  return wrk.format("GET", "/api/v1/queue/status?token=" .. tokens[i])\nend')
PY
}
