// The backend half of Linux's xenbus bus for vbds (drivers/xen/xenbus/
// xenbus_probe_backend.c: the watch on "backend", xenbus_dev_changed,
// xenbus_probe_devices): watches <home>/backend/vbd and keeps one
// XenbusBackend per device directory below it, probing a directory when it
// appears (once it names its frontend) and dropping its XenbusBackend when
// the toolstack removes it. A directory removed and written afresh before
// the removal is handled is recognised by its state, Initialising again:
// the old XenbusBackend goes and the new directory is probed.
//
// Runs on the control plane's executor: watch events are posted to it, and
// every call below must be made from it.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <nlohmann/json.hpp>

#include "backend/blkback/blkback_options.hpp"
#include "backend/blkback/xenbus_backend.hpp"
#include "hypervisor/client/hypervisor.hpp"
#include "xenstore/client/client.hpp"

namespace pvsim::backend::blkback {

class VbdWatcher {
  public:
    // Serves the vbds whose backend is `hypervisor`'s domain. Both
    // connections must outlive the watcher.
    VbdWatcher(boost::asio::any_io_executor executor, hypervisor::Hypervisor& hypervisor,
               xenstore::client::Client& client, BlkbackOptions options);
    // Unwatches and disconnects every vbd, writing nothing.
    ~VbdWatcher();
    VbdWatcher(const VbdWatcher&) = delete;
    VbdWatcher& operator=(const VbdWatcher&) = delete;

    // XS_WATCH of <home>/backend/vbd; its first event probes what is there.
    void start();
    // SIGTERM: stop watching, then disconnect every vbd in order of its path
    // and set it Closed. Idempotent.
    void shutdown();

    // <home>/backend/vbd
    const std::string& base() const noexcept { return base_; }
    std::size_t size() const noexcept { return vbds_.size(); }
    // The vbd of backend directory `nodename`, or nullptr.
    std::shared_ptr<XenbusBackend> find(const std::string& nodename) const;
    // Every vbd's describe(), in order of path.
    nlohmann::json describe() const;

  private:
    void changed(const std::string& path);
    void scan_all();
    void scan_domain(const std::string& domain);
    void check_device(const std::string& domain, const std::string& device);
    // Whether the directory is a new one no backend has probed: its state
    // is the toolstack's Initialising.
    bool fresh(const std::string& nodename) const;
    void remove(const std::string& nodename);

    boost::asio::any_io_executor executor_;
    hypervisor::Hypervisor& hypervisor_;
    xenstore::client::Client& client_;
    BlkbackOptions options_;
    std::string home_;
    std::string base_;
    bool stopped_ = false;
    std::map<std::string, std::shared_ptr<XenbusBackend>> vbds_;
    xenstore::client::Watch watch_;
};

}  // namespace pvsim::backend::blkback
