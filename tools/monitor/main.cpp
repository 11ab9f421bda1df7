// pvsim-monitor: dom0's on_crash=restart (tools/toolstack/run.hpp). xl
// leaves a monitor process behind each domain it creates, which waits for
// the domain's death and carries out its on_crash action; this is that
// process for dom0's backend: whenever pvsim-backend dies, it starts it
// again, with the options `pvsim up` gave it. `pvsim down` stops the
// monitor before dom0, so an orderly stop is not taken for a crash.
//
// Neither is the host's death: when pvsim-hypervisor or pvsim-xenstored
// ends (seen on a pidfd of each, as it holds no connection to either), the
// host is down (DESIGN.md §1, "The host"), and the monitor exits, status 1,
// saying which went, instead of restarting a backend nothing could serve.
//
//   pvsim-monitor --run-dir DIR --ready-fd N [--log-level L] [--io-engine E]
//                 [--dom0-cpus CPUS]
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <optional>
#include <utility>

#include <CLI/CLI.hpp>

#include "common/log.hpp"
#include "common/os/child_process.hpp"
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

// A pidfd of `pid`, empty when it is gone already.
os::UniqueFd open_pidfd(std::optional<pid_t> pid) {
    return pid ? os::pidfd_of(*pid) : os::UniqueFd();
}

// The run's host: its hypervisor and xenstored, each as a pidfd.
struct Host {
    RunDir run;
    os::UniqueFd hypervisor;
    os::UniqueFd xenstored;

    static Host of(const RunDir& run) {
        return {run, open_pidfd(toolstack::daemon_pid(run, toolstack::kHypervisorDaemon)),
                open_pidfd(toolstack::daemon_pid(run, toolstack::kXenstoredDaemon))};
    }
    // The daemon of the two that is not running, if one is not. A killed
    // hypervisor's control socket refuses connections as soon as its fds
    // are closed, before its pidfd reports the end: asked too, so that a
    // backend that saw its hypercall connection end first is not restarted.
    std::optional<const char*> gone() const {
        for (const auto& [fd, name] : {std::pair{hypervisor.get(), toolstack::kHypervisorDaemon},
                                       std::pair{xenstored.get(), toolstack::kXenstoredDaemon}}) {
            pollfd ended{fd, POLLIN, 0};
            if (fd < 0 || ::poll(&ended, 1, 0) != 0) {
                return name;
            }
        }
        if (!toolstack::run_is_up(run)) {
            return toolstack::kHypervisorDaemon;
        }
        return std::nullopt;
    }
};

// Waits for `pid` to end, the host to go or a stop signal, at most
// `timeout` (-1: no limit). True when told to stop.
bool wait(int stop_fd, const Host& host, std::optional<pid_t> pid, int timeout_ms) {
    const os::UniqueFd pidfd = open_pidfd(pid);
    if (pid && !pidfd) {
        return false;  // gone already
    }
    pollfd fds[4] = {{stop_fd, POLLIN, 0},
                     {host.hypervisor.get(), POLLIN, 0},
                     {host.xenstored.get(), POLLIN, 0},
                     {pidfd ? pidfd.get() : -1, POLLIN, 0}};
    while (::poll(fds, 4, timeout_ms) < 0) {
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
    std::optional<std::string> dom0_cpus;
    app.add_option("--dom0-cpus", dom0_cpus);
    CLI11_PARSE(app, argc, argv);
    if (dom0_cpus) {
        // `pvsim up` checked it; a restarted backend runs where the first did.
        options.dom0_cpus = os::CpuList::parse(*dom0_cpus);
    }

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
    const Host host = Host::of(run);
    for (;;) {
        if (const auto gone = host.gone()) {
            logger->error("{} is gone: the host is down, {} is not restarted", *gone,
                          toolstack::kDom0Daemon);
            return 1;
        }
        const std::optional<pid_t> backend = toolstack::daemon_pid(run, toolstack::kDom0Daemon);
        if (backend) {
            if (wait(stop.get(), host, backend, -1)) {
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
            if (wait(stop.get(), host, std::nullopt, 1000)) {
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
