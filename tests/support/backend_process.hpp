// pvsim-backend started for real in a HypervisorProcess's run directory
// (where a XenstoredProcess serves), with --ready-fd so that the
// constructor returns once it watches backend/vbd, and stopped the orderly
// way (SIGTERM).
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/os/child_process.hpp"
#include "common/os/unique_fd.hpp"
#include "tests/support/daemon_process.hpp"
#include "tests/support/hypervisor_process.hpp"

namespace pvsim::test {

class BackendProcess {
  public:
    explicit BackendProcess(const HypervisorProcess& hypervisor,
                            std::vector<std::string> extra_args = {})
        : run_dir_(hypervisor.run_dir()) {
        process_ = start_daemon(PVSIM_BACKEND, "pvsim-backend", run_dir_, extra_args);
    }

    ~BackendProcess() {
        if (process_ && process_->running()) {
            stop();
        }
    }
    BackendProcess(const BackendProcess&) = delete;
    BackendProcess& operator=(const BackendProcess&) = delete;

    os::ExitStatus stop() {
        process_->kill(SIGTERM);
        return process_->wait();
    }
    // Dies as a crashed driver domain's backend would.
    os::ExitStatus kill() {
        process_->kill(SIGKILL);
        return process_->wait();
    }
    pid_t pid() const noexcept { return process_->pid(); }
    // Still running (not exited, not killed).
    bool alive() { return process_->running() && !process_->try_wait(); }

    std::string log() const {
        std::ifstream in(run_dir_.log_file("pvsim-backend"));
        return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }

  private:
    RunDir run_dir_;
    std::optional<os::ChildProcess> process_;
};

}  // namespace pvsim::test
