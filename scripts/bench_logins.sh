#!/usr/bin/env bash
# Peak memory of the embedded server under a flood of logins (issue 14, item 1; BENCHMARKS.md §9):
#
#   scripts/bench_logins.sh
#
# Starts the release `tacos-local` (a fresh data directory, the default log level, every rate
# limit off: `TACOS_RATE_LIMIT=off`, `TACOS_RATE_LIMIT_LOGIN_TARGET=off`), registers ACCOUNTS
# accounts (default 100, 8 at a time), then fires LOGINS logins (default 500) spread over them at
# CONCURRENCY (default 64) keep-alive connections, each with its own thread. Argon2id is the
# bottleneck (tens of milliseconds of CPU a hash), not this driver. While it runs, the server's
# VmRSS is sampled from /proc/<pid>/status every 50 ms; at the end its VmHWM (the kernel's peak
# resident set) is read. Prints the answers by status, the logins' latency percentiles, the peak
# resident set before and after the flood, and whether it stayed under GOAL_MB (default 300).
# Exits non-zero if any login was not answered 200 or the goal was missed.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${BENCH_LOGIN_PORT:-8621}
OUT=target/bench/logins
BIN=${CARGO_TARGET_DIR:-target}/release

cargo build --release -p tacos-local
rm -rf "$OUT"; mkdir -p "$OUT"
TACOS_DATA_DIR=$OUT/data TACOS_RATE_LIMIT=off TACOS_RATE_LIMIT_LOGIN_TARGET=off \
  "$BIN/tacos-local" --port "$PORT" >"$OUT/server.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
for _ in $(seq 1 200); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done

python3 - "$PORT" "$PID" "${LOGINS:-500}" "${CONCURRENCY:-64}" "${ACCOUNTS:-100}" "${GOAL_MB:-300}" <<'PY'
import collections, http.client, json, sys, threading, time, uuid
from concurrent.futures import ThreadPoolExecutor

port, pid, logins, concurrency, accounts, goal_mb = map(int, sys.argv[1:])
PASSWORD = "bench-logins-password"

def status_kib(field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise SystemExit(f"no {field} for {pid}")

local = threading.local()
def post(path, body):
    c = getattr(local, "c", None)
    if c is None:
        c = local.c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        c.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
        r = c.getresponse(); r.read()
        return r.status
    except (http.client.HTTPException, OSError):
        local.c = None
        return "transport error"

names = [f"bench-{uuid.uuid4().hex[:16]}" for _ in range(accounts)]
with ThreadPoolExecutor(8) as pool:
    registered = list(pool.map(lambda n: post("/api/v1/auth/register", {"username": n, "password": PASSWORD}), names))
assert all(s == 201 for s in registered), collections.Counter(registered)
before_kib = status_kib("VmHWM")
print(f"{accounts} accounts registered; server VmHWM before the logins: {before_kib * 1024 / 1e6:.1f} MB")

samples, stop = [], threading.Event()
def sample():
    while not stop.is_set():
        samples.append(status_kib("VmRSS")); time.sleep(0.05)
sampler = threading.Thread(target=sample); sampler.start()

def login(i):
    started = time.perf_counter()
    status = post("/api/v1/auth/login", {"username": names[i % accounts], "password": PASSWORD})
    return status, time.perf_counter() - started

started = time.perf_counter()
with ThreadPoolExecutor(concurrency) as pool:
    results = list(pool.map(login, range(logins)))
elapsed = time.perf_counter() - started
stop.set(); sampler.join()
peak_kib = status_kib("VmHWM")

codes = collections.Counter(s for s, _ in results)
lat = sorted(t for _, t in results)
pct = lambda p: lat[min(len(lat) - 1, int(p / 100 * len(lat)))] * 1000
print(f"{logins} logins at concurrency {concurrency} in {elapsed:.1f} s ({logins / elapsed:.1f}/s); answers: {dict(codes)}")
print(f"latency ms: p50 {pct(50):.0f}, p95 {pct(95):.0f}, p99 {pct(99):.0f}, max {lat[-1] * 1000:.0f}")
mb = lambda kib: kib * 1024 / 1e6
print(f"server VmRSS sampled max: {mb(max(samples)):.1f} MB ({len(samples)} samples); VmHWM (peak RSS) after: {mb(peak_kib):.1f} MB ({peak_kib / 1024:.1f} MiB)")
ok = codes == {200: logins} and mb(peak_kib) < goal_mb
print(f"goal: peak RSS under {goal_mb} MB with every login answered 200: {'met' if ok else 'NOT met'}")
sys.exit(0 if ok else 1)
PY
