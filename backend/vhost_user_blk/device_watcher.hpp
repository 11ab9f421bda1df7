// The control part of pvsim-backend's vhost-user-blk devices, kept apart
// from their data plane as blkback's vbd_watcher is from its data_plane:
// watches <home>/backend/vhost-user-blk and keeps one VhostUserBlkServer per
// device directory (<frontend-domid>/<devid>) below it, started once the
// directory names its image and socket, and stopped (socket removed) when
// the toolstack removes the directory. Writes hotplug-status, sectors and
// sector-size, or hotplug-status "error" with the reason in `error`; a
// device that failed is not tried again until its directory is removed. A
// directory removed and written afresh before the removal is handled is
// recognised by its missing hotplug-status: the old device stops and the
// new one starts.
//
// Runs on the control plane's executor: watch events are posted to it.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <string>

#include <boost/asio/any_io_executor.hpp>

#include "backend/storage/make_engine.hpp"
#include "backend/vhost_user_blk/vhost_user_server.hpp"
#include "xenstore/client/client.hpp"

namespace pvsim::backend::vhost_user_blk {

class DeviceWatcher {
  public:
    // Serves the devices whose backend is domain `domid`. The client must
    // outlive the watcher.
    DeviceWatcher(boost::asio::any_io_executor executor, xenstore::client::Client& client,
                  unsigned domid, storage::EngineKind engine);
    ~DeviceWatcher();
    DeviceWatcher(const DeviceWatcher&) = delete;
    DeviceWatcher& operator=(const DeviceWatcher&) = delete;

    // XS_WATCH of the base; its first event probes what is there.
    void start();
    // Stops watching and stops every device (their I/O finishes). Idempotent.
    void shutdown();

    const std::string& base() const noexcept { return base_; }
    // Devices served now (not counting failed ones).
    std::size_t size() const noexcept;

  private:
    void changed(const std::string& path);
    void scan();
    void check_device(const std::string& nodename);

    boost::asio::any_io_executor executor_;
    xenstore::client::Client& client_;
    storage::EngineKind engine_;
    std::string base_;
    bool stopped_ = false;
    // A null server: the device failed and waits for its directory to go.
    std::map<std::string, std::unique_ptr<VhostUserBlkServer>> devices_;
    xenstore::client::Watch watch_;
};

}  // namespace pvsim::backend::vhost_user_blk
