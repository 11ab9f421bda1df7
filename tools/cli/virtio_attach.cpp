#include "tools/cli/virtio_attach.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "tools/cli/block_attach.hpp"
#include "tools/cli/command.hpp"
#include "tools/toolstack/disk_sharing.hpp"
#include "tools/toolstack/domain.hpp"
#include "tools/toolstack/guest_agent.hpp"
#include "tools/toolstack/guests.hpp"
#include "tools/toolstack/run.hpp"
#include "tools/toolstack/run_daemons.hpp"
#include "tools/toolstack/vbd_status.hpp"

namespace pvsim::tools::cli {
namespace {

// vhost-user=SOCK must be a unix socket already listening (or at least
// bound) by someone.
std::string checked_socket(const std::string& socket) {
    const std::filesystem::path path = std::filesystem::absolute(socket);
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        throw CommandError("vhost-user=" + socket + ": " + std::strerror(errno) +
                           " (start the vhost-user-blk device first)");
    }
    if (!S_ISSOCK(st.st_mode)) {
        throw CommandError("vhost-user=" + socket + ": not a unix socket");
    }
    if (path.string().size() > kMaxSocketPathLength) {
        throw CommandError("vhost-user=" + socket + ": longer than a unix socket path can be (" +
                           std::to_string(kMaxSocketPathLength) + " bytes)");
    }
    return path.string();
}

}  // namespace

toolstack::VirtioDiskPaths virtio_block_attach(Session& session, const std::string& domain_name,
                                               const toolstack::DiskSpec& spec,
                                               std::chrono::milliseconds timeout) {
    (void)toolstack::reap_dead_domains(session.run(), session.control(), session.xenstore());
    const toolstack::DomainRecord domain = toolstack::find_domain(session.control(), domain_name);
    if (domain.domid == 0) {
        throw CommandError("block-attach: dom0 runs the backends; attach to a guest");
    }
    const toolstack::DomainRecord backend = toolstack::find_domain(session.control(), spec.backend);
    if (backend.domid != 0) {
        throw CommandError("backend=" + spec.backend +
                           ": only dom0 runs a vhost-user-blk device in this run");
    }
    auto& xs = session.xenstore();
    if (auto existing = toolstack::find_virtio_disk(xs, domain.domid, spec.vdev)) {
        const auto status = toolstack::read_virtio_disk_status(xs, *existing);
        throw CommandError("vdev " + spec.vdev + " of " + domain.name + " is in use (" +
                           status.transport() +
                           (status.target.empty() ? "" : " -> " + status.target) + ")");
    }
    toolstack::VirtioDiskSpec disk;
    disk.domid = domain.domid;
    disk.backend_domid = backend.domid;
    disk.vdev = spec.vdev;
    disk.readonly = spec.readonly;
    disk.shared = spec.shared;
    disk.direct = spec.direct.value_or(false);
    disk.poll_us = spec.poll_us;
    // queues= sets both ends: the device's num-queues and the driver's wish.
    disk.num_queues = spec.frontend_features.max_queues;
    const std::uint32_t devid = toolstack::virtio_devid(spec.vdev);
    disk.reconnect = spec.reconnect;
    if (spec.vhost_user) {
        disk.external = true;
        if (!disk.reconnect) {
            disk.reconnect = toolstack::kDefaultVhostUserReconnectSeconds;
        }
        disk.socket = checked_socket(*spec.vhost_user);
    } else {
        if (!toolstack::daemon_pid(session.run(), toolstack::kDom0Daemon)) {
            throw CommandError("dom0's backend (" + std::string(toolstack::kDom0Daemon) +
                               ") is not running; nothing would serve the disk");
        }
        disk.target = checked_target(spec);
        const std::filesystem::path socket =
            toolstack::virtio_socket_path(session.run(), domain.domid, devid);
        if (socket.string().size() > kMaxSocketPathLength) {
            throw CommandError("the device's socket " + socket.string() +
                               " is longer than a unix socket path can be; use a shorter "
                               "--run-dir");
        }
        std::error_code ec;
        std::filesystem::create_directories(socket.parent_path(), ec);
        if (ec) {
            throw CommandError("cannot create " + socket.parent_path().string() + ": " +
                               ec.message());
        }
        disk.socket = socket.string();
    }
    const auto paths =
        toolstack::VirtioDiskPaths::of(disk.backend_domid, disk.domid, devid, disk.external);
    const auto give_up = [&](const std::string& why) {
        (void)toolstack::detach_virtio_disk(xs, session.run(), paths, false,
                                            std::chrono::seconds(5));
        return CommandError("vdev " + spec.vdev + " of " + domain.name +
                            " did not connect: " + why);
    };
    try {
        if (!disk.external) {
            toolstack::add_virtio_backend(xs, disk, paths);
            toolstack::wait_virtio_backend(xs, paths,
                                           std::min(timeout, std::chrono::milliseconds(10000)));
        }
        toolstack::add_virtio_frontend(xs, disk, paths);
    } catch (const toolstack::DiskInUse& e) {
        throw CommandError(e.what());  // nothing was written
    } catch (const std::exception& e) {
        throw give_up(e.what());
    }
    try {
        toolstack::GuestAgent agent(session.run(), domain.domid);
        (void)agent.request({{"op", "wait-device"},
                             {"transport", "virtio"},
                             {"devid", devid},
                             {"timeout_ms", timeout.count()}});
    } catch (const std::exception& e) {
        throw give_up(e.what());
    }
    return paths;
}

}  // namespace pvsim::tools::cli
