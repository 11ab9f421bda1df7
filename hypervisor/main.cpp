// pvsim-hypervisor: the daemon that owns every domain's memory, grant table
// and event channels (DESIGN.md §1). Always in the foreground; `pvsim up`
// starts it with --ready-fd to learn when it serves.
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include "common/log.hpp"
#include "common/os/daemon.hpp"
#include "common/os/environment.hpp"
#include "common/os/shared_memory.hpp"
#include "common/os/unique_fd.hpp"
#include "common/run_dir.hpp"
#include "common/units.hpp"
#include "hypervisor/server/hypervisor.hpp"

namespace {

using namespace pvsim;
using hypervisor::server::Hypervisor;
using hypervisor::server::HypervisorOptions;

int run(int argc, char** argv) {
    CLI::App app{
        "pvsim-hypervisor: domains, memory, grant tables and event channels of one "
        "pvsim run"};
    os::DaemonOptions daemon;
    std::uint32_t max_grant_frames = 64;
    std::string dom0_memory = "64M";
    std::string shutdown_timeout = "5s";
    os::add_daemon_options(app, daemon);
    app.add_option("--max-grant-frames", max_grant_frames, "grant-table frames per domain")
        ->capture_default_str()
        ->check(CLI::Range(1u, 4096u));
    app.add_option("--dom0-memory", dom0_memory, "dom0's memory, e.g. 64M")->capture_default_str();
    app.add_option("--shutdown-timeout", shutdown_timeout,
                   "destroy: time between SIGTERM and SIGKILL, e.g. 5s")
        ->capture_default_str();
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }

    HypervisorOptions options;
    options.max_grant_frames = max_grant_frames;
    try {
        options.dom0_memory = parse_size(dom0_memory);
        options.shutdown_timeout = parse_duration(shutdown_timeout);
    } catch (const ParseError& e) {
        std::cerr << "pvsim-hypervisor: " << e.what() << "\n";
        return 1;
    }
    if (options.dom0_memory < 4096) {
        std::cerr << "pvsim-hypervisor: --dom0-memory must be at least 4096 bytes\n";
        return 1;
    }

    const os::Environment env = os::Environment::process();
    const RunDir run_dir = RunDir::resolve(daemon.run_dir, env);
    setup_logging(run_dir, "pvsim-hypervisor", daemon.log_level, env);

    if (!os::claim_daemon_socket(run_dir.hypervisor_socket(), "pvsim-hypervisor", run_dir.path())) {
        return 1;
    }
    if (const std::size_t stale = os::remove_run_shm(run_dir.shm_tag()); stale > 0) {
        spdlog::warn("removed {} stale shared-memory objects of this run", stale);
    }

    boost::asio::io_context io;
    Hypervisor hypervisor(io, run_dir, options);
    os::serve_until_signalled(
        io, [&] { hypervisor.stop(); }, daemon.ready_fd);
    return hypervisor.host_failure().empty() ? 0 : 1;
}

// Every event channel port holds an eventfd here (up to 1023 per domain):
// take all the fds the hard limit allows.
void raise_fd_limit() {
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &limit);
    }
}

}  // namespace

int main(int argc, char** argv) {
    raise_fd_limit();
    return os::daemon_main("pvsim-hypervisor", [&] { return run(argc, argv); });
}
