#!/usr/bin/env bash
# The scale run (`make scale`; not part of `make test`): how the block path
# holds up with many guests, and whether attaching a disk stays quick and
# leaks nothing when it is done a thousand times. Three parts:
#
#   1. One guest alone: a vbd (Xen, default features: qdisk for an image
#      file) on a laid-out (written, not sparse) 64 MiB image, written
#      whole by a verified write job (4 KiB blocks, the seed of the reads,
#      so that every read checks a block written with verify; the write
#      job reads its blocks back verified too), then a time-based verified
#      random read job (4 KiB, depth 32, SECONDS seconds): its IOPS.
#   2. GUESTS guests, each with a disk of its own made the same way, the
#      same read job on all of them at once: the aggregate IOPS and its
#      ratio to part 1. The jobs are started one after another by their own
#      `pvsim io`, each with fio's --startdelay (2 s, and 1 s more per 8
#      guests, counted from its command's start), so that they start
#      together once every command has reached its guest. What is left of
#      their spread is measured, not assumed away: the
#      aggregate is every job's reads over the span from the first job's
#      start to the last one's end (each job's end is its report's
#      timestamp_ms, its start that less its job_runtime). The sum of the
#      jobs' own IOPS, which divides the same reads by one job's SECONDS
#      although they were done over the longer span, and how long all of
#      them ran together are reported beside it. Halfway through the jobs, and
#      again once they are done, every guest process's memory is read:
#      VmRSS, and how much of it is beyond the guest's own memory. A guest's
#      memory is a shared-memory object (/dev/shm/pvsim.TAG.domN.memory)
#      the guest process maps, so what it has touched of it is RssShmem in
#      /proc/PID/status; "beyond its memory" is RssAnon + RssFile, the
#      process's private anonymous memory and the file pages it maps (its
#      program and libraries). The Rss of the domain-memory mapping itself
#      (from /proc/PID/smaps) is reported beside it as a check.
#   3. CYCLES attach/detach cycles of one disk on one guest in a `pvsim
#      script` (one CLI process for the whole loop, so no process start is
#      timed): attach -> Connected is the time from the script's
#      `> block-attach` line (printed before the command runs its checks
#      and writes the vbd's directories) to the later of the two ends'
#      `Connected` lines of the script's state monitor (a xenstore watcher:
#      the time the watch event was handled, so a round trip after the
#      state node was written). The monitor prints to the millisecond, so
#      each time is too. Beside it, the part after the toolstack's checks:
#      from the first state line (the vbd's directories are written) to
#      Connected. Every 100 cycles the script sleeps 3 s, and in
#      that quiet moment the daemons' fds and own memory (RssAnon +
#      RssFile: their RssShmem is the domains' memory, see below), the
#      run's shared-memory objects and processes are sampled.
#
# What must hold (the exit status is non-zero for these only): every job
# passes its verify (no mismatch, every block read was written by the
# verified write first); after the first 100 cycles the daemons' fds, the
# run's shared-memory objects and processes are what they were then, and
# each daemon's own memory stays within 10% (+1 MiB for a small process's
# page granularity) of it; the script passes; after each run's teardown nothing
# of it is left (process or shared-memory object).
#
# The performance targets (aggregate >= 1.3x one guest, private memory <= 8
# MiB per guest, attach median <= 20 ms) are reported as met or missed, but
# a miss does not fail the run: the figures depend on the machine's load.
#
# Environment: SCALE_GUESTS (32), SCALE_SECONDS (10), SCALE_CYCLES (1000; 0 skips part 3),
# SCALE_OUT (the work directory: summary, per-guest and per-cycle CSVs),
# PVSIM_BIN (build/release/bin).
set -euo pipefail

guests_n=${SCALE_GUESTS:-32}
seconds=${SCALE_SECONDS:-10}
cycles=${SCALE_CYCLES:-1000}
bin=${PVSIM_BIN:-build/release/bin}
pvsim_bin=$(realpath "$bin/pvsim")
for setting in "SCALE_GUESTS=$guests_n" "SCALE_SECONDS=$seconds" "SCALE_CYCLES=$cycles"; do
    value=${setting#*=}
    if ! [[ $value =~ ^[0-9]+$ ]] || { [ "$value" -eq 0 ] && [ "${setting%%=*}" != SCALE_CYCLES ]; }; then
        echo "scale: $setting: a whole number is needed (at least 1; SCALE_CYCLES may be 0 to skip part 3)" >&2
        exit 2
    fi
done
image_mib=64
seed=7
sample_every=100
quiet_seconds=3

work=$(mktemp -d /tmp/pvsim-scale.XXXXXX)
out=${SCALE_OUT:-$work}
mkdir -p "$out"
out=$(realpath "$out")
log=$work/scale.log
summary=$out/scale-summary.txt
: >"$summary"
run=$work/run
script=scale
# shellcheck source=scripts/run-lib.sh
source "$(dirname "$0")/run-lib.sh"
report() { say "$*"; printf '%s\n' "$*" >>"$summary"; }
# Nothing of the run may be left once it is down.
check_gone() { # WHAT
    local left shm
    left=$(run_pids | wc -l)
    shm=$(run_shm)
    [ "$left" -eq 0 ] || die "$1: $left processes of the run are left"
    [ "$shm" -eq 0 ] || die "$1: $shm shared-memory objects of the run are left"
}
# A laid-out image: every block written (zeros), as fio lays out its file.
make_image() { # PATH
    dd if=/dev/zero of="$1" bs=1M count="$image_mib" status=none conv=fsync
}
# A read job's reads and when it ran: "READS START_MS END_MS" (its end is
# the report's timestamp_ms, taken when the job's result came back; its
# start that less the job's runtime).
job_window() { # JSON-FILE
    python3 - "$1" <<'EOF'
import json, sys
run = json.load(open(sys.argv[1]))
reads = sum(job["read"]["total_ios"] for job in run["jobs"])
runtime = max(job["job_runtime"] for job in run["jobs"])
end = run["timestamp_ms"]
print(reads, end - runtime, end)
EOF
}
# The checks of a verified read job's JSON; prints its read IOPS.
job_iops() { # JSON-FILE
    python3 - "$1" <<'EOF'
import json, sys
run = json.load(open(sys.argv[1]))
err = run.get("pvsim", {}).get("error")
if err:
    sys.exit("the run failed: " + err)
iops = 0.0
for job in run["jobs"]:
    v = job["pvsim"]["verify"]
    if job["error"] != 0:
        sys.exit("job %s: error %s: %s" % (job["jobname"], job["error"], job["pvsim"].get("error", "")))
    if not v["enabled"] or v["blocks_checked"] == 0:
        sys.exit("job %s: nothing verified" % job["jobname"])
    if v["blocks_unwritten"] != 0:
        sys.exit("job %s: %d blocks read that the verified write had not written"
                 % (job["jobname"], v["blocks_unwritten"]))
    iops += job["read"]["iops"]
print("%.0f" % iops)
EOF
}
read_job() { # GUEST OUTPUT [IO-OPTION...]: the part 1 and 2 job
    local guest=$1 output=$2
    shift 2
    pv io "$guest" xvda --rw randread --bs 4k --iodepth 32 --size "${image_mib}M" \
        --runtime "$seconds" --time_based --verify crc32c --seed "$seed" --json "$@" \
        >"$output" 2>"$output.err"
}
new_guest() { # GUEST: created, its disk attached and written whole, verified
    make_image "$work/$1.img"
    pv create "$1" >>"$log" 2>&1 || die "create $1 failed"
    pv block-attach "$1" "target=$work/$1.img,vdev=xvda" >>"$log" 2>&1 ||
        die "block-attach $1 failed"
    # In blocks of the reads' size, as fio's verify writes them: a read
    # of part of a bigger block recomputes the whole block's pattern, which
    # cost 4x the IOPS when this was written in 64 KiB blocks.
    pv io "$1" xvda --rw write --bs 4k --iodepth 32 --size "${image_mib}M" --verify crc32c \
        --seed "$seed" >>"$work/$1.write" 2>&1 ||
        die "the verified write of $1's disk failed: $(tail -n 3 "$work/$1.write")"
}
pct() { # FILE P: the P-th percentile (nearest rank) of a column of numbers
    sort -n "$1" | awk -v p="$2" '{v[NR] = $1} END {
        r = int((p / 100) * NR + 0.999999); if (r < 1) r = 1; if (r > NR) r = NR; print v[r] }'
}

say "scale: $guests_n guests, ${seconds} s jobs, $cycles attach/detach cycles; work $work, results $out"
say "scale: $(uptime)"
report "scale run of $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) CPUs; uptime before: $(uptime)"

# ---- Part 1: one guest alone ----
tag=$(run_tag)
pv up >>"$log"
[ -e "/dev/shm/$tag.dom0.memory" ] || die "no shared-memory object $tag.dom0.memory: the tag is wrong"
guests=()
for i in $(seq 0 $((guests_n - 1))); do guests+=("g$i"); done
new_guest g0
read_job g0 "$work/solo.json" || die "g0's job alone failed: $(tail -n 3 "$work/solo.json.err")"
solo=$(job_iops "$work/solo.json" 2>"$work/check.err") || die "g0's job alone: $(cat "$work/check.err")"
report "part 1: one guest alone: randread 4k QD32 verified, ${seconds} s: $solo IOPS"

# ---- Part 2: every guest at once ----
# Two guests set up at a time: the machine has few CPUs.
rest=("${guests[@]:1}")
for ((i = 0; i < ${#rest[@]}; i += 2)); do
    pids=()
    for g in "${rest[@]:i:2}"; do
        new_guest "$g" &
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p" || die "setting up a guest failed ($log)"; done
done
# The guests' processes ("PID DOMID" lines: the run's pvsim-guest
# processes, by their PVSIM_DOMID), found once before the jobs start: that
# forks a few processes per process of the run, which would take CPU from
# the jobs it measures.
guest_procs=$(for pid in $(run_pids); do
    domid=$(env_of "$pid" PVSIM_DOMID)
    if [ -n "$domid" ] && [ "$domid" != 0 ] &&
        [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$bin_dir/pvsim-guest" ]; then
        echo "$pid $domid"
    fi
done)
[ "$(wc -l <<<"$guest_procs")" -eq "$guests_n" ] ||
    die "found $(wc -l <<<"$guest_procs") guest processes, not $guests_n"
guest_rss_sample() { # LABEL: a CSV row per guest process, read by one awk
    local files=() pid domid
    while read -r pid domid; do
        files+=("/proc/$pid/status" "/proc/$pid/smaps")
    done <<<"$guest_procs"
    awk -v label="$1" -v tag="$tag" -v procs="$guest_procs" '
        BEGIN { n = split(procs, lines, "\n")
                for (i = 1; i <= n; i++) { split(lines[i], f, " "); domid[f[1]] = f[2]; order[i] = f[1] } }
        FNR == 1 { split(FILENAME, p, "/"); pid = p[3]; smaps = FILENAME ~ /smaps$/
                   m = "/dev/shm/" tag ".dom" domid[pid] ".memory"; inside = 0 }
        !smaps && $1 ~ /^(VmRSS|RssAnon|RssFile|RssShmem):$/ { v[pid, substr($1, 1, length($1) - 1)] = $2 }
        smaps && /^[0-9a-f]+-[0-9a-f]+ / { inside = ($NF == m) }
        smaps && inside && $1 == "Rss:" { mem[pid] += $2 }
        END { for (i = 1; i <= n; i++) { q = order[i]
                  printf "%s,%s,%s,%d,%d,%d,%d,%d\n", label, domid[q], q, v[q, "VmRSS"], v[q, "RssAnon"],
                      v[q, "RssFile"], v[q, "RssShmem"], mem[q] } }' "${files[@]}" 2>/dev/null
}
guest_csv=$out/scale-guests.csv
echo "when,domid,pid,vmrss_kib,rssanon_kib,rssfile_kib,rssshmem_kib,domain_memory_rss_kib" >"$guest_csv"
declare -A job=()
# Each job waits out fio's --startdelay, counted from its command's start,
# so that they all start together once every command has reached its guest
# (started one after another under the jobs already running, they had
# spread over up to 11 s of a 10 s job: this shell's own launches, a fork
# each, got little CPU beside the running jobs).
startdelay=$((2 + guests_n / 8))
for g in "${guests[@]}"; do
    read_job "$g" "$work/$g.json" --startdelay "$startdelay" &
    job[$g]=$!
done
sleep "$(awk -v d="$startdelay" -v s="$seconds" 'BEGIN {print d + s / 2}')"
guest_rss_sample during >>"$guest_csv"
failed=
for g in "${guests[@]}"; do
    wait "${job[$g]}" || failed+=" $g"
done
unset job
[ -z "$failed" ] || die "the jobs of$failed failed: $(tail -n 3 "$work/${failed##* }.json.err")"
sum_iops=0
min_iops=
max_iops=0
: >"$work/windows"
for g in "${guests[@]}"; do
    iops=$(job_iops "$work/$g.json" 2>"$work/check.err") || die "$g's job: $(cat "$work/check.err")"
    sum_iops=$((sum_iops + iops))
    if [ -z "$min_iops" ] || [ "$iops" -lt "$min_iops" ]; then min_iops=$iops; fi
    if [ "$iops" -gt "$max_iops" ]; then max_iops=$iops; fi
    job_window "$work/$g.json" >>"$work/windows" || die "$g's job: no reads or times in its report"
done
guest_rss_sample after >>"$guest_csv"
# Every job's reads over the span of all of them; and the time all of them
# ran together (the last start to the first end).
read -r aggregate span_s together_s < <(awk '
    { reads += $1; if (NR == 1 || $2 < first) first = $2; if (NR == 1 || $3 > last) last = $3
      if (NR == 1 || $2 > latest) latest = $2; if (NR == 1 || $3 < earliest) earliest = $3 }
    END { together = (earliest - latest) / 1000; if (together < 0) together = 0
          printf "%.0f %.1f %.1f\n", reads / ((last - first) / 1000), (last - first) / 1000, together }' \
    "$work/windows")
ratio=$(awk -v a="$aggregate" -v s="$solo" 'BEGIN {printf "%.2f", a / s}')
report "part 2: $guests_n guests at once: aggregate $aggregate IOPS (all their reads over the $span_s s from the first job's start to the last one's end; all $guests_n ran together for $together_s s of it), ${ratio}x one guest alone; per guest $min_iops..$max_iops IOPS, summing to $sum_iops"
# Per-guest memory, the largest of each figure over both samples.
read -r n_rows vmrss_max private_max private_mean anon_max file_max shmem_max mem_max < <(awk -F, '
    NR > 1 { n++; p = $5 + $6; s += p
             if ($4 > v) v = $4; if (p > pm) pm = p; if ($5 > a) a = $5; if ($6 > f) f = $6
             if ($7 > sh) sh = $7; if ($8 > m) m = $8 }
    END { printf "%d %d %d %d %d %d %d %d\n", n, v, pm, (n ? s / n : 0), a, f, sh, m }' "$guest_csv")
[ "$n_rows" -ge "$guests_n" ] || die "found $n_rows guest processes to sample, expected $guests_n"
report "part 2: guest memory (KiB, largest over $n_rows samples, halfway and after): VmRSS $vmrss_max; beyond its memory (RssAnon + RssFile) $private_max (mean $private_mean; RssAnon up to $anon_max, RssFile up to $file_max); RssShmem $shmem_max, of it the domain memory's mapping $mem_max"
pv down >>"$log"
check_gone "after part 2's pvsim down"

# ---- Part 3: attach/detach cycles in one script ----
if [ "$cycles" -eq 0 ]; then
    report "part 3: skipped (SCALE_CYCLES=0)"
else
run=$work/run-cycles
export PVSIM_RUN_DIR=$run
tag=$(run_tag)
make_image "$work/cycle.img"
script=$work/cycles.pvsim
{
    echo "create c0"
    echo "sleep ${quiet_seconds}s"
    for i in $(seq "$cycles"); do
        echo "block-attach c0 target=$work/cycle.img,vdev=xvda"
        echo "block-detach c0 xvda"
        if [ $((i % sample_every)) -eq 0 ] || [ "$i" -eq "$cycles" ]; then
            echo "sleep ${quiet_seconds}s"
        fi
    done
} >"$script"
cycles_out=$work/cycles.out
"$pvsim_bin" --run-dir "$run" script "$script" >"$cycles_out" 2>"$work/cycles.err" &
script_pid=$!
cycle_csv=$out/scale-cycles.csv
echo "cycle,hypervisor_own_kib,xenstored_own_kib,backend_own_kib,hypervisor_fds,xenstored_fds,backend_fds,shm_objects,processes,backend_shmem_kib" >"$cycle_csv"
sampled=0
late=0
while kill -0 "$script_pid" 2>/dev/null; do
    quiet=$(grep -c '\] > sleep ' "$cycles_out" || true)
    if [ "$quiet" -gt "$sampled" ]; then
        lines=$(grep -c '\] > ' "$cycles_out" || true)
        cycle=$(grep -c '\] > block-detach ' "$cycles_out" || true)
        pids=()
        for d in hypervisor xenstored backend; do pids+=("$(cat "$run/pvsim-$d.pid")"); done
        row=("$cycle")
        # A daemon's own memory: RssAnon + RssFile. Its RssShmem is the
        # domains' memory it has touched (the backend's views of the
        # guest's, DESIGN.md §3), which is the guest's and grows with the
        # frames the guest hands out: a ring page the guest ends while the
        # backend still maps it waits on the grant table's deferred list,
        # ten freed a second (Linux gnttab_handle_deferred), so a guest
        # attaching faster than that uses new frames. Reported, not checked.
        for p in "${pids[@]}"; do
            row+=("$(($(status_kib "$p" RssAnon) + $(status_kib "$p" RssFile)))")
        done
        for p in "${pids[@]}"; do row+=("$(fd_count "$p")"); done
        row+=("$(run_shm)" "$(run_pids | wc -l)" "$(status_kib "${pids[2]}" RssShmem)")
        # The sample counts only if the script was still in its sleep.
        if [ "$(grep -c '\] > ' "$cycles_out" || true)" -ne "$lines" ]; then
            late=$((late + 1))
            say "scale: the sample at cycle $cycle was not taken within the script's ${quiet_seconds} s pause: left out ($lines commands before it, $(grep -c '\] > ' "$cycles_out" || true) after; $(date +%T.%N))"
        else
            (IFS=,; echo "${row[*]}") >>"$cycle_csv"
            say "scale: cycle $cycle: own kib (RssAnon + RssFile) hv ${row[1]} xs ${row[2]} be ${row[3]} (be RssShmem ${row[9]}), fds ${row[4]}/${row[5]}/${row[6]}, shm ${row[7]}, processes ${row[8]}"
        fi
        sampled=$quiet
    fi
    sleep 0.05
done
rc=0
wait "$script_pid" || rc=$?
[ "$rc" -eq 0 ] || die "the attach/detach script failed (exit $rc): $(tail -n 3 "$work/cycles.err")"
check_gone "after the attach/detach script's teardown"
# Flat after the first 100 cycles: fds, shm objects and processes equal,
# own memory within 10% (+1 MiB).
python3 - "$cycle_csv" "$sample_every" <<'EOF' || die "the attach/detach cycles leak (above)"
import csv, sys
rows = [r for r in csv.DictReader(open(sys.argv[1])) if int(r["cycle"]) >= int(sys.argv[2])]
if len(rows) < 2:
    print("scale: fewer than two samples after the first %s cycles: nothing to compare" % sys.argv[2])
    sys.exit(0)
base, bad = rows[0], []
for r in rows[1:]:
    for k in ("hypervisor_fds", "xenstored_fds", "backend_fds", "shm_objects", "processes"):
        if int(r[k]) != int(base[k]):
            bad.append("cycle %s: %s %s, %s at cycle %s" % (r["cycle"], k, r[k], base[k], base["cycle"]))
    for k in ("hypervisor_own_kib", "xenstored_own_kib", "backend_own_kib"):
        if int(r[k]) > int(base[k]) * 1.1 + 1024:
            bad.append("cycle %s: %s %s, %s at cycle %s" % (r["cycle"], k, r[k], base[k], base["cycle"]))
for b in bad:
    print("scale: " + b)
sys.exit(1 if bad else 0)
EOF
# attach -> Connected per cycle, from the script's timestamps.
# Beside it, from the first state line (the toolstack has written the
# vbd's directories: its checks are done) to Connected, in attach-dirs-ms.
times=$work/attach-ms.txt
awk -v dirs="$work/attach-dirs-ms.txt" '
    function ts(line) { return substr(line, 2, index(line, "s]") - 2) + 0 }
    / > block-attach / { t0 = ts($0); t1 = f = b = 0; on = 1; next }
    / > / { if (on && f && b) {
                printf "%.0f\n", ((f > b ? f : b) - t0) * 1000
                printf "%.0f\n", ((f > b ? f : b) - t1) * 1000 > dirs }
            on = 0; next }
    on && / c0 xvda / && !t1 { t1 = ts($0) }
    on && / c0 xvda frontend +Connected/ { f = ts($0) }
    on && / c0 xvda backend +Connected/ { b = ts($0) }' "$cycles_out" >"$times"
measured=$(wc -l <"$times")
[ "$measured" -eq "$cycles" ] || die "attach -> Connected found for $measured of $cycles cycles ($cycles_out)"
read_late=$(grep -c 'read at the step' "$cycles_out" || true)
median=$(pct "$times" 50)
report "part 3: $cycles attach/detach cycles: attach -> Connected median $median ms, p90 $(pct "$times" 90) ms, p99 $(pct "$times" 99) ms, max $(sort -n "$times" | tail -n 1) ms (state lines read late: $read_late)"
report "part 3: of it, from the vbd's directories written (the first state line) to Connected: median $(pct "$work/attach-dirs-ms.txt" 50) ms, p90 $(pct "$work/attach-dirs-ms.txt" 90) ms, p99 $(pct "$work/attach-dirs-ms.txt" 99) ms"
samples=$(($(wc -l <"$cycle_csv") - 1))
report "part 3: $samples samples ($late left out); from cycle $sample_every on fds, shm objects and processes flat, own memory (RssAnon + RssFile) within 10%: $(awk -F, 'NR == 1 {next} {printf "%scycle %s: fds %s/%s/%s shm %s own kib %s/%s/%s", (n++ ? "; " : ""), $1, $5, $6, $7, $8, $2, $3, $4}' "$cycle_csv")"
fi

# ---- Summary ----
met() { if [ "$1" = 1 ]; then echo met; else echo MISSED; fi; }
report "targets: aggregate >= 1.3x one guest: ${ratio}x, $(met "$(awk -v r="$ratio" 'BEGIN {print (r >= 1.3)}')")"
report "targets: per guest beyond its memory <= 8 MiB: $private_max KiB, $(met "$(awk -v p="$private_max" 'BEGIN {print (p <= 8192)}')")"
if [ "$cycles" -gt 0 ]; then
    report "targets: attach -> Connected median <= 20 ms: $median ms, $(met "$(awk -v m="$median" 'BEGIN {print (m <= 20)}')")"
fi
report "scale: passed: every job verified, nothing leaked over the cycles, nothing left after either run; uptime after: $(uptime)"
rm -f "$work"/*.img
