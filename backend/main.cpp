// pvsim-backend: the backend daemon of a driver domain (DESIGN.md §1, §5):
// blkback for every vbd whose backend directory is under this domain's
// backend/vbd. In dom0 (the usual case, `pvsim up` starts it after the
// hypervisor and xenstored) it reaches the hypervisor through the run
// directory's control socket and xenstored through its unix socket; started
// by the hypervisor as a driver domain, it uses its inherited hypercall
// connection and its xenstore ring page instead. Always in the foreground;
// SIGTERM or SIGINT disconnects every vbd in order and exits.
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>

#include "backend/blkback/blkback_options.hpp"
#include "backend/blkback/vbd_watcher.hpp"
#include "backend/storage/make_engine.hpp"
#include "common/log.hpp"
#include "common/os/daemon.hpp"
#include "common/os/environment.hpp"
#include "common/os/unique_fd.hpp"
#include "common/run_dir.hpp"
#include "common/units.hpp"
#include "hypervisor/client/hypervisor.hpp"
#include "hypervisor/protocol/control.hpp"
#include "xenstore/client/client.hpp"

namespace {

using namespace pvsim;

// dom0 by default; a driver domain when the hypervisor started this process.
hypervisor::Hypervisor connect_hypervisor(const RunDir& run_dir, const os::Environment& env) {
    if (env.get_non_empty(std::string(hypervisor::wire::kHypercallFdVariable))) {
        return hypervisor::Hypervisor::from_environment(env);
    }
    return hypervisor::Hypervisor::connect_dom0(run_dir);
}

xenstore::client::Client connect_xenstore(hypervisor::Hypervisor& hypervisor,
                                          const RunDir& run_dir) {
    if (hypervisor.domid() != 0) {
        return xenstore::client::Client::over_ring(hypervisor);
    }
    return xenstore::client::Client::connect(run_dir);
}

int run(int argc, char** argv) {
    CLI::App app{"pvsim-backend: blkback for the vbds this domain serves"};
    std::optional<std::string> run_dir_arg;
    std::optional<std::string> log_level;
    std::string io_engine = "auto";
    std::optional<int> ready_fd;
    app.add_option("--run-dir", run_dir_arg,
                   "the run directory (default: $PVSIM_RUN_DIR, else $XDG_RUNTIME_DIR/pvsim, "
                   "else /tmp/pvsim-$UID)");
    app.add_option("--log-level", log_level,
                   "trace, debug, info, warn, error, critical or off (default: $PVSIM_LOG, else "
                   "info; the last one given wins)")
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    app.add_option("--io-engine", io_engine,
                   "auto (io_uring, else the thread pool), io_uring, threads, or sync (blocking "
                   "I/O on each ring's thread, for images on tmpfs)")
        ->capture_default_str()
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    app.add_option("--ready-fd", ready_fd,
                   "an inherited fd to write one byte to, and close, once serving");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }
    backend::blkback::BlkbackOptions options;
    try {
        options.engine = backend::storage::parse_engine_kind(io_engine);
    } catch (const ParseError& e) {
        std::cerr << "pvsim-backend: --io-engine: " << e.what() << "\n";
        return 1;
    }

    const os::Environment env = os::Environment::process();
    const RunDir run_dir = RunDir::resolve(run_dir_arg, env);
    setup_logging(run_dir, "pvsim-backend", log_level, env);
    try {
        hypervisor::Hypervisor hypervisor = connect_hypervisor(run_dir, env);
        // One blkback per domain: a second would race the first for every vbd.
        const auto instance = os::lock_instance(
            run_dir.path() / ("pvsim-backend.dom" + std::to_string(hypervisor.domid()) + ".lock"));
        if (!instance) {
            std::cerr << "pvsim-backend: another instance already serves domain "
                      << hypervisor.domid() << " in " << run_dir.path().string() << "\n";
            spdlog::error("refusing to start: another pvsim-backend serves domain {}",
                          hypervisor.domid());
            return 1;
        }
        xenstore::client::Client client = connect_xenstore(hypervisor, run_dir);
        spdlog::info("pvsim-backend: dom{}, I/O engine {}", hypervisor.domid(),
                     backend::storage::to_string(options.engine));

        boost::asio::io_context io;
        backend::blkback::VbdWatcher watcher(io.get_executor(), hypervisor, client, options);
        watcher.start();
        os::serve_until_signalled(
            io,
            [&] {
                watcher.shutdown();
                io.stop();
            },
            ready_fd);
        return 0;
    } catch (const std::exception& e) {
        spdlog::error("fatal: {}", e.what());
        throw;
    }
}

}  // namespace

int main(int argc, char** argv) {
    // A peer that goes away mid-write must not kill the daemon.
    std::signal(SIGPIPE, SIG_IGN);
    try {
        return run(argc, argv);
    } catch (const std::exception& e) {
        std::cerr << "pvsim-backend: " << e.what() << "\n";
        return 1;
    }
}
