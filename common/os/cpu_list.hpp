// A set of host CPUs, written as xl.cfg(5) writes a domain's hard
// affinity, `cpus="CPULIST"`, and parsed as Xen 4.17's xl does it
// (tools/xl/xl_parse.c: vcpupin_parse, update_cpumap_range, parse_range):
// comma-separated items taken in order, each "all", a CPU "2", a range
// "0-3", or either with "^" in front to remove it from what the items
// before it gave ("0-3,^1" is 0,2,3). "^all" is refused, as xl refuses it;
// xl's "nodes:" items name NUMA nodes, which a pvsim host does not model.
//
// pvsim pins a domain's process to its CPUs the way Xen pins a vCPU: the
// process never runs elsewhere (hard affinity). A CPU must be one this
// process may run on (sched_getaffinity(2)), as xl refuses a CPU the host
// does not have.
#pragma once

#include <sched.h>

#include <bitset>
#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace pvsim::os {

class CpuList {
  public:
    // Throws std::invalid_argument naming what is wrong: not a CPU list,
    // a CPU number past CPU_SETSIZE, or a list that leaves no CPU.
    static CpuList parse(std::string_view text);
    // The CPUs the calling thread may run on (sched_getaffinity(2)).
    static CpuList allowed();
    // Those of process `pid`'s main thread, which its other threads started
    // from; nullopt when there is no such process (ESRCH).
    static std::optional<CpuList> of_process(pid_t pid);

    // Throws std::invalid_argument when a CPU of this list is not in
    // `host` ("CPU 5 is not one this host runs on (it has 0-1)").
    void check_within(const CpuList& host) const;

    bool contains(unsigned cpu) const { return cpu < bits_.size() && bits_.test(cpu); }
    std::size_t count() const noexcept { return bits_.count(); }
    std::vector<unsigned> cpus() const;
    cpu_set_t to_cpu_set() const;
    // The kernel's cpulist form ("0-3,5"), as /proc/PID/status shows
    // Cpus_allowed_list.
    std::string to_string() const;

    bool operator==(const CpuList&) const = default;

  private:
    std::bitset<CPU_SETSIZE> bits_;
};

// Runs with the calling thread pinned to `cpus`, and gives it back its own
// mask at the end of the scope. A process spawned meanwhile starts with the
// mask (clone(2) copies the creating thread's affinity), so none of its
// threads ever runs elsewhere; setting the child's mask after the spawn
// would race with the threads it starts. posix_spawn has no attribute for
// it, hence this.
class ThreadAffinityScope {
  public:
    explicit ThreadAffinityScope(const CpuList& cpus);
    ~ThreadAffinityScope();
    ThreadAffinityScope(const ThreadAffinityScope&) = delete;
    ThreadAffinityScope& operator=(const ThreadAffinityScope&) = delete;

  private:
    cpu_set_t saved_;
};

}  // namespace pvsim::os
