// Starting and stopping the processes of a run that `pvsim up` owns: the
// hypervisor, xenstored and dom0's backend. Each is started in a session
// of its own, its stdout and stderr in <run>/<daemon>.out (its log is
// <run>/<daemon>.log), and reports readiness through --ready-fd; its pid
// goes to <run>/<daemon>.pid so that a later `pvsim down`, `kill` or
// `restart` finds it. The CLI ignores SIGCHLD, so a daemon that dies is
// reaped at once whoever started it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "common/os/cpu_list.hpp"
#include "common/run_dir.hpp"

namespace pvsim::tools::toolstack {

struct DaemonLaunch {
    std::string name;  // "pvsim-xenstored": the pid file's and output file's name
    std::filesystem::path program;
    std::vector<std::string> args;  // after --run-dir and --ready-fd
    std::optional<std::string> log_level;
    std::optional<os::CpuList> cpus = std::nullopt;  // where it runs; nullopt: anywhere
    std::chrono::milliseconds ready_timeout{10000};
};

// Starts the daemon and waits until it is ready. Throws std::runtime_error
// with the end of its output when it exits or closes --ready-fd without
// becoming ready, or does not within the timeout (it is killed then).
pid_t start_daemon(const RunDir& run, const DaemonLaunch& launch);

// The pid from <run>/<name>.pid if that process is alive and is the
// daemon (its executable's name is `name`); nullopt otherwise.
std::optional<pid_t> daemon_pid(const RunDir& run, const std::string& name);

// The name of the program process `pid` runs ("pvsim-backend"), from
// /proc/PID/exe; nullopt when there is no such process. A program whose
// file was replaced since it started (a rebuild, an upgrade under a live
// run) is still that program: the link then ends in " (deleted)" (proc(5)),
// which is not part of its name.
std::optional<std::string> program_of(pid_t pid);

// Sends `signal` to the daemon; false when it is not running.
bool signal_daemon(const RunDir& run, const std::string& name, int signal);

// SIGTERM, then SIGKILL after `grace`; returns once the process is gone and
// its pid file removed. True when it was running.
bool stop_daemon(const RunDir& run, const std::string& name,
                 std::chrono::milliseconds grace = std::chrono::seconds(10));

// Blocks until `pid` has exited or `timeout` passes; true when it exited.
bool wait_for_exit(pid_t pid, std::chrono::milliseconds timeout);

}  // namespace pvsim::tools::toolstack
