// The scheduling policy of each thread of a process as the kernel reports
// it (sched_getscheduler(2) on the thread's id: SCHED_OTHER, SCHED_BATCH,
// ...). Tests of how a run's processes are
// scheduled read the kernel's word here, not pvsim's.
#pragma once

#include <sched.h>
#include <sys/types.h>

#include <filesystem>
#include <map>
#include <string>

namespace pvsim::test {

// By thread id, of the threads alive now (a thread that ends meanwhile is
// left out).
inline std::map<pid_t, int> thread_sched_policies(pid_t pid) {
    std::map<pid_t, int> threads;
    std::error_code ec;
    for (const auto& task :
         std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
        const auto tid = static_cast<pid_t>(std::stol(task.path().filename().string()));
        if (const int policy = ::sched_getscheduler(tid); policy >= 0) {
            threads[tid] = policy;
        }
    }
    return threads;
}

}  // namespace pvsim::test
