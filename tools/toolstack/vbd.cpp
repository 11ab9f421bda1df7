#include "tools/toolstack/vbd.hpp"

#include <cerrno>
#include <charconv>
#include <limits>
#include <stdexcept>
#include <system_error>
#include <utility>
#include <vector>

#include "common/units.hpp"
#include "common/xen/blkif.hpp"
#include "common/xen/blkif_x86_32.hpp"
#include "common/xen/vbd_interface.hpp"
#include "common/xen/xs_permissions.hpp"
#include "tools/toolstack/block_script.hpp"
#include "tools/toolstack/disk_sharing.hpp"
#include "tools/toolstack/xs_cleanup.hpp"
#include "xenstore/client/xenbus_paths.hpp"
#include "xenstore/client/xswait.hpp"

namespace pvsim::tools::toolstack {
namespace {

using xen::XenbusState;
using xenstore::client::Client;
using xenstore::client::Transaction;

std::string state_text(std::optional<XenbusState> state) {
    return state ? std::string(xen::name(*state)) : std::string("missing");
}

}  // namespace

VbdPaths VbdPaths::of(xen::DomId backend_domid, xen::DomId domid, std::uint32_t devid,
                      DiskBackend type) {
    VbdPaths paths;
    paths.devid = devid;
    paths.domid = domid;
    paths.backend_domid = backend_domid;
    paths.type = type;
    paths.backend = xenstore::client::backend_path(backend_domid, std::string(backend_kind(type)),
                                                   domid, devid);
    paths.frontend = xenstore::client::frontend_path(domid, "vbd", devid);
    paths.libxl = xenstore::client::libxl_device_path(domid, "vbd", devid);
    return paths;
}

std::string VbdPaths::backend_error_node() const {
    return *xenstore::client::error_node(backend);
}

std::string VbdPaths::frontend_error_node() const {
    return *xenstore::client::error_node(frontend);
}

VbdPaths add_vbd(Client& client, const VbdSpec& spec) {
    return client.transact([&](Transaction& t) { return add_vbd(t, spec); });
}

VbdPaths add_vbd(Transaction& t, const VbdSpec& spec) {
    if (spec.target.empty()) {
        throw std::invalid_argument("vbd " + spec.vdev + ": no target (image file or device)");
    }
    const DiskBackend type = select_disk_backend(spec.backend, spec.target);
    const DiskAccess access = spec.readonly ? DiskAccess::read_only
                              : spec.shared ? DiskAccess::shared_write
                                            : DiskAccess::read_write;
    const VbdPaths paths =
        VbdPaths::of(spec.backend_domid, spec.domid, xen::vdev_number(spec.vdev), type);
    const ConfigNodes backend_config =
        blkif_config_nodes(spec.backend_features, xen::BlkifEnd::backend);
    const ConfigNodes frontend_config =
        blkif_config_nodes(spec.frontend_features, xen::BlkifEnd::frontend);
    using xen::xs::Access;
    const xen::xs::Permissions backend_perms = {{Access::none, spec.backend_domid},
                                                {Access::read, spec.domid}};
    const xen::xs::Permissions frontend_perms = {{Access::none, spec.domid},
                                                 {Access::read, spec.backend_domid}};
    const std::string device_type = spec.cdrom ? "cdrom" : "disk";
    const std::string state = std::to_string(static_cast<unsigned>(XenbusState::initialising));

    std::vector<std::pair<std::string, std::string>> back = {
        {"frontend", paths.frontend},
        {"frontend-id", std::to_string(spec.domid)},
        {"online", "1"},
        {"removable", spec.cdrom ? "1" : "0"},
        {"bootable", "1"},
        {"dev", spec.vdev},
        {"type", std::string(to_string(type))},
        {"mode", std::string(mode_node(access))},
        {"device-type", device_type},
        // device_disk_add: phy's params is the target, and its script the
        // block script; qdisk's params is <format>:<target>.
        {"params", type == DiskBackend::qdisk ? "raw:" + spec.target : spec.target},
        {"direct", spec.direct ? "1" : "0"},
        // libxl__device_disk_add: discard_enable defaults to readwrite, and
        // no-discard turns it off.
        {"discard-enable",
         !spec.readonly && spec.backend_features.discard.value_or(true) ? "1" : "0"},
    };
    std::vector<std::pair<std::string, std::string>> front = {
        {"backend", paths.backend},
        {"backend-id", std::to_string(spec.backend_domid)},
        {"virtual-device", std::to_string(paths.devid)},
        {"device-type", device_type},
        // libxl__device_disk_add (Xen 4.17+): "trusted" from the disk's
        // trusted setting (Linux blkfront, 5.19+, bounces data through its
        // own pages when 0, XSA-403; so does pvsim's), and for a PV guest its
        // ABI's "protocol" (xc_domain_get_native_protocol: x86_32-abi for a
        // 32-bit guest; old frontends relied on the toolstack for it;
        // pvsim's blkfront takes its ring layout from it).
        {"trusted", spec.trusted ? "1" : "0"},
        {"protocol", std::string(xen::to_string(spec.protocol))},
    };
    if (type == DiskBackend::phy) {
        back.emplace_back("script", std::string(kBlockScript));
    }
    if (spec.direct_io_safe) {
        back.emplace_back("direct-io-safe", "1");
    }
    if (spec.poll_us) {
        back.emplace_back("poll-us", std::to_string(*spec.poll_us));
        front.emplace_back("poll-us", std::to_string(*spec.poll_us));
    }
    // Each end reads its configuration once, when it sets the device up:
    // the nodes go before state=1 (written last).
    back.insert(back.end(), backend_config.begin(), backend_config.end());
    front.insert(front.end(), frontend_config.begin(), frontend_config.end());
    back.emplace_back("state", state);
    front.emplace_back("state", state);

    // libxl__device_exists: "device already exists", before anything about
    // the target (the block script's sharing check runs after it in libxl).
    if (t.try_read(paths.backend)) {
        throw xenstore::client::Error(xen::xs::MessageType::mkdir, paths.backend, EEXIST, "EEXIST",
                                      "the vbd exists already");
    }
    check_disk_sharing(t, spec.target, access);
    // libxl__device_generic_add: the frontend first, then the backend, each
    // made, given its permissions, then filled.
    rm_if_present(t, paths.frontend);
    t.mkdir(paths.frontend);
    t.set_perms(paths.frontend, frontend_perms);
    for (const auto& [key, value] : front) {
        t.write(paths.frontend + "/" + key, value);
    }
    t.mkdir(paths.backend);
    t.set_perms(paths.backend, backend_perms);
    for (const auto& [key, value] : back) {
        t.write(paths.backend + "/" + key, value);
    }
    // libxl's own record (Xen 4.17 libxl__device_generic_add): where both
    // ends are, and a copy of every backend node, so that the toolstack
    // need not trust the backend's directory. Only dom0 may read it.
    rm_if_present(t, paths.libxl);
    t.write(paths.libxl + "/frontend", paths.frontend);
    t.write(paths.libxl + "/backend", paths.backend);
    for (const auto& [key, value] : back) {
        t.write(paths.libxl + "/" + key, value);
    }
    // A previous life's error reports would read as this one's.
    rm_if_present(t, paths.backend_error_node());
    rm_if_present(t, paths.frontend_error_node());
    return paths;
}

StateWait wait_for_state(Client& client, const std::string& state_path,
                         const std::function<bool(std::optional<XenbusState>)>& accept,
                         std::chrono::milliseconds timeout) {
    const auto state_of = [](const std::optional<std::string>& text) {
        return text ? xen::xenbus_state_from_node(*text) : std::nullopt;
    };
    const xenstore::client::XswaitResult wait = xenstore::client::xswait(
        client, state_path,
        [&](const std::optional<std::string>& text) { return accept(state_of(text)); }, timeout);
    return StateWait{state_of(wait.value), wait.accepted};
}

std::optional<std::string> read_backend_error(Client& client, const VbdPaths& paths) {
    if (auto error = client.try_read(paths.backend + "/error")) {
        return error;
    }
    return client.try_read(paths.backend_error_node());
}

VbdPaths attach_vbd(Client& client, const VbdSpec& spec, std::chrono::milliseconds timeout) {
    const VbdPaths paths = add_vbd(client, spec);
    // libxl waits for the backend's InitWait (device_backend_callback) before
    // it lets the guest see the device.
    const StateWait wait = wait_for_state(
        client, paths.backend + "/state",
        [](std::optional<XenbusState> state) {
            return state && *state != XenbusState::initialising;
        },
        timeout);
    const bool usable =
        wait.accepted && *wait.state != XenbusState::closing && *wait.state != XenbusState::closed;
    if (!usable) {
        const std::optional<std::string> error = read_backend_error(client, paths);
        throw std::runtime_error("vbd " + spec.vdev + " of dom" + std::to_string(spec.domid) +
                                 ": the backend is " + state_text(wait.state) +
                                 (error           ? ": " + *error
                                  : wait.accepted ? std::string()
                                                  : " after " + std::to_string(timeout.count()) +
                                                        " ms (is pvsim-backend running?)"));
    }
    // device_hotplug, once the backend is InitWait; a failed script fails
    // the attach with its hotplug-error (device_hotplug_child_death_cb).
    if (paths.type == DiskBackend::phy) {
        if (const auto error = block_hotplug_add(client, paths.backend)) {
            throw std::runtime_error("vbd " + spec.vdev + " of dom" + std::to_string(spec.domid) +
                                     ": hotplug script " + std::string(kBlockScript) +
                                     " failed: " + *error);
        }
    }
    return paths;
}

void detach_vbd(Client& client, const VbdPaths& paths, const DetachOptions& options) {
    const std::string state_path = paths.backend + "/state";
    const bool present = client.transact([&](Transaction& t) {
        const auto state = t.try_read(state_path);
        if (!state) {
            return false;  // already gone
        }
        t.write(paths.backend + "/online", "0");
        // "Check if device is already in "closed" state, in which case it
        // should not be changed."
        if (xen::xenbus_state_from_node(*state) != XenbusState::closed) {
            t.write(state_path, std::to_string(static_cast<unsigned>(XenbusState::closing)));
        }
        return true;
    });
    if (present) {
        const StateWait wait = wait_for_state(
            client, state_path,
            [](std::optional<XenbusState> state) { return state == XenbusState::closed; },
            options.timeout);
        if (!wait.accepted && !options.force) {
            throw std::runtime_error("detaching " + paths.backend + ": the backend is " +
                                     state_text(wait.state) + ", not Closed, after " +
                                     std::to_string(options.timeout.count()) + " ms");
        }
    }
    // libxl__device_hotplug on removal: the script's remove once the
    // backend has closed (or the removal is forced), before the directory
    // that names what it made goes. A failure is reported once the
    // directories are gone all the same, as libxl goes on to destroy.
    std::optional<std::string> remove_error;
    if (present && paths.type == DiskBackend::phy) {
        try {
            block_hotplug_remove(client, paths.backend);
        } catch (const std::system_error& e) {
            remove_error = e.what();
        }
    }
    destroy_vbd(client, paths);
    if (remove_error) {
        throw std::runtime_error("detaching " + paths.backend + ": hotplug script " +
                                 std::string(kBlockScript) + " remove: " + *remove_error);
    }
}

void destroy_vbd(Client& client, const VbdPaths& paths) {
    client.transact([&](Transaction& t) { destroy_vbd(t, paths); });
}

void destroy_vbd(Transaction& t, const VbdPaths& paths) {
    rm_if_present(t, paths.frontend);
    remove_with_empty_parent(t, paths.backend);
    // libxl__device_destroy cleans up the libxl path with the two others.
    if (!paths.libxl.empty()) {
        rm_if_present(t, paths.libxl);
    }
    rm_if_present(t, paths.backend_error_node());
    rm_if_present(t, paths.frontend_error_node());
}

}  // namespace pvsim::tools::toolstack
