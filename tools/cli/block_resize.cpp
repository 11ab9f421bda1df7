#include "tools/cli/block_resize.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <system_error>
#include <thread>

#include "backend/storage/backing_store.hpp"
#include "common/units.hpp"
#include "common/xen/xenbus.hpp"
#include "tools/toolstack/domain.hpp"
#include "tools/toolstack/guest_agent.hpp"
#include "tools/toolstack/loop_device.hpp"
#include "tools/toolstack/vbd_status.hpp"
#include "tools/toolstack/virtio_disk.hpp"
#include "xenstore/client/xswait.hpp"

namespace pvsim::tools::cli {
namespace {

constexpr std::chrono::milliseconds kResizeTimeout = std::chrono::seconds(10);

std::string end_name(const std::optional<xen::XenbusState>& state) {
    return state ? std::string(xen::name(*state)) : "gone";
}

// The size the backend will read (BackingStore::refresh_size's): the
// store's own code, so the two cannot disagree.
std::uint64_t target_sectors(const std::string& target) {
    try {
        backend::storage::OpenOptions options;
        options.access = backend::storage::Access::read_only;
        return backend::storage::BackingStore::open(target, options).sectors();
    } catch (const std::exception& e) {
        throw CommandError("target " + target + ": " + e.what());
    }
}

void set_image_size(const std::string& target, std::uint64_t bytes) {
    struct stat st {};
    if (::stat(target.c_str(), &st) != 0) {
        throw CommandError("target " + target + ": " + std::strerror(errno));
    }
    if (!S_ISREG(st.st_mode)) {
        throw CommandError("target " + target +
                           " is not an image file: resize it with its own tools (lvextend, "
                           "losetup -c, ...) and run block-resize without SIZE");
    }
    if (::truncate(target.c_str(), static_cast<off_t>(bytes)) != 0) {
        throw CommandError("resizing " + target + ": " + std::strerror(errno));
    }
}

// blkfront's capacity as the guest's agent reports it.
std::optional<std::uint64_t> guest_capacity(toolstack::GuestAgent& agent, std::uint32_t devid) {
    const nlohmann::json reply = agent.request({{"op", "devices"}});
    for (const nlohmann::json& device : reply.at("devices")) {
        if (device.value("transport", "xen") == "xen" && device.value("devid", 0u) == devid &&
            device.contains("capacity_sectors")) {
            return device.at("capacity_sectors").get<std::uint64_t>();
        }
    }
    return std::nullopt;
}

}  // namespace

std::uint64_t block_resize(Session& session, const ResizeOptions& options) {
    const toolstack::DomainRecord domain = toolstack::find_domain(session.control(), options.name);
    auto& xs = session.xenstore();
    if (toolstack::is_virtio_vdev(options.vdev)) {
        if (!toolstack::find_virtio_disk(xs, domain.domid, options.vdev)) {
            throw CommandError(domain.name + " has no vdev " + options.vdev +
                               " (see `pvsim block-list " + domain.name + "`)");
        }
        throw CommandError(options.vdev + " of " + domain.name +
                           " is a virtio disk: pvsim's vhost-user-blk device has no back-end "
                           "request channel (VHOST_USER_PROTOCOL_F_BACKEND_REQ), so it cannot "
                           "send the config change (VHOST_USER_BACKEND_CONFIG_CHANGE_MSG) that "
                           "tells the driver its new capacity; nothing was changed");
    }
    toolstack::VbdPaths paths;
    try {
        paths = toolstack::require_vbd(xs, domain, options.vdev);
    } catch (const std::runtime_error& e) {
        throw CommandError(e.what());
    }
    const toolstack::VbdStatus status = toolstack::read_vbd_status(xs, paths);
    if (status.frontend_state != xen::XenbusState::connected ||
        status.backend_state != xen::XenbusState::connected) {
        throw CommandError(options.vdev + " of " + domain.name + " is not Connected (frontend " +
                           end_name(status.frontend_state) + ", backend " +
                           end_name(status.backend_state) + "); nothing was changed");
    }
    if (options.bytes) {
        if (*options.bytes == 0 || *options.bytes % backend::storage::kSectorSize != 0) {
            throw CommandError("SIZE " + std::to_string(*options.bytes) +
                               " is not a positive whole number of 512-byte sectors");
        }
        set_image_size(status.target, *options.bytes);
    }
    // A phy disk on an image file is served through the block hotplug
    // step's loop device, which sees the file's new size only when told
    // (an administrator's `losetup -c`).
    if (const auto loop = xs.try_read(paths.backend + "/node"); loop && !loop->empty()) {
        try {
            toolstack::refresh_loop_capacity(*loop);
        } catch (const std::system_error& e) {
            throw CommandError(std::string(e.what()));
        }
    }
    const std::uint64_t sectors = target_sectors(status.target);

    // xen_vbd_resize's `sectors`, within the backend's check period.
    const std::string published = std::to_string(sectors);
    const auto backend = xenstore::client::xswait(
        xs, paths.backend + "/sectors",
        [&](const std::optional<std::string>& value) { return value == published; },
        kResizeTimeout);
    if (!backend.accepted) {
        throw CommandError("the backend of " + options.vdev + " of " + domain.name +
                           " did not publish " + published + " sectors within " +
                           std::to_string(kResizeTimeout.count()) + " ms (it says " +
                           backend.value.value_or("nothing") + ")");
    }
    // blkfront's blkfront_connect on the re-written state sets the capacity.
    toolstack::GuestAgent agent(session.run(), domain.domid);
    const auto deadline = std::chrono::steady_clock::now() + kResizeTimeout;
    std::optional<std::uint64_t> seen;
    while ((seen = guest_capacity(agent, paths.devid)) != sectors) {
        if (std::chrono::steady_clock::now() > deadline) {
            throw CommandError(
                domain.name + "'s blkfront did not take the new capacity of " + options.vdev +
                " within " + std::to_string(kResizeTimeout.count()) + " ms (it reports " +
                (seen ? std::to_string(*seen) : std::string("no device")) + " sectors)");
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return sectors;
}

}  // namespace pvsim::tools::cli
