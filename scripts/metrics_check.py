#!/usr/bin/env python3
"""Checks a live `GET /metrics` after a load run, and that the Grafana dashboard queries only
series that exist.

    scripts/metrics_check.py --base-url http://127.0.0.1:8210 watch OUT.json   # during the rush
    scripts/metrics_check.py --base-url http://127.0.0.1:8210 oversell          # a same-seat race
    scripts/metrics_check.py --base-url http://127.0.0.1:8210 check --watched OUT.json \\
        --dashboard deploy/grafana/traffic-tacos.json

`watch` scrapes every 200 ms until killed and keeps the largest queue length it saw per event;
`oversell` makes two buyers race for one seat of the demo event (one of them is refused with 409
SEAT_UNAVAILABLE); `check` scrapes once and fails unless every series of the operator contract
(docs/observability.md) is present with the values a load run must have produced, and every
metric the dashboard queries is in the scrape. Standard library only.
"""

import argparse
import json
import re
import signal
import sys
import time
import urllib.error
import urllib.request
import uuid

SERIES = {
    "http_server_requests_total": "counter",
    "http_server_requests_duration_seconds": "histogram",
    "reservation_status_total": "counter",
    "backend_call_duration_seconds": "histogram",
    "queue_length": "gauge",
    "queue_admission_rate": "gauge",
    "queue_admitted_total": "counter",
    "oversell_attempts_rejected_total": "counter",
    "http_connections_refused_total": "counter",
}

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def scrape(base):
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as response:
        assert response.status == 200, response.status
        kind = response.headers.get("content-type", "")
        assert kind.startswith("text/plain"), kind
        return response.read().decode()


def parse(text):
    """(types by family, samples as (name, labels dict, value))."""
    types, samples = {}, []
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(maxsplit=3)
            types[name] = kind
        elif line and not line.startswith("#"):
            match = SAMPLE.match(line)
            if not match:
                raise SystemExit(f"unparseable exposition line: {line!r}")
            name, labels, value = match.groups()
            samples.append((name, dict(LABEL.findall(labels or "")), float(value)))
    return types, samples


def total(samples, name, **labels):
    return sum(v for n, l, v in samples if n == name and all(l.get(k) == x for k, x in labels.items()))


def call(base, method, path, body=None, token=None):
    request = urllib.request.Request(f"{base}/api/v1{path}", method=method)
    request.add_header("Idempotency-Key", str(uuid.uuid4()))
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, data, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def oversell(base, event="evt_demo", seat=None):
    """Two buyers admitted to `event` both ask for one seat: one holds it, one is refused."""
    tokens = []
    for _ in range(2):
        status, registered = call(base, "POST", "/auth/register",
                                  {"username": f"race{uuid.uuid4().hex[:10]}", "password": "correct horse"})
        assert status == 201, (status, registered)
        token = registered["token"]
        status, joined = call(base, "POST", "/queue/join", {"event_id": event}, token)
        assert status == 202, (status, joined)
        tokens.append((token, joined["waiting_token"]))
    reservation_tokens = []
    for token, waiting in tokens:
        for _ in range(300):
            status, entered = call(base, "POST", "/queue/enter", {"waiting_token": waiting}, token)
            if status == 200:
                reservation_tokens.append((token, entered["reservation_token"]))
                break
            time.sleep(0.1)
        else:
            raise SystemExit(f"never admitted to {event}: {entered}")
    status, availability = call(base, "GET", f"/events/{event}/availability")
    seat = seat or next(s["seat_id"] for s in availability.get("seats", []) if s["status"] == "AVAILABLE")
    answers = [call(base, "POST", "/reservations",
                    {"event_id": event, "seat_ids": [seat], "reservation_token": rt}, token)
               for token, rt in reservation_tokens]
    codes = sorted(status for status, _ in answers)
    assert codes == [201, 409], answers
    refused = next(body for status, body in answers if status == 409)
    assert refused["error"]["code"] == "SEAT_UNAVAILABLE", refused
    print(f"oversell: two buyers for seat {seat} of {event}: one held it, one was refused (409 SEAT_UNAVAILABLE)")


def watch(base, out):
    """Scrapes until SIGTERM, keeping each event's largest queue length and admission rate."""
    seen = {"queue_length": {}, "queue_admission_rate": {}, "scrapes": 0}
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    while not stop:
        try:
            _, samples = parse(scrape(base))
            seen["scrapes"] += 1
            for name in ("queue_length", "queue_admission_rate"):
                for n, labels, value in samples:
                    if n == name:
                        event = labels.get("event_id", "")
                        seen[name][event] = max(seen[name].get(event, 0.0), value)
        except (urllib.error.URLError, ConnectionError):
            pass
        with open(out, "w") as f:
            json.dump(seen, f)
        time.sleep(0.2)


def dashboard_metrics(path):
    """Every metric name the dashboard's queries use (family names, without histogram suffixes)."""
    with open(path) as f:
        dashboard = json.load(f)
    exprs = []

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("expr"), str):
                exprs.append(node["expr"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(dashboard)
    names = set()
    for expr in exprs:
        without_labels = re.sub(r'\{[^}]*\}', '{}', expr)
        # Label lists of groupings and matchings (`sum by (limit)`) name labels, not metrics.
        without_labels = re.sub(r'\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)',
                                r'\1', without_labels)
        without_strings = re.sub(r'"[^"]*"', '""', without_labels)
        for name in re.findall(r'\b([a-z_][a-z0-9_]*)\s*(?:\{|\[|\)|$|\s)', without_strings):
            if name in PROMQL_WORDS:
                continue
            names.add(re.sub(r'_(bucket|sum|count)$', '', name))
    return names, len(exprs)


PROMQL_WORDS = {
    "sum", "rate", "irate", "increase", "histogram_quantile", "by", "without", "max", "min", "avg",
    "count", "le", "on", "ignoring", "group_left", "group_right", "or", "and", "unless", "clamp_min",
    "topk", "bottomk", "label_replace", "vector", "scalar", "abs", "delta", "deriv", "offset",
    "max_over_time", "min_over_time", "avg_over_time", "route", "method", "status_code", "status",
    "service", "event_id", "code", "bool", "interval", "rate_interval", "__rate_interval", "__interval",
}


def check(base, watched, dashboard):
    text = scrape(base)
    types, samples = parse(text)
    failures = []

    def need(ok, what):
        print(("  ok    " if ok else "  FAIL  ") + what)
        if not ok:
            failures.append(what)

    for name, kind in SERIES.items():
        need(types.get(name) == kind, f"{name} is exposed as a {kind} (got {types.get(name)})")
    extra = sorted(set(types) - set(SERIES))
    need(not extra, "exactly the operator's series, nothing else" + (f" (also: {extra})" if extra else ""))
    need(total(samples, "http_server_requests_total") > 0, "requests were counted")
    routes = {l.get("route") for n, l, _ in samples if n == "http_server_requests_total"}
    need(any("{id}" in (r or "") for r in routes), f"routes are templates ({sorted(r for r in routes if r)[:6]}...)")
    need(not any(re.search(r'(rsv|evt|pi)_[0-9a-z]{6,}', r or "") for r in routes), "no raw ids in route labels")
    need("/metrics" not in routes, "/metrics does not count itself")
    need(total(samples, "http_server_requests_duration_seconds_count") > 0, "request durations were recorded")
    need(any(n == "http_server_requests_duration_seconds_bucket" for n, _, _ in samples), "durations have buckets")
    need(total(samples, "reservation_status_total", status="HOLD") > 0, "HOLD counted")
    need(total(samples, "reservation_status_total", status="CONFIRMED") > 0, "CONFIRMED counted")
    for service in ("store", "scheduler", "bus"):
        need(total(samples, "backend_call_duration_seconds_count", service=service) > 0,
             f"backend calls of the {service} timed")
    need(total(samples, "queue_admitted_total") > 0, "admissions counted")
    need(any(n == "queue_length" for n, _, _ in samples), "queue_length reported")
    if watched:
        with open(watched) as f:
            seen = json.load(f)
        lined = {e: n for e, n in seen["queue_length"].items() if n > 0}
        need(bool(lined), f"a waiting line was seen during the rush ({seen['scrapes']} scrapes)")
        for event, longest in sorted(lined.items()):
            rate = seen["queue_admission_rate"].get(event, 0.0)
            admitted = total(samples, "queue_admitted_total", event_id=event)
            need(rate > 0 and admitted > 0,
                 f"{event}: longest line {longest:g}, admission rate up to {rate:.2f}/s, "
                 f"{admitted:g} admitted")
    need(total(samples, "queue_admission_rate") > 0, "admission rate reported")
    need(total(samples, "oversell_attempts_rejected_total", code="SEAT_UNAVAILABLE") > 0,
         "the oversell attempt was rejected and counted")
    if dashboard:
        names, queries = dashboard_metrics(dashboard)
        missing = sorted(names - set(types))
        need(not missing, f"the dashboard's {queries} queries use {len(names)} metrics, all in the scrape"
             + (f" (missing: {missing})" if missing else ""))
        need(set(SERIES) <= names, "the dashboard shows every series")
    if failures:
        raise SystemExit(f"{len(failures)} check(s) failed")
    print("metrics check passed")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8210")
    sub = parser.add_subparsers(dest="command", required=True)
    w = sub.add_parser("watch")
    w.add_argument("out")
    o = sub.add_parser("oversell")
    o.add_argument("--event", default="evt_demo")
    c = sub.add_parser("check")
    c.add_argument("--watched")
    c.add_argument("--dashboard")
    args = parser.parse_args()
    base = args.base_url.rstrip("/")
    if args.command == "watch":
        watch(base, args.out)
    elif args.command == "oversell":
        oversell(base, args.event)
    else:
        check(base, args.watched, args.dashboard)


if __name__ == "__main__":
    sys.exit(main())
