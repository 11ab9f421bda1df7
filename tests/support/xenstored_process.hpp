// Test helper for everything that needs a live pvsim-xenstored: the daemon
// started for real, in a private run directory of its own or in a
// HypervisorProcess's (so that it reaches that hypervisor as dom0), with
// --ready-fd so that the constructor returns once it serves, and stopped
// the orderly way (SIGTERM). environment() is what a real client such as
// Debian's xenstore-utils needs to reach it (XENSTORED_PATH).
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/os/child_process.hpp"
#include "common/os/unique_fd.hpp"
#include "common/run_dir.hpp"
#include "tests/support/daemon_process.hpp"
#include "tests/support/hypervisor_process.hpp"
#include "tests/support/temp_dir.hpp"

extern char** environ;

namespace pvsim::test {

class XenstoredProcess {
  public:
    // In a temporary run directory of its own, with no hypervisor.
    explicit XenstoredProcess(std::vector<std::string> extra_args = {})
        : temp_(std::in_place), run_dir_(RunDir::open(temp_->path() / "run")) {
        start(extra_args);
    }
    // In `hypervisor`'s run directory, as that run's xenstored.
    explicit XenstoredProcess(const HypervisorProcess& hypervisor,
                              std::vector<std::string> extra_args = {})
        : run_dir_(hypervisor.run_dir()) {
        start(extra_args);
    }
    // In a run directory the caller owns (and removes).
    explicit XenstoredProcess(const RunDir& run_dir, std::vector<std::string> extra_args = {})
        : run_dir_(run_dir) {
        start(extra_args);
    }

    ~XenstoredProcess() {
        if (process_ && process_->running()) {
            stop();
        }
    }
    XenstoredProcess(const XenstoredProcess&) = delete;
    XenstoredProcess& operator=(const XenstoredProcess&) = delete;

    // SIGTERM, then reaps the daemon.
    os::ExitStatus stop() {
        process_->kill(SIGTERM);
        return process_->wait();
    }

    const RunDir& run_dir() const { return run_dir_; }
    std::filesystem::path socket_path() const { return run_dir_.xenstored_socket(); }
    std::filesystem::path log_path() const { return run_dir_.log_file("pvsim-xenstored"); }
    os::ChildProcess& process() { return *process_; }

    // This process's environment with XENSTORED_PATH naming the daemon's
    // socket, for SpawnOptions::environment.
    std::vector<std::string> environment() const {
        std::vector<std::string> env;
        for (char** entry = environ; *entry != nullptr; ++entry) {
            if (std::string_view(*entry).starts_with("XENSTORED_PATH=")) {
                continue;
            }
            env.emplace_back(*entry);
        }
        env.push_back("XENSTORED_PATH=" + socket_path().string());
        return env;
    }

    // The daemon's log so far (for failure messages).
    std::string log() const {
        std::ifstream in(log_path());
        return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }

  private:
    void start(const std::vector<std::string>& extra_args) {
        process_ = start_daemon(PVSIM_XENSTORED, "pvsim-xenstored", run_dir_, extra_args);
    }

    std::optional<TempDir> temp_;
    RunDir run_dir_;
    std::optional<os::ChildProcess> process_;
};

}  // namespace pvsim::test
