# What the run scripts (chaos.sh, soak.sh, scale.sh) share, sourced by
# each after it has set:
#   script     its name, for its messages ("chaos")
#   pvsim_bin  the pvsim program, an absolute path
#   run        the run directory it gives `pvsim up`
#   log        the log file its messages also go to
# Every process of the run, the daemons `up` starts included, carries the
# run directory in its environment: run_pids() finds them by it.
export PVSIM_RUN_DIR=$run
bin_dir=$(dirname "$pvsim_bin")

pv() { "$pvsim_bin" --run-dir "$run" "$@"; }
say() { printf '%s\n' "$*" | tee -a "$log"; }
die() {
    say "$script: FAILED: $*"
    say "$script: the run is left in $run for a look (pvsim --run-dir $run down); log $log"
    exit 1
}

# The run's processes: pvsim's programs (the script's own shells carry the
# variable too) with the run directory in their environment. One find for
# every process's program, not a readlink each: on a busy machine a loop of
# those takes seconds.
run_pids() {
    local exe pid
    # (find fails for the processes that end while it looks.)
    { find /proc -mindepth 2 -maxdepth 2 -name exe -lname "$bin_dir/pvsim*" 2>/dev/null || true; } |
        while read -r exe; do
            pid=${exe#/proc/}
            pid=${pid%/exe}
            if grep -qxz "PVSIM_RUN_DIR=$run" "/proc/$pid/environ" 2>/dev/null; then
                echo "$pid"
            fi
        done
}
env_of() { # PID NAME: the value of NAME in the process's environment
    { tr '\0' '\n' <"/proc/$1/environ" || true; } 2>/dev/null | sed -n "s/^$2=//p"
}
fd_count() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }
status_kib() { # PID FIELD (VmRSS, RssAnon, RssFile, RssShmem)
    awk -v f="$2:" '$1 == f {print $2; found = 1} END {if (!found) print 0}' \
        "/proc/$1/status" 2>/dev/null || echo 0
}

# A run's shared-memory objects are named pvsim.TAG.*, TAG being the FNV-1a
# hash of the run directory's canonical path (common/run_dir.cpp): known
# from the directory alone, whatever other runs the machine has. The
# directory must exist (it does once `up` ran).
run_tag() {
    python3 -c '
import os, sys
h = 0xcbf29ce484222325
for b in os.path.realpath(sys.argv[1]).encode():
    h = ((h ^ b) * 0x100000001b3) & 0xffffffffffffffff
print("pvsim.%016x" % h)' "$run"
}
run_shm() { ls /dev/shm | grep -c "^$(run_tag)\." || true; }
