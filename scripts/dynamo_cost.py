#!/usr/bin/env python3
"""DynamoDB cost per sold ticket, measured on moto (issue 4). scripts/bench_dynamo.sh runs it all.

Three subcommands:

* ``lambda-api``: a minimal Lambda runtime API plus the Lambda Invoke API, so that
  scripts/aws_emulator.py (``--watch``) can invoke ``tacos-container lambda`` processes playing
  ``payment-simulator``, ``expire`` and ``payment-followup`` without cargo lambda. One port takes
  invocations, one port per function serves its runtime API.
* ``flows``: N complete purchase flows against ``tacos-container http`` in phases, writing a mark
  into moto's request log (scripts/moto_serial.py, ``MOTO_REQUEST_LOG``) before each phase:
  register, then one buyer at a time through join, status, enter, reserve, intent, process (with
  the webhook it delivers inline), then settle (EventBridge -> SQS -> follow-up, attributed by the
  caller's user agent whenever it runs), get (GET /reservations/{id} until CONFIRMED). Then the
  hot-item runs on a second event: M joins alone (``hotjoin``), then S statuses (``hotstatus``).
* ``analyze``: reads the log and the flows' summary, prints the markdown tables, writes JSON.

Counting rules (also printed with the tables):
* write requests: PutItem / UpdateItem / DeleteItem 1 each, BatchWriteItem and TransactWriteItems
  1 per item (ConditionCheck items shown apart: they write nothing but are billed as writes);
  failed conditional writes count too (DynamoDB bills them).
* WCU: ceil(max(size before, size after) / 1 KB) per item, doubled for transactional items; sizes
  are moto's item sizes (attribute names + values, as DynamoDB counts). "WCU@1KB" assumes every item
  is at most 1 KB (1 per write, 2 per transactional item).
* read requests: GetItem and Query 1 each (per page), BatchGetItem and TransactGetItems 1 per key.
  RCU: strongly consistent ceil(size / 4 KB), at least 1 (Query: the sum of the items returned);
  eventually consistent half that; transactional reads twice.
"""
from __future__ import annotations

import argparse
import collections
import concurrent.futures
import json
import math
import os
import queue
import re
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# ----------------------------------------------------------------------------- lambda-api


def lambda_api(args):
    functions = {}
    for spec in args.function:
        name, port = spec.split("=")
        functions[name] = {"port": int(port), "queue": queue.Queue(), "pending": {}}

    class Invoke(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_):
            pass

        def do_POST(self):  # noqa: N802 - http.server's naming
            match = re.match(r"^/2015-03-31/functions/([^/]+)/invocations", self.path)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            fn = functions.get(match.group(1)) if match else None
            if fn is None:
                return self.reply(404, b'{"message":"no such function"}')
            request_id = str(uuid.uuid4())
            done = threading.Event()
            fn["pending"][request_id] = {"done": done}
            fn["queue"].put((request_id, body))
            if not done.wait(120):
                fn["pending"].pop(request_id, None)
                return self.reply(504, b'{"message":"timed out"}')
            result = fn["pending"].pop(request_id)
            headers = {"X-Amz-Function-Error": "Unhandled"} if result["error"] else {}
            return self.reply(200, result["body"], headers)

        def reply(self, code, body, headers=None):
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

    def runtime(name, fn):
        class Runtime(Invoke):
            def do_GET(self):  # noqa: N802
                if not self.path.endswith("/runtime/invocation/next"):
                    return self.reply(404, b"{}")
                request_id, body = fn["queue"].get()
                return self.reply(200, body, {
                    "Lambda-Runtime-Aws-Request-Id": request_id,
                    "Lambda-Runtime-Deadline-Ms": str(int(time.time() * 1000) + 60_000),
                    "Lambda-Runtime-Invoked-Function-Arn": f"arn:aws:lambda:us-east-1:123456789012:function:{name}",
                    "Lambda-Runtime-Trace-Id": "Root=1-00000000-000000000000000000000000",
                })

            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                match = re.match(r"^/2018-06-01/runtime/invocation/([^/]+)/(response|error)$", self.path)
                if match and match.group(1) in fn["pending"]:
                    entry = fn["pending"][match.group(1)]
                    entry["body"], entry["error"] = body, match.group(2) == "error"
                    entry["done"].set()
                elif "/init/error" in self.path:
                    print(f"[lambda-api] {name} init error: {body[:300]!r}", flush=True)
                return self.reply(202, b'{"status":"OK"}')

        return Runtime

    servers = [ThreadingHTTPServer(("127.0.0.1", args.invoke_port), Invoke)]
    servers += [ThreadingHTTPServer(("127.0.0.1", fn["port"]), runtime(name, fn)) for name, fn in functions.items()]
    for server in servers:
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"[lambda-api] invoke on :{args.invoke_port}, runtimes {[(n, f['port']) for n, f in functions.items()]}", flush=True)
    threading.Event().wait()


# ----------------------------------------------------------------------------- flows


class Api:
    def __init__(self, base):
        self.base = base.rstrip("/") + "/api/v1"

    def call(self, method, path, body=None, token=None, idem=False, expect=None):
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if idem:
            headers["Idempotency-Key"] = str(uuid.uuid4())
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, headers=headers, method=method)
        for attempt in range(5):
            try:
                with urllib.request.urlopen(request, timeout=60) as response:
                    status, payload = response.status, response.read()
                break
            except urllib.error.HTTPError as error:
                status, payload = error.code, error.read()
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
                if attempt == 4:
                    raise
                print(f"retrying {method} {path}: {error}", file=sys.stderr)
                time.sleep(0.5)
        value = json.loads(payload) if payload else {}
        if expect is not None and status not in expect:
            raise RuntimeError(f"{method} {path} -> {status}: {payload[:300]!r}")
        return status, value


PER_BUYER_STEPS = {"join", "status", "enter", "reserve", "intent", "process", "rejoin"}


class Flows:
    def __init__(self, args):
        self.args = args
        self.api = Api(args.base_url)
        self.calls = collections.Counter()
        self.lock = threading.Lock()
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=args.concurrency)
        self.log_path = args.log
        self.phases = []

    def mark(self, phase):
        with urllib.request.urlopen(f"{self.args.moto}/_request_log/mark?phase={phase}", timeout=30) as r:
            r.read()
        if not self.phases or self.phases[-1][0] != phase:
            self.phases.append((phase, time.time()))
        if phase not in PER_BUYER_STEPS:
            print(f"[flows] phase {phase}", file=sys.stderr, flush=True)

    def count(self, route, n=1):
        with self.lock:
            self.calls[route] += n

    def each(self, fn, items):
        return list(self.pool.map(fn, items))

    def quiet(self, seconds, at_least, until=None):
        """Waits until moto's log shows no DynamoDB request for `seconds` (at least `at_least`)."""
        start = time.time()
        size = os.path.getsize(self.log_path)
        last_db = time.time()
        while True:
            time.sleep(0.25)
            with open(self.log_path, "rb") as f:
                f.seek(size)
                chunk = f.read()
            size += len(chunk)
            if b'"svc":"dynamodb"' in chunk:
                last_db = time.time()
            now = time.time()
            if now - start >= at_least and now - last_db >= seconds:
                return
            if until and now - start > until:
                return

    def run(self):
        a = self.args
        _, admin = self.api.call("POST", "/auth/login", {"username": a.admin_username, "password": a.admin_password}, expect={200})
        admin_token = admin["token"]

        def event(capacity, rate, name):
            body = {"name": f"{name} {uuid.uuid4().hex[:8]}", "venue": "Bench Field",
                    "starts_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 30 * 86400)),
                    "currency": "USD", "price": 4500, "admission_rate_per_sec": rate, "capacity": capacity}
            _, value = self.api.call("POST", "/admin/events", body, token=admin_token, expect={200, 201})
            return value["event_id"]

        # At least 1,024 places: a venue large enough for its stock to spread over all 16 shards
        # of the AWS settings (one per 64 places), as the on-sale rush this measures would have.
        ev = event(max(a.buyers + 100, 1024), a.admission_rate, "Cost bench")
        hot = event(a.hot_joins + 1000, 1.0, "Hot-item bench") if a.hot_joins else None
        n = a.buyers
        run_id = uuid.uuid4().hex[:6]

        self.mark("register")
        def register(i):
            _, v = self.api.call("POST", "/auth/register", {"username": f"b{run_id}{i}", "password": "correct horse battery"}, expect={200, 201})
            self.count("register")
            return v["token"]
        tokens = self.each(register, range(n))

        # Cohorts: an admission lasts READY_WINDOW_SECS (30 s), so a cohort goes from join to
        # process before the next one joins; phases keep their names across cohorts.
        def join(token):
            _, v = self.api.call("POST", "/queue/join", {"event_id": ev}, token=token, idem=True, expect={202})
            self.count("join")
            return v["waiting_token"]

        def status(pair):
            token, wt = pair
            for _ in range(600):
                _, v = self.api.call("GET", f"/queue/status?token={wt}", expect={200})
                self.count("status")
                if v.get("ready_for_entry"):
                    return wt
                if v.get("status") == "expired":
                    # With sharded counters a join can take a hole the cursor already passed and
                    # land in an admission batch whose 30 s are up: the buyer has to join again.
                    self.mark("rejoin")
                    _, j = self.api.call("POST", "/queue/join", {"event_id": ev}, token=token, idem=True, expect={202})
                    self.count("rejoin")
                    self.mark("status")
                    wt = j["waiting_token"]
                    continue
                time.sleep(a.poll_interval)
            raise RuntimeError(f"never admitted: {wt}")

        def enter(pair):
            token, wt = pair
            for _ in range(5):
                code, v = self.api.call("POST", "/queue/enter", {"waiting_token": wt}, token=token, idem=True, expect={200, 410})
                self.count("enter")
                if code == 200:
                    return v["reservation_token"]
                # 410: the admission's 30 s were up (same cause as above): join again.
                self.mark("rejoin")
                _, j = self.api.call("POST", "/queue/join", {"event_id": ev}, token=token, idem=True, expect={202})
                self.count("rejoin")
                self.mark("status")
                wt = status((token, j["waiting_token"]))
                self.mark("enter")
            raise RuntimeError(f"could not enter: {wt}")

        def reserve(pair):
            token, rt = pair
            _, v = self.api.call("POST", "/reservations", {"event_id": ev, "quantity": 1, "reservation_token": rt}, token=token, idem=True, expect={201})
            self.count("reserve")
            return v

        def intent(pair):
            token, r = pair
            _, v = self.api.call("POST", "/payments/intent", {"reservation_id": r["reservation_id"], "amount": r["total_amount"], "currency": r.get("currency", "USD")}, token=token, idem=True, expect={200, 201})
            self.count("intent")
            return v["payment_intent_id"]

        def process(pair):
            token, pi = pair
            _, v = self.api.call("POST", "/payments/process", {"payment_intent_id": pi}, token=token, idem=True, expect={200})
            self.count("process")
            return v.get("status")

        # One buyer at a time, with a mark before each step: every DynamoDB call between two
        # marks is the step's (the follow-up, which runs in the background, is told apart by its
        # caller). Concurrent buyers would need phase barriers, and an admission lasts only 30 s.
        reservations, outcomes = [], []
        for i, token in enumerate(tokens):
            self.mark("join")
            wt = join(token)
            self.mark("status")
            wt = status((token, wt))
            self.mark("enter")
            rt = enter((token, wt))
            self.mark("reserve")
            r = reserve((token, rt))
            self.mark("intent")
            pi = intent((token, r))
            self.mark("process")
            outcomes.append(process((token, pi)))
            reservations.append(r)
            if (i + 1) % 20 == 0:
                print(f"[flows] {i + 1}/{n} buyers through process", file=sys.stderr, flush=True)
        if any(o != "APPROVED" for o in outcomes):
            print(f"[flows] process outcomes: {collections.Counter(outcomes)}", file=sys.stderr)

        pending = list(zip(tokens, [r["reservation_id"] for r in reservations]))
        confirmed = 0
        for _ in range(20):
            self.mark("settle")
            self.quiet(seconds=3.0, at_least=4.0, until=120)
            self.mark("get")
            def get(pair):
                token, rid = pair
                _, v = self.api.call("GET", f"/reservations/{rid}", token=token, expect={200})
                self.count("get")
                return v.get("status")
            statuses = self.each(get, pending)
            pending = [p for p, s in zip(pending, statuses) if s != "CONFIRMED"]
            confirmed = n - len(pending)
            if not pending:
                break
            print(f"[flows] {len(pending)} not confirmed yet: {collections.Counter(statuses)}", file=sys.stderr)

        hot_summary = {}
        if hot:
            hot_tokens = tokens[: min(len(tokens), 50)]
            self.mark("hotjoin")
            started = time.time()
            hot_waiting = self.each(lambda i: join_to(self, hot, hot_tokens[i % len(hot_tokens)]), range(a.hot_joins))
            hot_summary["join_seconds"] = time.time() - started
            self.mark("hotstatus")
            started = time.time()
            def one_status(i):
                self.api.call("GET", f"/queue/status?token={hot_waiting[i % len(hot_waiting)]}", expect={200})
                self.count("hotstatus")
            self.each(one_status, range(a.hot_statuses))
            hot_summary["status_seconds"] = time.time() - started
        self.mark("end")
        summary = {"buyers": n, "confirmed": confirmed, "calls": dict(self.calls), "event_id": ev, "hot_event_id": hot,
                   "hot_joins": a.hot_joins, "hot_statuses": a.hot_statuses, **hot_summary,
                   "phases": self.phases, "concurrency": a.concurrency}
        with open(a.out, "w") as f:
            json.dump(summary, f, indent=2)
        print(f"[flows] {confirmed}/{n} confirmed; calls {dict(self.calls)}", file=sys.stderr)
        self.pool.shutdown()
        return 0 if confirmed == n else 1


def join_to(flows, event_id, token):
    _, v = flows.api.call("POST", "/queue/join", {"event_id": event_id}, token=token, idem=True, expect={202})
    flows.count("hotjoin")
    return v["waiting_token"]


# ----------------------------------------------------------------------------- analyze

KB, FOUR_KB = 1024, 4096
PER_TICKET_PHASES = ["join", "status", "enter", "reserve", "intent", "process", "settle", "get"]
ROUTES = {"register": "POST /auth/register (account setup, not per ticket)", "join": "POST /queue/join",
          "rejoin": "POST /queue/join again after 'expired' on arrival (not in the total)",
          "status": "GET /queue/status", "enter": "POST /queue/enter", "reserve": "POST /reservations",
          "intent": "POST /payments/intent", "process": "POST /payments/process + the webhook it delivers inline",
          "settle": "async: EventBridge -> SQS -> payment-followup confirms (+ any simulator/expire job)", "get": "GET /reservations/{id}"}
WRITE_ONE = {"PutItem", "UpdateItem", "DeleteItem"}
ASYNC_APPS = {"payment-followup", "payment-simulator", "expire"}


def key_text(key):
    return f"{key.get('pk')} | {key.get('sk')}"


def item_class(text):
    """A key with its ids replaced, so like items group together."""
    text = re.sub(r"evt_[0-9A-Za-z_-]+", "{event}", text)
    text = re.sub(r"(WTKN|RSV|PI|WH|RTKN|ORD|ORDER|USER)#[^ |]+", r"\1#{id}", text)
    text = re.sub(r"IDEM#[^ |]+", "IDEM#{caller}#{key}", text)
    text = re.sub(r"QSEQ#\{event\}#\d+", "QSEQ#{event}#{shard}", text)
    text = re.sub(r"(BATCH|LEFT)#\d+", r"\1#{n}", text)
    text = re.sub(r"SEAT#[^ |]+", "SEAT#{seat}", text)
    return text


def timer_item(text):
    """Items written on a clock (cursor advances), not per join: the queue's state and batches."""
    return text.startswith("QUEUE#") and ("| STATE" in text or "| BATCH#" in text)


class Tally:
    def __init__(self):
        self.c = collections.Counter()
        self.f = collections.Counter()

    def add(self, name, value=1):
        self.c[name] += value

    def as_dict(self, divide=1):
        return {k: round(v / divide, 3) for k, v in sorted(self.c.items())}


def analyze_record(r, tally, item_writes=None, item_reads=None, item_wcu=None):
    op = r.get("op")
    if r.get("svc") != "dynamodb":
        # The platform's own calls to other AWS services (the emulator's polling, boto3, is not
        # the platform's: on AWS, Scheduler and Lambda's SQS poller do that for free).
        if r.get("app") not in (None, "boto3"):
            tally.add(f"other:{r.get('svc')}:{op}")
        return
    failed = r.get("status", 200) >= 400
    if op in WRITE_ONE or op in ("TransactWriteItems", "BatchWriteItem"):
        tx = op == "TransactWriteItems"
        if tx:
            tally.add("transact_requests")
        tally.add("write_requests_api")
        for it in r.get("items", []):
            size = max(it.get("before") or 0, it.get("after") or 0)
            units = max(1, math.ceil(size / KB))
            tally.add("max_item_bytes", 0)
            tally.f["max_item_bytes"] = max(tally.f["max_item_bytes"], size)
            if it["op"] == "ConditionCheck":
                tally.add("condition_checks")
            else:
                tally.add("writes")
            if tx:
                tally.add("tx_items")
            if failed:
                tally.add("failed_write_items")
            tally.add("wcu", units * (2 if tx else 1))
            tally.add("wcu_1kb", 2 if tx else 1)
            sk = str(it["key"].get("sk", ""))
            if str(it["key"].get("pk", "")).startswith("QUEUE#") and (sk == "STATE" or (sk.startswith("BATCH#") and it["op"] == "Put")):
                # A cursor advance: at most one per 200 ms per event, whatever the traffic.
                tally.add("advance_writes")
                tally.add("advance_wcu", units * (2 if tx else 1))
                tally.add("advance_wcu_1kb", 2 if tx else 1)
            if item_writes is not None and it["op"] != "ConditionCheck":
                item_writes[key_text(it["key"])] += 1
            if item_wcu is not None:
                item_wcu[key_text(it["key"])] += units * (2 if tx else 1)
        return
    if op in ("GetItem", "BatchGetItem", "TransactGetItems"):
        factor = 2 if op == "TransactGetItems" else (1 if r.get("consistent") else 0.5)
        for it in r.get("items", []):
            tally.add("reads")
            if op == "TransactGetItems":
                tally.add("tx_read_items")
            units = max(1, math.ceil((it.get("size") or 0) / FOUR_KB)) * factor
            tally.add("rcu", units)
            tally.add("strong_reads" if r.get("consistent") or op == "TransactGetItems" else "eventual_reads")
            if str(it["key"].get("pk", "")).startswith("QSEQ#"):
                # The queue view's refresh: all join counters, once per window per process.
                tally.add("view_counter_reads")
                tally.add("view_counter_rcu", units)
            if item_reads is not None:
                item_reads[key_text(it["key"])] += units
        return
    if op == "Query":
        tally.add("reads")
        tally.add("queries")
        factor = 1 if r.get("consistent") else 0.5
        units = max(1, math.ceil((r.get("size") or 0) / FOUR_KB)) * factor
        tally.add("rcu", units)
        tally.add("query_items_returned", r.get("returned") or 0)
        tally.add("strong_reads" if r.get("consistent") else "eventual_reads")
        if item_reads is not None:
            cond = re.sub(r":\w+", "?", r.get("key_condition") or "")
            limit = f" limit {r['limit']}" if r.get("limit") else ""
            item_reads[f"{r.get('pk')} | Query {cond}{limit}"] += units
        return
    tally.add(f"dynamodb_other:{op}")


def unique_class(cls):
    return "{id}" in cls or "{caller}" in cls


def classify_writes(writes, requests, secs, target):
    """Writes per item class, with the rate one item of the class takes at `target` requests/s."""
    classes = collections.defaultdict(list)
    for key, w in writes.items():
        classes[item_class(key)].append((key, w))
    rows = []
    for cls, items in classes.items():
        total = sum(w for _, w in items)
        hottest_key, hottest = max(items, key=lambda kw: kw[1])
        row = {"class": cls, "items": len(items), "writes": total, "writes_per_request": round(total / requests, 4),
               "max_writes_one_item": hottest, "hottest": hottest_key}
        if timer_item(hottest_key):
            row["kind"] = "timer (cursor advance)"
            row["rate_at_target"] = round(hottest / secs, 2)
            row["note"] = f"measured {hottest} writes in {secs:.0f} s by one process"
        elif unique_class(cls):
            row["kind"] = "one per request (unique key)"
            row["rate_at_target"] = hottest  # all within one request: not a sustained rate
            row["note"] = f"each item written {hottest}x by its own request, never again"
        elif cls.startswith("QSEQ#"):
            shards = max(len(items), 64 if len(items) > 32 else len(items))
            mean = total / requests * target / shards
            row["kind"] = f"sharded counter ({shards} shards, random)"
            row["rate_at_target"] = round(mean + 3 * math.sqrt(mean), 1)
            row["note"] = (f"mean {mean:.0f}/s per shard, +3 sigma {mean + 3 * math.sqrt(mean):.0f}/s within a second; "
                           f"hottest measured shard {hottest}/{requests} joins = {hottest / requests * target:.0f}/s (small-sample noise)")
        else:
            row["kind"] = "per request (shared)"
            row["rate_at_target"] = round(hottest / requests * target, 1)
            row["note"] = ""
        rows.append(row)
    rows.sort(key=lambda r: -r["rate_at_target"])
    return rows


def classify_reads(reads, requests, secs, target, poll_seconds):
    """RCU per item class; per-request shared items scale with `target`, per-user items with one
    user's polling, view-window items with time (this one process)."""
    classes = collections.defaultdict(list)
    for key, u in reads.items():
        classes[item_class(key)].append((key, u))
    rows = []
    for cls, items in classes.items():
        total = sum(u for _, u in items)
        hottest_key, hottest = max(items, key=lambda kw: kw[1])
        row = {"class": cls, "items": len(items), "rcu": total, "rcu_per_request": round(total / requests, 4), "hottest": hottest_key}
        window = cls.startswith("QSEQ#") or cls.endswith("| STATE") or re.search(r"\| INV(#\d+)?$", cls) is not None
        if window:
            row["kind"] = "view refresh (per process, per window)"
            row["rcu_at_target"] = round(hottest / secs, 1)
            row["note"] = "x number of instances"
        elif unique_class(cls):
            row["kind"] = "own item (read by its owner's polls)"
            row["rcu_at_target"] = round(hottest / max(1, requests / len(items)) / poll_seconds, 2)
            row["note"] = f"one poll every {poll_seconds:g} s"
        elif hottest / requests < 0.5 or cls.endswith("limit 17"):
            # limit 17: the advance's page of open admission batches (queue.rs BATCH_PAGE + 1).
            # Read by some requests only: the cursor advance (at most every 200 ms per process)
            # or a cold cache.
            row["kind"] = "advance / cache fill (time-based)"
            row["rcu_at_target"] = round(hottest / secs, 1)
            row["note"] = "x number of instances"
        else:
            row["kind"] = "per request (shared)"
            row["rcu_at_target"] = round(hottest / requests * target, 1)
            row["note"] = ""
        rows.append(row)
    rows.sort(key=lambda r: -r["rcu_at_target"])
    return rows


def analyze(args):
    summary = json.load(open(args.flows))
    phases = collections.defaultdict(list)
    durations = collections.Counter()
    current, started = None, None
    apps = collections.defaultdict(collections.Counter)
    with open(args.log) as f:
        for line in f:
            r = json.loads(line)
            if "mark" in r:
                if current is not None:
                    durations[current] += r["t"] - started
                current, started = r["mark"], r["t"]
                continue
            if r.get("app") in ASYNC_APPS:
                # Triggered work runs in the background of later phases: it is attributed by caller.
                phases["settle"].append(r)
            elif current is not None:
                phases[current].append(r)
                if r.get("svc") == "dynamodb":
                    apps[current][r.get("app") or "?"] += 1
    n = summary["buyers"]
    calls = summary["calls"]
    result = {"buyers": n, "confirmed": summary["confirmed"], "calls": calls, "phases": {}, "callers": {k: dict(v) for k, v in apps.items()}}
    total = Tally()
    for phase in ["register"] + PER_TICKET_PHASES + ["rejoin"]:
        t = Tally()
        for r in phases.get(phase, []):
            analyze_record(r, t)
        if phase not in ("register", "rejoin"):
            for k, v in t.c.items():
                total.c[k] += v
            total.f["max_item_bytes"] = max(total.f["max_item_bytes"], t.f["max_item_bytes"])
        result["phases"][phase] = {"route": ROUTES[phase], "calls": calls.get(phase, 0), "seconds": round(durations[phase], 2),
                                   "totals": t.as_dict(), "per_ticket": t.as_dict(n), "max_item_bytes": t.f["max_item_bytes"],
                                   "per_call": t.as_dict(calls[phase]) if calls.get(phase) else None}
    result["per_ticket_total"] = total.as_dict(n)
    # Items every ticket writes (shared by the whole event): they cap the sale rate, whatever the
    # join rate. Per ticket: writes and WCU on the item; the most tickets/s its partition allows.
    shared_w, shared_wcu, scratch = collections.Counter(), collections.Counter(), Tally()
    for phase in PER_TICKET_PHASES:
        for r in phases.get(phase, []):
            analyze_record(r, scratch, shared_w, None, shared_wcu)
    result["shared_items"] = [
        {"item": k, "writes_per_ticket": round(w / n, 3), "wcu_per_ticket": round(shared_wcu[k] / n, 3),
         "max_tickets_per_sec": round(1000 / (shared_wcu[k] / n), 1)}
        for k, w in shared_w.most_common() if w >= max(2, n // 4)
    ]
    # The sale event's stock shards (EVENT#evt | INV, INV#001, ...): each below the shared-items
    # cut, so summed here; the hottest caps the event's sale rate.
    stock = {k: w for k, w in shared_w.items() if re.search(r"\| INV(#\d+)?$", k)}
    if stock:
        hottest = max(stock, key=lambda k: shared_wcu[k])
        result["stock_shards"] = {
            "items": len(stock), "writes_per_ticket": round(sum(stock.values()) / n, 3),
            "hottest": hottest, "hottest_writes_per_ticket": round(stock[hottest] / n, 3),
            "max_tickets_per_sec": round(1000 / (shared_wcu[hottest] / n), 1)}
    result["max_item_bytes"] = total.f["max_item_bytes"]

    hot = {}
    if phases.get("hotjoin"):
        m = summary["hot_joins"]
        writes, reads = collections.Counter(), collections.Counter()
        t = Tally()
        for r in phases["hotjoin"]:
            analyze_record(r, t, writes, reads)
        secs = summary.get("join_seconds") or durations["hotjoin"]
        hot["join"] = {"joins": m, "seconds": round(secs, 2), "join_rate_target": args.join_rate, "totals": t.as_dict(),
                       "per_join": t.as_dict(m), "distinct_items_written": len(writes),
                       "classes": classify_writes(writes, m, secs, args.join_rate)}
        hot["join"]["max"] = max(hot["join"]["classes"], key=lambda c: c["rate_at_target"], default=None)
        hot["join"]["reads"] = classify_reads(reads, m, secs, args.join_rate, args.poll_seconds)
    if phases.get("hotstatus"):
        s = summary["hot_statuses"]
        reads, writes = collections.Counter(), collections.Counter()
        t = Tally()
        for r in phases["hotstatus"]:
            analyze_record(r, t, writes, reads)
        secs = summary.get("status_seconds") or durations["hotstatus"]
        rows = classify_reads(reads, s, secs, args.status_rate, args.poll_seconds)
        hot["status"] = {"statuses": s, "seconds": round(secs, 2), "status_rate_target": args.status_rate, "totals": t.as_dict(),
                         "per_status": t.as_dict(s), "classes": rows,
                         "max": max(rows, key=lambda c: c["rcu_at_target"], default=None),
                         "writes": classify_writes(writes, s, secs, args.status_rate)}
    result["hot"] = hot
    pt = result["per_ticket_total"]
    per_ticket_writes = round(pt.get("writes", 0) + pt.get("condition_checks", 0) - pt.get("advance_writes", 0), 3)
    result["goals"] = {
        "writes_per_ticket": per_ticket_writes,
        "writes_per_ticket_ok": per_ticket_writes <= 12,
        "max_item_writes_per_sec": hot["join"]["max"]["rate_at_target"] if hot.get("join") and hot["join"]["max"] else None,
        "max_item_rcu_per_sec": hot["status"]["max"]["rcu_at_target"] if hot.get("status") and hot["status"]["max"] else None,
    }
    if result["goals"]["max_item_writes_per_sec"] is not None:
        result["goals"]["max_item_writes_ok"] = result["goals"]["max_item_writes_per_sec"] <= 1000
    os.makedirs(os.path.dirname(args.json) or ".", exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(result, f, indent=2)
    print(markdown(result))
    return 0


def fmt(x):
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.2f}".rstrip("0").rstrip(".") if x != int(x) else str(int(x))
    return str(x)


def markdown(res):
    out = []
    n = res["buyers"]
    out.append(f"### DynamoDB cost per sold ticket ({res['confirmed']}/{n} flows confirmed)\n")
    out.append("| phase (route) | calls/ticket | writes (incl. cond. checks, excl. cursor advances) | transactional items | cond. checks | failed writes | WCU (excl. advances) | WCU@1KB (excl.) | + cursor-advance writes (time-based) | reads (excl. view counters) | RCU (excl.) | + view counter reads (time-based) | strong/eventual reads (all) | other AWS calls by the platform |")
    out.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    keys = ["writes_x", "tx_items", "condition_checks", "failed_write_items", "wcu_x", "wcu_1kb_x", "advance_writes", "reads_x", "rcu_x", "view_counter_reads"]
    for p in list(res["phases"].values()) + [{"per_ticket": res["per_ticket_total"]}]:
        pt = p["per_ticket"]
        pt["writes_x"] = round(pt.get("writes", 0) + pt.get("condition_checks", 0) - pt.get("advance_writes", 0), 3)
        pt["wcu_x"] = round(pt.get("wcu", 0) - pt.get("advance_wcu", 0), 3)
        pt["wcu_1kb_x"] = round(pt.get("wcu_1kb", 0) - pt.get("advance_wcu_1kb", 0), 3)
        pt["reads_x"] = round(pt.get("reads", 0) - pt.get("view_counter_reads", 0), 3)
        pt["rcu_x"] = round(pt.get("rcu", 0) - pt.get("view_counter_rcu", 0), 3)
    for phase, p in res["phases"].items():
        pt = p["per_ticket"]
        other = ", ".join(f"{k.split(':', 2)[2]} {fmt(v)}" for k, v in pt.items() if k.startswith("other:"))
        calls = fmt(p["calls"] / n) if p["calls"] else "-"
        row = [f"{phase} ({p['route']})", calls] + [fmt(pt.get(k, 0)) for k in keys]
        row += [f"{fmt(pt.get('strong_reads', 0))}/{fmt(pt.get('eventual_reads', 0))}", other or "-"]
        out.append("| " + " | ".join(row) + " |")
    t = res["per_ticket_total"]
    other = ", ".join(f"{k.split(':', 2)[2]} {fmt(v)}" for k, v in t.items() if k.startswith("other:"))
    out.append("| **total per ticket** (register excluded) | | **" + "** | **".join(fmt(t.get(k, 0)) for k in keys)
               + f"** | {fmt(t.get('strong_reads', 0))}/{fmt(t.get('eventual_reads', 0))} | {other or '-'} |")
    g = res["goals"]
    out.append(f"\nWrites per ticket (incl. condition checks, excl. cursor advances, which are shared by all tickets "
               f"and at most 5 per second per event): **{fmt(g['writes_per_ticket'])}** (goal <= 12: "
               f"{'met' if g['writes_per_ticket_ok'] else 'NOT met'}); WCU per ticket {fmt(t.get('wcu_x'))}. "
               f"Largest item written: {res['max_item_bytes']} bytes (so measured WCU = WCU at 1 KB).")
    if res.get("shared_items"):
        out.append("\nItems every ticket writes (shared by the event; 1,000 WCU/s per partition caps the sale rate):\n")
        out.append("| item | writes/ticket | WCU/ticket | max tickets/s on this item |")
        out.append("|---|---|---|---|")
        for row in res["shared_items"]:
            out.append(f"| `{row['item']}` | {fmt(row['writes_per_ticket'])} | {fmt(row['wcu_per_ticket'])} | {fmt(row['max_tickets_per_sec'])} |")
    if res.get("stock_shards"):
        st = res["stock_shards"]
        out.append(f"\nThe event's stock counters: {st['items']} shard items, {fmt(st['writes_per_ticket'])} writes per ticket "
                   f"between them; the hottest, `{st['hottest']}`, {fmt(st['hottest_writes_per_ticket'])} writes per ticket: "
                   f"**{fmt(st['max_tickets_per_sec'])} tickets/s** per event before it reaches 1,000 WCU/s.")
    out.append("\nPer call (the phase's totals / its calls):\n")
    out.append("| phase | calls | seconds | writes/call | WCU/call | reads/call (excl. view counters) | RCU/call (excl.) | view counter reads in the phase |")
    out.append("|---|---|---|---|---|---|---|---|")
    for phase, p in res["phases"].items():
        pc = p["per_call"] or {}
        out.append(f"| {phase} | {p['calls']} | {p['seconds']} | {fmt(pc.get('writes', 0) + pc.get('condition_checks', 0))} | {fmt(pc.get('wcu', 0))} | "
                   f"{fmt(pc.get('reads', 0) - pc.get('view_counter_reads', 0))} | {fmt(pc.get('rcu', 0) - pc.get('view_counter_rcu', 0))} | {fmt(p['totals'].get('view_counter_reads', 0))} |")
    hot = res.get("hot", {})
    if "join" in hot:
        h = hot["join"]
        out.append(f"\n### Writes per item at {h['join_rate_target']:,.0f} joins/s ({h['joins']} joins measured in {h['seconds']} s, "
                   f"{h['distinct_items_written']} items written)\n")
        out.append("| item class | kind | items | writes | writes/join | hottest item's writes/s at target | note |")
        out.append("|---|---|---|---|---|---|---|")
        for row in h["classes"]:
            out.append(f"| `{row['class']}` | {row['kind']} | {row['items']} | {row['writes']} | {fmt(row['writes_per_request'])} | "
                       f"{fmt(row['rate_at_target'])} | {row['note']} |")
        mx = h["max"]
        if mx:
            out.append(f"\nHottest item: `{mx['hottest']}` at {fmt(mx['rate_at_target'])} writes/s (goal <= 1,000: "
                       f"{'met' if mx['rate_at_target'] <= 1000 else 'NOT met'}).")
        out.append("\nReads during the joins:\n")
        out.append("| item class | kind | items | RCU | RCU/join | hottest item's RCU/s at target | note |")
        out.append("|---|---|---|---|---|---|---|")
        for row in h["reads"]:
            out.append(f"| `{row['class']}` | {row['kind']} | {row['items']} | {fmt(row['rcu'])} | {fmt(row['rcu_per_request'])} | {fmt(row['rcu_at_target'])} | {row['note']} |")
    if "status" in hot:
        h = hot["status"]
        out.append(f"\n### Reads per item at {h['status_rate_target']:,.0f} statuses/s ({h['statuses']} statuses measured in {h['seconds']} s)\n")
        out.append("| item class | kind | items | RCU | RCU/status | hottest item's RCU/s at target | note |")
        out.append("|---|---|---|---|---|---|---|")
        for row in h["classes"]:
            out.append(f"| `{row['class']}` | {row['kind']} | {row['items']} | {fmt(row['rcu'])} | {fmt(row['rcu_per_request'])} | {fmt(row['rcu_at_target'])} | {row['note']} |")
        mx = h["max"]
        if mx:
            out.append(f"\nHottest read item: `{mx['hottest']}` at {fmt(mx['rcu_at_target'])} RCU/s (partition read limit 3,000 RCU/s: "
                       f"{'under' if mx['rcu_at_target'] <= 3000 else 'OVER'}).")
        if h["writes"]:
            out.append("\nWrites during the statuses: " + "; ".join(f"`{w['class']}` {w['writes']} ({w['kind']}, {fmt(w['rate_at_target'])}/s)" for w in h["writes"][:5]))
    return "\n".join(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("lambda-api")
    p.add_argument("--invoke-port", type=int, required=True)
    p.add_argument("--function", action="append", default=[], help="NAME=RUNTIME_PORT")
    p = sub.add_parser("flows")
    p.add_argument("--base-url", required=True)
    p.add_argument("--moto", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--buyers", type=int, default=100)
    p.add_argument("--hot-joins", type=int, default=500)
    p.add_argument("--hot-statuses", type=int, default=500)
    p.add_argument("--admission-rate", type=float, default=1000.0)
    p.add_argument("--poll-interval", type=float, default=0.3)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--admin-username", default="admin")
    p.add_argument("--admin-password", required=True)
    p.add_argument("--out", required=True)
    p = sub.add_parser("analyze")
    p.add_argument("--log", required=True)
    p.add_argument("--flows", required=True)
    p.add_argument("--json", required=True)
    p.add_argument("--join-rate", type=float, default=30_000)
    p.add_argument("--status-rate", type=float, default=10_000)
    p.add_argument("--poll-seconds", type=float, default=3.0)
    args = parser.parse_args()
    if args.cmd == "lambda-api":
        return lambda_api(args)
    if args.cmd == "flows":
        return Flows(args).run()
    return analyze(args)


if __name__ == "__main__":
    sys.exit(main())
