// What the threads of this process are doing, as the kernel reports it: for
// a test that must know a thread is asleep in a system call (waiting for an
// event) before it acts, instead of sleeping and hoping it is.
#pragma once

#include <sys/syscall.h>
#include <sys/types.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>

namespace pvsim::test {

// The ids of this process's threads.
inline std::set<pid_t> thread_ids() {
    std::set<pid_t> out;
    for (const auto& entry : std::filesystem::directory_iterator("/proc/self/task")) {
        out.insert(static_cast<pid_t>(std::stol(entry.path().filename().string())));
    }
    return out;
}

// Whether thread `tid` of this process is blocked in poll(2): the first
// field of /proc/self/task/<tid>/syscall is the number of the system call it
// sleeps in ("running" while it runs).
inline bool blocked_in_poll(pid_t tid) {
    std::ifstream in("/proc/self/task/" + std::to_string(tid) + "/syscall");
    long number = -1;
    in >> number;
#ifdef SYS_poll
    if (number == SYS_poll) {
        return true;
    }
#endif
    return number == SYS_ppoll;
}

}  // namespace pvsim::test
