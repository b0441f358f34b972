#!/usr/bin/env python3
"""Checks that every cargo build the test command makes reuses what `cargo test` compiled.

`scripts/test.sh` compiles the workspace once with `cargo test --workspace --lib --tests
--examples --bench '*'` (every target with tests); the steps after it build binaries (`cargo
build --workspace --bin …`, `build_stack` of scripts/lib.sh) and the black-box suite alone
(`cargo test -p tacos-tests`). With resolver 2 a
dependency's features depend on which packages a command selects and on whether it compiles
tests (dev-dependencies' features count only then), and a crate resolved with other features is
compiled again, with every crate above it: on a fresh machine that was the AWS SDKs twice. The
crate `tacos-workspace-hack` (shared/workspace-hack) turns the test-only features on everywhere.

This asks cargo for the unit graph of each of those commands (`--unit-graph`, resolution only,
nothing is compiled; RUSTC_BOOTSTRAP=1 lets stable cargo take `-Z unstable-options`) and fails
(exit 1) if any library unit is resolved with a feature set that `cargo test` does not build,
naming the crate and the features to add to the hack crate.

Usage: scripts/check_feature_sets.py
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def functions() -> list[str]:
    """`-p NAME` for every function crate, as `build_stack` (scripts/lib.sh) selects them."""
    args = []
    for name in sorted(p.name for p in (ROOT / "functions").iterdir() if p.is_dir()):
        args += ["-p", name]
    return args


# The builds scripts/test.sh makes after its first, and where.
BUILDS = {
    "cargo build --workspace --bin tacos-local --bin tacos-load "
    "(bench.sh smoke, metrics_check.sh, browser.sh, schemathesis.sh)": [
        "build", "--workspace", "--bin", "tacos-local", "--bin", "tacos-load",
    ],
    "build_stack (scripts/lib.sh: parity.sh, faults.sh)": [
        "build", *functions(), "-p", "tacos-container", "-p", "tacos-tests", "--bins",
        "--features", "tacos-container/lambda",
    ],
    "cargo test -p tacos-tests --test blackbox (parity.sh)": [
        "test", "-p", "tacos-tests", "--test", "blackbox", "--no-run",
    ],
    "cargo test --workspace --test aws (test.sh, faults.sh)": [
        "test", "--workspace", "--test", "aws", "--no-run",
    ],
}
FIRST = ["test", "--workspace", "--lib", "--tests", "--examples", "--bench", "*", "--no-run"]


def library_units(args: list[str]) -> dict[tuple[str, str | None], set[tuple[str, ...]]]:
    """Each library unit's feature sets, by (package, platform), in the unit graph of `args`."""
    env = dict(os.environ, RUSTC_BOOTSTRAP="1")
    out = subprocess.run(
        ["cargo", *args, "--unit-graph", "-Z", "unstable-options"],
        cwd=ROOT, env=env, check=True, capture_output=True, text=True,
    ).stdout
    units: dict[tuple[str, str | None], set[tuple[str, ...]]] = {}
    for unit in json.loads(out)["units"]:
        target = unit["target"]
        if unit["mode"] != "build" or not (
            "lib" in target["kind"] or "proc-macro" in target["kind"]
            or "rlib" in target["crate_types"]
        ):
            continue
        package = unit["pkg_id"].rsplit("#", 1)[-1]
        units.setdefault((package, unit.get("platform")), set()).add(tuple(sorted(unit["features"])))
    return units


def main() -> int:
    first = library_units(FIRST)
    problems = []
    for name, args in BUILDS.items():
        for key, features in sorted(library_units(args).items(), key=str):
            for extra in sorted(features - first.get(key, set())):
                built = sorted(first.get(key, set()))
                problems.append(
                    f"{name}: {key[0]} with features {list(extra)}; `cargo test` builds it with "
                    f"{[list(f) for f in built] or 'nothing'}"
                )
    if problems:
        print("check_feature_sets: builds that compile crates again:", file=sys.stderr)
        for p in problems:
            print(f"  {p}", file=sys.stderr)
        print(
            "Add the missing features to shared/workspace-hack/Cargo.toml (or make the build "
            "select packages as `cargo test --workspace` does).",
            file=sys.stderr,
        )
        return 1
    print(f"check_feature_sets: OK: {len(BUILDS)} builds resolve every library as the test "
          "command's `cargo test --workspace` does")
    return 0


if __name__ == "__main__":
    sys.exit(main())
