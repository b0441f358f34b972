#!/usr/bin/env bash
# The project's test command (the README's second command; .ci/run runs it too).
#
#  1. every Rust test of the workspace: unit tests, the domain suite with a manual clock, the
#     store conformance suite, and the black-box HTTP suite against the embedded server it starts;
#  2. a smoke run of the load driver (tacos-load): every scenario, strict, ledger checked;
#     then /metrics after a rush (scripts/metrics_check.sh: every operator series, real values,
#     every metric the Grafana dashboard queries); the domain events those tests emitted,
#     validated against schemas/events; the web app's browser tests (scripts/browser.sh: Playwright
#     driving Debian's Chromium, screenshots in target/browser/screenshots/);
#  3. the OpenAPI document and the event schemas themselves; the Markdown files' relative links
#     and anchors (scripts/check_links.py); no import circle between the crates' files
#     (scripts/check_imports.py); the README's "Try it" block run as written against the
#     embedded server on :8000 (scripts/try_it.sh);
#  3b. schemathesis: the OpenAPI document against the embedded server, 25 examples per operation
#      (scripts/schemathesis.sh); cargo fuzz: every fuzz target for 20 s (scripts/fuzz.sh);
#  4. the AWS adapters against moto (started and stopped here);
#  4b. faults on the AWS-protocol stack: moto stopped and restarted from its snapshot mid-flow
#      under buyers of the container (scripts/faults.sh; its own moto, container and emulator);
#  5. the deployment artifacts, offline (scripts/validate_deploy.sh);
#  6. parity: the black-box suite against the Lambda functions under `cargo lambda watch` and the
#     container binary, on moto (scripts/parity.sh; TACOS_PARITY=0 skips it).
#
# First of all, the supply chain (scripts/supply_chain.sh): cargo-deny's licenses, duplicate crates
# and sources, and the RustSec advisories through cargo-audit and cargo-deny; and that every later
# build reuses what `cargo test --workspace` compiles (scripts/check_feature_sets.py).
set -euo pipefail
cd "$(dirname "$0")/.."

# Each stage says when it began (UTC) and how far into the run: CI's time budget is read from here.
log() { printf '\n==> [%s +%dm%02ds] %s\n' "$(date -u +%H:%M:%S)" $((SECONDS / 60)) $((SECONDS % 60)) "$*"; }

log "Python tools for the document checks"
python3 scripts/ensure_python_tools.py
command -v moto_server >/dev/null || python3 -m pip install --quiet --disable-pip-version-check 'moto[server]'

log "supply chain: cargo deny (licenses, bans, sources), cargo audit (advisories)"
scripts/supply_chain.sh

export TACOS_EVENTS_OUT="$PWD/target/domain-events.jsonl"
rm -f "$TACOS_EVENTS_OUT"

log "one feature set: the later builds reuse what cargo test compiles (scripts/check_feature_sets.py)"
python3 scripts/check_feature_sets.py

# Later steps' tools, installed while cargo compiles (on a fresh machine the deployment checks'
# aws-sam-cli and the rest took 90 s of pip, Chromium a minute of apt): each step installs what is
# still missing itself, so a failure here costs only time. Their output is shown before the step.
mkdir -p target
scripts/validate_deploy.sh --tools-only >target/tools-deploy.log 2>&1 &
TOOLS_DEPLOY=$!
scripts/browser.sh --tools-only >target/tools-browser.log 2>&1 &
TOOLS_BROWSER=$!
tools_ready() { # pid log
  wait "$1" || echo "(installing these tools in the background failed; the step tries again)"
  cat "$2"
}

log "cargo test --workspace"
# Every target that has tests: libraries, integration tests, examples, the criterion benches (run
# once each as a smoke test) and the binaries with tests of their own. Not `--all-targets`: it
# also built and ran a test harness for each of the 36 `test = false` binaries (the functions, a
# `main` handing the request to tacos-lambda, and the gateway), none with a test.
# Six test threads on two cores: the black-box suite mostly waits (holds running out, turns,
# 30-second token lifetimes), 94 s with libtest's default of one thread per core, 44 s with six.
RUST_TEST_THREADS=${RUST_TEST_THREADS:-6} cargo test --workspace --lib --tests --examples --bench '*'

log "load driver smoke: every scenario for a second against the embedded server (scripts/bench.sh)"
scripts/bench.sh smoke

log "metrics: /metrics after a rush has every operator series, with real values (scripts/metrics_check.sh)"
scripts/metrics_check.sh

log "browser tests: the web app in Debian's Chromium through Playwright (scripts/browser.sh)"
tools_ready "$TOOLS_BROWSER" target/tools-browser.log
scripts/browser.sh

log "emitted domain events against schemas/events"
python3 scripts/validate_events.py "$TACOS_EVENTS_OUT"

log "OpenAPI document and event schemas"
python3 scripts/validate_docs.py

log "documentation: every relative link and anchor of every *.md resolves (scripts/check_links.py)"
python3 scripts/check_links.py

log "no import circles between the library crates' files (scripts/check_imports.py)"
python3 scripts/check_imports.py

log "the README's Try it block, as written, against a fresh embedded server on :8000 (scripts/try_it.sh)"
scripts/try_it.sh

log "schemathesis: docs/openapi.yaml against the embedded server (scripts/schemathesis.sh)"
scripts/schemathesis.sh "${TACOS_SCHEMATHESIS_EXAMPLES:-25}"

log "cargo fuzz: every target for ${TACOS_FUZZ_SECONDS:-20} s (scripts/fuzz.sh)"
scripts/fuzz.sh "${TACOS_FUZZ_SECONDS:-20}"

log "AWS adapters against moto (DynamoDB, Scheduler, EventBridge, SQS)"
MOTO_PORT=${TACOS_TEST_MOTO_PORT:-5056}
trap 'scripts/moto.sh stop "$MOTO_PORT" >/dev/null 2>&1 || true' EXIT
scripts/moto.sh start "$MOTO_PORT"
(
  export AWS_ENDPOINT_URL=http://127.0.0.1:$MOTO_PORT AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
  export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
  eval "$(python3 scripts/aws_setup.py --endpoint-url "$AWS_ENDPOINT_URL" --prefix tacos)"
  # `--workspace`: the features of the run above, so nothing is rebuilt.
  cargo test --workspace --test aws
)
scripts/moto.sh stop "$MOTO_PORT"

log "faults: the store going away mid-flow on the AWS-protocol stack (scripts/faults.sh)"
scripts/faults.sh

log "deployment artifacts: SAM template, functions = crates, Kubernetes manifests, Dockerfile"
tools_ready "$TOOLS_DEPLOY" target/tools-deploy.log
scripts/validate_deploy.sh

if [[ "${TACOS_PARITY:-1}" != 0 ]]; then
  log "parity: the black-box suite against the functions and the container on moto"
  scripts/parity.sh
fi

# CI machines have limited disk: keep an eye on what the build takes.
log "disk taken by target/: $(du -sh target/ 2>/dev/null | cut -f1)"
log "scripts/test.sh passed"
