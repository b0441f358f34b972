#!/usr/bin/env bash
# Starts or stops a local moto server, the AWS emulator the `aws` test suite runs against.
#
#   scripts/moto.sh start PORT   # installs moto[server] and gevent with pip if missing, starts
#                                # it on 127.0.0.1:PORT in the background (pid in
#                                # target/moto-PORT.pid, log in target/moto-PORT.log) and waits
#                                # until it answers
#   scripts/moto.sh stop PORT    # stops it (SIGTERM; with MOTO_STATE_FILE set, moto_serial.py
#                                # snapshots its state to that file first and loads it at start)
#
# Then, for example:
#   export AWS_ENDPOINT_URL=http://127.0.0.1:5055 AWS_REGION=us-east-1 \
#          AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
#   eval "$(python3 scripts/aws_setup.py)"
#   cargo test -p tacos-tests --test aws
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { echo "usage: $0 start|stop PORT" >&2; exit 2; }
[ $# -eq 2 ] || usage
action=$1
port=$2
[[ $port =~ ^[0-9]+$ ]] || usage

mkdir -p target
pidfile="target/moto-$port.pid"
logfile="target/moto-$port.log"
url="http://127.0.0.1:$port"

answers() { python3 - "$url" <<'PY'
import sys, urllib.request
try:
    urllib.request.urlopen(sys.argv[1] + "/moto-api/", timeout=1)
except Exception as err:  # any HTTP answer (even an error status) means it is up
    import urllib.error
    sys.exit(0 if isinstance(err, urllib.error.HTTPError) else 1)
PY
}

running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

case "$action" in
  start)
    if running; then
      echo "moto already running on $url (pid $(cat "$pidfile"))"
      exit 0
    fi
    if ! command -v moto_server >/dev/null 2>&1 || ! python3 -c 'import gevent' 2>/dev/null; then
      echo "installing moto[server] and gevent" >&2
      python3 -m pip install --quiet --disable-pip-version-check 'moto[server]' gevent
      hash -r
    fi
    # setsid: the server gets a session of its own, so it outlives this script's shell.
    # moto_serial.py: moto_server with one request at a time (see there: transactions).
    setsid python3 scripts/moto_serial.py -H 127.0.0.1 -p "$port" >"$logfile" 2>&1 </dev/null &
    echo $! >"$pidfile"
    for _ in $(seq 1 100); do
      if answers; then
        echo "moto running on $url (pid $(cat "$pidfile"), log $logfile)"
        exit 0
      fi
      if ! running; then
        echo "moto exited; see $logfile:" >&2
        tail -n 20 "$logfile" >&2
        rm -f "$pidfile"
        exit 1
      fi
      sleep 0.2
    done
    echo "moto did not answer on $url within 20 s; see $logfile" >&2
    exit 1
    ;;
  stop)
    if running; then
      pid=$(cat "$pidfile")
      kill "$pid"
      # Up to 30 s: with MOTO_STATE_FILE set, SIGTERM first snapshots the state (scripts/faults.sh).
      for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
      echo "moto on port $port stopped"
    else
      echo "moto on port $port is not running"
    fi
    rm -f "$pidfile"
    ;;
  *) usage ;;
esac
