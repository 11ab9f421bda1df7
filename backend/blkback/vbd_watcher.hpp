// blkback's driver on the backend bus (Linux xen-blkback/xenbus.c's
// xen_blkbk_driver on xenbus_probe_backend.c): the bus watches
// <home>/backend/vbd and keeps one XenbusBackend per device directory below
// it; a second bus does the same for <home>/backend/qdisk, the directories
// QEMU's xen-block would serve (vbd_config.hpp says how the two differ), probed when the directory
// appears (once it names its frontend) and dropped when the toolstack removes it. A directory
// removed and written afresh before the removal is handled is recognised by its state, Initialising
// again (xenbus_probe_node's test): the old XenbusBackend goes and the new directory is probed.
//
// Runs on the control plane's executor: watch events are posted to it, and
// every call below must be made from it.
#pragma once

#include <boost/asio/any_io_executor.hpp>

#include "backend/blkback/blkback_options.hpp"
#include "hypervisor/client/hypervisor.hpp"
#include "xenstore/client/client.hpp"
#include "xenstore/client/xenbus_probe_backend.hpp"

namespace pvsim::backend::blkback {

class VbdWatcher {
  public:
    // Serves the vbds whose backend is `hypervisor`'s domain. Both
    // connections must outlive the watcher.
    VbdWatcher(boost::asio::any_io_executor executor, hypervisor::Hypervisor& hypervisor,
               xenstore::client::Client& client, BlkbackOptions options);

    // XS_WATCH of <home>/backend/vbd and <home>/backend/qdisk; the first
    // event of each probes what is there.
    void start();
    // SIGTERM: stop watching, then disconnect every vbd in order of its path
    // (backend/vbd's, then backend/qdisk's) and set it Closed. Idempotent.
    void shutdown();

  private:
    xenstore::client::XenbusProbeBackend bus_;
    xenstore::client::XenbusProbeBackend qdisk_bus_;
};

}  // namespace pvsim::backend::blkback
