#!/usr/bin/env bash
# Schemathesis against docs/openapi.yaml on the running embedded server (debug build).
#
#   scripts/schemathesis.sh [max-examples]        # default 25 per operation (CI, a few minutes)
#   scripts/schemathesis.sh 500                   # the long run
#
# Every phase (the document's examples, coverage of each schema's edges, random fuzzing,
# stateful sequences along the document's links), positive and negative data, with the checks in
# CHECKS below. A buyer's and the administrator's bearer tokens and a fresh Idempotency-Key per
# request are supplied by scripts/schemathesis/hooks.py. Exits non-zero on any failed check.
# Reports: target/schemathesis/ (JUnit XML, NDJSON events, server log).
set -euo pipefail
cd "$(dirname "$0")/.."
EXAMPLES=${1:-25}
OUT=target/schemathesis
mkdir -p "$OUT"

# All the checks schemathesis has, except:
# * positive_data_acceptance: "valid" data is routinely refused for reasons a schema cannot say
#   (event ids that do not exist: 404; a reservation token that is not a real one: 403);
# * use_after_free / ensure_resource_availability need a DELETE that removes what a POST
#   created; the platform's DELETEs change a status (a cancelled reservation is still readable),
#   which these checks would misread as a resource that survived its deletion.
CHECKS=not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,negative_data_rejection,missing_required_header,unsupported_method,allow_header_conformance,ignored_auth
CHECKS=${TACOS_ST_CHECKS:-$CHECKS}

if ! command -v schemathesis >/dev/null 2>&1; then
    echo "==> pip install schemathesis"
    python3 -m pip install --quiet --disable-pip-version-check 'schemathesis>=4,<5'
fi
echo "==> cargo build --workspace --bin tacos-local"
# (--workspace: the features `cargo test --workspace` built with, so nothing is rebuilt)
cargo build -q --workspace --bin tacos-local

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT/api/v1"
ADMIN_PASSWORD="schemathesis-admin-$RANDOM$RANDOM"
rm -rf "$OUT/data"
PORT=$PORT TACOS_DATA_DIR=$OUT/data TACOS_ADMIN_PASSWORD=$ADMIN_PASSWORD TACOS_RATE_LIMIT=off RUST_LOG=warn \
    target/debug/tacos-local >"$OUT/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 100); do
    curl -fs "$BASE/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done

token() { # path, JSON body → the token of the session
    curl -fs "$BASE$1" -H 'Content-Type: application/json' -d "$2" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])'
}
export TACOS_ST_USER_TOKEN TACOS_ST_ADMIN_TOKEN
TACOS_ST_USER_TOKEN=$(token /auth/register "{\"username\":\"st$RANDOM$RANDOM\",\"password\":\"schemathesis buyer\"}")
TACOS_ST_ADMIN_TOKEN=$(token /auth/login "{\"username\":\"admin\",\"password\":\"$ADMIN_PASSWORD\"}")

echo "==> schemathesis $(schemathesis --version | awk '{print $NF}') on $BASE, $EXAMPLES examples per operation"
# streamAvailability is left out: for an existing event (the stateful phase creates them) its
# response never ends, so every such case would only wait out the request timeout (a run took
# 6 minutes instead of 20 s). The black-box suite's `availability::` tests read that stream (its
# events, its 404 for an unknown event) on every deployment.
run() {
    SCHEMATHESIS_HOOKS=hooks PYTHONPATH=scripts/schemathesis schemathesis run docs/openapi.yaml \
        --url "$BASE" --checks "$CHECKS" --max-examples "$EXAMPLES" \
        --exclude-operation-id streamAvailability \
        --workers 2 --request-timeout 10 --seed "${TACOS_ST_SEED:-$RANDOM}" \
        --generation-database none --suppress-health-check all --no-color \
        --report junit,ndjson --report-dir "$OUT" 2>&1 | tee "$OUT/run.log"
    return "${PIPESTATUS[0]}"
}
set +e
run
rc=$?
# A run with errors but no failed check is schemathesis itself failing: CPython 3.11.7's
# "SystemError: AST constructor recursion depth mismatch" (fixed in 3.11.8) when hypothesis parses
# a strategy's source in the coverage phase, at random. hooks.py now names such a lambda
# generically instead (after the OpenAPI document grew nullable fields, three runs in four hit
# it); should anything else make schemathesis error, another seed decides, up to five runs in all.
# A failed check is never retried.
for attempt in 2 3 4 5; do
    if [ "$rc" -eq 0 ] || grep -q '^Failures:' "$OUT/run.log"; then
        break
    fi
    echo "==> schemathesis errored without a failed check; run $attempt of 5 with another seed"
    run
    rc=$?
done
set -e
server_errors=$(grep -cE '"level":"ERROR"|panicked' "$OUT/server.log" || true)
echo "==> schemathesis exit $rc; server log lines with a 5xx or panic: $server_errors"
exit "$rc"
