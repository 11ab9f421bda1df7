#!/usr/bin/env bash
# The soak run (`make soak`; not part of `make test`): GUESTS guests, each
# with a disk, run mixed verified I/O for MINUTES minutes while disks are
# detached and attached again and guests are destroyed and created again,
# and the run's resources are sampled after every round:
#
#   - resident memory of pvsim-hypervisor, pvsim-xenstored and dom0's
#     pvsim-backend: all of it (VmRSS) and their private part (RssAnon),
#     which leaves out the pages of guest memory a backend has touched
#     through its grant maps (shared memory, counted in VmRSS as RssShmem,
#     but the guests' own); and of every guest process (VmRSS: sum and
#     largest);
#   - open fds of the three daemons;
#   - the run's shared-memory objects (/dev/shm) and its processes.
#
# The disks cycle through three feature sets: Xen with every blkif feature
# (2 queues of 2-page rings, persistent grants, 32 indirect segments), Xen
# with none (a grant map per segment), and virtio on dom0's vhost-user-blk
# device. A round runs one verified job per guest (randrw, 4 KiB, depth 8,
# ROUND_SECONDS), then churns: CHURN disks are detached and attached again,
# and one guest is destroyed and created again with its disk.
#
# What must hold: every job passes its verify; after the warm-up rounds the
# daemons' fds, the run's shared-memory objects and processes never exceed
# what they were at the end of warm-up; each daemon's private RSS, and the
# largest guest's RSS, in the second half stays within 10% (+2 MiB) of its
# peak in the first half. At the end every
# guest writes its whole disk and reads it back verified, `pvsim down` runs
# and nothing of the run is left.
#
# The samples go to OUT/soak.csv, plotted by scripts/plot-soak.py
# (docs/soak.md shows one run).
#
# Environment: SOAK_MINUTES (30), SOAK_GUESTS (32), SOAK_ROUND_SECONDS (5),
# SOAK_CHURN (4), SOAK_OUT (the work directory), PVSIM_BIN (build/release/bin).
set -euo pipefail

minutes=${SOAK_MINUTES:-30}
guests_n=${SOAK_GUESTS:-32}
round_seconds=${SOAK_ROUND_SECONDS:-5}
churn=${SOAK_CHURN:-4}
bin=${PVSIM_BIN:-build/release/bin}
pvsim_bin=$(realpath "$bin/pvsim")
warmup_rounds=2
[[ $minutes =~ ^[1-9][0-9]*$ ]] || { echo "soak: SOAK_MINUTES must be a whole number of minutes, not '$minutes'" >&2; exit 2; }

work=$(mktemp -d /tmp/pvsim-soak.XXXXXX)
out=${SOAK_OUT:-$work}
mkdir -p "$out"
run=$work/run
log=$work/soak.log
csv=$out/soak.csv
script=soak
# shellcheck source=scripts/run-lib.sh
source "$(dirname "$0")/run-lib.sh"

kinds=(xen-all xen-map virtio)
declare -A spec_of=(
    [xen-all]="vdev=xvda,queues=2,ring-page-order=1,persistent=1,max-indirect-segments=32"
    [xen-map]="vdev=xvda,persistent=0,max-indirect-segments=0"
    [virtio]="vdev=vda,specification=virtio"
)
declare -A vdev_of=([xen-all]=xvda [xen-map]=xvda [virtio]=vda)
guests=()
declare -A kind=()
for i in $(seq 0 $((guests_n - 1))); do
    g=g$i
    guests+=("$g")
    kind[$g]=${kinds[i % ${#kinds[@]}]}
done
attach() { # GUEST
    pv block-attach "$1" "target=$work/$1.img,${spec_of[${kind[$1]}]}" >>"$log" 2>&1 ||
        die "block-attach $1 failed"
}
detach() { # GUEST
    pv block-detach "$1" "${vdev_of[${kind[$1]}]}" >>"$log" 2>&1 || die "block-detach $1 failed"
}

say "soak: $guests_n guests for $minutes min, rounds of $round_seconds s, run $run, samples $csv"
pv up >>"$log"
for g in "${guests[@]}"; do
    truncate -s 16M "$work/$g.img"
    pv create "$g" >>"$log"
    attach "$g"
done
hv_pid=$(cat "$run/pvsim-hypervisor.pid")
xs_pid=$(cat "$run/pvsim-xenstored.pid")
be_pid=$(cat "$run/pvsim-backend.pid")
[ "$(run_shm)" -gt 0 ] || die "no shared-memory object of the run ($(run_tag).*)"

echo "seconds,round,hypervisor_rss_kib,xenstored_rss_kib,backend_rss_kib,guests,guest_rss_kib_sum,guest_rss_kib_max,hypervisor_fds,xenstored_fds,backend_fds,shm_objects,processes,requests,hypervisor_private_kib,xenstored_private_kib,backend_private_kib" >"$csv"
start=$SECONDS
deadline=$((start + minutes * 60))
round=0
requests=0
declare -A ceiling=()
while [ $SECONDS -lt $deadline ]; do
    round=$((round + 1))
    declare -A job=()
    for g in "${guests[@]}"; do
        pv io "$g" "${vdev_of[${kind[$g]}]}" --rw randrw --bs 4k --iodepth 8 --size 16M \
            --runtime "$round_seconds" --time_based --verify crc32c --seed "$round" --json \
            >"$work/$g.out" 2>"$work/$g.err" &
        job[$g]=$!
    done
    for g in "${guests[@]}"; do
        wait "${job[$g]}" ||
            die "round $round: $g's job failed: $(tail -n 3 "$work/$g.err" "$work/$g.out")"
        n=$(grep -oE '"total_ios": *[0-9]+' "$work/$g.out" | grep -oE '[0-9]+$' |
            awk '{s += $1} END {print s + 0}')
        requests=$((requests + n))
    done
    unset job
    # Churn: CHURN disks out and in again, one guest destroyed and made anew.
    for _ in $(seq "$churn"); do
        g=${guests[RANDOM % ${#guests[@]}]}
        detach "$g"
        attach "$g"
    done
    g=${guests[RANDOM % ${#guests[@]}]}
    pv destroy "$g" >>"$log" 2>&1 || die "destroy $g failed"
    pv create "$g" >>"$log" 2>&1 || die "create $g failed"
    attach "$g"

    # Sample.
    guest_sum=0
    guest_max=0
    guest_count=0
    pids=$(run_pids)
    processes=$(echo "$pids" | grep -c . || true)
    for pid in $pids; do
        case $pid in "$hv_pid" | "$xs_pid" | "$be_pid") continue ;; esac
        if [ -n "$(env_of "$pid" PVSIM_DOMID)" ]; then
            r=$(status_kib "$pid" VmRSS)
            guest_sum=$((guest_sum + r))
            [ "$r" -gt "$guest_max" ] && guest_max=$r
            guest_count=$((guest_count + 1))
        fi
    done
    row=("$((SECONDS - start))" "$round" "$(status_kib "$hv_pid" VmRSS)" "$(status_kib "$xs_pid" VmRSS)"
        "$(status_kib "$be_pid" VmRSS)" "$guest_count" "$guest_sum" "$guest_max" "$(fd_count "$hv_pid")"
        "$(fd_count "$xs_pid")" "$(fd_count "$be_pid")" "$(run_shm)" "$processes" "$requests"
        "$(status_kib "$hv_pid" RssAnon)" "$(status_kib "$xs_pid" RssAnon)" "$(status_kib "$be_pid" RssAnon)")
    (IFS=,; echo "${row[*]}") >>"$csv"
    say "soak: round $round at $((SECONDS - start)) s: rss kib hv ${row[2]} xs ${row[3]} be ${row[4]} (private ${row[14]}/${row[15]}/${row[16]}), guests ${row[5]} (max ${row[7]}), fds ${row[8]}/${row[9]}/${row[10]}, shm ${row[11]}, processes ${row[12]}, requests $requests"
    # After warm-up, nothing countable may grow.
    names=(hypervisor_fds xenstored_fds backend_fds shm_objects processes)
    values=("${row[8]}" "${row[9]}" "${row[10]}" "${row[11]}" "${row[12]}")
    for k in "${!names[@]}"; do
        if [ "$round" -eq "$warmup_rounds" ]; then
            ceiling[${names[k]}]=${values[k]}
        elif [ "$round" -gt "$warmup_rounds" ] && [ "${values[k]}" -gt "${ceiling[${names[k]}]}" ]; then
            die "round $round: ${names[k]} is ${values[k]}, ${ceiling[${names[k]}]} after warm-up"
        fi
    done
done

# Private RSS of the daemons, RSS of the largest guest: the second half's
# peak within 10% (+2 MiB) of the first half's.
rows=$(($(wc -l <"$csv") - 1))
[ "$rows" -ge 4 ] || die "only $rows samples: run longer"
for column in 15:hypervisor 16:xenstored 17:backend 8:guest; do
    c=${column%%:*}
    name=${column#*:}
    read -r first second < <(awk -F, -v c="$c" -v half=$((rows / 2)) -v w=$warmup_rounds '
        NR > 1 + w && NR <= 1 + half { if ($c > a) a = $c }
        NR > 1 + half { if ($c > b) b = $c }
        END { print a + 0, b + 0 }' "$csv")
    [ "$second" -le $((first + first / 10 + 2048)) ] ||
        die "$name RSS grew: peak $first KiB in the first half, $second KiB in the second"
    say "soak: $name RSS peak (private for a daemon): $first KiB in the first half, $second KiB in the second"
done

# Every guest's whole disk, written and then read back in a job of its own.
for g in "${guests[@]}"; do
    v=${vdev_of[${kind[$g]}]}
    pv io "$g" "$v" --rw write --bs 64k --iodepth 8 --size 16M --verify crc32c --seed 4242 \
        >>"$log" 2>&1 || die "the final verified write on $g failed"
    pv io "$g" "$v" --rw read --bs 64k --iodepth 8 --size 16M --verify crc32c --seed 4242 \
        >>"$log" 2>&1 || die "the final read-back of $g failed"
done
pv down >>"$log"
left=$(run_pids | wc -l)
shm=$(run_shm)
[ "$left" -eq 0 ] || die "$left processes of the run are left"
[ "$shm" -eq 0 ] || die "$shm shared-memory objects of the run are left"
say "soak: passed: $round rounds in $((SECONDS - start)) s, $requests verified requests, no verify error; fds, shm objects and processes flat; nothing left (samples: $csv)"
