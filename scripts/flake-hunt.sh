#!/usr/bin/env bash
# Runs the integration suites ROUNDS times in a row beside CPU hogs, to find
# tests that fail only when the machine is busy (a flake is a bug in pvsim
# or in the test: find which). Each round is one scripts/run-tests.sh over
# ctest's integration.* tests (-j JOBS), with HOGS busy processes
# competing for the CPUs from start to end:
#   flake-hunt.sh BUILD [ROUNDS] [HOGS]        (default 20 rounds, 1 hog)
# FLAKE_FILTER, a ctest -R regex, narrows the tests (default ^integration[.]).
# A failing round's ctest output is kept in OUT/round-N.log
# (FLAKE_OUT, default BUILD/flake-hunt); the summary lists every failed test
# with the rounds it failed in. Exits 1 when any round failed.
set -uo pipefail
build=$(cd "$1" && pwd)
rounds=${2:-20}
hogs=${3:-1}
jobs=${JOBS:-$(nproc)}
filter=${FLAKE_FILTER:-^integration[.]}
root=$(cd "$(dirname "$0")/.." && pwd)
out=${FLAKE_OUT:-$build/flake-hunt}
mkdir -p "$out"
rm -f "$out"/round-*.log "$out/failures"

hog_pids=()
stop_hogs() {
    if [ ${#hog_pids[@]} -gt 0 ]; then
        kill "${hog_pids[@]}" 2>/dev/null
        wait "${hog_pids[@]}" 2>/dev/null
    fi
}
trap stop_hogs EXIT
for ((h = 0; h < hogs; h++)); do
    # A busy loop in its own process: as much CPU as the scheduler gives it.
    bash -c 'while :; do :; done' &
    hog_pids+=($!)
done

failed_rounds=0
for ((r = 1; r <= rounds; r++)); do
    start=$(date +%s)
    log=$out/round-$r.log
    "$root/scripts/run-tests.sh" "$build" -R "$filter" -j "$jobs" --output-on-failure \
        >"$log" 2>&1
    status=$?
    took=$(($(date +%s) - start))
    summary=$(grep -E '^[0-9]+% tests passed' "$log" | tail -1)
    echo "round $r/$rounds: ${summary:-no summary} (${took}s)"
    if [ $status -ne 0 ]; then
        failed_rounds=$((failed_rounds + 1))
        grep -E '^\s+[0-9]+ - ' "$log" | sed "s/^/round $r: /" | tee -a "$out/failures"
        grep -q '^sanitizer reports: [1-9]' "$log" && echo "round $r: sanitizer reports" |
            tee -a "$out/failures"
    else
        rm -f "$log"
    fi
done
echo "flake hunt: $rounds rounds beside $hogs hog(s), $failed_rounds failed"
if [ $failed_rounds -gt 0 ]; then
    echo "failures (test: rounds):"
    sed -E 's/^round ([0-9]+):[[:space:]]+[0-9]+ - ([^ ]+).*/\2 \1/' "$out/failures" | sort |
        awk '{r[$1] = r[$1] " " $2} END {for (t in r) print "  " t ":" r[t]}'
    exit 1
fi
