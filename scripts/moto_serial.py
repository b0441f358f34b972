#!/usr/bin/env python3
"""moto_server with one request at a time, transactions without table copies, queries that read
one partition, and EventBridge deliveries that do not rebuild a parser each time.

moto applies a TransactWriteItems to a copy of the table and, on cancellation, restores the copy,
without a lock: concurrent transactions can erase each other's writes, which DynamoDB never does.
Serialising requests behind one lock gives every request the atomicity and isolation DynamoDB
guarantees per call (connections are still accepted concurrently). moto is CPU-bound under the
GIL anyway, so this costs little throughput.

Usage: moto_serial.py [-H HOST] [-p PORT]
"""
import argparse
import functools
import io
import os
import sys
import threading
import time

import jsonpath_ng.ext
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table
from moto.server import DomainDispatcherApplication, create_backend_app
import waitress
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
backend = DomainDispatcherApplication(create_backend_app)
lock = threading.Lock()


# moto finds the service a request is for by listing its own package directory, on every request.
_modules = tuple(moto_backends.list_of_moto_modules())
moto_backends.list_of_moto_modules = lambda: _modules

# MOTO_SLOW_MS=n prints every request that held the lock longer than n ms (with its action).
SLOW_MS = float(os.environ.get("MOTO_SLOW_MS", "0"))


def serialized(environ, start_response):
    if SLOW_MS:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        request = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(request)
    with lock:
        started = time.monotonic()
        # Materialise the body under the lock: the work happens while it is produced.
        body = list(backend(environ, start_response))
        took = (time.monotonic() - started) * 1000
        if SLOW_MS and took > SLOW_MS:
            action = environ.get("HTTP_X_AMZ_TARGET") or environ.get("PATH_INFO")
            print(f"slow {took:.1f} ms {action} {request[:160]!r}", file=sys.stderr, flush=True)
        return body


# waitress (one I/O thread, a few workers) serves moto's WSGI app at about 1.7x the requests per
# second of werkzeug's thread-per-connection development server, which spends more time on
# threads fighting for the GIL than moto spends answering.
waitress.serve(serialized, host=args.host, port=args.port, threads=4, connection_limit=2000,
               channel_timeout=600, _quiet=True)
