// The backend half of Linux's xenbus bus, for one device type
// (drivers/xen/xenbus/xenbus_probe_backend.c and xenbus_probe.c: the watch
// on backend/<type>, xenbus_dev_changed, xenbus_probe_devices,
// xenbus_cleanup_devices): watches /local/domain/<self>/backend/<type> and
// keeps one device per directory <frontend domid>/<devid> below it. The
// driver says what a device is; the bus only decides when to probe and
// when to drop:
//   a directory appears, or changes while no device holds it
//                          probe it; the driver's nullptr means "not ready
//                          yet" (probed again at the next change)
//   a directory is removed the device is dropped (destroyed)
//   a directory is removed and written afresh before the removal is
//   handled               the driver's `fresh` recognises the new one (a
//                          vbd: state Initialising, xenbus_probe_node's
//                          test), the old device is dropped and the new
//                          directory probed
// Events below a directory a device holds are the device's own business
// (the driver watches what it needs), except at the directory itself and
// at the driver's `fresh_key`.
//
// Runs on the given executor: watch events are posted to it, and every
// call below must be made from it.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include <boost/asio/any_io_executor.hpp>

#include "xenstore/client/client.hpp"
#include "xenstore/client/xenbus_watch.hpp"

namespace pvsim::xenstore::client {

// What the bus holds per directory (a driver's struct xenbus_device).
class BackendDevice {
  public:
    virtual ~BackendDevice() = default;
    // The daemon is stopping (Linux xenbus_dev_remove at shutdown); the
    // device may still write to its directory. Destruction follows.
    virtual void shutdown() {}
};

struct BackendDriver {
    // "vbd", "vhost-user-blk": the directory under backend/.
    std::string type;
    // xenbus_probe_node + the driver's probe for the directory `nodename`:
    // a device (one that failed is returned too, so that it is not probed
    // again until its directory goes), or nullptr when it is not ready.
    std::function<std::shared_ptr<BackendDevice>(const std::string& nodename)> probe;
    // The key whose change may announce a new directory at a known path,
    // and whether the directory `nodename` is such a new one.
    std::string fresh_key;
    std::function<bool(const std::string& nodename)> fresh;
};

class XenbusProbeBackend {
  public:
    // Serves the devices of `driver.type` whose backend is domain `domid`.
    // The client must outlive the bus.
    XenbusProbeBackend(boost::asio::any_io_executor executor, Client& client, unsigned domid,
                       BackendDriver driver);
    // Unwatches and drops every device, calling no shutdown().
    ~XenbusProbeBackend();
    XenbusProbeBackend(const XenbusProbeBackend&) = delete;
    XenbusProbeBackend& operator=(const XenbusProbeBackend&) = delete;

    // XS_WATCH of the base; its first event probes what is there.
    void start();
    // Stops watching, then shuts down and drops every device in order of
    // its path. Idempotent.
    void shutdown();

    // /local/domain/<domid>/backend/<type>
    const std::string& base() const noexcept { return base_; }
    // The devices by nodename.
    const std::map<std::string, std::shared_ptr<BackendDevice>>& devices() const noexcept {
        return devices_;
    }

  private:
    void changed(const std::string& path);
    void scan();
    void check_device(const std::string& nodename);
    void remove(const std::string& nodename, const char* why);

    boost::asio::any_io_executor executor_;
    Client& client_;
    BackendDriver driver_;
    std::string base_;
    bool stopped_ = false;
    std::map<std::string, std::shared_ptr<BackendDevice>> devices_;
    XenbusWatch watch_;
};

}  // namespace pvsim::xenstore::client
