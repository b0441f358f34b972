#!/usr/bin/env python3
"""Invokes every function with its fixtures (events/), in the order of events/journey.txt, through
`cargo lambda invoke`, and checks each answer against the expectation beside the fixture.

The fixtures are the events Lambda hands each function: API Gateway HTTP API (payload 2.0)
requests for every route, the job a Scheduler schedule carries, an SQS batch, WebSocket
$connect / $disconnect, a scheduled event. They name their data with `${NAME}` placeholders, so
one run makes what the next fixture needs: it registers buyers, logs the administrator in,
creates an event, joins, enters, holds, pays; each expectation's `capture` keeps a field of the
answer (`reservation_id` as `RESERVATION_ID`, ...) for the fixtures after it. Set from the start:
RUN (unique per run), IDEMPOTENCY_KEY (fresh per fixture), NOW, NOW_RFC3339, STARTS_AT,
ADMIN_USERNAME and ADMIN_PASSWORD (TACOS_ADMIN_USERNAME, TACOS_ADMIN_PASSWORD), and
WEBHOOK_SIGNATURE (the body's signature with TACOS_WEBHOOK_SECRET, as the simulator signs).

An expectation (`<case>.expect.json`) may say: `statusCode` (the answer's, for HTTP and WebSocket
functions), `equals` {dotted.path: value}, `required` [dotted.path], `contains` [text of the
body], `capture` {NAME: dotted.path}, `until` {path: value} (invoke again, up to 60 s, until it
holds: a turn in the waiting room takes a moment), `streamed: true` (a response-streaming
function: `cargo lambda invoke` shows the streamed body alone, without status or headers).

Needs the functions running under `cargo lambda watch` (scripts/parity.sh starts them) over AWS
services (moto), and the administrator's password. Usage:
    scripts/invoke_fixtures.py [--invoke-port 9000] [--only FUNCTION] [--keep DIR]
--keep DIR writes each fixture as invoked (placeholders filled), for `sam local invoke --event`.
Exits 1 if any fixture's answer is not what its expectation says.
"""
from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import hmac
import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
PLACEHOLDER = re.compile(r"\$\{([A-Z_]+)\}")
# The answer of a response-streaming function: its body, as it came.
STREAMED = "streamed body"


def fill(text: str, values: dict[str, str]) -> str:
    def one(match: re.Match) -> str:
        name = match.group(1)
        if name not in values:
            raise KeyError(f"${{{name}}} is not known yet (captured by an earlier fixture?)")
        return str(values[name])

    return PLACEHOLDER.sub(one, text)


def render(fixture: dict, values: dict[str, str]) -> dict:
    """The fixture with every placeholder filled; the webhook's signature over its filled body."""
    values = {**values, "IDEMPOTENCY_KEY": str(uuid.uuid4())}
    body = fixture.get("body")
    if isinstance(body, str) and "${WEBHOOK_SIGNATURE}" in json.dumps(fixture.get("headers", {})):
        filled = fill(body, values)
        # The delivery's id is signed with it (`timestamp.id.body`), so a replay under a new id fails.
        headers = {k.lower(): v for k, v in (fixture.get("headers") or {}).items()}
        webhook_id = fill(headers.get("x-webhook-id", ""), values)
        secret = os.environ.get("TACOS_WEBHOOK_SECRET", "").encode()
        signed = f"{values['NOW']}.{webhook_id}.{filled}".encode()
        mac = hmac.new(secret, signed, hashlib.sha256).hexdigest()
        values["WEBHOOK_SIGNATURE"] = f"sha256={mac}"
    return json.loads(fill(json.dumps(fixture), values))


def invoke(function: str, event: dict, port: int) -> tuple[dict | None, str]:
    """The function's answer through `cargo lambda invoke`: (the answer as JSON or None, its text)."""
    path = ROOT / "target" / "fixtures" / f"{function}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(event))
    done = subprocess.run(
        ["cargo", "lambda", "invoke", "--invoke-address", "127.0.0.1", "--invoke-port", str(port),
         "--data-file", str(path), "--output-format", "text", function],
        capture_output=True, text=True, timeout=120, check=False,
    )
    text = done.stdout.strip()
    if done.returncode != 0:
        return None, (text + "\n" + done.stderr.strip()).strip()
    try:
        return json.loads(text), text
    except json.JSONDecodeError:
        return {STREAMED: text}, text


def answer_of(raw: dict) -> tuple[int | None, object, str]:
    """(status code, body as JSON when it is, body as text) of an HTTP-shaped answer, or of a
    trigger's own JSON answer (no status code)."""
    if isinstance(raw, dict) and set(raw) == {STREAMED}:
        return None, None, raw[STREAMED]
    if isinstance(raw, dict) and "statusCode" in raw:
        body = raw.get("body") or ""
        if raw.get("isBase64Encoded"):
            body = base64.b64decode(body).decode(errors="replace")
        try:
            parsed = json.loads(body) if body else None
        except json.JSONDecodeError:
            parsed = None
        return int(raw["statusCode"]), parsed, body
    return None, raw, json.dumps(raw)


def get(value, path: str):
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        else:
            return KeyError
    return value


def judge(expect: dict, raw: dict | None, text: str, values: dict[str, str]) -> list[str]:
    if raw is None:
        return [f"no answer: {text[:300]}"]
    status, body, body_text = answer_of(raw)
    problems = []
    if bool(expect.get("streamed")) != (isinstance(raw, dict) and set(raw) == {STREAMED}):
        return [f"expected {'a streamed body' if expect.get('streamed') else 'a JSON answer'}, got: {body_text[:300]}"]
    if "statusCode" in expect and status != expect["statusCode"]:
        problems.append(f"status {status}, expected {expect['statusCode']}: {body_text[:300]}")
        return problems
    for path, wanted in (expect.get("equals") or {}).items():
        wanted = json.loads(fill(json.dumps(wanted), values))
        got = get(body, path)
        if got != wanted:
            problems.append(f"{path} is {got!r}, expected {wanted!r}")
    for path in expect.get("required") or []:
        if get(body, path) in (KeyError, None):
            problems.append(f"{path} missing from {body_text[:200]}")
    for text_part in expect.get("contains") or []:
        if text_part not in body_text:
            problems.append(f"body lacks {text_part!r}: {body_text[:200]}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--invoke-port", type=int, default=int(os.environ.get("WATCH_PORT", 9000)))
    parser.add_argument("--only", help="invoke only this function's fixtures (their captures still run first)")
    parser.add_argument("--keep", type=Path, help="write every fixture as invoked to this directory")
    args = parser.parse_args()

    now = int(time.time())
    values = {
        "RUN": uuid.uuid4().hex[:12],
        "NOW": str(now),
        "NOW_RFC3339": dt.datetime.fromtimestamp(now, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "STARTS_AT": (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "ADMIN_USERNAME": os.environ.get("TACOS_ADMIN_USERNAME", "admin"),
        "ADMIN_PASSWORD": os.environ.get("TACOS_ADMIN_PASSWORD", ""),
    }
    if not values["ADMIN_PASSWORD"]:
        print("invoke_fixtures: TACOS_ADMIN_PASSWORD is needed (the administrator creates the event)", file=sys.stderr)
        return 2
    journey = [line.strip() for line in (EVENTS / "journey.txt").read_text().splitlines()
               if line.strip() and not line.startswith("#")]
    on_disk = {str(p.relative_to(EVENTS))[: -len(".json")] for p in EVENTS.glob("*/*.json") if not p.name.endswith(".expect.json")}
    functions = {p.name for p in (ROOT / "functions").iterdir() if (p / "Cargo.toml").is_file()}
    problems: list[str] = []
    for missing in sorted(functions - {case.split("/")[0] for case in journey}):
        problems.append(f"{missing}: no fixture in events/journey.txt")
    for stray in sorted(on_disk - set(journey)):
        problems.append(f"{stray}: a fixture not in events/journey.txt")

    passed = 0
    for case in journey:
        function = case.split("/")[0]
        fixture = json.loads((EVENTS / f"{case}.json").read_text())
        expect = json.loads((EVENTS / f"{case}.expect.json").read_text())
        try:
            event = render(fixture, values)
        except KeyError as error:
            problems.append(f"{case}: {error.args[0]}")
            continue
        if args.keep:
            (args.keep / function).mkdir(parents=True, exist_ok=True)
            (args.keep / f"{case}.json").write_text(json.dumps(event, indent=2) + "\n")
        deadline = time.monotonic() + 60
        while True:
            raw, text = invoke(function, event, args.invoke_port)
            found = judge(expect, raw, text, values)
            until = expect.get("until") or {}
            waiting = not found and any(get(answer_of(raw)[1], k) != v for k, v in until.items())
            if not waiting or time.monotonic() > deadline:
                break
            time.sleep(1)
        if waiting:
            found.append(f"never reached {until} within 60 s")
        if found:
            problems += [f"{case}: {p}" for p in found]
            print(f"invoke_fixtures: FAIL {case}", file=sys.stderr)
            continue
        body = answer_of(raw)[1]
        for name, path in (expect.get("capture") or {}).items():
            values[name] = get(body, path)
        passed += 1
        if not args.only or args.only == function:
            print(f"invoke_fixtures: ok   {case}")

    for problem in problems:
        print(f"invoke_fixtures: {problem}", file=sys.stderr)
    print(f"invoke_fixtures: {passed} passed, {len(journey) - passed} failed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
