#!/usr/bin/env bash
# Invokes every function with its fixtures (events/, in the order of events/journey.txt) through
# `cargo lambda invoke`, and checks every answer against the expectation beside the fixture
# (scripts/invoke_fixtures.py says how). No Docker: the functions run under `cargo lambda watch`.
#
#   scripts/parity.sh --serve &          # moto, the functions under cargo lambda watch, ...
#   TACOS_ADMIN_PASSWORD=parity-admin-password TACOS_WEBHOOK_SECRET=parity-webhook-secret \
#     scripts/invoke_fixtures.sh         # (scripts/parity.sh runs it itself, before its suites)
#
# Options go to invoke_fixtures.py: --invoke-port (default $WATCH_PORT or 9000), --keep DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-lambda >/dev/null || python3 -m pip install --quiet --disable-pip-version-check cargo-lambda
exec python3 scripts/invoke_fixtures.py "$@"
