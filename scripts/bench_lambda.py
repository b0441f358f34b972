#!/usr/bin/env python3
"""Lambda readiness figures of the function binaries (issue 4); driven by scripts/bench_lambda.sh.

  sizes   size of every target/lambda/<name>/bootstrap (arm64 release) and of its deployment zip
  stub    cold start (exec -> first response posted) and warm handler time, each function binary
          run by hand against a minimal Lambda Runtime API served here, over moto
  watch   the first invocation as `cargo lambda watch` shows it (cargo + debug binary), for contrast
  report  merges the parts into one JSON file and prints markdown tables

The runtime-API stub implements what lambda_runtime uses: GET /2018-06-01/runtime/invocation/next
(one event, with Lambda-Runtime-Aws-Request-Id / -Deadline-Ms / -Invoked-Function-Arn) and
POST /2018-06-01/runtime/invocation/<id>/response|error. Times are taken on this side:

  init_ms       exec of the binary -> its first GET .../next (runtime ready: the Lambda "Init")
  cold_ms       exec of the binary -> the first response POSTed back (the first request served)
  invoke_ms     event handed out on .../next -> its response POSTed (runtime-API round trip)
  handler_ms    the function's own EMF `http_server_requests_duration_seconds` (axum handler and
                middleware, HTTP functions), in ms

Only the standard library is used (moto and boto3 are driven by scripts/moto.sh / aws_setup.py).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import http.client
import http.server
import io
import json
import os
import queue
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import tomllib
import uuid
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNTIME = "/2018-06-01/runtime"
TRIGGERS = {"expire", "payment-simulator", "payment-followup"}


def log(msg: str) -> None:
    print(f"[bench_lambda] {msg}", file=sys.stderr, flush=True)


def median(xs):
    return round(statistics.median(xs), 2) if xs else None


def pct(xs, p):
    if not xs:
        return None
    xs = sorted(xs)
    k = max(0, min(len(xs) - 1, int(round(p / 100 * len(xs) + 0.5)) - 1))
    return round(xs[k], 2)


def summary(xs):
    return {
        "n": len(xs),
        "median": median(xs),
        "p95": pct(xs, 95),
        "min": round(min(xs), 2) if xs else None,
        "max": round(max(xs), 2) if xs else None,
        "runs": [round(x, 2) for x in xs],
    }


# --------------------------------------------------------------------------------------- sizes


def elf_machine(path: Path) -> str:
    with open(path, "rb") as f:
        head = f.read(20)
    if head[:4] != b"\x7fELF":
        return "not ELF"
    machine = int.from_bytes(head[18:20], "little")
    return {183: "aarch64", 62: "x86_64"}.get(machine, f"e_machine {machine}")


def cmd_sizes(args) -> None:
    lambda_dir = ROOT / args.lambda_dir
    rows = []
    for name in sorted(p.name for p in (ROOT / "functions").iterdir() if p.is_dir()):
        bootstrap = lambda_dir / name / "bootstrap"
        if not bootstrap.exists() and args.fallback_dir and (ROOT / args.fallback_dir / name).exists():
            # cargo-lambda copies the binaries to target/lambda only once all of them are linked.
            bootstrap = ROOT / args.fallback_dir / name
        if not bootstrap.exists():
            rows.append({"function": name, "error": f"missing {bootstrap}"})
            continue
        buf = io.BytesIO()
        # The deployment package as `cargo lambda build --output-format zip` / sam package make it:
        # the one file `bootstrap`, deflated, executable.
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as z:
            info = zipfile.ZipInfo("bootstrap")
            info.external_attr = 0o100755 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, bootstrap.read_bytes())
        rows.append(
            {
                "function": name,
                "path": str(bootstrap.relative_to(ROOT)),
                "arch": elf_machine(bootstrap),
                "bytes": bootstrap.stat().st_size,
                "zip_bytes": len(buf.getvalue()),
            }
        )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"lambda_dir": args.lambda_dir, "functions": rows}, indent=2))


# ------------------------------------------------------------------------ runtime-API stub


class Stub:
    """A Lambda Runtime API for one function process, on its own port."""

    def __init__(self, function: str):
        self.function = function
        self.events: queue.Queue = queue.Queue()
        self.done: dict[str, dict] = {}
        self.cond = threading.Condition()
        self.first_next: float | None = None
        self.init_error: str | None = None
        stub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):  # quiet
                pass

            def do_GET(self):
                if self.path != f"{RUNTIME}/invocation/next":
                    return self._reply(404, b"{}")
                now = time.perf_counter()
                with stub.cond:
                    if stub.first_next is None:
                        stub.first_next = now
                while True:
                    item = stub.events.get()
                    if item is None:  # shutting down: hold the poll open until the process dies
                        time.sleep(3600)
                    break
                rid, payload = item
                deadline = int(time.time() * 1000) + 30_000
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("Lambda-Runtime-Aws-Request-Id", rid)
                self.send_header("Lambda-Runtime-Deadline-Ms", str(deadline))
                self.send_header(
                    "Lambda-Runtime-Invoked-Function-Arn",
                    f"arn:aws:lambda:us-east-1:123456789012:function:tacos-{stub.function}",
                )
                self.send_header("Lambda-Runtime-Trace-Id", f"Root=1-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:24]}")
                self.end_headers()
                self.wfile.write(payload)
                self.wfile.flush()
                sent = time.perf_counter()
                with stub.cond:
                    stub.done.setdefault(rid, {})["sent"] = sent

            def do_POST(self):
                recv_start = time.perf_counter()
                body = self._body()
                recv = time.perf_counter()
                parts = self.path[len(RUNTIME) :].strip("/").split("/")
                if parts[:2] == ["init", "error"]:
                    with stub.cond:
                        stub.init_error = body.decode(errors="replace")
                        stub.cond.notify_all()
                    return self._reply(202, b"{}")
                if len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
                    rid = parts[1]
                    with stub.cond:
                        entry = stub.done.setdefault(rid, {})
                        entry.update(
                            recv=recv, recv_start=recv_start, kind=parts[2], body=body
                        )
                        stub.cond.notify_all()
                    return self._reply(202, b'{"status":"OK"}')
                return self._reply(404, b"{}")

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    out = b""
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass  # trailers
                            return out
                        out += self.rfile.read(size)
                        self.rfile.readline()
                n = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(n) if n else b""

            def _reply(self, code, body):
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # a killed function process resets its connections: expected

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def push(self, payload: bytes) -> str:
        rid = str(uuid.uuid4())
        self.events.put((rid, payload))
        return rid

    def wait(self, rid: str, timeout: float = 60.0) -> dict:
        deadline = time.monotonic() + timeout
        with self.cond:
            while "recv" not in self.done.get(rid, {}):
                if self.init_error:
                    raise RuntimeError(f"{self.function}: init error: {self.init_error}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{self.function}: no response to {rid} in {timeout}s")
                self.cond.wait(min(left, 0.5))
            return self.done.pop(rid)

    def close(self):
        self.events.put(None)
        self.server.shutdown()
        self.server.server_close()


class Function:
    """A function binary running against its own stub."""

    def __init__(self, bin_dir: Path, name: str, env: dict, log_dir: Path, tag: str):
        self.name = name
        self.stub = Stub(name)
        self.log_path = log_dir / f"{name}-{tag}.log"
        fenv = dict(env)
        fenv.update(
            AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{self.stub.port}",
            AWS_LAMBDA_FUNCTION_NAME=f"tacos-{name}",
            AWS_LAMBDA_FUNCTION_MEMORY_SIZE="512",
            AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
            AWS_LAMBDA_LOG_GROUP_NAME=f"/aws/lambda/tacos-{name}",
            AWS_LAMBDA_LOG_STREAM_NAME="bench",
        )
        self.binary = bin_dir / name / "bootstrap"
        self.logf = open(self.log_path, "wb")
        self.proc: subprocess.Popen | None = None
        self.env = fenv

    def start(self) -> float:
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            [str(self.binary)], env=self.env, stdin=subprocess.DEVNULL, stdout=self.logf, stderr=subprocess.STDOUT
        )
        return t0

    def invoke(self, payload: dict | bytes, timeout: float = 60.0) -> dict:
        raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        rid = self.stub.push(raw)
        r = self.stub.wait(rid, timeout)
        r["ms"] = (r["recv"] - r["sent"]) * 1000
        r["json"] = json.loads(r["body"] or b"null")
        return r

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.stub.close()
        self.logf.close()

    def emf_latencies(self) -> list[float]:
        """Milliseconds of each request, from the EMF `http_server_requests_duration_seconds`
        values (seconds; a list per flush, one flush per invocation)."""
        out = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            if '"_aws"' in line and '"http_server_requests_duration_seconds"' in line:
                try:
                    values = json.loads(line)["http_server_requests_duration_seconds"]
                    values = values if isinstance(values, list) else [values]
                    out.extend(float(v) * 1000.0 for v in values)
                except (ValueError, KeyError, TypeError):
                    pass
        return out


# ------------------------------------------------------------------------------- events


def http_event(method: str, path: str, body=None, headers=None, query: str = "") -> dict:
    h = {
        "accept": "application/json",
        "host": "bench.execute-api.us-east-1.amazonaws.com",
        "user-agent": "bench_lambda",
        "x-forwarded-for": "198.51.100.7",
        "x-forwarded-proto": "https",
    }
    text = None
    if body is not None:
        text = body if isinstance(body, str) else json.dumps(body)
        h["content-type"] = "application/json"
        h["content-length"] = str(len(text.encode()))
    h.update({k.lower(): v for k, v in (headers or {}).items()})
    now = time.time()
    event = {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": query,
        "headers": h,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "bench",
            "domainName": h["host"],
            "domainPrefix": "bench",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "198.51.100.7",
                "userAgent": "bench_lambda",
            },
            "requestId": uuid.uuid4().hex[:16],
            "routeKey": f"{method} {path}",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": False,
    }
    if query:
        event["queryStringParameters"] = dict(p.split("=", 1) for p in query.split("&"))
    if text is not None:
        event["body"] = text
    return event


def http_result(r: dict) -> tuple[int, dict]:
    resp = r["json"] or {}
    status = resp.get("statusCode", 0)
    body = resp.get("body") or ""
    if resp.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    try:
        return status, json.loads(body) if body else {}
    except ValueError:
        return status, {"raw": body}


class Fixture:
    """Sets up real state through warm helper functions: admin, a GA event, users, holds."""

    def __init__(self, bin_dir: Path, env: dict, log_dir: Path):
        self.env = env
        self.bin_dir = bin_dir
        self.log_dir = log_dir
        self.helpers: dict[str, Function] = {}
        self.counter = 0
        self.run_id = uuid.uuid4().hex[:6]

    def helper(self, name: str) -> Function:
        if name not in self.helpers:
            f = Function(self.bin_dir, name, self.env, self.log_dir, "helper")
            f.start()
            self.helpers[name] = f
        return self.helpers[name]

    def call(self, function: str, event: dict) -> dict:
        status, body = http_result(self.helper(function).invoke(event))
        if not 200 <= status < 300:
            raise RuntimeError(f"{function} {event['rawPath']}: {status} {body}")
        return body

    def setup(self) -> None:
        admin = self.call(
            "auth-login",
            http_event("POST", "/api/v1/auth/login", {"username": self.env["TACOS_ADMIN_USERNAME"], "password": self.env["TACOS_ADMIN_PASSWORD"]}),
        )
        starts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 30 * 86400))
        event = self.call(
            "admin-create-event",
            http_event(
                "POST",
                "/api/v1/admin/events",
                {
                    "name": f"Bench {self.run_id}",
                    "venue": "Bench Hall",
                    "starts_at": starts,
                    "currency": "USD",
                    "price": 4500,
                    "capacity": 100000,
                    "admission_rate_per_sec": 10000,
                },
                {"authorization": f"Bearer {admin['token']}", "idempotency-key": str(uuid.uuid4())},
            ),
        )
        self.event_id = event.get("event_id") or event.get("id")
        log(f"fixture: event {self.event_id}")

    def user(self) -> str:
        self.counter += 1
        body = self.call(
            "auth-register",
            http_event("POST", "/api/v1/auth/register", {"username": f"bench-{self.run_id}-{self.counter}", "password": "bench password 123"}),
        )
        return body["token"]

    def join_event(self, token: str) -> dict:
        return http_event(
            "POST",
            "/api/v1/queue/join",
            {"event_id": self.event_id},
            {"authorization": f"Bearer {token}", "idempotency-key": str(uuid.uuid4())},
        )

    def reservation_token(self, token: str) -> str:
        for _ in range(5):
            wt = self.call("queue-join", self.join_event(token))["waiting_token"]
            for _ in range(100):
                status, body = http_result(
                    self.helper("queue-enter").invoke(
                        http_event(
                            "POST",
                            "/api/v1/queue/enter",
                            {"waiting_token": wt},
                            {"authorization": f"Bearer {token}", "idempotency-key": str(uuid.uuid4())},
                        )
                    )
                )
                if 200 <= status < 300 and body.get("reservation_token"):
                    return body["reservation_token"]
                if status == 410:  # the turn passed (a busy machine): join again
                    break
                time.sleep(0.1)
        raise RuntimeError(f"queue-enter never admitted: {status} {body}")

    def reserve_event(self, token: str) -> dict:
        return http_event(
            "POST",
            "/api/v1/reservations",
            {"event_id": self.event_id, "quantity": 1, "reservation_token": self.reservation_token(token)},
            {"authorization": f"Bearer {token}", "idempotency-key": str(uuid.uuid4())},
        )

    def hold(self) -> tuple[str, str]:
        token = self.user()
        rsv = self.call("reserve", self.reserve_event(token))["reservation_id"]
        return token, rsv

    def webhook_event(self) -> dict:
        token, rsv = self.hold()
        pi = self.call(
            "payment-intent",
            http_event(
                "POST",
                "/api/v1/payments/intent",
                # `fail`... no: approve, but the simulator's own webhook is never delivered here
                # (moto does not fire schedules), so the one below is the first.
                {"reservation_id": rsv, "amount": 4500, "currency": "USD", "scenario": "approve"},
                {"authorization": f"Bearer {token}", "idempotency-key": str(uuid.uuid4())},
            ),
        )["payment_intent_id"]
        ts = int(time.time())
        body = json.dumps(
            {"type": "payment.approved", "payment_intent_id": pi, "reservation_id": rsv, "amount": 4500, "currency": "USD", "ts": ts},
            separators=(",", ":"),
        )
        webhook_id = f"wh_{uuid.uuid4().hex}"
        mac = hmac.new(self.env["TACOS_WEBHOOK_SECRET"].encode(), f"{ts}.{webhook_id}.{body}".encode(), hashlib.sha256).hexdigest()
        return http_event(
            "POST",
            "/api/v1/payments/webhook",
            body,
            {"x-webhook-id": webhook_id, "x-timestamp": str(ts), "x-signature": f"sha256={mac}"},
        )

    def expire_event(self) -> dict:
        # The Scheduler's input is the Job itself (shared/core/src/ports/scheduler.rs).
        _, rsv = self.hold()
        return {"job": "expire_hold", "reservation_id": rsv}

    def event_for(self, function: str) -> dict:
        if function == "ops":
            return http_event("GET", "/healthz")
        if function == "queue-join":
            return self.join_event(self.user())
        if function == "reserve":
            return self.reserve_event(self.user())
        if function == "payment-webhook":
            return self.webhook_event()
        if function == "expire":
            return self.expire_event()
        raise ValueError(f"no representative event for {function}")

    def close(self):
        for f in self.helpers.values():
            f.stop()


def expect_ok(function: str, r: dict) -> int:
    if r.get("kind") == "error":
        raise RuntimeError(f"{function}: invocation error {r['body'][:300]!r}")
    if function in TRIGGERS:
        return 200
    status, body = http_result(r)
    if status >= 400 and status != 404:
        raise RuntimeError(f"{function}: HTTP {status} {body}")
    return status


def function_env(endpoint: str) -> dict:
    """cargo-lambda.toml's [watch] env, the resources of aws_setup.py, pointed at `endpoint`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TACOS_", "AWS_", "CARGO_LAMBDA"))}
    conf = tomllib.loads((ROOT / "cargo-lambda.toml").read_text())
    for pair in conf["watch"]["env_var"]:
        k, v = pair.split("=", 1)
        env[k] = v
    env["AWS_ENDPOINT_URL"] = endpoint
    setup = subprocess.run(
        [sys.executable, str(ROOT / "scripts/aws_setup.py"), "--endpoint-url", endpoint, "--prefix", "tacos"],
        check=True,
        capture_output=True,
        text=True,
        env={**env, "AWS_DEFAULT_REGION": "us-east-1"},
    ).stdout
    for line in setup.splitlines():
        if line.startswith("export "):
            k, v = line[len("export ") :].split("=", 1)
            env[k] = shlex.split(v)[0]
    env["RUST_LOG"] = os.environ.get("BENCH_RUST_LOG", "info")
    return env


def cmd_stub(args) -> None:
    bin_dir = ROOT / args.bin_dir
    log_dir = ROOT / args.log_dir
    log_dir.mkdir(parents=True, exist_ok=True)
    env = function_env(args.endpoint)
    fixture = Fixture(bin_dir, env, log_dir)
    functions = args.functions.split(",")
    result = {"bin_dir": args.bin_dir, "runs": args.runs, "cold": {}, "warm": {}}
    try:
        fixture.setup()
        # Warm every helper before any measurement, so setup work is not timed by accident.
        cold = {f: {"init_ms": [], "cold_ms": [], "invoke_ms": [], "handler_ms": [], "status": []} for f in functions}
        for run in range(args.runs):
            for name in functions:
                payload = json.dumps(fixture.event_for(name)).encode()
                f = Function(bin_dir, name, env, log_dir, f"cold{run}")
                try:
                    t0 = f.start()
                    rid = f.stub.push(payload)
                    r = f.stub.wait(rid, 60)
                    status = expect_ok(name, {**r, "json": json.loads(r["body"] or b"null")})
                    c = cold[name]
                    c["init_ms"].append((f.stub.first_next - t0) * 1000)
                    c["cold_ms"].append((r["recv"] - t0) * 1000)
                    c["invoke_ms"].append((r["recv"] - r["sent"]) * 1000)
                    c["status"].append(status)
                finally:
                    f.stop()
                c["handler_ms"].extend(f.emf_latencies()[:1])
                log(f"cold {name} run {run + 1}/{args.runs}: {c['cold_ms'][-1]:.1f} ms (init {c['init_ms'][-1]:.1f}, first invoke {c['invoke_ms'][-1]:.1f})")
        for name, c in cold.items():
            result["cold"][name] = {k: summary(v) for k, v in c.items() if k != "status"} | {"statuses": c["status"]}

        # Warm: one process per function, first invocation discarded, then N in a row.
        for spec in args.warm.split(","):
            name, _, n = spec.partition(":")
            n = int(n or args.warm_n)
            events = [json.dumps(fixture.event_for(name)).encode() for _ in range(n + 1)]
            f = Function(bin_dir, name, env, log_dir, "warm")
            try:
                f.start()
                rts, statuses = [], []
                for i, payload in enumerate(events):
                    r = f.invoke(payload)
                    statuses.append(expect_ok(name, r))
                    if i:
                        rts.append(r["ms"])
            finally:
                f.stop()
            handler = f.emf_latencies()[1:]
            result["warm"][name] = {
                "event": "GET /healthz" if name == "ops" else name,
                "invoke_ms": summary(rts),
                "handler_ms": summary(handler),
                "statuses": sorted(set(statuses)),
            }
            del result["warm"][name]["invoke_ms"]["runs"], result["warm"][name]["handler_ms"]["runs"]
            log(f"warm {name}: invoke median {median(rts)} ms p95 {pct(rts, 95)}; handler median {median(handler)} ms p95 {pct(handler, 95)}")
    finally:
        fixture.close()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))


# ------------------------------------------------------------------------ cargo lambda watch


def wait_port(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            c.request("GET", "/")
            c.getresponse().read()
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listens on :{port} after {timeout}s")


def cmd_watch(args) -> None:
    log_dir = ROOT / args.log_dir
    log_dir.mkdir(parents=True, exist_ok=True)
    env = function_env(args.endpoint)
    fixture = Fixture(ROOT / args.bin_dir, env, log_dir)
    functions = args.functions.split(",")
    out = {"port": args.port, "runs": args.runs, "functions": {}}
    try:
        fixture.setup()
        times = {f: [] for f in functions}
        rebuilt = {f: 0 for f in functions}
        for run in range(args.runs):
            for name in functions:
                payload = json.dumps(fixture.event_for(name)).encode()
                for attempt in range(3):
                    # What watch runs is `cargo run --bin NAME` in this environment: build exactly
                    # that first, so a rebuild (another engineer's edit) is not what gets timed.
                    subprocess.run(["cargo", "build", "--quiet", "--bin", name], cwd=ROOT, check=True, env=env)
                    wlog_path = log_dir / f"watch-{name}-{run}.log"
                    wlog = open(wlog_path, "wb")
                    w = subprocess.Popen(
                        ["cargo", "lambda", "watch", "--ignore-changes", "-A", "127.0.0.1", "-P", str(args.port)],
                        cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=wlog, stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                    try:
                        wait_port(args.port, 120)
                        t0 = time.perf_counter()
                        c = http.client.HTTPConnection("127.0.0.1", args.port, timeout=600)
                        c.request("POST", f"/2015-03-31/functions/{name}/invocations", body=payload,
                                  headers={"Content-Type": "application/json"})
                        resp = c.getresponse()
                        body = resp.read()
                        ms = (time.perf_counter() - t0) * 1000
                    finally:
                        os.killpg(w.pid, signal.SIGTERM)
                        try:
                            w.wait(15)
                        except subprocess.TimeoutExpired:
                            os.killpg(w.pid, signal.SIGKILL)
                            w.wait()
                        wlog.close()
                    if resp.status != 200:
                        raise RuntimeError(f"watch {name}: {resp.status} {body[:300]!r}")
                    text = wlog_path.read_text(errors="replace")
                    if "Compiling " in text or "Blocking waiting for file lock" in text:
                        rebuilt[name] += 1
                        log(f"watch {name} run {run + 1}: cargo compiled or waited for another build inside watch ({ms:.0f} ms): not counted, again")
                        payload = json.dumps(fixture.event_for(name)).encode()
                        continue
                    times[name].append(ms)
                    log(f"watch {name} run {run + 1}/{args.runs}: first invoke {ms:.0f} ms")
                    break
        out["rebuilds_discarded"] = rebuilt
        out["functions"] = {f: summary(v) for f, v in times.items()}
    finally:
        fixture.close()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2))


# ---------------------------------------------------------------------------------- report


def mb(n):
    return f"{n / 1e6:.2f}"


def cmd_report(args) -> None:
    parts = {}
    for name in ("machine", "sizes", "stub", "watch"):
        path = Path(getattr(args, name) or "")
        if getattr(args, name) and path.exists():
            parts[name] = json.loads(path.read_text())
    size_goal, cold_goal = args.size_goal_mb * 1e6, args.cold_goal_ms
    lines = []
    if "machine" in parts:
        m = parts["machine"]
        lines += [f"Machine: {m.get('cpu')} · {m.get('nproc')} cores · {m.get('date')} · rustc {m.get('rustc')}", ""]
    if "sizes" in parts:
        rows = parts["sizes"]["functions"]
        ok = [r for r in rows if "bytes" in r]
        lines += [f"### Release arm64 binaries ({parts['sizes']['lambda_dir']}/<name>/bootstrap), goal < {args.size_goal_mb} MB", "",
                  "| function | arch | bootstrap MB | zip MB | goal |", "|---|---|---:|---:|---|"]
        for r in rows:
            if "bytes" not in r:
                lines.append(f"| {r['function']} | – | not built | | – |")
                continue
            lines.append(f"| {r['function']} | {r['arch']} | {mb(r['bytes'])} | {mb(r['zip_bytes'])} | {'✓' if r['bytes'] < size_goal else '✗'} |")
        missing = [r["function"] for r in rows if "bytes" not in r]
        if ok:
            big = max(ok, key=lambda r: r["bytes"])
            parts["sizes"]["max_bytes"] = big["bytes"]
            parts["sizes"]["goal_met"] = all(r["bytes"] < size_goal for r in ok) and len(ok) == len(rows)
            verdict = "met" if parts["sizes"]["goal_met"] else ("not measured for all" if missing else "NOT met")
            lines += ["", f"Largest: {big['function']} {mb(big['bytes'])} MB ({mb(big['zip_bytes'])} MB zipped); "
                      f"goal {verdict} ({len(ok)} of {len(rows)} measured).", ""]
    if "stub" in parts:
        s = parts["stub"]
        lines += [f"### Cold start: exec of the release binary → first response posted (runtime-API stub, moto), median of {s['runs']}, goal < {cold_goal:g} ms", "",
                  "| function | cold ms (median) | min–max | init ms (exec→first /next) | first invoke ms | first handler ms (EMF) | goal |",
                  "|---|---:|---:|---:|---:|---:|---|"]
        for f, c in s["cold"].items():
            h = c["handler_ms"]["median"]
            lines.append(
                f"| {f} | {c['cold_ms']['median']} | {c['cold_ms']['min']}–{c['cold_ms']['max']} | {c['init_ms']['median']} | "
                f"{c['invoke_ms']['median']} | {h if h is not None else '–'} | {'✓' if c['cold_ms']['median'] < cold_goal else '✗'} |"
            )
        lines += ["", "### Warm requests (one process, first invocation discarded)", "",
                  "| function | request | n | runtime-API round trip median / p95 ms | handler (EMF Latency) median / p95 ms |",
                  "|---|---|---:|---:|---:|"]
        for f, w in s["warm"].items():
            h = w["handler_ms"]
            lines.append(f"| {f} | {w['event']} | {w['invoke_ms']['n']} | {w['invoke_ms']['median']} / {w['invoke_ms']['p95']} | "
                         f"{h['median'] if h['n'] else '–'} / {h['p95'] if h['n'] else '–'} |")
        lines.append("")
    if "watch" in parts:
        w = parts["watch"]
        lines += [f"### For contrast: first invocation under `cargo lambda watch` (cargo's no-op check + debug binary start + request), median of {w['runs']}", "",
                  "| function | first invoke ms (median) | min–max |", "|---|---:|---:|"]
        for f, c in w["functions"].items():
            lines.append(f"| {f} | {c['median']:.0f} | {c['min']:.0f}–{c['max']:.0f} |")
        lines.append("")
    print("\n".join(lines))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(parts, indent=2))


def main() -> None:
    # SIGTERM (timeout, the shell script's trap) unwinds like Ctrl-C, so every `finally` stops
    # the processes this run started.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("sizes")
    s.add_argument("--lambda-dir", default="target/lambda")
    s.add_argument("--fallback-dir", help="e.g. target/aarch64-unknown-linux-gnu/release, for an interrupted build")
    s.add_argument("--out", required=True)
    s.set_defaults(fn=cmd_sizes)
    for name, fn in (("stub", cmd_stub), ("watch", cmd_watch)):
        s = sub.add_parser(name)
        s.add_argument("--bin-dir", default="target/lambda-x86_64")
        s.add_argument("--endpoint", required=True)
        s.add_argument("--functions", default="ops,queue-join,reserve,payment-webhook,expire")
        s.add_argument("--runs", type=int, default=7)
        s.add_argument("--log-dir", default="target/bench/lambda-logs")
        s.add_argument("--out", required=True)
        if name == "stub":
            s.add_argument("--warm", default="ops:300,queue-join:60")
            s.add_argument("--warm-n", type=int, default=50)
        else:
            s.add_argument("--port", type=int, default=9075)
        s.set_defaults(fn=fn)
    s = sub.add_parser("report")
    for name in ("machine", "sizes", "stub", "watch"):
        s.add_argument(f"--{name}")
    s.add_argument("--size-goal-mb", type=float, default=20)
    s.add_argument("--cold-goal-ms", type=float, default=50)
    s.add_argument("--out", required=True)
    s.set_defaults(fn=cmd_report)
    args = p.parse_args()
    args.fn(args)


if __name__ == "__main__":
    main()
