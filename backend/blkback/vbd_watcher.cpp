#include "backend/blkback/vbd_watcher.hpp"

#include <string>
#include <utility>

#include "backend/blkback/xenbus_backend.hpp"
#include "common/xen/xenbus.hpp"
#include "xenstore/client/xenbus_client.hpp"

namespace pvsim::backend::blkback {
namespace {

xenstore::client::BackendDriver blkback_driver(boost::asio::any_io_executor executor,
                                               hypervisor::Hypervisor& hypervisor,
                                               xenstore::client::Client& client, DeviceKind kind,
                                               BlkbackOptions options) {
    xenstore::client::BackendDriver driver;
    driver.type = std::string(to_string(kind));
    driver.probe = [executor = std::move(executor), &hypervisor, &client, kind,
                    options](const std::string& nodename) {
        return XenbusBackend::probe(executor, hypervisor, client, nodename, kind, options);
    };
    // A backend switches away from Initialising at probe, and only the
    // toolstack writes it, into a new directory (libxl__device_generic_add).
    driver.fresh_key = "state";
    driver.fresh = [&client](const std::string& nodename) {
        return xenstore::client::xenbus_read_driver_state(client, nodename) ==
               xen::XenbusState::initialising;
    };
    return driver;
}

}  // namespace

VbdWatcher::VbdWatcher(boost::asio::any_io_executor executor, hypervisor::Hypervisor& hypervisor,
                       xenstore::client::Client& client, BlkbackOptions options)
    : bus_(executor, client, hypervisor.domid(),
           blkback_driver(executor, hypervisor, client, DeviceKind::vbd, options)),
      qdisk_bus_(executor, client, hypervisor.domid(),
                 blkback_driver(executor, hypervisor, client, DeviceKind::qdisk, options)) {}

void VbdWatcher::start() {
    bus_.start();
    qdisk_bus_.start();
}

void VbdWatcher::shutdown() {
    bus_.shutdown();
    qdisk_bus_.shutdown();
}

}  // namespace pvsim::backend::blkback
