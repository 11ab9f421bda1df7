// pvsim-monitor: dom0's on_crash=restart (tools/toolstack/run.hpp). xl
// leaves a monitor process behind each domain it creates, which waits for
// the domain's death and carries out its on_crash action; this is that
// process for dom0's backend: whenever pvsim-backend dies, it starts it
// again, with the options `pvsim up` gave it. `pvsim down` stops the
// monitor before dom0, so an orderly stop is not taken for a crash.
//
//   pvsim-monitor --run-dir DIR --ready-fd N [--log-level L] [--io-engine E]
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <optional>

#include <CLI/CLI.hpp>

#include "common/log.hpp"
#include "common/os/environment.hpp"
#include "common/os/unique_fd.hpp"
#include "common/run_dir.hpp"
#include "tools/toolstack/programs.hpp"
#include "tools/toolstack/run.hpp"
#include "tools/toolstack/run_daemons.hpp"

namespace {

using namespace pvsim;
using namespace pvsim::tools;

// SIGTERM and SIGINT as a readable fd, so that one poll() waits for either
// the backend's death or the order to stop.
os::UniqueFd stop_signals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    if (::sigprocmask(SIG_BLOCK, &set, nullptr) != 0) {
        os::throw_system_error("sigprocmask");
    }
    os::UniqueFd fd(::signalfd(-1, &set, SFD_CLOEXEC));
    if (!fd) {
        os::throw_system_error("signalfd");
    }
    return fd;
}

// Waits for `pid` to end or a stop signal, at most `timeout` (-1: no
// limit). True when told to stop.
bool wait(int stop_fd, std::optional<pid_t> pid, int timeout_ms) {
    os::UniqueFd pidfd;
    if (pid) {
        pidfd = os::UniqueFd(static_cast<int>(::syscall(SYS_pidfd_open, *pid, 0)));
        if (!pidfd) {
            return false;  // gone already
        }
    }
    pollfd fds[2] = {{stop_fd, POLLIN, 0}, {pidfd ? pidfd.get() : -1, POLLIN, 0}};
    while (::poll(fds, 2, timeout_ms) < 0) {
        if (errno != EINTR) {
            os::throw_system_error("poll");
        }
    }
    return (fds[0].revents & POLLIN) != 0;
}

int run(int argc, char** argv) {
    CLI::App app{"pvsim-monitor: starts dom0's backend again whenever it dies"};
    std::string run_dir;
    int ready_fd = -1;
    toolstack::UpOptions options;
    options.dom0_on_crash = toolstack::Dom0OnCrash::restart;
    app.add_option("--run-dir", run_dir)->required();
    app.add_option("--ready-fd", ready_fd);
    app.add_option("--log-level", options.log_level);
    app.add_option("--io-engine", options.io_engine);
    CLI11_PARSE(app, argc, argv);

    const RunDir run = RunDir::open(run_dir);
    const std::optional<std::string_view> level =
        options.log_level ? std::optional<std::string_view>(*options.log_level) : std::nullopt;
    const auto logger = setup_logging(run, "pvsim-monitor", level, os::Environment::process());
    const toolstack::Programs programs = toolstack::Programs::locate(os::Environment::process());
    const os::UniqueFd stop = stop_signals();
    // The backends it starts are not waited for: the kernel reaps them.
    ::signal(SIGCHLD, SIG_IGN);
    if (ready_fd >= 0) {
        const char byte = 1;
        (void)::write(ready_fd, &byte, 1);
        ::close(ready_fd);
    }
    for (;;) {
        const std::optional<pid_t> backend = toolstack::daemon_pid(run, toolstack::kDom0Daemon);
        if (backend) {
            if (wait(stop.get(), backend, -1)) {
                return 0;
            }
            continue;
        }
        logger->warn("{} is not running: starting it again (dom0 on_crash=restart)",
                     toolstack::kDom0Daemon);
        try {
            toolstack::start_dom0(run, programs, options);
            logger->info("{} started again", toolstack::kDom0Daemon);
        } catch (const std::exception& e) {
            // Not ready (xenstored gone too?): try again shortly.
            logger->error("restarting {}: {}", toolstack::kDom0Daemon, e.what());
            if (wait(stop.get(), std::nullopt, 1000)) {
                return 0;
            }
        }
    }
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const std::exception& e) {
        std::cerr << "pvsim-monitor: " << e.what() << "\n";
        return 1;
    }
}
