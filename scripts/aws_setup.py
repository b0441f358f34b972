#!/usr/bin/env python3
"""Creates the AWS resources Traffic Tacos' AWS adapters use, idempotently, and prints their settings.

Works against any endpoint: moto (``scripts/moto.sh start 5055``), LocalStack, or a real account.
Every step first looks for the resource and creates it only when missing, so running it twice
changes nothing. The last lines of output are ``export TACOS_...=...`` settings, ready for
``eval``:

    scripts/moto.sh start 5055
    export AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
    eval "$(python3 scripts/aws_setup.py --endpoint-url http://127.0.0.1:5055)"

Resources (``PREFIX`` defaults to ``tacos``):

* DynamoDB table ``PREFIX``: string keys ``pk`` (HASH) / ``sk`` (RANGE), on-demand capacity, TTL on
  ``expires_at``, point-in-time recovery where the endpoint supports it;
* EventBridge bus ``PREFIX-bus``;
* SQS queue ``PREFIX-payment-followup`` with dead-letter queue ``PREFIX-payment-followup-dlq``
  (after 10 receives), and a queue policy letting EventBridge send to it;
* rule ``PREFIX-payment-outcomes`` on the bus: ``source`` ``tacos.payment``, ``detail-type``
  ``payment.approved`` / ``payment.failed``, targeting the queue;
* EventBridge Scheduler group ``PREFIX``;
* SQS queues ``PREFIX-schedule-dlq`` (jobs Scheduler could not deliver: ``TACOS_SCHEDULER_DLQ_ARN``)
  and ``PREFIX-timer-failures`` (the timer functions' on-failure destination in template.yaml);
* IAM role ``PREFIX-scheduler`` that Scheduler assumes to invoke the functions and to send to the
  dead-letter queue;
* with ``--secrets-from-env``: a Secrets Manager secret ``PREFIX/<name>`` for each of
  ``TACOS_JWT_SECRET``, ``TACOS_WEBHOOK_SECRET``, ``TACOS_ADMIN_PASSWORD``, ``TACOS_ORIGIN_SECRET``
  set in the environment, holding its value, and ``export TACOS_..._ARN=...`` lines for them (the
  functions then read the secrets as on AWS; unset the plain variables for them, or they refuse
  to start: a secret is given one way).

The function ARNs printed (``PREFIX-expire``, ``PREFIX-payment-simulator``) are where the functions
are (or will be) deployed; this script does not deploy them.

Needs boto3 (``pip install 'moto[server]'`` brings it).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time

try:
    import boto3
    from botocore.exceptions import ClientError
except ImportError:  # pragma: no cover
    sys.exit("aws_setup.py needs boto3: pip install boto3 (or 'moto[server]')")

PAYMENT_SOURCE = "tacos.payment"
FOLLOWUP_DETAIL_TYPES = ["payment.approved", "payment.failed"]
DLQ_MAX_RECEIVE_COUNT = 10


def log(message: str) -> None:
    """Progress goes to stderr so that stdout is only the `export` lines."""
    print(message, file=sys.stderr)


def error_code(err: ClientError) -> str:
    return err.response.get("Error", {}).get("Code", "")


def ensure_table(dynamodb, name: str) -> str:
    try:
        table = dynamodb.describe_table(TableName=name)["Table"]
        log(f"table {name}: exists")
    except ClientError as err:
        if error_code(err) != "ResourceNotFoundException":
            raise
        table = dynamodb.create_table(
            TableName=name,
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )["TableDescription"]
        log(f"table {name}: created")
    dynamodb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})

    ttl = dynamodb.describe_time_to_live(TableName=name).get("TimeToLiveDescription", {})
    if ttl.get("TimeToLiveStatus") in ("ENABLED", "ENABLING") and ttl.get("AttributeName") == "expires_at":
        log(f"table {name}: TTL on expires_at already enabled")
    else:
        dynamodb.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"},
        )
        log(f"table {name}: TTL on expires_at enabled")

    try:
        backups = dynamodb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
        pitr = backups.get("PointInTimeRecoveryDescription", {}).get("PointInTimeRecoveryStatus")
        if pitr != "ENABLED":
            dynamodb.update_continuous_backups(
                TableName=name,
                PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
            )
            log(f"table {name}: point-in-time recovery enabled")
    except ClientError as err:  # not every emulator implements continuous backups
        log(f"table {name}: point-in-time recovery not set ({error_code(err) or err})")
    return table["TableArn"]


def ensure_bus(events, name: str) -> str:
    try:
        arn = events.describe_event_bus(Name=name)["Arn"]
        log(f"event bus {name}: exists")
    except ClientError as err:
        if error_code(err) != "ResourceNotFoundException":
            raise
        arn = events.create_event_bus(Name=name)["EventBusArn"]
        log(f"event bus {name}: created")
    return arn


def ensure_queue(sqs, name: str, attributes: dict[str, str]) -> tuple[str, str]:
    try:
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        if attributes:
            sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
        log(f"queue {name}: exists")
    except ClientError as err:
        if error_code(err) not in ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"):
            raise
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        log(f"queue {name}: created")
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def ensure_followup(sqs, events, prefix: str, bus_name: str) -> str:
    _, dlq_arn = ensure_queue(
        sqs, f"{prefix}-payment-followup-dlq", {"MessageRetentionPeriod": str(14 * 24 * 3600)}
    )
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(DLQ_MAX_RECEIVE_COUNT)})
    # The follow-up function's timeout must stay below the visibility timeout.
    queue_url, queue_arn = ensure_queue(
        sqs,
        f"{prefix}-payment-followup",
        {"RedrivePolicy": redrive, "VisibilityTimeout": "60"},
    )

    rule_name = f"{prefix}-payment-outcomes"
    rule_arn = events.put_rule(
        Name=rule_name,
        EventBusName=bus_name,
        EventPattern=json.dumps({"source": [PAYMENT_SOURCE], "detail-type": FOLLOWUP_DETAIL_TYPES}),
        State="ENABLED",
        Description="Payment outcomes to the payment follow-up queue",
    )["RuleArn"]
    events.put_targets(
        Rule=rule_name,
        EventBusName=bus_name,
        Targets=[{"Id": "payment-followup", "Arn": queue_arn}],
    )
    log(f"rule {rule_name} on {bus_name}: -> {queue_arn}")

    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "EventBridgeSendMessage",
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
            }
        ],
    }
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(policy)})
    log(f"queue {prefix}-payment-followup: policy allows events.amazonaws.com from {rule_name}")
    return queue_url


SECRET_VARIABLES = {
    "TACOS_JWT_SECRET": "jwt-secret",
    "TACOS_WEBHOOK_SECRET": "webhook-secret",
    "TACOS_ADMIN_PASSWORD": "admin-password",
    "TACOS_ORIGIN_SECRET": "origin-secret",
}


def ensure_secrets(secretsmanager, prefix: str) -> dict[str, str]:
    """A secret per plain secret variable set here, holding its value: {VARIABLE_ARN: arn}."""
    exports = {}
    for variable, name in SECRET_VARIABLES.items():
        value = os.environ.get(variable)
        if not value:
            continue
        secret_id = f"{prefix}/{name}"
        try:
            arn = secretsmanager.describe_secret(SecretId=secret_id)["ARN"]
            secretsmanager.put_secret_value(SecretId=secret_id, SecretString=value)
            log(f"secret {secret_id}: exists, value set from {variable}")
        except ClientError as err:
            if error_code(err) != "ResourceNotFoundException":
                raise
            arn = secretsmanager.create_secret(Name=secret_id, SecretString=value)["ARN"]
            log(f"secret {secret_id}: created from {variable}")
        exports[f"{variable}_ARN"] = arn
    return exports


def ensure_timer_queues(sqs, prefix: str) -> tuple[str, str]:
    """The Scheduler dead-letter queue and the timer functions' failure queue: their ARNs."""
    retention = {"MessageRetentionPeriod": str(14 * 24 * 3600)}
    _, dlq_arn = ensure_queue(sqs, f"{prefix}-schedule-dlq", retention)
    _, failures_arn = ensure_queue(sqs, f"{prefix}-timer-failures", retention)
    return dlq_arn, failures_arn


def ensure_schedule_group(scheduler, name: str) -> None:
    try:
        scheduler.get_schedule_group(Name=name)
        log(f"schedule group {name}: exists")
    except ClientError as err:
        if error_code(err) != "ResourceNotFoundException":
            raise
        scheduler.create_schedule_group(Name=name)
        log(f"schedule group {name}: created")


def ensure_scheduler_role(iam, prefix: str, region: str, account: str, dlq_arn: str) -> str:
    name = f"{prefix}-scheduler"
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "scheduler.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": account}},
            }
        ],
    }
    try:
        arn = iam.get_role(RoleName=name)["Role"]["Arn"]
        iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(trust))
        log(f"role {name}: exists")
    except ClientError as err:
        if error_code(err) != "NoSuchEntity":
            raise
        arn = iam.create_role(
            RoleName=name,
            AssumeRolePolicyDocument=json.dumps(trust),
            Description="EventBridge Scheduler invokes the Traffic Tacos timer targets",
        )["Role"]["Arn"]
        log(f"role {name}: created")
    invoke = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "lambda:InvokeFunction",
                "Resource": [
                    function_arn(region, account, prefix, "expire"),
                    function_arn(region, account, prefix, "payment-simulator"),
                ],
            },
            {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": dlq_arn},
        ],
    }
    iam.put_role_policy(RoleName=name, PolicyName="invoke-timer-targets", PolicyDocument=json.dumps(invoke))
    return arn


def function_arn(region: str, account: str, prefix: str, function: str) -> str:
    return f"arn:aws:lambda:{region}:{account}:function:{prefix}-{function}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--endpoint-url",
        default=os.environ.get("AWS_ENDPOINT_URL"),
        help="endpoint of every service (default: $AWS_ENDPOINT_URL; unset: real AWS)",
    )
    parser.add_argument("--prefix", default="tacos", help="prefix of every resource name (default: tacos)")
    parser.add_argument(
        "--region",
        default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
        help="region (default: $AWS_REGION, else us-east-1)",
    )
    parser.add_argument(
        "--secrets-from-env",
        action="store_true",
        help="also store the plain secret variables set here in Secrets Manager and print their _ARN exports",
    )
    args = parser.parse_args()

    session = boto3.session.Session(region_name=args.region)
    if args.endpoint_url and session.get_credentials() is None:
        # Emulators accept any credentials; spare the caller from exporting dummy ones.
        session = boto3.session.Session(
            region_name=args.region, aws_access_key_id="test", aws_secret_access_key="test"
        )

    def client(service: str):
        return session.client(service, endpoint_url=args.endpoint_url)

    prefix = args.prefix
    account = client("sts").get_caller_identity()["Account"]
    table = prefix
    bus = f"{prefix}-bus"
    group = prefix

    started = time.monotonic()
    ensure_table(client("dynamodb"), table)
    ensure_bus(client("events"), bus)
    queue_url = ensure_followup(client("sqs"), client("events"), prefix, bus)
    ensure_schedule_group(client("scheduler"), group)
    dlq_arn, _ = ensure_timer_queues(client("sqs"), prefix)
    role_arn = ensure_scheduler_role(client("iam"), prefix, args.region, account, dlq_arn)
    secret_exports = ensure_secrets(client("secretsmanager"), prefix) if args.secrets_from_env else {}
    log(f"done in {time.monotonic() - started:.1f}s")

    settings = {
        "TACOS_TABLE": table,
        "TACOS_EVENT_BUS": bus,
        "TACOS_SCHEDULE_GROUP": group,
        "TACOS_SCHEDULER_ROLE_ARN": role_arn,
        "TACOS_EXPIRE_FUNCTION_ARN": function_arn(args.region, account, prefix, "expire"),
        "TACOS_SIMULATOR_FUNCTION_ARN": function_arn(args.region, account, prefix, "payment-simulator"),
        "TACOS_FOLLOWUP_QUEUE_URL": queue_url,
        "TACOS_SCHEDULER_DLQ_ARN": dlq_arn,
        **secret_exports,
    }
    for name, value in settings.items():
        print(f"export {name}={shlex.quote(value)}")


if __name__ == "__main__":
    main()
