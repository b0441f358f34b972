#!/usr/bin/env python3
"""moto_server with one request at a time.

moto applies a TransactWriteItems to a copy of the table and, on cancellation, restores the copy,
without a lock: concurrent transactions can erase each other's writes, which DynamoDB never does.
Serialising requests behind one lock gives every request the atomicity and isolation DynamoDB
guarantees per call (connections are still accepted concurrently). moto is CPU-bound under the
GIL anyway, so this costs little throughput.

Usage: moto_serial.py [-H HOST] [-p PORT]
"""
import argparse
import threading

from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple

parser = argparse.ArgumentParser()
parser.add_argument("-H", "--host", default="127.0.0.1")
parser.add_argument("-p", "--port", type=int, default=5000)
args = parser.parse_args()

backend = DomainDispatcherApplication(create_backend_app)
lock = threading.Lock()


def serialized(environ, start_response):
    with lock:
        # Materialise the body under the lock: the work happens while it is produced.
        return list(backend(environ, start_response))


run_simple(args.host, args.port, serialized, threaded=True)
