// pvsim-guest: the program pvsim-hypervisor runs as a guest domain created
// by `pvsim create` (DESIGN.md §1): what a Linux guest's kernel and a small
// agent would do. It inherits its hypercall connection (PVSIM_HYPERCALL_FD,
// PVSIM_DOMID, PVSIM_RUN_DIR: hypervisor/protocol/control.hpp), listens at
// once on its agent socket (agent_protocol.hpp) so that the CLI can wait for
// it, reaches xenstore over its ring page once the toolstack has introduced
// it, and probes its devices as xenbus_probe_frontend does
// (guest_devices.hpp): its vbds (vbd_class.hpp) and its virtio-blk disks
// (virtio_class.hpp).
// SIGTERM or SIGINT closes every device in order and exits 0; the
// hypervisor's end of its hypercall connection closing (the host died) ends
// it at once with status 1 (os::exit_with_host). It logs to
// <run>/pvsim-guest.dom<domid>.log and never writes to stdout.
#include <filesystem>
#include <string>
#include <system_error>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "common/log.hpp"
#include "common/os/daemon.hpp"
#include "common/os/environment.hpp"
#include "common/os/io_threads.hpp"
#include "common/run_dir.hpp"
#include "frontend/guest/agent_protocol.hpp"
#include "frontend/guest/agent_server.hpp"
#include "frontend/guest/guest_devices.hpp"
#include "frontend/guest/vbd_class.hpp"
#include "frontend/guest/virtio_class.hpp"
#include "hypervisor/client/hypervisor.hpp"
#include "xenstore/client/client.hpp"

namespace {

using namespace pvsim;
using namespace pvsim::frontend::guest;

int run(int argc, char** argv) {
    CLI::App app{"pvsim-guest: a guest domain's blkfront devices and workload agent"};
    os::DaemonOptions daemon;
    os::add_daemon_options(app, daemon);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }

    const os::Environment env = os::Environment::process();
    const RunDir run_dir = RunDir::resolve(daemon.run_dir, env);
    hypervisor::Hypervisor hypervisor = hypervisor::Hypervisor::from_environment(env);
    const xen::DomId domid = hypervisor.domid();
    const std::string name = std::string(agent::kProgramName) + ".dom" + std::to_string(domid);
    setup_logging(run_dir, name, daemon.log_level, env);

    const auto socket_path = run_dir.guest_agent_socket(domid);
    if (!os::claim_daemon_socket(socket_path, name, run_dir.path())) {
        return 1;
    }
    // A guest ends with its host: its agent socket goes, nothing else is
    // closed in order (xenstore over the ring would wait for a xenstored
    // that is going too).
    const auto host = os::exit_with_host(hypervisor.channel().fd(), [socket_path] {
        std::error_code ignored;
        std::filesystem::remove(socket_path, ignored);
    });
    // The control plane every blkfront keeps a strand on (XenbusFrontend):
    // two threads, so that one device's xenstore round trip does not hold
    // up another's; no handler on it blocks otherwise. It outlives the
    // devices.
    os::IoThreads control("guest control plane", 2);
    GuestDevices devices(domid, xenstore::client::Client::over_ring(hypervisor));
    devices.add(make_vbd_class(hypervisor, control.executor()));
    devices.add(make_virtio_class(hypervisor.memory()));
    boost::asio::io_context io;
    AgentServer server(io, socket_path, domid, hypervisor.memory(), devices);
    spdlog::info("dom{}: agent listening on {}", domid, socket_path.string());

    // Probing starts once the loop (and its signal handling) runs.
    boost::asio::post(io, [&] { devices.start(); });
    os::serve_until_signalled(
        io,
        [&] {
            server.close();
            devices.interrupt();
            io.stop();
        },
        daemon.ready_fd);

    server.join();
    // Replies the finished requests posted meanwhile go nowhere now, but
    // their handlers release what they hold.
    io.restart();
    io.poll();
    devices.shutdown();
    spdlog::info("dom{}: stopped", domid);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    return pvsim::os::daemon_main("pvsim-guest", [&] { return run(argc, argv); });
}
