#include "tools/toolstack/vbd.hpp"

#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <utility>
#include <vector>

#include "common/units.hpp"
#include "common/xen/xs_permissions.hpp"

namespace pvsim::tools::toolstack {
namespace {

using xen::XenbusState;
using xenstore::client::Client;
using xenstore::client::Transaction;

struct DiskPartition {
    std::uint32_t disk = 0;
    std::uint32_t partition = 0;
};

// A decimal number without sign or leading zero (but "0"), at most `max`.
std::optional<std::uint32_t> decimal(std::string_view text, std::uint32_t max) {
    if (text.empty() || (text.size() > 1 && text.front() == '0') || text.front() < '0' ||
        text.front() > '9') {
        return std::nullopt;
    }
    std::uint32_t value = 0;
    const char* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (ec != std::errc{} || ptr != end || value > max) {
        return std::nullopt;
    }
    return value;
}

// libxl's device_virtdisk_matches: `prefix`, then the disk as letters in
// bijective base 26 ("a" 0, "z" 25, "aa" 26), then an optional partition
// number without leading zeros.
std::optional<DiskPartition> virtdisk(std::string_view text, std::string_view prefix,
                                      std::uint32_t max_disk, std::uint32_t max_partition) {
    if (!text.starts_with(prefix)) {
        return std::nullopt;
    }
    text.remove_prefix(prefix.size());
    std::uint64_t index = 0;
    std::size_t letters = 0;
    while (letters < text.size() && text[letters] >= 'a' && text[letters] <= 'z') {
        index = index * 26 + static_cast<std::uint64_t>(text[letters] - 'a') + 1;
        if (index - 1 > max_disk) {
            return std::nullopt;
        }
        ++letters;
    }
    if (letters == 0) {
        return std::nullopt;
    }
    DiskPartition out{static_cast<std::uint32_t>(index - 1), 0};
    text.remove_prefix(letters);
    if (text.empty()) {
        return out;
    }
    if (text.front() == '0') {
        return std::nullopt;  // "leading zeroes not permitted in partition number"
    }
    const auto partition = decimal(text, max_partition);
    if (!partition) {
        return std::nullopt;
    }
    out.partition = *partition;
    return out;
}

// "d<disk>" or "d<disk>p<partition>".
std::optional<DiskPartition> d_form(std::string_view text) {
    if (!text.starts_with("d")) {
        return std::nullopt;
    }
    text.remove_prefix(1);
    const std::size_t p = text.find('p');
    const auto disk = decimal(text.substr(0, p), (1u << 20) - 1);
    if (!disk) {
        return std::nullopt;
    }
    if (p == std::string_view::npos) {
        return DiskPartition{*disk, 0};
    }
    const auto partition = decimal(text.substr(p + 1), 255);
    if (!partition) {
        return std::nullopt;
    }
    return DiskPartition{*disk, *partition};
}

// A number as strtoul(..., 0) reads it: 0x hex, leading-0 octal, decimal.
std::optional<std::uint32_t> plain_number(std::string_view text) {
    if (text.empty() || text.front() < '0' || text.front() > '9') {
        return std::nullopt;
    }
    int base = 10;
    if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
        base = 16;
        text.remove_prefix(2);
    } else if (text.size() > 1 && text[0] == '0') {
        base = 8;
        text.remove_prefix(1);
    }
    std::uint32_t value = 0;
    const char* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, value, base);
    if (text.empty() || ec != std::errc{} || ptr != end) {
        return std::nullopt;
    }
    return value;
}

// vbd-interface.txt's xvd encodings.
std::uint32_t xvd_number(DiskPartition d) {
    if (d.disk < 16 && d.partition < 16) {
        return (202u << 8) | (d.disk << 4) | d.partition;
    }
    return (1u << 28) | (d.disk << 8) | d.partition;
}

std::string state_text(std::optional<XenbusState> state) {
    return state ? std::string(xen::name(*state)) : std::string("missing");
}

// XS_RM fails with ENOENT when the parent is missing too.
void rm_if_present(Transaction& t, const std::string& path) {
    if (t.try_read(path)) {
        t.rm(path);
    }
}

// Removes `path`, then its parent when that is left empty (libxl's
// libxl__xs_path_cleanup, stopping at the device-kind directory).
void remove_with_empty_parent(Transaction& t, const std::string& path) {
    rm_if_present(t, path);
    const std::string parent = path.substr(0, path.rfind('/'));
    if (t.try_read(parent) && t.directory(parent).empty()) {
        t.rm(parent);
    }
}

}  // namespace

std::uint32_t vdev_number(std::string_view vdev) {
    if (const auto number = plain_number(vdev)) {
        return *number;
    }
    if (const auto d = virtdisk(vdev, "xvd", (1u << 20) - 1, 255)) {
        return xvd_number(*d);
    }
    if (const auto d = virtdisk(vdev, "hd", 3, 63)) {
        return ((d->disk < 2 ? 3u : 22u) << 8) | ((d->disk & 1u) << 6) | d->partition;
    }
    if (const auto d = virtdisk(vdev, "sd", 15, 15)) {
        return (8u << 8) | (d->disk << 4) | d->partition;
    }
    if (const auto d = d_form(vdev)) {
        return xvd_number(*d);
    }
    throw ParseError("virtual device \"" + std::string(vdev) +
                     "\" is not one of xvd<letters>[<partition>] (disks up to 2^20-1, "
                     "partitions up to 255), sd[a-p][1-15], hd[a-d][1-63], d<disk>[p<partition>] "
                     "or a number (docs/misc/vbd-interface.txt)");
}

VbdPaths VbdPaths::of(xen::DomId backend_domid, xen::DomId domid, std::uint32_t devid) {
    VbdPaths paths;
    paths.devid = devid;
    paths.domid = domid;
    paths.backend_domid = backend_domid;
    paths.backend = "/local/domain/" + std::to_string(backend_domid) + "/backend/vbd/" +
                    std::to_string(domid) + "/" + std::to_string(devid);
    paths.frontend =
        "/local/domain/" + std::to_string(domid) + "/device/vbd/" + std::to_string(devid);
    return paths;
}

std::string VbdPaths::backend_error_node() const {
    return "/local/domain/" + std::to_string(backend_domid) + "/error/backend/vbd/" +
           std::to_string(domid) + "/" + std::to_string(devid) + "/error";
}

std::string VbdPaths::frontend_error_node() const {
    return "/local/domain/" + std::to_string(domid) + "/error/device/vbd/" + std::to_string(devid) +
           "/error";
}

VbdPaths add_vbd(Client& client, const VbdSpec& spec) {
    if (spec.target.empty()) {
        throw std::invalid_argument("vbd " + spec.vdev + ": no target (image file or device)");
    }
    const VbdPaths paths = VbdPaths::of(spec.backend_domid, spec.domid, vdev_number(spec.vdev));
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
        {"state", state},
        {"dev", spec.vdev},
        {"type", spec.backend_type},
        {"mode", spec.readonly ? "r" : "w"},
        {"device-type", device_type},
        {"params", spec.target},
        {"direct", spec.direct ? "1" : "0"},
    };
    std::vector<std::pair<std::string, std::string>> front = {
        {"backend", paths.backend},
        {"backend-id", std::to_string(spec.backend_domid)},
        {"state", state},
        {"virtual-device", std::to_string(paths.devid)},
        {"device-type", device_type},
    };
    if (spec.poll_us) {
        back.emplace_back("poll-us", std::to_string(*spec.poll_us));
        front.emplace_back("poll-us", std::to_string(*spec.poll_us));
    }

    client.transact([&](Transaction& t) {
        // libxl__device_exists: "device already exists".
        if (t.try_read(paths.backend)) {
            throw xenstore::client::Error(xen::xs::MessageType::mkdir, paths.backend, EEXIST,
                                          "EEXIST", "the vbd exists already");
        }
        // libxl__device_generic_add: the frontend first, then the backend,
        // each made, given its permissions, then filled.
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
        // A previous life's error reports would read as this one's.
        rm_if_present(t, paths.backend_error_node());
        rm_if_present(t, paths.frontend_error_node());
    });
    return paths;
}

StateWait wait_for_state(Client& client, const std::string& state_path,
                         const std::function<bool(std::optional<XenbusState>)>& accept,
                         std::chrono::milliseconds timeout) {
    struct Shared {
        std::mutex mutex;
        std::condition_variable changed;
        std::uint64_t events = 0;
    };
    auto shared = std::make_shared<Shared>();
    // The watch fires at registration and at every write of the node; the
    // value is read here rather than in the callback, so no change is lost
    // between two events.
    // xenstored refuses a second watch of one path with the same token on
    // a connection (EEXIST), and callers may wait on one node from several
    // threads: the token names this wait.
    const std::string token =
        "pvsim-wait-state:" + std::to_string(reinterpret_cast<std::uintptr_t>(shared.get()));
    xenstore::client::Watch watch = client.watch(state_path, token, [shared](const auto&) {
        std::lock_guard lock(shared->mutex);
        ++shared->events;
        shared->changed.notify_all();
    });
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    StateWait result;
    for (;;) {
        std::uint64_t before = 0;
        {
            std::lock_guard lock(shared->mutex);
            before = shared->events;
        }
        const auto text = client.try_read(state_path);
        result.state = text ? xen::xenbus_state_from_node(*text) : std::nullopt;
        if (accept(result.state)) {
            result.accepted = true;
            return result;
        }
        std::unique_lock lock(shared->mutex);
        if (!shared->changed.wait_until(lock, deadline, [&] { return shared->events != before; })) {
            return result;
        }
    }
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
    destroy_vbd(client, paths);
}

void destroy_vbd(Client& client, const VbdPaths& paths) {
    client.transact([&](Transaction& t) {
        rm_if_present(t, paths.frontend);
        remove_with_empty_parent(t, paths.backend);
        rm_if_present(t, paths.backend_error_node());
        rm_if_present(t, paths.frontend_error_node());
    });
}

}  // namespace pvsim::tools::toolstack
