#!/usr/bin/env bash
# Runs the libFuzzer harnesses of a PVSIM_FUZZ build (`make fuzz`,
# docs/fuzzing.md) one after another, each for SECONDS, or for FUZZ_RUNS
# executions when that is set (then SECONDS is ignored):
#   run-fuzzers.sh BUILD SECONDS TARGET...
#   FUZZ_RUNS=10000000 run-fuzzers.sh BUILD 0 TARGET...
# Each fuzzes from tests/fuzz/corpus/<target> (read only) and from
# BUILD/fuzz-corpus/<target>, the scratch corpus where it keeps what it
# finds, with tests/fuzz/<target>.dict when there is one. A crash leaves
# its input in BUILD/fuzz-artifacts/<target>/ (add it to the repository's
# corpus once fixed). Prints each harness's final figures (executions,
# cov: and ft:) and fails when any harness failed.
set -uo pipefail
build=$(cd "$1" && pwd)
seconds=$2
shift 2
root=$(cd "$(dirname "$0")/.." && pwd)
failed=()
for target in "$@"; do
    program=$build/tests/fuzz/pvsim_fuzz_$target
    scratch=$build/fuzz-corpus/$target
    artifacts=$build/fuzz-artifacts/$target
    log=$build/fuzz-logs/$target.log
    mkdir -p "$scratch" "$artifacts" "$(dirname "$log")"
    if [ -n "${FUZZ_RUNS:-}" ]; then
        limit=(-runs="$FUZZ_RUNS")
        what="$FUZZ_RUNS executions"
    else
        limit=(-max_total_time="$seconds")
        what="${seconds}s"
    fi
    args=("${limit[@]}" -print_final_stats=1 -artifact_prefix="$artifacts/")
    if [ -f "$root/tests/fuzz/$target.dict" ]; then
        args+=(-dict="$root/tests/fuzz/$target.dict")
    fi
    echo "== $target: $what"
    "$program" "${args[@]}" "$scratch" "$root/tests/fuzz/corpus/$target" >"$log" 2>&1
    status=$?
    # The last status line (#N DONE/pulse cov: ft: ...) and the run's totals.
    grep -E '^#[0-9]+' "$log" | tail -1
    grep -E '^stat::(number_of_executed_units|peak_rss_mb)' "$log"
    if [ $status -ne 0 ]; then
        echo "== $target FAILED (status $status): see $log and $artifacts"
        grep -E '^(SUMMARY|==[0-9]+==ERROR)' "$log" | head -3
        failed+=("$target")
    fi
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzzers failed: ${failed[*]}"
    exit 1
fi
echo "fuzzers: all passed"
