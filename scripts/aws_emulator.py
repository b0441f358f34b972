#!/usr/bin/env python3
"""Plays the AWS services that moto stores but does not run, for tests on one machine.

* EventBridge Scheduler: moto keeps schedules but never fires them. Every 200 ms this lists the
  schedule group, and for each one-shot `at(...)` schedule that is due it invokes the target
  function under `cargo lambda watch` with the schedule's Input (what the real Scheduler sends),
  then deletes the schedule (ActionAfterCompletion DELETE). A failed invocation is retried.
* Lambda's SQS event source mapping (with --queue-url): receives from the follow-up queue (fed by
  moto's EventBridge rule), invokes `payment-followup` with a real SQS event, and deletes the
  messages the function did not report in `batchItemFailures`. Without it the queue is left to
  another consumer (the container's worker mode).

Usage: aws_emulator.py --endpoint-url URL --watch URL --group NAME [--queue-url URL] [--prefix P]
Stops on SIGTERM/SIGINT.
"""
import argparse
import concurrent.futures
import datetime as dt
import hashlib
import json
import signal
import sys
import threading
import time
import urllib.request
import uuid

import boto3

stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
signal.signal(signal.SIGINT, lambda *_: stop.set())


def log(message):
    print(f"[aws-emulator {dt.datetime.now().strftime('%H:%M:%S.%f')[:-3]}] {message}", flush=True)


def invoke(watch, function, payload):
    """Invokes a function through cargo lambda watch's Lambda Invoke API; returns (ok, body)."""
    request = urllib.request.Request(
        f"{watch}/2015-03-31/functions/{function}/invocations",
        data=payload.encode() if isinstance(payload, str) else payload,
        headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            body = response.read()
            failed = response.headers.get("X-Amz-Function-Error")
            return (failed is None, body)
    except Exception as error:  # noqa: BLE001 - any failure means "retry later"
        return (False, str(error).encode())


def function_name(arn, prefix):
    name = arn.split(":function:")[-1].split(":")[0]
    return name[len(prefix) + 1:] if name.startswith(prefix + "-") else name


def due(expression, now):
    if not expression.startswith("at(") or not expression.endswith(")"):
        return False
    at = dt.datetime.fromisoformat(expression[3:-1]).replace(tzinfo=dt.timezone.utc)
    return at <= now


def fire_schedules(scheduler, args, pool, in_flight, known):
    """Fires the due schedules. `known` caches each schedule by name and modification time, so a
    poll costs one ListSchedules plus a GetSchedule per new or moved schedule."""
    now = dt.datetime.now(dt.timezone.utc)
    seen = set()
    paginator = scheduler.get_paginator("list_schedules")
    for page in paginator.paginate(GroupName=args.group):
        for summary in page.get("Schedules", []):
            name = summary["Name"]
            seen.add(name)
            if name in in_flight:
                continue
            version = summary.get("LastModificationDate")
            cached = known.get(name)
            if cached is None or cached[0] != version:
                try:
                    cached = (version, scheduler.get_schedule(GroupName=args.group, Name=name))
                except scheduler.exceptions.ResourceNotFoundException:
                    continue
                known[name] = cached
            schedule = cached[1]
            if not due(schedule["ScheduleExpression"], now):
                continue
            in_flight.add(name)
            known.pop(name, None)
            pool.submit(run_schedule, scheduler, args, schedule, in_flight)
    for gone in set(known) - seen:
        known.pop(gone, None)


def run_schedule(scheduler, args, schedule, in_flight):
    name = schedule["Name"]
    try:
        target = schedule["Target"]
        function = function_name(target["Arn"], args.prefix)
        ok, body = invoke(args.watch, function, target.get("Input", "{}"))
        if ok:
            try:
                current = scheduler.get_schedule(GroupName=args.group, Name=name)
                # Only delete what was fired: a schedule moved meanwhile stays.
                if current["ScheduleExpression"] == schedule["ScheduleExpression"]:
                    scheduler.delete_schedule(GroupName=args.group, Name=name)
            except scheduler.exceptions.ResourceNotFoundException:
                pass
            log(f"fired {name} -> {function}")
        else:
            log(f"{name} -> {function} failed, will retry: {body[:200]!r}")
            time.sleep(0.5)
    finally:
        in_flight.discard(name)


def drain_queue(sqs, args):
    """Hands one batch of follow-up messages to `payment-followup`; whether there was one."""
    received = sqs.receive_message(QueueUrl=args.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                   AttributeNames=["All"], VisibilityTimeout=30)
    messages = received.get("Messages", [])
    if not messages:
        return False
    arn = sqs.get_queue_attributes(QueueUrl=args.queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    records = [{
        "messageId": m["MessageId"],
        "receiptHandle": m["ReceiptHandle"],
        "body": m["Body"],
        "attributes": m.get("Attributes", {}),
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(m["Body"].encode()).hexdigest(),  # noqa: S324 - SQS's own checksum
        "eventSource": "aws:sqs",
        "eventSourceARN": arn,
        "awsRegion": arn.split(":")[3],
    } for m in messages]
    ok, body = invoke(args.watch, "payment-followup", json.dumps({"Records": records}))
    failed = set()
    if ok:
        try:
            failed = {f["itemIdentifier"] for f in json.loads(body or b"{}").get("batchItemFailures", [])}
        except json.JSONDecodeError:
            failed = {m["MessageId"] for m in messages}
    else:
        failed = {m["MessageId"] for m in messages}
        log(f"payment-followup failed, batch will be redelivered: {body[:200]!r}")
    done = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages) if m["MessageId"] not in failed]
    if done:
        sqs.delete_message_batch(QueueUrl=args.queue_url, Entries=done)
    log(f"follow-up batch of {len(messages)}: {len(done)} done, {len(failed)} to redeliver")
    return True


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint-url", required=True)
    parser.add_argument("--watch", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--queue-url", help="feed this queue to payment-followup (none: leave it alone)")
    parser.add_argument("--prefix", default="tacos")
    parser.add_argument("--region", default="us-east-1")
    args = parser.parse_args()
    session = boto3.session.Session(region_name=args.region, aws_access_key_id="test", aws_secret_access_key="test")
    scheduler = session.client("scheduler", endpoint_url=args.endpoint_url)
    sqs = session.client("sqs", endpoint_url=args.endpoint_url)
    in_flight, known = set(), {}
    log("running")

    def follow_ups():
        # Its own loop, as SQS's event source mapping is: a follow-up never waits behind a listing
        # of hundreds of schedules. Short polls: moto long-polls by sleeping inside the request,
        # which moto_serial.py's lock would turn into a pause of every other request.
        while not stop.is_set():
            try:
                if not drain_queue(sqs, args):
                    stop.wait(0.1)
            except Exception as error:  # noqa: BLE001 - keep emulating through moto hiccups
                log(f"error: {error}")
                stop.wait(0.2)

    feeder = threading.Thread(target=follow_ups, daemon=True)
    if args.queue_url:
        feeder.start()
    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        while not stop.is_set():
            try:
                fire_schedules(scheduler, args, pool, in_flight, known)
            except Exception as error:  # noqa: BLE001 - keep emulating through moto hiccups
                log(f"error: {error}")
            stop.wait(0.2)
    if feeder.is_alive():
        feeder.join(timeout=5)
    log("stopped")


if __name__ == "__main__":
    sys.exit(main())
