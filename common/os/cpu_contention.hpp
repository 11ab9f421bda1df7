// Whether the machine has more runnable threads than CPUs: then a data-plane
// loop that spins to catch its next request early takes the CPU from a
// thread that has work, often the very peer it waits for (DESIGN.md §10,
// "Polling on few CPUs"). Linux's KVM halt-polling stops for the same
// reason: it polls only while single_task_running() (virt/kvm/kvm_main.c,
// kvm_vcpu_can_poll, Linux 6.1). A process cannot see its own CPU's run
// queue, so pvsim asks the machine-wide question instead: the running count
// of /proc/loadavg (the kernel's nr_running(), summed over every online CPU,
// the reader included) against the CPUs online.
//
// Reading it costs one pread(2) (about 2 µs here), so the answer is kept
// and read again at most once every kRefresh: a QD1 loop passes its gate
// hundreds of thousands of times a second.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "common/os/unique_fd.hpp"

namespace pvsim::os {

// The running count of a /proc/loadavg line ("0.86 2.02 2.17 3/456 12345":
// 3); nullopt when the text is not one.
std::optional<unsigned> runnable_threads(std::string_view loadavg);

class CpuContention {
  public:
    using Clock = std::chrono::steady_clock;
    static constexpr Clock::duration kRefresh = std::chrono::milliseconds(1);

    struct Options {
        // false: never contended (a loop that polls whatever the load, for
        // tests that count what polling does).
        bool enabled = true;
        std::string source = "/proc/loadavg";
        unsigned cpus = 0;  // 0: the CPUs online
    };

    // A source that cannot be opened leaves it never contended, so polling
    // works as before where /proc is not mounted.
    explicit CpuContention(Options options);
    CpuContention() : CpuContention(Options{}) {}

    // More threads runnable than CPUs, as of the last read (taken again when
    // kRefresh has passed since it).
    bool contended(Clock::time_point now);

  private:
    void refresh();

    UniqueFd fd_;
    unsigned cpus_ = 1;
    bool contended_ = false;
    Clock::time_point next_read_{};
};

}  // namespace pvsim::os
