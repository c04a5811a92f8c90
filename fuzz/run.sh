#!/usr/bin/env bash
# Coverage-guided fuzzing on the stable toolchain: libFuzzer (from the libfuzzer-sys crate)
# linked into binaries built with LLVM's SanitizerCoverage instrumentation, which stable rustc
# exposes through -C passes / -C llvm-args. No nightly, no cargo-fuzz, no AddressSanitizer
# (safe Rust; debug assertions and overflow checks are on).
#
#   fuzz/run.sh [TARGET...]      each target runs FUZZ_SECONDS (default 60) seconds
#
# Corpora live in target dirs (fuzz/corpus/TARGET, seeded from fuzz/seeds/TARGET); a crash
# leaves its input in fuzz/artifacts/TARGET/ and makes the script fail.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${FUZZ_SECONDS:-60}"
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(inputs datetime scheduling)
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-${CARGO_TARGET_DIR:-../target}/fuzz}"
export RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module \
 -Cllvm-args=-sanitizer-coverage-level=4 \
 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
 -Cllvm-args=-sanitizer-coverage-pc-table \
 -Cllvm-args=-sanitizer-coverage-trace-compares \
 -Cdebug-assertions -Coverflow-checks"
# An explicit --target keeps RUSTFLAGS off build scripts and proc macros (which must not be
# instrumented: nothing links libFuzzer into them).
host=$(rustc -vV | sed -n 's/^host: //p')
cargo build --release --locked --bins --target "$host"
bin="$CARGO_TARGET_DIR/$host/release"
for t in "${targets[@]}"; do
    corpus="corpus/$t"
    mkdir -p "$corpus" "artifacts/$t"
    if [ -d "seeds/$t" ]; then cp -n seeds/"$t"/* "$corpus"/ 2>/dev/null || true; fi
    echo "== fuzz $t for ${seconds}s"
    log="$CARGO_TARGET_DIR/fuzz-$t.log"
    set +e
    "$bin/$t" -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="artifacts/$t/" "$corpus" >"$log" 2>&1
    status=$?
    set -e
    grep -E '^(#[0-9]+.*(DONE|pulse)|stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb|stat::new_units_added)' "$log" | tail -n 5 || true
    if [ "$status" -ne 0 ]; then
        tail -n 60 "$log" >&2
        echo "FATAL: fuzz target $t failed (exit $status); input saved under fuzz/artifacts/$t/" >&2
        exit "$status"
    fi
    echo "fuzz $t: no crash in ${seconds}s ($(ls "$corpus" | wc -l) corpus entries)"
done
