#!/usr/bin/env bash
# Runs ctest in a build directory (extra arguments go to ctest) with every
# sanitizer report, from the test programs and from every daemon, guest and
# CLI process they start, written to <build>/sanitizer-reports instead of
# stderr. A daemon's stderr is its log, which no test reads: without this, a
# report in a daemon that did not change the test's outcome (a ThreadSanitizer
# race, a leak at exit) would pass unseen. Fails when ctest fails or when any
# report was written, printing each.
set -uo pipefail
build=$(cd "$1" && pwd)
shift
reports=$build/sanitizer-reports
rm -rf "$reports"
mkdir -p "$reports"
export ASAN_OPTIONS="log_path=$reports/asan${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="log_path=$reports/ubsan:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
# tests/tsan.supp: races inside uninstrumented libraries, each with its reason.
suppressions=$(cd "$(dirname "$0")/.." && pwd)/tests/tsan.supp
export TSAN_OPTIONS="log_path=$reports/tsan:suppressions=$suppressions${TSAN_OPTIONS:+:$TSAN_OPTIONS}"
(cd "$build" && ctest "$@")
status=$?
# A report carries a "SUMMARY: <sanitizer>: ..." line. Anything else a
# runtime wrote there (LeakSanitizer's "Unable to get registers from thread"
# when a process is killed during its exit-time leak check) is shown, not
# counted.
mapfile -t found < <(find "$reports" -type f | sort)
reported=0
for f in "${found[@]}"; do
    if grep -q '^SUMMARY: ' "$f"; then
        reported=$((reported + 1))
        echo "==== sanitizer report $f"
    else
        echo "==== sanitizer runtime message (not a report) $f"
    fi
    cat "$f"
done
if [ $reported -gt 0 ]; then
    echo "sanitizer reports: $reported (in $reports)"
    exit 1
fi
echo "sanitizer reports: none"
exit $status
