#include "tools/toolstack/virtio_disk.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <stdexcept>
#include <thread>
#include <utility>

#include "common/units.hpp"
#include "common/xen/node_values.hpp"
#include "common/xen/xs_permissions.hpp"
#include "tools/toolstack/disk_sharing.hpp"
#include "tools/toolstack/guest_agent.hpp"
#include "tools/toolstack/vbd_status.hpp"
#include "tools/toolstack/xs_cleanup.hpp"
#include "xenstore/client/xenbus_client.hpp"
#include "xenstore/client/xenbus_paths.hpp"
#include "xenstore/client/xswait.hpp"

namespace pvsim::tools::toolstack {
namespace {

using xenstore::client::Client;
using xenstore::client::Transaction;

// Whether the guest's agent still lists the virtio disk `devid`; nullopt
// when the agent does not answer (the guest is gone).
std::optional<bool> guest_holds(const RunDir& run, xen::DomId domid, std::uint32_t devid) {
    try {
        GuestAgent agent(run, domid, std::chrono::milliseconds(500));
        const nlohmann::json reply = agent.request({{"op", "devices"}});
        for (const auto& device : reply.value("devices", nlohmann::json::array())) {
            if (device.value("transport", std::string()) == "virtio" &&
                device.value("devid", std::uint64_t{~0ull}) == devid) {
                return true;
            }
        }
        return false;
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

}  // namespace

std::uint32_t virtio_devid(std::string_view vdev) {
    // virtblk_name_format: a..z, then aa..zz, aaa..: bijective base 26.
    const std::string_view letters = vdev.starts_with("vd") ? vdev.substr(2) : std::string_view{};
    if (letters.empty() || letters.size() > 4 ||
        !std::all_of(letters.begin(), letters.end(), [](char c) { return c >= 'a' && c <= 'z'; })) {
        throw ParseError("vdev \"" + std::string(vdev) +
                         "\": a virtio disk is named vd and letters (vda, vdb, ..., vdaa)");
    }
    std::uint32_t index = 0;
    for (const char c : letters) {
        index = index * 26 + static_cast<std::uint32_t>(c - 'a' + 1);
    }
    return index - 1;
}

bool is_virtio_vdev(std::string_view vdev) {
    try {
        (void)virtio_devid(vdev);
        return true;
    } catch (const ParseError&) {
        return false;
    }
}

VirtioDiskPaths VirtioDiskPaths::of(xen::DomId backend_domid, xen::DomId domid, std::uint32_t devid,
                                    bool external) {
    VirtioDiskPaths paths;
    paths.devid = devid;
    paths.domid = domid;
    paths.backend_domid = backend_domid;
    if (!external) {
        paths.backend =
            xenstore::client::backend_path(backend_domid, kVirtioDeviceType, domid, devid);
    }
    paths.frontend = xenstore::client::frontend_path(domid, kVirtioDeviceType, devid);
    return paths;
}

std::filesystem::path virtio_socket_path(const RunDir& run, xen::DomId domid, std::uint32_t devid) {
    return run.path() / "vhost-user" /
           (std::to_string(domid) + "-" + std::to_string(devid) + ".sock");
}

void add_virtio_backend(Client& client, const VirtioDiskSpec& spec, const VirtioDiskPaths& paths) {
    if (spec.target.empty() || spec.external) {
        throw std::invalid_argument("virtio disk " + spec.vdev + ": no image for pvsim's device");
    }
    const DiskAccess access = spec.readonly ? DiskAccess::read_only
                              : spec.shared ? DiskAccess::shared_write
                                            : DiskAccess::read_write;
    using xen::xs::Access;
    const xen::xs::Permissions perms = {{Access::none, spec.backend_domid},
                                        {Access::read, spec.domid}};
    std::vector<std::pair<std::string, std::string>> keys = {
        {"frontend", paths.frontend},
        {"frontend-id", std::to_string(spec.domid)},
        {"dev", spec.vdev},
        {"params", spec.target},
        {"mode", std::string(mode_node(access))},
        {"direct", spec.direct ? "1" : "0"},
        {"num-queues", std::to_string(spec.num_queues.value_or(1))},
    };
    if (spec.poll_us) {
        keys.emplace_back("poll-us", std::to_string(*spec.poll_us));
    }
    // The device starts once params and socket are both there; in one
    // transaction it sees every key at once.
    keys.emplace_back("socket", spec.socket);
    client.transact([&](Transaction& t) {
        if (t.try_read(paths.backend)) {
            throw xenstore::client::Error(xen::xs::MessageType::mkdir, paths.backend, EEXIST,
                                          "EEXIST", "the virtio disk exists already");
        }
        check_disk_sharing(t, spec.target, access);
        t.mkdir(paths.backend);
        t.set_perms(paths.backend, perms);
        for (const auto& [key, value] : keys) {
            t.write(paths.backend + "/" + key, value);
        }
    });
}

void wait_virtio_backend(Client& client, const VirtioDiskPaths& paths,
                         std::chrono::milliseconds timeout) {
    const auto [status, accepted] = xenstore::client::xswait(
        client, paths.backend + "/hotplug-status",
        [](const std::optional<std::string>& value) { return value.has_value(); }, timeout);
    if (accepted && status == "connected") {
        return;
    }
    if (accepted) {
        const auto error = client.try_read(paths.backend + "/error");
        throw std::runtime_error("the vhost-user-blk device failed: " +
                                 error.value_or("hotplug-status " + *status));
    }
    throw std::runtime_error("the vhost-user-blk device did not start within " +
                             std::to_string(timeout.count()) + " ms (is pvsim-backend running?)");
}

void add_virtio_frontend(Client& client, const VirtioDiskSpec& spec, const VirtioDiskPaths& paths) {
    using xen::xs::Access;
    const xen::xs::Permissions perms = {{Access::none, spec.domid},
                                        {Access::read, spec.backend_domid}};
    std::vector<std::pair<std::string, std::string>> keys = {
        {"virtual-device", spec.vdev},
        {"num-queues", std::to_string(spec.num_queues.value_or(1))},
    };
    if (spec.poll_us) {
        keys.emplace_back("poll-us", std::to_string(*spec.poll_us));
    }
    if (spec.reconnect) {
        keys.emplace_back("reconnect", std::to_string(*spec.reconnect));
    }
    if (!spec.external) {
        keys.emplace_back("backend", paths.backend);
        keys.emplace_back("backend-id", std::to_string(spec.backend_domid));
    }
    keys.emplace_back("vhost-user", spec.socket);
    client.transact([&](Transaction& t) {
        if (t.try_read(paths.frontend)) {
            throw xenstore::client::Error(xen::xs::MessageType::mkdir, paths.frontend, EEXIST,
                                          "EEXIST", "the virtio disk exists already");
        }
        t.mkdir(paths.frontend);
        t.set_perms(paths.frontend, perms);
        for (const auto& [key, value] : keys) {
            t.write(paths.frontend + "/" + key, value);
        }
    });
}

std::string detach_virtio_disk(Client& client, const RunDir& run, const VirtioDiskPaths& paths,
                               bool force, std::chrono::milliseconds timeout) {
    const std::optional<std::string> socket =
        paths.backend.empty() ? std::nullopt : client.try_read(paths.backend + "/socket");
    client.transact([&](Transaction& t) {
        const std::string parent = paths.frontend.substr(0, paths.frontend.rfind('/'));
        rm_if_present(t, paths.frontend);
        if (t.try_read(parent) && t.directory(parent).empty()) {
            t.rm(parent);
        }
    });
    // The guest closes its driver when it sees the directory go: only then
    // may the device go, so that no ring is torn down under the driver.
    bool released = force;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!released) {
        const std::optional<bool> holds = guest_holds(run, paths.domid, paths.devid);
        if (!holds || !*holds) {
            released = true;
            break;
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (!paths.backend.empty()) {
        client.transact([&](Transaction& t) { remove_with_empty_parent(t, paths.backend); });
        // The device removes its socket once stopped; a re-attach of the
        // same disk binds it again.
        if (socket) {
            const auto socket_deadline = std::chrono::steady_clock::now() + timeout;
            struct stat st {};
            while (::lstat(socket->c_str(), &st) == 0 &&
                   std::chrono::steady_clock::now() < socket_deadline) {
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
            }
        }
    }
    return released && !force ? "detached" : "forced";
}

std::vector<VirtioDiskPaths> list_virtio_disks(Client& client, xen::DomId domid) {
    const std::string dir = xenstore::client::frontend_directory(domid, kVirtioDeviceType);
    std::vector<VirtioDiskPaths> disks;
    for (const std::uint32_t devid : xenstore::client::xenbus_devids(client, dir)) {
        const std::string node = dir + "/" + std::to_string(devid);
        const bool external = !client.try_read(node + "/backend").has_value();
        const auto backend_id = xen::parse_node_u32(client.try_read(node + "/backend-id"));
        disks.push_back(VirtioDiskPaths::of(static_cast<xen::DomId>(backend_id.value_or(0)), domid,
                                            devid, external));
    }
    return disks;
}

std::optional<VirtioDiskPaths> find_virtio_disk(Client& client, xen::DomId domid,
                                                std::string_view vdev) {
    if (!is_virtio_vdev(vdev)) {
        return std::nullopt;
    }
    const std::uint32_t devid = virtio_devid(vdev);
    for (const VirtioDiskPaths& paths : list_virtio_disks(client, domid)) {
        if (paths.devid == devid) {
            return paths;
        }
    }
    return std::nullopt;
}

std::string VirtioDiskStatus::transport() const {
    return external() ? "virtio (vhost-user " + socket + ")" : "virtio";
}

VirtioDiskStatus read_virtio_disk_status(Client& client, const VirtioDiskPaths& paths) {
    VirtioDiskStatus status;
    status.paths = paths;
    const auto front = [&](const char* key) { return client.try_read(paths.frontend + "/" + key); };
    status.vdev = front("virtual-device").value_or(std::to_string(paths.devid));
    status.socket = front("vhost-user").value_or("");
    status.num_queues = front("num-queues");
    status.access = "rw";
    if (!paths.backend.empty()) {
        const auto back = [&](const char* key) {
            return client.try_read(paths.backend + "/" + key);
        };
        status.target = back("params").value_or("");
        status.access = back("mode").value_or("w") == "r" ? "ro" : "rw";
        status.hotplug_status = back("hotplug-status");
        status.error = back("error");
    }
    return status;
}

nlohmann::json VirtioDiskStatus::to_json() const {
    nlohmann::json out = {{"vdev", vdev},
                          {"devid", paths.devid},
                          {"specification", "virtio"},
                          {"transport", transport()},
                          {"vhost_user", socket},
                          {"target", target},
                          {"access", access},
                          {"frontend_path", paths.frontend}};
    if (external()) {
        out["backend_domid"] = nullptr;
        out["backend_path"] = nullptr;
    } else {
        out["backend_domid"] = paths.backend_domid;
        out["backend_path"] = paths.backend;
        out["hotplug_status"] = hotplug_status ? nlohmann::json(*hotplug_status) : nullptr;
    }
    nlohmann::json features = nlohmann::json::object();
    if (num_queues) {
        features = features_json({{"queues", *num_queues}});
    }
    out["features"] = features;
    if (error) {
        out["error"] = *error;
    }
    return out;
}

}  // namespace pvsim::tools::toolstack
