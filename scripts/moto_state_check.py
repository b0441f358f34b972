#!/usr/bin/env python3
"""Checks that moto_serial.py's MOTO_STATE_FILE survives a restart: run it once with `write`
(before stopping moto with SIGTERM) and once with `check` (after starting it again on the same
file). It writes and then expects a table item, a schedule, a queued SQS message and the
EventBridge rule → queue routing, the four kinds of state the platform keeps in AWS.

Usage: moto_state_check.py write|check --endpoint-url URL --table T --group G --queue-url Q --bus B
"""
import argparse
import json
import sys

import boto3

MARK = "faults-durability-probe"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("phase", choices=["write", "check"])
    parser.add_argument("--endpoint-url", required=True)
    parser.add_argument("--table", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--queue-url", required=True)
    parser.add_argument("--bus", required=True)
    parser.add_argument("--region", default="us-east-1")
    args = parser.parse_args()
    session = boto3.session.Session(region_name=args.region, aws_access_key_id="test", aws_secret_access_key="test")
    dynamodb = session.client("dynamodb", endpoint_url=args.endpoint_url)
    scheduler = session.client("scheduler", endpoint_url=args.endpoint_url)
    sqs = session.client("sqs", endpoint_url=args.endpoint_url)
    events = session.client("events", endpoint_url=args.endpoint_url)
    key = {"pk": {"S": f"PROBE#{MARK}"}, "sk": {"S": "PROBE"}}
    if args.phase == "write":
        dynamodb.put_item(TableName=args.table, Item={**key, "n": {"N": "42"}})
        scheduler.create_schedule(
            GroupName=args.group, Name=MARK, ScheduleExpression="at(2099-01-01T00:00:00)",
            FlexibleTimeWindow={"Mode": "OFF"},
            Target={"Arn": "arn:aws:lambda:us-east-1:123456789012:function:probe",
                    "RoleArn": "arn:aws:iam::123456789012:role/probe", "Input": "{}"})
        sqs.send_message(QueueUrl=args.queue_url, MessageBody=json.dumps({"probe": MARK}))
        print("durability probe written: item, schedule, queued message")
        return 0
    try:
        problems = check(dynamodb, scheduler, sqs, events, args, key)
    except Exception as error:  # noqa: BLE001 - a lost table or queue raises: that is the finding
        problems = [f"{type(error).__name__}: {error}"]
    if problems:
        print("durability probe FAILED: " + "; ".join(problems), file=sys.stderr)
        return 1
    print("durability probe survived the restart: item, schedule, queued message, bus rule")
    return 0


def check(dynamodb, scheduler, sqs, events, args, key):
    """What was lost, as a list of findings (empty: nothing)."""
    problems = []
    item = dynamodb.get_item(TableName=args.table, Key=key, ConsistentRead=True).get("Item")
    if not item or item.get("n") != {"N": "42"}:
        problems.append(f"table item lost: {item}")
    dynamodb.delete_item(TableName=args.table, Key=key)
    try:
        scheduler.get_schedule(GroupName=args.group, Name=MARK)
        scheduler.delete_schedule(GroupName=args.group, Name=MARK)
    except scheduler.exceptions.ResourceNotFoundException:
        problems.append("schedule lost")
    received = sqs.receive_message(QueueUrl=args.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
    probes = [m for m in received.get("Messages", []) if MARK in m["Body"]]
    if not probes:
        problems.append("queued message lost")
    for message in received.get("Messages", []):
        if MARK in message["Body"]:
            sqs.delete_message(QueueUrl=args.queue_url, ReceiptHandle=message["ReceiptHandle"])
        else:  # not ours: make it visible again for the platform's consumer
            sqs.change_message_visibility(QueueUrl=args.queue_url, ReceiptHandle=message["ReceiptHandle"],
                                          VisibilityTimeout=0)
    if not events.list_rules(EventBusName=args.bus).get("Rules"):
        problems.append("event bus rule lost")
    return problems


if __name__ == "__main__":
    sys.exit(main())
