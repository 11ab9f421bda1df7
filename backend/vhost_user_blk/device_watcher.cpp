#include "backend/vhost_user_blk/device_watcher.hpp"

#include <cerrno>
#include <exception>
#include <set>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>

#include "backend/vhost_user_blk/device_keys.hpp"

namespace pvsim::backend::vhost_user_blk {
namespace {

std::vector<std::string> children(xenstore::client::Client& client, const std::string& path) {
    try {
        return client.directory(path);
    } catch (const xenstore::client::Error& e) {
        if (e.errnum() == ENOENT) {
            return {};
        }
        throw;
    }
}

}  // namespace

DeviceWatcher::DeviceWatcher(boost::asio::any_io_executor executor,
                             xenstore::client::Client& client, unsigned domid,
                             storage::EngineKind engine)
    : executor_(std::move(executor)),
      client_(client),
      engine_(engine),
      base_("/local/domain/" + std::to_string(domid) + "/backend/" + kBackendType) {}

DeviceWatcher::~DeviceWatcher() {
    shutdown();
}

std::size_t DeviceWatcher::size() const noexcept {
    std::size_t n = 0;
    for (const auto& [nodename, server] : devices_) {
        n += server ? 1 : 0;
    }
    return n;
}

void DeviceWatcher::start() {
    watch_ = client_.watch(base_, "vhost-user-blk", [this](const xenstore::client::WatchEvent& e) {
        boost::asio::post(executor_, [this, path = e.path] {
            if (stopped_) {
                return;
            }
            try {
                changed(path);
            } catch (const std::exception& ex) {
                spdlog::error("vhost-user-blk: handling a change of {}: {}", path, ex.what());
            }
        });
    });
    spdlog::info("vhost-user-blk: watching {}", base_);
}

void DeviceWatcher::shutdown() {
    if (std::exchange(stopped_, true)) {
        return;
    }
    try {
        watch_.unwatch();
    } catch (const std::exception& e) {
        spdlog::warn("vhost-user-blk: unwatch {}: {}", base_, e.what());
    }
    devices_.clear();
}

void DeviceWatcher::changed(const std::string& path) {
    if (path == base_) {
        scan();
        return;
    }
    if (!path.starts_with(base_ + "/")) {
        return;
    }
    // <base>/<frontend>/<devid>[/key]
    const std::string rest = path.substr(base_.size() + 1);
    const std::size_t slash = rest.find('/');
    if (slash == std::string::npos) {
        scan();
        return;
    }
    const std::size_t end = rest.find('/', slash + 1);
    const std::string nodename = base_ + "/" + rest.substr(0, end);
    check_device(nodename);
}

void DeviceWatcher::scan() {
    std::set<std::string> present;
    for (const std::string& frontend : children(client_, base_)) {
        for (const std::string& devid : children(client_, base_ + "/" + frontend)) {
            present.insert(base_ + "/" + frontend + "/" + devid);
        }
    }
    std::vector<std::string> gone;
    for (const auto& [nodename, server] : devices_) {
        if (!present.contains(nodename)) {
            gone.push_back(nodename);
        }
    }
    for (const std::string& nodename : gone) {
        check_device(nodename);
    }
    for (const std::string& nodename : present) {
        check_device(nodename);
    }
}

void DeviceWatcher::check_device(const std::string& nodename) {
    const bool exists = client_.try_read(nodename).has_value();
    auto found = devices_.find(nodename);
    if (!exists) {
        if (found != devices_.end()) {
            spdlog::info("{}: removed by the toolstack", nodename);
            devices_.erase(found);  // stops the server, removes its socket
        }
        return;
    }
    if (found != devices_.end() && !client_.try_read(nodename + "/hotplug-status")) {
        // The toolstack removed the directory and wrote it afresh before
        // the removal was handled: every directory the device has seen
        // holds its hotplug-status, a new one does not.
        spdlog::info("{}: written afresh by the toolstack", nodename);
        devices_.erase(found);  // stops the server, removes its socket
        found = devices_.end();
    }
    if (found != devices_.end() || !device_keys_present(client_, nodename)) {
        return;  // served (or failed) already, or not written yet
    }
    std::unique_ptr<VhostUserBlkServer> server;
    try {
        server = std::make_unique<VhostUserBlkServer>(read_device_keys(client_, nodename, engine_));
        write_connected(client_, nodename, *server);
    } catch (const std::exception& e) {
        spdlog::error("{}: {}", nodename, e.what());
        server.reset();
        devices_.emplace(nodename, nullptr);
        try {
            write_error(client_, nodename, e.what());
        } catch (const std::exception& write_failure) {
            spdlog::error("{}: writing the error: {}", nodename, write_failure.what());
        }
        return;
    }
    devices_.emplace(nodename, std::move(server));
}

}  // namespace pvsim::backend::vhost_user_blk
