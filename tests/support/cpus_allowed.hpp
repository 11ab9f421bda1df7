// The CPUs a process or thread may run on as the kernel reports them: the
// Cpus_allowed_list line of /proc/PID/status or /proc/PID/task/TID/status
// (a cpulist such as "0-1"; Documentation/filesystems/proc.rst). Tests of
// CPU pinning read the kernel's word here, not pvsim's.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>

namespace pvsim::test {

// The line's value in the status file at `status`; "" when the file or the
// line is not there (the task has gone).
inline std::string cpus_allowed_list_in(const std::filesystem::path& status_file) {
    std::ifstream status(status_file);
    const std::string key = "Cpus_allowed_list:";
    for (std::string line; std::getline(status, line);) {
        if (line.rfind(key, 0) == 0) {
            const std::size_t start = line.find_first_not_of(" \t", key.size());
            return start == std::string::npos ? std::string() : line.substr(start);
        }
    }
    return {};
}

// The process's (its main thread's).
inline std::string cpus_allowed_list(pid_t pid) {
    return cpus_allowed_list_in("/proc/" + std::to_string(pid) + "/status");
}

// Each thread's, by thread id, of the threads alive now.
inline std::map<pid_t, std::string> thread_cpus_allowed_lists(pid_t pid) {
    std::map<pid_t, std::string> threads;
    std::error_code ec;
    for (const auto& task :
         std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
        const std::string cpus = cpus_allowed_list_in(task.path() / "status");
        if (!cpus.empty()) {
            threads[static_cast<pid_t>(std::stol(task.path().filename().string()))] = cpus;
        }
    }
    return threads;
}

}  // namespace pvsim::test
