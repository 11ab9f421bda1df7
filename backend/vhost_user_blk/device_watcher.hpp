// The vhost-user-blk device's driver on the backend bus
// (xenstore/client/xenbus_probe_backend.hpp), kept apart from its data
// plane as blkback's vbd_watcher is from its data_plane: the bus watches
// <home>/backend/vhost-user-blk and keeps one VhostUserBlkServer per device
// directory (<frontend-domid>/<devid>) below it, started once the directory
// names its image and socket, and stopped (socket removed) when the
// toolstack removes the directory. Writes hotplug-status, sectors and
// sector-size, or hotplug-status "error" with the reason in `error`; a
// device that failed is not tried again until its directory is removed. A
// directory removed and written afresh before the removal is handled is
// recognised by its missing hotplug-status: the old device stops and the
// new one starts.
//
// Runs on the control plane's executor: watch events are posted to it.
#pragma once

#include <boost/asio/any_io_executor.hpp>

#include "backend/storage/make_engine.hpp"
#include "xenstore/client/client.hpp"
#include "xenstore/client/xenbus_probe_backend.hpp"

namespace pvsim::backend::vhost_user_blk {

class DeviceWatcher {
  public:
    // Serves the devices whose backend is domain `domid`. The client must
    // outlive the watcher.
    DeviceWatcher(boost::asio::any_io_executor executor, xenstore::client::Client& client,
                  unsigned domid, storage::EngineKind engine);

    // XS_WATCH of the base; its first event probes what is there.
    void start() { bus_.start(); }
    // Stops watching and stops every device (their I/O finishes). Idempotent.
    void shutdown() { bus_.shutdown(); }

  private:
    xenstore::client::XenbusProbeBackend bus_;
};

}  // namespace pvsim::backend::vhost_user_blk
