#!/usr/bin/env python3
"""moto_server with one request at a time, transactions without table copies, queries that read
one partition, and EventBridge deliveries that do not rebuild a parser each time.

moto applies a TransactWriteItems to a copy of the table and, on cancellation, restores the copy,
without a lock: concurrent transactions can erase each other's writes, which DynamoDB never does.
Serialising requests behind one lock gives every request the atomicity and isolation DynamoDB
guarantees per call (connections are still accepted concurrently, as greenlets of one thread).
moto is CPU-bound under the GIL anyway, so this costs little throughput.

Usage: moto_serial.py [-H HOST] [-p PORT]

MOTO_REQUEST_LOG=path.jsonl (opt-in, for scripts/dynamo_cost.py) appends one JSON line per request:
for DynamoDB the action, table and every item it touches (TransactWriteItems and BatchWriteItem
item by item with its op), the item's size before and after (moto's own item size, the basis of
DynamoDB's capacity units), what reads returned, ConsistentRead and any ConsumedCapacity asked
for; for other services just the action. `GET /_request_log/mark?phase=NAME` writes a phase mark.
Unset, nothing of this runs.

MOTO_STATE_FILE=path (opt-in, for scripts/faults.sh) makes the server durable across a restart, as
DynamoDB, Scheduler, EventBridge and SQS are: on SIGTERM/SIGINT it pickles the backends of those
services (and IAM/STS) to the file, under the request lock so no request is half applied, then
exits; at start it loads the file if it exists. moto keeps everything in memory, so without this a
restart would lose the table and every test of "the store went away and came back" would test a
store that forgot everything, which no AWS service does.
"""
import argparse
import base64
from http import HTTPStatus

from botocore.awsrequest import AWSPreparedRequest
from botocore.compat import HTTPHeaders
import functools
import io
import json
import os
import pickle
import re
import signal
import socket
import sys
import threading
import time

import jsonpath_ng.ext
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoHandler
from moto.core.responses import ActionResult
from moto.dynamodb.exceptions import ItemSizeTooLarge
from moto.dynamodb.models.dynamo_type import DynamoType, LimitedSizeDict
from moto.dynamodb.models.utilities import bytesize
import moto.utilities.aws_headers as aws_headers
from moto.events.utils import EventTemplateParser
import moto.core.responses as moto_responses
import moto.core.utils as moto_utils
from moto.server import DomainDispatcherApplication, create_backend_app
from gevent.pywsgi import WSGIServer
import gevent
from moto import backends as moto_backends

parser = argparse.ArgumentParser()
parser.add_argument("-H", "--host", default="127.0.0.1")
parser.add_argument("-p", "--port", type=int, default=5000)
args = parser.parse_args()



def transact_write_items(self, transact_items):
    """TransactWriteItems in two phases: check every condition, then apply every write.

    moto's own version deep-copies the whole table for each item of a transaction so it can roll
    back, which costs time in proportion to the table and made a 500-buyer test crawl. Under the
    lock below nothing can change between the phases, so checking first and writing second is the
    same all-or-nothing outcome without any copy.
    """
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import (
        ConditionalCheckFailed,
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )

    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    seen, errors, writes = set(), [], []
    for entry in transact_items:
        if len(entry) > 1:
            raise TransactWriteSingleOpException
        op_type, op = next(iter(entry.items()))
        if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
            raise ValueError("Unsupported transaction operation")
        table_name = op["TableName"]
        if op_type == "Put":
            table = self.get_table(table_name)
            key = {table.hash_key_attr: op["Item"][table.hash_key_attr]}
            if table.range_key_attr is not None:
                key[table.range_key_attr] = op["Item"][table.range_key_attr]
        else:
            key = op["Key"]
        identity = (str(table_name), str(dict(sorted(key.items()))))
        if identity in seen:
            raise MultipleTransactionsException()
        seen.add(identity)
        current = self.get_item(table_name, key)
        condition = op.get("ConditionExpression")
        if condition is not None and not get_filter_expression(
            condition, op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
        ).expr(current):
            old = None
            if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                old = current.to_json()["Attributes"]
            errors.append(("ConditionalCheckFailed", str(ConditionalCheckFailed().message), old))
        else:
            errors.append((None, None, None))
        writes.append((op_type, op, table_name, key))
    if any(code is not None for code, _, _ in errors):
        raise TransactionCanceledException(errors)
    for op_type, op, table_name, key in writes:
        names, values = op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
        if op_type == "Put":
            self.put_item(table_name, op["Item"])
        elif op_type == "Delete":
            self.delete_item(table_name, key)
        elif op_type == "Update":
            self.update_item(table_name, key, update_expression=op["UpdateExpression"],
                             expression_attribute_names=names, expression_attribute_values=values)


DynamoDBBackend.transact_write_items = transact_write_items

# moto's EventBridge parses its default input paths with jsonpath_ng on every delivered event, and
# jsonpath_ng builds its LALR parser tables anew on each parse: ~60 ms per PutEvents, under the
# lock. A path's parse is a pure function of the path, so it is parsed once.
jsonpath_ng.ext.parse = functools.lru_cache(maxsize=256)(jsonpath_ng.ext.parse)
# Parsed now, not at the first deliveries, which are in the middle of a rush (~80 ms each).
for _path in EventTemplateParser.DEFAULT_EVENT_INPUT_PATHS_MAP.values():
    jsonpath_ng.ext.parse(_path)

# Every request asks which actions its handler class has, through inspect.getmembers over the
# class and its bases: 7% of the time the lock was held in a 500-buyer rush (py-spy, --gil). A
# class's methods do not change while the server runs, so each class is inspected once (a set:
# the caller only asks whether the action is among them).
moto_responses.method_names_from_class = functools.lru_cache(maxsize=None)(
    lambda clazz: frozenset(moto_utils.method_names_from_class(clazz))
)


def partition_query(query, all_items):
    """A base-table Query that looks at its own partition only.

    moto answers every Query by sorting *all* items of the table and filtering them by partition
    key, so a query's cost grows with the table: a few thousand buyers' items made each waiting-
    room query take milliseconds and the whole server crawl. DynamoDB reads just the partition;
    so does this (index queries keep moto's own path).
    """

    def scoped_all_items(self):
        hash_key = getattr(self, "_partition_hint", None)
        if hash_key is None:
            return all_items(self)
        partition = self.items.get(hash_key, {})
        if not self.range_key_attr:
            return [partition] if partition else []
        return sorted(partition.values(), key=lambda item: item.range_key)

    def scoped_query(self, hash_key, *args, **kwargs):
        index_name = kwargs.get("index_name") or (args[6] if len(args) > 6 else None)
        self._partition_hint = None if index_name else hash_key
        try:
            return query(self, hash_key, *args, **kwargs)
        finally:
            self._partition_hint = None

    return scoped_query, scoped_all_items


Table.query, Table.all_items = partition_query(Table.query, Table.all_items)


# moto renders every response by walking botocore's model of the operation's output shape, value
# by value: half of the time a DynamoDB item read or write spent under the lock (py-spy over the
# 500-buyer rush). The data-plane results moto's DynamoDB handler returns are already in the wire
# format (items as AttributeValue maps, numbers as strings), so for those operations the result
# is written as it is. MOTO_CHECK_FAST=1 renders both ways and reports any difference (how this
# shortcut was checked against the rush's own traffic).
FAST_DYNAMODB = frozenset({
    "GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "BatchGetItem",
    "BatchWriteItem", "TransactGetItems", "TransactWriteItems",
})
CHECK_FAST = os.environ.get("MOTO_CHECK_FAST") == "1"
_shaped_result = ActionResult.execute_result


def plain_result(self, context):
    if (
        context.service_model.service_name != "dynamodb"
        or context.operation_model.name not in FAST_DYNAMODB
        or not isinstance(self.result, dict)
    ):
        return _shaped_result(self, context)
    # Only the members the output shape has (moto adds a stray `ConsumedCapacityUnits` to
    # DeleteItem's result, which the shaped rendering leaves out).
    members = context.operation_model.output_shape.members
    body = json.dumps({k: v for k, v in self.result.items() if k in members}, separators=(",", ":"))
    if CHECK_FAST:
        status, headers, shaped = _shaped_result(self, context)
        if status != 200 or json.loads(shaped) != json.loads(body):
            print(f"fast path differs for {context.operation_model.name}: {shaped[:300]} != {body[:300]}",
                  file=sys.stderr, flush=True)
        return status, headers, shaped
    return 200, {"Content-Type": "application/x-amz-json-1.0"}, body


ActionResult.execute_result = plain_result


# moto parses each request's parameters with botocore's parser for the operation's input shape,
# after rebuilding the request as a werkzeug one: a fifth of moto's time in the 500-buyer rush
# (py-spy). For DynamoDB's JSON protocol that parse is `json.loads` but for binary values (`B`,
# `BS`: base64 text the parser decodes to bytes), which this platform never writes; a body that
# may hold one takes botocore's way. MOTO_CHECK_FAST=1 parses both ways and reports any difference.
_parsed_parameters = DynamoHandler.parse_parameters


def json_parameters(self, request):
    body = self.body
    if isinstance(body, bytes):
        body = body.decode("utf-8")
    if not body or '"B"' in body or '"BS"' in body:
        return _parsed_parameters(self, request)
    self.params = json.loads(body)
    if CHECK_FAST:
        plain = self.params
        _parsed_parameters(self, request)
        if plain != self.params:
            print(f"fast parse differs for {self._get_action()}: {plain} != {self.params}",
                  file=sys.stderr, flush=True)
        self.params = plain


DynamoHandler.parse_parameters = json_parameters


# moto checks an item against DynamoDB's 400 KB limit on every attribute it sets by summing the
# sizes of all the item's attributes again: quadratic in the attributes per item written, about a
# tenth of the time moto held the GIL in the 500-buyer rush (py-spy --gil). The item keeps its
# running size instead, and the exact sum (moto's own check) runs only once the running size says
# the item is past half the limit, or after an attribute was removed. A nested value grown in
# place is not counted until the next exact sum; moto does not check those writes either.
_ITEM_LIMIT = 405_000  # moto's limit (DynamoDB's 400 KB, as moto measured it)


def _entry_size(key, value):
    return bytesize(key) + (value.size() if type(value) is DynamoType else bytesize(str(value)))


def _sized_setitem(self, key, value):
    added = _entry_size(key, value)
    total = self.__dict__.get("_running_size")
    if total is None or total + added > _ITEM_LIMIT // 2:
        total = sum(_entry_size(k, v) for k, v in self.items())
    if total + added > _ITEM_LIMIT:
        raise ItemSizeTooLarge
    replaced = _entry_size(key, dict.__getitem__(self, key)) if key in self else 0
    dict.__setitem__(self, key, value)
    self._running_size = total + added - replaced


def _forgetting_size(method):
    def forget(self, *args, **kwargs):
        self.__dict__.pop("_running_size", None)
        return method(self, *args, **kwargs)
    return forget


LimitedSizeDict.__setitem__ = _sized_setitem
for _name in ("__delitem__", "pop", "popitem", "clear", "update", "setdefault"):
    setattr(LimitedSizeDict, _name, _forgetting_size(getattr(dict, _name)))


# Each response gets a 52-character request id drawn one character at a time from moto's seeded
# random generator (4% of the GIL's time in the rush); any unique id will do.
def _request_id(headerdict=None):
    req_id = base64.b32encode(os.urandom(35)).decode()[:52]
    if isinstance(headerdict, dict):
        headerdict["x-amzn-requestid"] = req_id
    return req_id


aws_headers.gen_amzn_requestid_long = moto_responses.gen_amzn_requestid_long = _request_id
backend = DomainDispatcherApplication(create_backend_app)
lock = threading.Lock()


# moto finds the service a request is for by listing its own package directory, on every request.
_modules = tuple(moto_backends.list_of_moto_modules())
moto_backends.list_of_moto_modules = lambda: _modules

# MOTO_SLOW_MS=n prints every request that held the lock longer than n ms (with its action).
SLOW_MS = float(os.environ.get("MOTO_SLOW_MS", "0"))


REQUEST_LOG = os.environ.get("MOTO_REQUEST_LOG")


class RequestLog:
    """Writes one JSON line per request (see the module doc); called under the lock only."""

    WRITE_OPS = {"PutItem": "Put", "UpdateItem": "Update", "DeleteItem": "Delete"}

    def __init__(self, path):
        import json

        self.json = json
        self.file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - open for the server's life
        self.seq = 0

    def emit(self, record):
        self.seq += 1
        record["seq"] = self.seq
        record["t"] = round(time.time(), 4)
        self.file.write(self.json.dumps(record, separators=(",", ":")) + "\n")
        self.file.flush()

    def mark(self, environ, start_response):
        from urllib.parse import parse_qs

        phase = parse_qs(environ.get("QUERY_STRING", "")).get("phase", [""])[0]
        self.emit({"mark": phase})
        start_response("200 OK", [("Content-Type", "application/json")])
        return [self.json.dumps({"seq": self.seq}).encode()]

    @staticmethod
    def backend(environ):
        from moto.dynamodb.models import dynamodb_backends

        auth = environ.get("HTTP_AUTHORIZATION", "")
        region = "us-east-1"
        if "Credential=" in auth:
            parts = auth.split("Credential=", 1)[1].split("/")
            if len(parts) > 2:
                region = parts[2]
        return dynamodb_backends["123456789012"][region]

    @staticmethod
    def key_of(table, item_or_key):
        key = {table.hash_key_attr: item_or_key[table.hash_key_attr]}
        if table.range_key_attr is not None:
            key[table.range_key_attr] = item_or_key[table.range_key_attr]
        return key

    @staticmethod
    def plain(key):
        return {name: next(iter(value.values())) for name, value in key.items()}

    @staticmethod
    def size_of_json(item):
        from moto.dynamodb.models.dynamo_type import DynamoType

        return sum(len(k.encode()) + DynamoType(v).size() for k, v in item.items())

    def stored_size(self, db, table_name, key):
        try:
            item = db.get_item(table_name, key)
        except Exception:  # noqa: BLE001 - a missing table is the request's own error
            return None
        return item.size() if item is not None else 0

    def write_items(self, db, action, body):
        """(table, op, key) of every item a write request touches."""
        if action in self.WRITE_OPS:
            table = db.get_table(body["TableName"])
            key = self.key_of(table, body["Item"]) if action == "PutItem" else body["Key"]
            return [(body["TableName"], self.WRITE_OPS[action], key, body.get("ConditionExpression"))]
        touched = []
        if action == "TransactWriteItems":
            for entry in body.get("TransactItems", []):
                op_type, op = next(iter(entry.items()))
                table = db.get_table(op["TableName"])
                key = self.key_of(table, op["Item"]) if op_type == "Put" else op["Key"]
                touched.append((op["TableName"], op_type, key, op.get("ConditionExpression")))
        elif action == "BatchWriteItem":
            for table_name, requests in body.get("RequestItems", {}).items():
                table = db.get_table(table_name)
                for request in requests:
                    if "PutRequest" in request:
                        touched.append((table_name, "Put", self.key_of(table, request["PutRequest"]["Item"]), None))
                    else:
                        touched.append((table_name, "Delete", request["DeleteRequest"]["Key"], None))
        return touched

    def dynamodb(self, environ, action, request, status, response):
        record = {"svc": "dynamodb", "op": action, "status": int(status.split()[0])}
        try:
            body = self.json.loads(request or b"{}")
        except ValueError:
            body = {}
        if body.get("ReturnConsumedCapacity") not in (None, "NONE"):
            record["rcc"] = body["ReturnConsumedCapacity"]
        try:
            answer = self.json.loads(b"".join(response) or b"{}")
        except ValueError:
            answer = {}
        if record["status"] >= 400:
            record["error"] = str(answer.get("__type", "")).rsplit("#", 1)[-1]
        if "rcc" in record and "ConsumedCapacity" in answer:
            record["cc"] = answer["ConsumedCapacity"]
        return record, body, answer

    def reads(self, action, body, answer, record):
        if action == "GetItem":
            record["table"] = body.get("TableName")
            record["consistent"] = bool(body.get("ConsistentRead"))
            item = answer.get("Item")
            record["items"] = [{"key": self.plain(body.get("Key", {})),
                                "size": self.size_of_json(item) if item else 0, "found": item is not None}]
        elif action == "Query":
            record["table"] = body.get("TableName")
            record["consistent"] = bool(body.get("ConsistentRead"))
            record["index"] = body.get("IndexName")
            values = body.get("ExpressionAttributeValues", {})
            names = body.get("ExpressionAttributeNames", {})
            condition = body.get("KeyConditionExpression", "")
            record["key_condition"] = condition
            # The partition: the value the hash key `pk` is compared with.
            for alias in ["pk"] + [n for n, real in names.items() if real == "pk"]:
                found = re.search(re.escape(alias) + r"\s*=\s*(:\w+)", condition)
                if found and found.group(1) in values:
                    record["pk"] = next(iter(values[found.group(1)].values()))
                    break
            record["limit"] = body.get("Limit")
            items = answer.get("Items", [])
            record["returned"] = len(items)
            record["size"] = sum(self.size_of_json(i) for i in items)
        elif action == "BatchGetItem":
            record["consistent"] = any(r.get("ConsistentRead") for r in body.get("RequestItems", {}).values())
            found = {}
            for table_name, items in answer.get("Responses", {}).items():
                for item in items:
                    found[(table_name, self.json.dumps(self.plain({k: item[k] for k in ("pk", "sk") if k in item}), sort_keys=True))] = self.size_of_json(item)
            record["items"] = []
            for table_name, request in body.get("RequestItems", {}).items():
                for key in request.get("Keys", []):
                    plain = self.plain(key)
                    size = found.get((table_name, self.json.dumps(plain, sort_keys=True)))
                    record["items"].append({"table": table_name, "key": plain, "size": size or 0, "found": size is not None})
        elif action == "TransactGetItems":
            record["items"] = []
            for entry, response in zip(body.get("TransactItems", []), answer.get("Responses", [])):
                get = entry.get("Get", {})
                item = response.get("Item")
                record["items"].append({"table": get.get("TableName"), "key": self.plain(get.get("Key", {})),
                                        "size": self.size_of_json(item) if item else 0, "found": item is not None})

    @staticmethod
    def caller(environ, record):
        """Who called: the AWS_SDK_UA_APP_ID of a Rust SDK client, or boto3 (scripts)."""
        agent = environ.get("HTTP_USER_AGENT", "")
        app = re.search(r"\bapp/(\S+)", agent)
        if app:
            record["app"] = app.group(1)
        elif agent.startswith("Boto3"):
            record["app"] = "boto3"

    def handle(self, environ, start_response, request):
        """Runs the request (its body already read, `request`) through moto, logging it; returns
        the response body."""
        target = environ.get("HTTP_X_AMZ_TARGET") or ""
        captured = {}

        def capture(status, headers, exc_info=None):
            captured["status"] = status
            return start_response(status, headers, exc_info)

        if not target.startswith("DynamoDB_"):
            response = list(backend(environ, capture))
            action = target.rsplit(".", 1)[-1] if target else None
            if action is None:
                from urllib.parse import parse_qs

                action = parse_qs(request.decode(errors="replace")).get("Action", [None])[0]
            path = re.sub(r"^(/schedules(?:-groups)?/)[^/?]+", r"\1{name}", environ.get("PATH_INFO") or "")
            service = "scheduler" if path.startswith("/schedule") else environ.get("HTTP_HOST", "")
            record = {"svc": target.split(".", 1)[0] if target else service,
                      "op": action or f"{environ.get('REQUEST_METHOD')} {path}",
                      "status": int(captured.get("status", "0 ").split()[0])}
            self.caller(environ, record)
            self.emit(record)
            return response
        action = target.rsplit(".", 1)[-1]
        db = None
        touched = []
        if action in self.WRITE_OPS or action in ("TransactWriteItems", "BatchWriteItem"):
            try:
                db = self.backend(environ)
                touched = self.write_items(db, action, self.json.loads(request or b"{}"))
                before = [self.stored_size(db, t, k) for t, _, k, _ in touched]
            except Exception:  # noqa: BLE001 - moto answers a malformed request with its error
                touched, before = [], []
        started = time.monotonic()
        response = list(backend(environ, capture))
        took = (time.monotonic() - started) * 1000
        record, body, answer = self.dynamodb(environ, action, request, captured.get("status", "0 "), response)
        record["ms"] = round(took, 2)
        self.caller(environ, record)
        if touched:
            record["table"] = touched[0][0]
            record["items"] = [
                {"op": op, "key": self.plain(key), "before": size, "after": self.stored_size(db, t, key),
                 "cond": cond is not None}
                for (t, op, key, cond), size in zip(touched, before)
            ]
        else:
            self.reads(action, body, answer, record)
        self.emit(record)
        return response


request_log = RequestLog(REQUEST_LOG) if REQUEST_LOG else None


def _sdk_request(environ):
    """A DynamoDB request as moto reads one that botocore sent (the kind of request moto's
    handlers take besides werkzeug's), straight from the WSGI environ: headers named as werkzeug
    names them."""
    headers = {
        key[5:].replace("_", "-").title(): value
        for key, value in environ.items()
        if key.startswith("HTTP_")
    }
    for key, name in (("CONTENT_TYPE", "Content-Type"), ("CONTENT_LENGTH", "Content-Length")):
        if environ.get(key):
            headers[name] = environ[key]
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    url = f"http://{environ.get('HTTP_HOST', 'localhost')}{environ.get('PATH_INFO', '/')}"
    return AWSPreparedRequest(environ["REQUEST_METHOD"], url, HTTPHeaders.from_dict(headers), body, False), headers


def dynamodb_direct(environ, start_response):
    """A DynamoDB request handed to moto's handler without Flask and werkzeug around it: their
    routing, request parsing, middlewares and response object took about a fifth of the time the
    lock was held in a 500-buyer rush (py-spy, --gil), for requests whose route is known from
    their `X-Amz-Target` alone. The handler and its answer are moto's own."""
    request, headers = _sdk_request(environ)
    status, headers, body = DynamoHandler.dispatch(request, request.url, headers)
    if isinstance(body, str):
        body = body.encode("utf-8")
    headers = {str(k): str(v) for k, v in headers.items() if k != "status"}
    if not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = "application/x-amz-json-1.0"
    headers["Content-Length"] = str(len(body))
    start_response(f"{int(status)} {HTTPStatus(int(status)).phrase}", list(headers.items()))
    return [body]


# MOTO_DIRECT=0 sends DynamoDB through moto's Flask app like every other service.
DIRECT = os.environ.get("MOTO_DIRECT", "1") != "0"


def serialized(environ, start_response):
    # The body is read before the lock: reading it from the socket may wait for the client, which
    # switches to another greenlet, and one waiting for the lock there would wait forever in the
    # one thread there is.
    length = int(environ.get("CONTENT_LENGTH") or 0)
    request = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(request)
    if request_log is not None:
        with lock:
            if environ.get("PATH_INFO") == "/_request_log/mark":
                return request_log.mark(environ, start_response)
            return request_log.handle(environ, start_response, request)
    with lock:
        started = time.monotonic()
        # Materialise the body under the lock: the work happens while it is produced.
        if DIRECT and environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_20120810."):
            body = dynamodb_direct(environ, start_response)
        else:
            body = list(backend(environ, start_response))
        took = (time.monotonic() - started) * 1000
        if SLOW_MS and took > SLOW_MS:
            action = environ.get("HTTP_X_AMZ_TARGET") or environ.get("PATH_INFO")
            print(f"slow {took:.1f} ms {action} {request[:160]!r}", file=sys.stderr, flush=True)
        return body



# ---- durability across a restart (MOTO_STATE_FILE) -------------------------------------------
STATE_FILE = os.environ.get("MOTO_STATE_FILE")
# Services whose state the platform depends on; iam/sts for the scheduler's role.
DURABLE_SERVICES = ("dynamodb", "scheduler", "events", "sqs", "iam", "sts")


def _queue_getstate(self):
    state = self.__dict__.copy()
    state.pop("_messages_lock", None)  # a threading.Condition: not picklable, rebuilt on load
    return state


def _queue_setstate(self, state):
    import threading as _threading

    self.__dict__.update(state)
    self._messages_lock = _threading.Condition()


def _durable_backends():
    from moto.backends import get_backend

    return {service: get_backend(service) for service in DURABLE_SERVICES}


def save_state(path):
    """Pickles every region backend of the durable services, atomically (temp file + rename)."""
    state = {
        service: {account: dict(regions) for account, regions in backends.items()}
        for service, backends in _durable_backends().items()
    }
    tmp = f"{path}.tmp"
    with open(tmp, "wb") as out:
        pickle.dump(state, out, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, path)
    return sum(len(regions) for accounts in state.values() for regions in accounts.values())


def load_state(path):
    """Puts the pickled region backends back in moto's backend dictionaries."""
    with open(path, "rb") as source:
        state = pickle.load(source)  # noqa: S301 - our own file, written by save_state
    backends = _durable_backends()
    restored = 0
    for service, accounts in state.items():
        for account, regions in accounts.items():
            per_account = backends[service][account]  # creates the account's dictionary
            for region, region_backend in regions.items():
                dict.__setitem__(per_account, region, region_backend)
                restored += 1
    return restored


if STATE_FILE:
    from moto.sqs.models import Queue as _SqsQueue

    _SqsQueue.__getstate__ = _queue_getstate
    _SqsQueue.__setstate__ = _queue_setstate
    if os.path.exists(STATE_FILE):
        count = load_state(STATE_FILE)
        print(f"moto state loaded from {STATE_FILE} ({count} region backends)", file=sys.stderr, flush=True)

    def _snapshot_and_exit(signum):
        # In a greenlet of its own (gevent.signal_handler), so between requests, never inside one:
        # nothing switches greenlets while a request holds the lock.
        with lock:
            count = save_state(STATE_FILE)
            print(f"moto state saved to {STATE_FILE} ({count} region backends) on signal {signum}",
                  file=sys.stderr, flush=True)
            os._exit(0)

    gevent.signal_handler(signal.SIGTERM, _snapshot_and_exit, signal.SIGTERM)
    gevent.signal_handler(signal.SIGINT, _snapshot_and_exit, signal.SIGINT)


class NoDelayServer(WSGIServer):
    """gevent's WSGI server, answering without Nagle's delay: it writes a response's headers and
    body in two sends, and with Nagle's algorithm on, the second waited for the client's delayed
    acknowledgement of the first (about 40 ms a request)."""

    def handle(self, sock, address):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().handle(sock, address)


# One thread, a greenlet per connection: moto is CPU-bound under the GIL and answers one request
# at a time anyway. With waitress (an I/O thread and four workers), every request handed the GIL
# between the thread that read it and the one that ran it, and each hand-over could wait out the
# interpreter's switch interval behind moto's work: moto held the GIL about a third of the time
# while requests queued (py-spy --gil). In the 500-buyer rush, the slowest join took 13.6 and
# 12.5 s with gevent against 16.9 and 17.2 with waitress through the functions ((b)), 9.5 and 9.4
# against 13.0 and 12.6 through the container ((c)), runs taken in turn on one machine.
NoDelayServer((args.host, args.port), serialized, log=None, error_log=None).serve_forever()
