// What the threads of this process are doing, as the kernel reports it: for
// a test that must know a thread is asleep in a system call (waiting for an
// event) before it acts, instead of sleeping and hoping it is.
#pragma once

#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <system_error>

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

// Whether a thread is blocked in a system call, any call: "running" in
// /proc/PID/task/TID/syscall means it runs or may run (proc(5)). A thread
// that has exited counts as not blocked (the caller looks again).
inline bool blocked_in_syscall(pid_t pid, pid_t tid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid) + "/syscall");
    std::string first;
    return static_cast<bool>(in >> first) && first != "running";
}

// Whether every thread of process `pid` but `except` is blocked in a system
// call. A process whose threads all wait has nothing under way that a test
// has not seen: any call it was about to make would be running.
inline bool all_threads_blocked(pid_t pid, pid_t except = 0) {
    std::error_code error;
    for (const auto& task :
         std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", error)) {
        const auto tid = static_cast<pid_t>(std::stol(task.path().filename().string()));
        if (tid != except && !blocked_in_syscall(pid, tid)) {
            return false;
        }
    }
    return !error;
}

}  // namespace pvsim::test
