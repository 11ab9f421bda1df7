#!/usr/bin/env bash
# The chaos run (`make chaos`; not part of `make test`): ROUNDS rounds of
# verified random writes on four guests with different feature sets, each
# round killing one process of the run at a random moment under that I/O:
#
#   dom0        dom0's pvsim-backend, SIGKILLed; `up --dom0-on-crash restart`
#               starts it again (xl's on_crash=restart) and the Xen guests'
#               jobs go on (DESIGN.md §6, backend restart)
#   xen-all     a guest with every blkif feature (2 queues of 2-page rings,
#               persistent grants, 32 indirect segments), SIGKILLed, then
#               destroyed and created again
#   xen-map     a guest with none (a grant map per segment, one queue)
#   virtio      a guest whose virtio disk is dom0's vhost-user-blk device
#               (its vhost-user front-end dies with it)
#   export      the `pvsim export` process serving the fourth guest's virtio
#               disk (vhost-user=SOCK), SIGKILLed and started again at once;
#               the guest's driver connects again by itself (QEMU's
#               `reconnect=`, DESIGN.md §6) and its job goes on
#
# What must hold, checked every round:
#   - every job the kill did not concern passes its verify (Xen guests
#     through a dom0 restart included, and the exported disk's through the
#     export's restart);
#   - a job the kill did end fails with an error, never hangs, and its disk
#     then takes a full verified write once re-attached (dom0's own virtio
#     device is not started again with dom0's backend: its disk is detached
#     and attached again);
#   - hypervisor and xenstored hold as many fds after the round as after
#     the first.
# At the end every guest writes its whole disk and reads it back verified
# in a second job, `pvsim down` runs, and nothing of the run is left: no
# process with the run's PVSIM_RUN_DIR, no shared-memory object of the run.
#
# Environment: CHAOS_ROUNDS (100), CHAOS_SEED (random; printed, so a run can
# be repeated), PVSIM_BIN (build/release/bin).
set -euo pipefail

rounds=${CHAOS_ROUNDS:-100}
seed=${CHAOS_SEED:-$((RANDOM * 32768 + RANDOM))}
bin=${PVSIM_BIN:-build/release/bin}
pvsim_bin=$(realpath "$bin/pvsim")
RANDOM=$((seed % 32768))

work=$(mktemp -d /tmp/pvsim-chaos.XXXXXX)
run=$work/run
log=$work/chaos.log
script=chaos
# shellcheck source=scripts/run-lib.sh
source "$(dirname "$0")/run-lib.sh"

domain_pid() { # NAME: the process of that domain (the one with its PVSIM_DOMID)
    local domid pid
    domid=$(pv list "$1" --json | sed -n 's/.*"domid": *\([0-9]*\).*/\1/p' | head -n1)
    for pid in $(run_pids); do
        if [ "$(env_of "$pid" PVSIM_DOMID)" = "$domid" ]; then
            echo "$pid"
            return
        fi
    done
}

declare -A spec=(
    [xen-all]="vdev=xvda,queues=2,ring-page-order=1,persistent=1,max-indirect-segments=32"
    [xen-map]="vdev=xvda,persistent=0,max-indirect-segments=0"
    [virtio]="vdev=vda,specification=virtio"
    [exported]="vdev=vda,specification=virtio,vhost-user=$work/export.sock"
)
declare -A vdev=([xen-all]=xvda [xen-map]=xvda [virtio]=vda [exported]=vda)
guests=(xen-all xen-map virtio exported)

export_pid=
start_export() {
    rm -f "$work/export.sock"
    "$pvsim_bin" export vhost-user-blk --target "$work/exported.img" \
        --socket "$work/export.sock" >>"$work/export.log" 2>&1 &
    export_pid=$!
    for _ in $(seq 100); do [ -S "$work/export.sock" ] && return; sleep 0.05; done
    die "pvsim export did not listen on $work/export.sock"
}
attach() { # GUEST (the exported disk is named by its socket alone)
    local target="target=$work/$1.img,"
    [ "$1" = exported ] && target=
    pv block-attach "$1" "$target${spec[$1]}" >>"$log" 2>&1 ||
        die "block-attach $1 failed"
}
reattach() { # GUEST: detach (forced when the device is gone) and attach again
    pv block-detach "$1" "${vdev[$1]}" >>"$log" 2>&1 ||
        pv block-detach "$1" "${vdev[$1]}" --force >>"$log" 2>&1 || die "block-detach $1 failed"
    attach "$1"
}
# A full verified write of the guest's disk (the whole 16 MiB).
full_pass() { # GUEST SEED
    pv io "$1" "${vdev[$1]}" --rw write --bs 64k --iodepth 8 --size 16M --verify crc32c \
        --seed "$2" >>"$log" 2>&1 || die "the full verified write on $1 failed (seed $2)"
}

say "chaos: $rounds rounds, seed $seed, run $run"
pv up --dom0-on-crash restart >>"$log"
for g in "${guests[@]}"; do
    truncate -s 16M "$work/$g.img"
    pv create "$g" >>"$log"
done
start_export
for g in "${guests[@]}"; do attach "$g"; done

hv_pid=$(cat "$run/pvsim-hypervisor.pid")
xs_pid=$(cat "$run/pvsim-xenstored.pid")
hv_fds=
xs_fds=
victims=(dom0 xen-all xen-map virtio export)
declare -A kills=()
start=$SECONDS

for round in $(seq "$rounds"); do
    victim=${victims[RANDOM % ${#victims[@]}]}
    kills[$victim]=$((${kills[$victim]:-0} + 1))
    declare -A job=()
    for g in "${guests[@]}"; do
        pv io "$g" "${vdev[$g]}" --rw randwrite --bs 4k --iodepth 16 --size 16M --runtime 2 \
            --time_based --verify crc32c --seed "$round" >"$work/$g.out" 2>&1 &
        job[$g]=$!
    done
    # A random moment of the two seconds.
    sleep "0.$((RANDOM % 9 + 1))$((RANDOM % 10))"
    case $victim in
        dom0) kill -KILL "$(cat "$run/pvsim-backend.pid")" ;;
        export)
            # Started again at once: the exported disk's job waits for it.
            kill -KILL "$export_pid"
            wait "$export_pid" 2>/dev/null || true
            start_export
            ;;
        *) kill -KILL "$(domain_pid "$victim")" ;;
    esac
    # Which guests the kill ends: the victim's own job; dom0's takes the
    # virtio disk its vhost-user-blk device served. The export's ends none:
    # the driver connects to the export started again and issues what the
    # dead one had not answered.
    ended=()
    case $victim in
        dom0) ended=(virtio) ;;
        export) ;;
        *) ended=("$victim") ;;
    esac
    for g in "${guests[@]}"; do
        # A job ends by its runtime, or by its error: 60 s is a hang.
        waited=0
        while kill -0 "${job[$g]}" 2>/dev/null && [ $waited -lt 600 ]; do
            sleep 0.1
            waited=$((waited + 1))
        done
        kill -0 "${job[$g]}" 2>/dev/null && die "round $round ($victim): $g's job hangs"
        rc=0
        wait "${job[$g]}" || rc=$?
        if [[ " ${ended[*]} " == *" $g "* ]]; then
            : # ended by the kill: an error, or done just before it
        elif [ $rc -ne 0 ]; then
            cat "$work/$g.out" >>"$log"
            die "round $round ($victim): $g's job failed: $(tail -n 1 "$work/$g.out")"
        fi
    done
    unset job
    # Recovery.
    case $victim in
        dom0)
            for _ in $(seq 100); do
                pid=$(cat "$run/pvsim-backend.pid" 2>/dev/null || true)
                [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && break
                sleep 0.1
            done
            reattach virtio
            ;;
        export) ;;
        *)
            # A guest whose process dies is destroyed by the hypervisor
            # (xl's default on_crash=destroy); one still listed goes here.
            if pv list "$victim" >/dev/null 2>&1; then
                pv destroy "$victim" >>"$log" 2>&1 || die "destroy $victim failed"
            fi
            pv create "$victim" >>"$log" || die "create $victim failed"
            attach "$victim"
            ;;
    esac
    for g in "${ended[@]}"; do full_pass "$g" "$((round + 100000))"; done
    now_hv=$(fd_count "$hv_pid")
    now_xs=$(fd_count "$xs_pid")
    hv_fds=${hv_fds:-$now_hv}
    xs_fds=${xs_fds:-$now_xs}
    [ "$now_hv" -le "$hv_fds" ] || die "round $round: the hypervisor holds $now_hv fds (first round: $hv_fds)"
    [ "$now_xs" -le "$xs_fds" ] || die "round $round: xenstored holds $now_xs fds (first round: $xs_fds)"
    printf 'chaos: round %d/%d: killed %s; hypervisor %d fds, xenstored %d fds\n' \
        "$round" "$rounds" "$victim" "$now_hv" "$now_xs" | tee -a "$log"
done

# Every guest's whole disk, written and then read back in a job of its own.
for g in "${guests[@]}"; do
    full_pass "$g" 424242
    pv io "$g" "${vdev[$g]}" --rw read --bs 64k --iodepth 8 --size 16M --verify crc32c \
        --seed 424242 >>"$log" 2>&1 || die "the final read-back of $g failed"
done
pv down >>"$log"
kill -TERM "$export_pid" 2>/dev/null || true
wait "$export_pid" 2>/dev/null || true

left=$(run_pids | wc -l)
shm=$(run_shm)
[ "$left" -eq 0 ] || die "$left processes of the run are left"
[ "$shm" -eq 0 ] || die "$shm shared-memory objects of the run are left"
summary="rounds $rounds in $((SECONDS - start)) s, seed $seed; kills:"
for v in "${victims[@]}"; do summary+=" $v ${kills[$v]:-0}"; done
say "chaos: passed: $summary; hypervisor and xenstored fds flat ($hv_fds, $xs_fds); nothing left"
rm -rf "$work"
