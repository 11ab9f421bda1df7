// pvsim-backend: the backend daemon of a driver domain (DESIGN.md §1, §5,
// §6): blkback for every vbd whose backend directory is under this domain's
// backend/vbd, and a vhost-user-blk device for every directory under its
// backend/vhost-user-blk. In dom0 (the usual case, `pvsim up` starts it after the
// hypervisor and xenstored) it reaches the hypervisor through the run
// directory's control socket and xenstored through its unix socket; started
// by the hypervisor as a driver domain, it uses its inherited hypercall
// connection and its xenstore ring page instead. Always in the foreground;
// SIGTERM or SIGINT disconnects every vbd in order and exits; the
// hypervisor's end of its hypercall connection closing (the host died) ends
// it at once with status 1 (os::exit_with_host).
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
#include "backend/vhost_user_blk/device_watcher.hpp"
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
    CLI::App app{
        "pvsim-backend: blkback and vhost-user-blk devices for the disks this domain serves"};
    os::DaemonOptions daemon;
    std::string io_engine = "auto";
    os::add_daemon_options(app, daemon);
    app.add_option("--io-engine", io_engine,
                   "auto (io_uring, else the thread pool), io_uring, threads, or sync (blocking "
                   "I/O on each ring's thread, for images on tmpfs)")
        ->capture_default_str()
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
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
    const RunDir run_dir = RunDir::resolve(daemon.run_dir, env);
    hypervisor::Hypervisor hypervisor = connect_hypervisor(run_dir, env);
    // dom0's log is pvsim-backend.log; a driver domain's has its domid, as a
    // guest's pvsim-guest.domN.log, so that both can run in one run.
    setup_logging(run_dir,
                  hypervisor.domid() == 0
                      ? std::string("pvsim-backend")
                      : "pvsim-backend.dom" + std::to_string(hypervisor.domid()),
                  daemon.log_level, env);
    // Its host dying ends it at once: every ring's peer and the hypervisor
    // that maps its grants are gone with it.
    const auto host = os::exit_with_host(hypervisor.channel().fd());
    // One blkback per domain: a second would race the first for every vbd.
    const auto instance = os::lock_instance(
        run_dir.path() / ("pvsim-backend.dom" + std::to_string(hypervisor.domid()) + ".lock"));
    if (!instance) {
        std::cerr << "pvsim-backend: another instance already serves domain " << hypervisor.domid()
                  << " in " << run_dir.path().string() << "\n";
        spdlog::error("refusing to start: another pvsim-backend serves domain {}",
                      hypervisor.domid());
        return 1;
    }
    options.journal_run_tag = run_dir.shm_tag();
    xenstore::client::Client client = connect_xenstore(hypervisor, run_dir);
    spdlog::info("pvsim-backend: dom{}, I/O engine {}", hypervisor.domid(),
                 backend::storage::to_string(options.engine));

    boost::asio::io_context io;
    backend::blkback::VbdWatcher watcher(io.get_executor(), hypervisor, client, options);
    watcher.start();
    backend::vhost_user_blk::DeviceWatcher devices(io.get_executor(), client, hypervisor.domid(),
                                                   options.engine);
    devices.start();
    os::serve_until_signalled(
        io,
        [&] {
            devices.shutdown();
            watcher.shutdown();
            io.stop();
        },
        daemon.ready_fd);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    return pvsim::os::daemon_main("pvsim-backend", [&] { return run(argc, argv); });
}
