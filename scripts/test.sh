#!/usr/bin/env bash
# The project's test command (the README's second command; .ci/run runs it too).
#
#  1. every Rust test of the workspace: unit tests, the domain suite with a manual clock, the
#     store conformance suite, and the black-box HTTP suite against the embedded server it starts;
#  2. the domain events those tests emitted, validated against schemas/events;
#  3. the OpenAPI document and the event schemas themselves.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n==> %s\n' "$*"; }

log "Python tools for the document checks"
python3 scripts/ensure_python_tools.py

export TACOS_EVENTS_OUT="$PWD/target/domain-events.jsonl"
rm -f "$TACOS_EVENTS_OUT"

log "cargo test --workspace"
cargo test --workspace --all-targets

log "emitted domain events against schemas/events"
python3 scripts/validate_events.py "$TACOS_EVENTS_OUT"

log "OpenAPI document and event schemas"
python3 scripts/validate_docs.py
