#include "backend/vhost_user_blk/device_watcher.hpp"

#include <exception>
#include <memory>
#include <string>
#include <utility>

#include <spdlog/spdlog.h>

#include "backend/vhost_user_blk/device_keys.hpp"
#include "backend/vhost_user_blk/vhost_user_server.hpp"

namespace pvsim::backend::vhost_user_blk {
namespace {

// One directory's device: its server, or none when it failed (it waits for
// its directory to go).
struct Device : xenstore::client::BackendDevice {
    std::unique_ptr<VhostUserBlkServer> server;
};

std::shared_ptr<xenstore::client::BackendDevice> probe(xenstore::client::Client& client,
                                                       storage::EngineKind engine,
                                                       const std::string& nodename) {
    if (!device_keys_present(client, nodename)) {
        return nullptr;  // not written yet
    }
    auto device = std::make_shared<Device>();
    try {
        device->server =
            std::make_unique<VhostUserBlkServer>(read_device_keys(client, nodename, engine));
        write_connected(client, nodename, *device->server);
    } catch (const std::exception& e) {
        spdlog::error("{}: {}", nodename, e.what());
        device->server.reset();
        try {
            write_error(client, nodename, e.what());
        } catch (const std::exception& write_failure) {
            spdlog::error("{}: writing the error: {}", nodename, write_failure.what());
        }
    }
    return device;
}

xenstore::client::BackendDriver vhost_user_blk_driver(xenstore::client::Client& client,
                                                      storage::EngineKind engine) {
    xenstore::client::BackendDriver driver;
    driver.type = kBackendType;
    driver.probe = [&client, engine](const std::string& nodename) {
        return probe(client, engine, nodename);
    };
    // Every directory the device has seen holds its hotplug-status; a new
    // one does not.
    driver.fresh_key = "hotplug-status";
    driver.fresh = [&client](const std::string& nodename) {
        return !client.try_read(nodename + "/hotplug-status").has_value();
    };
    return driver;
}

}  // namespace

DeviceWatcher::DeviceWatcher(boost::asio::any_io_executor executor,
                             xenstore::client::Client& client, unsigned domid,
                             storage::EngineKind engine)
    : bus_(std::move(executor), client, domid, vhost_user_blk_driver(client, engine)) {}

}  // namespace pvsim::backend::vhost_user_blk
