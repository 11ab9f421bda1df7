#include "xenstore/client/xenbus_probe_backend.hpp"

#include <cerrno>
#include <exception>
#include <set>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

#include "xenstore/client/xenbus_paths.hpp"

namespace pvsim::xenstore::client {
namespace {

// The children of `path`; none when it does not exist.
std::vector<std::string> children(Client& client, const std::string& path) {
    try {
        return client.directory(path);
    } catch (const Error& e) {
        if (e.errnum() == ENOENT) {
            return {};
        }
        throw;
    }
}

}  // namespace

XenbusProbeBackend::XenbusProbeBackend(boost::asio::any_io_executor executor, Client& client,
                                       unsigned domid, BackendDriver driver)
    : executor_(std::move(executor)),
      client_(client),
      driver_(std::move(driver)),
      base_(backend_directory(static_cast<xen::DomId>(domid), driver_.type)) {}

XenbusProbeBackend::~XenbusProbeBackend() {
    watch_.stop();
    devices_.clear();
}

void XenbusProbeBackend::start() {
    watch_ = XenbusWatch(client_, executor_, base_, driver_.type,
                         [this](const std::string& path) { changed(path); });
    spdlog::info("{}: watching {}", driver_.type, base_);
}

void XenbusProbeBackend::shutdown() {
    if (std::exchange(stopped_, true)) {
        return;
    }
    watch_.stop();
    for (auto& [nodename, device] : devices_) {
        try {
            device->shutdown();
        } catch (const std::exception& e) {
            spdlog::error("{}: shutting down: {}", nodename, e.what());
        }
    }
    devices_.clear();
    spdlog::info("{}: every device is stopped", driver_.type);
}

void XenbusProbeBackend::changed(const std::string& path) {
    // xenbus_dev_changed: which device a changed node belongs to.
    if (!path.starts_with(base_ + "/")) {
        if (path == base_) {
            scan();
        }
        return;
    }
    // <base>/<frontend domid>/<devid>[/<key>...]
    const std::string rest = path.substr(base_.size() + 1);
    const std::size_t slash = rest.find('/');
    if (slash == std::string::npos) {
        scan();
        return;
    }
    const std::size_t end = rest.find('/', slash + 1);
    const std::string nodename = base_ + "/" + rest.substr(0, end);
    if (end != std::string::npos && devices_.contains(nodename) &&
        rest.substr(end + 1) != driver_.fresh_key) {
        return;
    }
    check_device(nodename);
}

void XenbusProbeBackend::scan() {
    // xenbus_probe_devices, and xenbus_cleanup_devices for what is gone.
    std::set<std::string> present;
    for (const std::string& domain : children(client_, base_)) {
        for (const std::string& devid : children(client_, base_ + "/" + domain)) {
            present.insert(base_ + "/" + domain + "/" + devid);
        }
    }
    std::vector<std::string> gone;
    for (const auto& [nodename, device] : devices_) {
        if (!present.contains(nodename)) {
            gone.push_back(nodename);
        }
    }
    for (const std::string& nodename : gone) {
        remove(nodename, "removed by the toolstack");
    }
    for (const std::string& nodename : present) {
        check_device(nodename);
    }
}

void XenbusProbeBackend::check_device(const std::string& nodename) {
    if (!client_.try_read(nodename)) {
        remove(nodename, "removed by the toolstack");
        return;
    }
    if (devices_.contains(nodename)) {
        if (!driver_.fresh(nodename)) {
            return;
        }
        // The toolstack removed the directory and wrote it afresh before the
        // removal was handled: the device held belongs to the gone one. Linux
        // ends the same way: the old device unregistered itself at Closed,
        // and xenbus_probe_node probes the new Initialising one.
        remove(nodename, "written afresh by the toolstack");
    }
    if (auto device = driver_.probe(nodename)) {
        devices_.emplace(nodename, std::move(device));
    }
}

void XenbusProbeBackend::remove(const std::string& nodename, const char* why) {
    const auto found = devices_.find(nodename);
    if (found == devices_.end()) {
        return;
    }
    spdlog::info("{}: {}", nodename, why);
    const std::shared_ptr<BackendDevice> device = std::move(found->second);
    devices_.erase(found);
    // Destroying it disconnects it; nothing is written to the gone
    // directory.
}

}  // namespace pvsim::xenstore::client
