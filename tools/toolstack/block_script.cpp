#include "tools/toolstack/block_script.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <utility>
#include <vector>

#include "common/xen/physical_device.hpp"
#include "common/xen/xenbus.hpp"
#include "tools/toolstack/loop_device.hpp"

namespace pvsim::tools::toolstack {
namespace block_script {

using Nodes = std::vector<std::pair<std::string, std::string>>;

// The script's failure, carrying the message fatal() writes.
struct Fatal {
    std::string message;
};

// Writes `nodes` into `backend` in one transaction unless the directory
// is gone (the detach won the race); returns whether it was there.
bool write_nodes(xenstore::client::Client& client, const std::string& backend, const Nodes& nodes) {
    return client.transact([&](xenstore::client::Transaction& t) {
        if (!t.try_read(backend + "/state")) {
            return false;
        }
        for (const auto& [key, value] : nodes) {
            t.write(backend + "/" + key, value);
        }
        return true;
    });
}

// write_dev: physical-device and physical-device-path of `device`, then
// success's hotplug-status.
Nodes device_nodes(const std::filesystem::path& device) {
    struct stat st {};
    if (::stat(device.c_str(), &st) != 0 || !S_ISBLK(st.st_mode)) {
        throw Fatal{"Backend device does not exist"};
    }
    return {{"physical-device", xen::to_node(xen::PhysicalDevice::of(st.st_rdev))},
            {"physical-device-path", device.string()},
            {"hotplug-status", std::string(kHotplugConnected)}};
}

// expand_dev: a name without a / is under /dev.
std::filesystem::path expand_dev(const std::string& params) {
    return params.starts_with('/') ? std::filesystem::path(params)
                                   : std::filesystem::path("/dev/" + params);
}

// readlink -f.
std::filesystem::path block_device(const std::filesystem::path& dev) {
    std::error_code ec;
    const std::filesystem::path resolved = std::filesystem::canonical(dev, ec);
    if (ec) {
        throw Fatal{dev.string() + " link does not exist."};
    }
    return resolved;
}

// The `file` case, to the loop device bound.
void add_file(xenstore::client::Client& client, const std::string& backend,
              const std::filesystem::path& file, const struct stat& st, bool writable) {
    // "Avoid a race with the remove if the path has been deleted, or
    // otherwise changed from "InitWait" state e.g. due to a timeout".
    const std::string state = client.try_read(backend + "/state").value_or("unknown");
    if (state != std::to_string(static_cast<unsigned>(xen::XenbusState::init_wait))) {
        throw Fatal{"Path closed or removed during hotplug add: " + backend + " state: " + state};
    }
    if (writable && (st.st_mode & (S_IWUSR | S_IWGRP | S_IWOTH)) == 0) {
        throw Fatal{"File " + file.string() +
                    " is read-only, and so I will not mount it read-write in a guest domain."};
    }
    std::optional<LoopDevice> loop;
    try {
        loop.emplace(LoopDevice::attach(file, !writable));
    } catch (const std::system_error& e) {
        throw Fatal{"Failed to set up a loop device for " + file.string() + ": " + e.what()};
    }
    Nodes nodes = {{"node", loop->path().string()}};
    const Nodes dev = device_nodes(loop->path());
    nodes.insert(nodes.end(), dev.begin(), dev.end());
    if (write_nodes(client, backend, nodes)) {
        loop->release();  // the remove step takes it down
    }
}

}  // namespace block_script

std::optional<std::string> block_hotplug_add(xenstore::client::Client& client,
                                             const std::string& backend) {
    using block_script::Fatal;
    if (client.try_read(backend + "/physical-device")) {
        return std::nullopt;
    }
    try {
        const std::string params = client.try_read(backend + "/params").value_or("");
        const bool writable =
            client.try_read(backend + "/mode").value_or("r").find('w') != std::string::npos;
        const std::filesystem::path path = block_script::expand_dev(params);
        struct stat st {};
        if (params.empty() || ::stat(path.c_str(), &st) != 0) {
            throw Fatal{path.string() + " does not exist."};
        }
        if (S_ISBLK(st.st_mode)) {
            const std::filesystem::path device = block_script::block_device(path);
            (void)block_script::write_nodes(client, backend, block_script::device_nodes(device));
        } else if (S_ISREG(st.st_mode)) {
            block_script::add_file(client, backend, std::filesystem::canonical(path), st, writable);
        } else {
            throw Fatal{path.string() + " is not a block device."};
        }
        return std::nullopt;
    } catch (const Fatal& fatal) {
        // xen-hotplug-common.sh fatal: hotplug-error, then hotplug-status.
        (void)block_script::write_nodes(
            client, backend,
            {{"hotplug-error", fatal.message}, {"hotplug-status", std::string(kHotplugError)}});
        return fatal.message;
    }
}

void block_hotplug_remove(xenstore::client::Client& client, const std::string& backend) {
    if (const auto node = client.try_read(backend + "/node"); node && !node->empty()) {
        detach_loop_device(*node);
    }
}

}  // namespace pvsim::tools::toolstack
