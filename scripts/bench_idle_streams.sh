#!/usr/bin/env bash
# Memory of the embedded server under live streams whose client never reads (issue 14's hostile
# probe, D2 and D3; BENCHMARKS.md §9.1):
#
#   scripts/bench_idle_streams.sh
#
# Starts the release `tacos-local` (a fresh data directory, rate limits off: the probe comes from
# one address), creates a seated event of SEATS seats (default 20,000: its availability is about
# 1.8 MB of JSON), then, one phase after the other:
#
# * sse: opens SSE_STREAMS (default 1,000) `GET /api/v1/events/{id}/availability/stream` and
#   reads nothing;
# * ws: opens WEBSOCKETS (default 300) `GET /api/v1/live?event_id=…`, reads the handshake's
#   answer and nothing after it.
#
# Each phase holds its connections HOLD seconds (default 40), sampling the server's VmRSS every
# 250 ms and counting, from /proc/net/tcp, the server's connections still established; then the
# client closes what is left and the server gets SETTLE seconds (default 10). Prints, per phase,
# the RSS before, the peak, at the end of the hold and after it, and when the server had closed
# every connection. ROUNDS (default 1) repeats both phases, to tell memory the allocator keeps for
# reuse from memory still held. Exits non-zero when a phase's peak grew by GOAL_MB (default 500) or more, or
# the server still held any connection at the end of the hold.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${BENCH_IDLE_PORT:-8401}
DATA=${BENCH_IDLE_DATA:-/tmp/tacos-idle-streams}
BIN=${CARGO_TARGET_DIR:-target}/release
PASSWORD=bench-idle-admin-password

[ -n "${SKIP_BUILD:-}" ] || cargo build --release -p tacos-local
rm -rf "$DATA"
TACOS_ADMIN_PASSWORD=$PASSWORD TACOS_RATE_LIMIT=off \
  "$BIN/tacos-local" --port "$PORT" --data-dir "$DATA" >"${DATA%/}.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
for _ in $(seq 1 200); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done

python3 - "$PORT" "$PID" "$PASSWORD" "${SEATS:-20000}" "${SSE_STREAMS:-1000}" "${WEBSOCKETS:-300}" \
  "${HOLD:-40}" "${SETTLE:-10}" "${GOAL_MB:-500}" "${ROUNDS:-1}" <<'PY'
import base64, http.client, json, os, socket, sys, time, uuid

port, pid, password = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
seats, sse_streams, websockets, hold, settle, goal_mb, rounds = map(int, sys.argv[4:])

def rss_mb():
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024

def established():
    """The server's connections on the port still established (state 01)."""
    n = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table).read().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            fields = line.split()
            if int(fields[1].split(":")[1], 16) == port and fields[3] == "01":
                n += 1
    return n

def call(method, path, body=None, token=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Content-Type": "application/json", "Idempotency-Key": str(uuid.uuid4())}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    c.request(method, path, json.dumps(body) if body is not None else None, headers)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data

status, body = call("POST", "/api/v1/auth/login", {"username": "admin", "password": password})
assert status == 200, (status, body)
token = json.loads(body)["token"]
status, body = call("POST", "/api/v1/admin/events", {
    "name": "Idle streams", "venue": "Probe Hall", "starts_at": "2030-01-01T20:00:00Z",
    "currency": "USD", "price": 1500, "admission_rate_per_sec": 1.0,
    "sections": [{"name": f"S{i}", "rows": 50, "seats_per_row": 100} for i in range(seats // 5000)],
}, token)
assert status == 201, (status, body)
event = json.loads(body)["event_id"]
status, availability = call("GET", f"/api/v1/events/{event}/availability")
assert status == 200
print(f"event {event}: {json.loads(availability)['total']} seats, availability {len(availability)/1e6:.2f} MB")

def phase(name, count, request, head_only):
    time.sleep(3)
    before = rss_mb()
    sockets = []
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(request)
        if head_only:
            head = b""
            while not head.endswith(b"\r\n\r\n"):
                head += s.recv(1)
            assert head.startswith(b"HTTP/1.1 101"), head
        sockets.append(s)
    opened = time.time()
    peak, all_closed_at = before, None
    while time.time() - opened < hold:
        peak = max(peak, rss_mb())
        if all_closed_at is None and established() == 0:
            all_closed_at = time.time() - opened
        time.sleep(0.25)
    end, left = rss_mb(), established()
    for s in sockets:
        s.close()
    time.sleep(settle)
    after = rss_mb()
    closed = f"all closed by the server {all_closed_at:.1f} s after the last opened" if all_closed_at is not None else f"{left} still open after {hold} s"
    print(f"{name}: {count} unread: RSS before {before:.0f} MB, peak {peak:.0f} MB, "
          f"at {hold} s {end:.0f} MB, {settle} s after the client closed {after:.0f} MB; {closed}")
    return peak - before < goal_mb and left == 0

ok = True
for _ in range(rounds):
    ok &= phase("sse", sse_streams,
                f"GET /api/v1/events/{event}/availability/stream HTTP/1.1\r\nhost: x\r\n\r\n".encode(),
                False)
    key = base64.b64encode(os.urandom(16)).decode()
    ok &= phase("ws", websockets,
                (f"GET /api/v1/live?event_id={event} HTTP/1.1\r\nhost: x\r\nupgrade: websocket\r\n"
                 f"connection: upgrade\r\nsec-websocket-version: 13\r\nsec-websocket-key: {key}\r\n\r\n").encode(),
                True)
sys.exit(0 if ok else 1)
PY
