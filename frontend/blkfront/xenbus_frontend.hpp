// blkfront's control plane (Linux xen-blkfront.c: blkfront_probe,
// talk_to_blkback, blkback_changed, blkfront_connect, blkfront_closing; and
// drivers/xen/xenbus/xenbus_client.c for switching state and reporting
// fatal errors). It follows the backend's `state` node and its own device
// directory, and never touches the ring: it hands the data plane
// (blkfront_device.hpp) a granted ring page and an event channel once the
// backend is Connected, and tells it when the backend goes away.
//
// The sequence (DESIGN.md §5, blkif.h, REFERENCES "State sequences"):
//  - backend InitWait, we Initialising: allocate the ring page in our own
//    memory, grant it to the backend, allocate an unbound event channel for
//    it, and write ring-ref, event-channel, protocol (x86_64-abi),
//    feature-persistent (0) and state Initialised in one transaction,
//    started over on EAGAIN;
//  - backend Connected: read sectors, info, sector-size and the feature
//    nodes, start the data plane, go Connected (Connected again later is a
//    resize: the capacity is read again);
//  - backend Closing (a detach, Linux's blkfront_closing): stop taking
//    requests, give those on the ring up to close_timeout to complete, then
//    fail whatever is left with -ENODEV, end the ring grant (deferred while
//    the backend still maps it), close the event channel and go straight to
//    Closed, as xenbus_frontend_closed does; the backend disconnects after;
//  - backend Closed without a Closing first: the same at once.
//  - our own close (the device is destroyed): go Closing, wait for the
//    backend to go Closed (at most close_timeout, as Linux's
//    xenbus_frontend_dev_shutdown waits), then the same.
// A fatal error (a backend node that cannot be read or makes no sense, a
// ring or event channel that cannot be set up, a response the data plane
// cannot trust) is reported as xenbus_dev_fatal does: "<errno> <message>"
// in error/device/vbd/<id>/error under our home and in the device
// directory's own `error` node, where the toolstack reads it; then Closing.
// Our `state` is written only while the node exists, so a directory the
// toolstack removed is never brought back.
//
// Every transition runs on one control thread of its own (a Boost.Asio
// io_context): watch callbacks and the data plane only post to it, so the
// state machine needs no lock of its own and a watch callback never blocks
// the xenstore client's dispatch thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "common/xen/blkif.hpp"
#include "common/xen/xenbus.hpp"
#include "frontend/blkfront/blkfront_device.hpp"
#include "frontend/blkfront/ring_page.hpp"
#include "hypervisor/client/hypervisor.hpp"
#include "xenstore/client/client.hpp"

namespace pvsim::frontend::blkfront {

// A device that could not be connected, or was lost: what() names the
// device and why (the backend's own error text when it wrote one).
class BlkfrontError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

struct BlkfrontOptions {
    // How long opening waits for the backend to connect.
    std::chrono::milliseconds connect_timeout{30000};
    // How long our own close waits for the backend to go Closed.
    std::chrono::milliseconds close_timeout{5000};
    // Called on the control thread with each state this frontend takes, in
    // order (for transition logs).
    std::function<void(xen::XenbusState)> on_state;
};

// pvsim's "poll-us" when the device directory has none (DESIGN.md §10).
inline constexpr std::chrono::microseconds kDefaultPoll{50};

class XenbusFrontend {
  public:
    // `nodename`: the device directory, absolute
    // ("/local/domain/<domid>/device/vbd/<devid>"). Reads its `backend` and
    // `backend-id` and starts following the backend; throws BlkfrontError
    // when they cannot be read (after reporting it as a fatal error).
    // `hypervisor` and `xenstore` must outlive this object.
    XenbusFrontend(hypervisor::Hypervisor& hypervisor, xenstore::client::Client& xenstore,
                   std::string nodename, BlkfrontOptions options = {});
    // close(), then stops following; the data plane goes with it. Not from a
    // completion callback.
    ~XenbusFrontend();
    XenbusFrontend(const XenbusFrontend&) = delete;
    XenbusFrontend& operator=(const XenbusFrontend&) = delete;

    // Blocks until Connected and returns the data plane, which lives as long
    // as this object. Throws BlkfrontError when the device cannot connect
    // (the backend's error text, a bad backend value, connect_timeout).
    BlkfrontDevice& wait_connected();

    // Our own orderly close (see above); blocks until Closed, or forces it
    // after close_timeout. Idempotent.
    void close();

    xen::XenbusState state() const;
    xen::XenbusState backend_state() const;
    const std::string& nodename() const noexcept { return nodename_; }
    const std::string& backend_path() const noexcept { return backend_path_; }
    xen::DomId backend_id() const noexcept { return backend_id_; }
    // Null until Connected.
    BlkfrontDevice* device();

  private:
    // Control-thread handlers.
    void backend_changed();
    void own_directory_changed();
    void talk_to_backend();
    void connect();
    void begin_close(const std::string& reason);
    void close_for_backend(const std::string& reason);
    void stop_requests(const std::string& reason);
    void finish_close(const std::string& reason);
    void fatal(int errnum, const std::string& message);
    void switch_state(xen::XenbusState state);
    // Takes `state` locally (after it is written, or when it cannot be).
    void set_state(xen::XenbusState state);
    void device_failed(const std::string& reason);

    // The backend's error text, where blkback or xenbus_dev_fatal put it.
    std::optional<std::string> backend_error();
    std::optional<std::string> try_read(const std::string& path);
    std::chrono::microseconds read_poll();
    // Runs `handler` on the control thread and waits for it.
    void run_on_control_thread(std::function<void()> handler);

    hypervisor::Hypervisor& hypervisor_;
    xenstore::client::Client& xenstore_;
    const std::string nodename_;
    std::string error_path_;  // error/<nodename> under our home, as xenbus_dev_fatal
    BlkfrontOptions options_;
    std::string backend_path_;
    xen::DomId backend_id_ = 0;
    xen::BlkifVdev handle_ = 0;

    boost::asio::io_context io_;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;

    mutable std::mutex mutex_;  // guards what other threads read below
    std::condition_variable changed_;
    xen::XenbusState state_ = xen::XenbusState::initialising;
    xen::XenbusState backend_state_ = xen::XenbusState::unknown;
    std::optional<std::string> failure_;  // why this device cannot (or can no longer) work

    // Control thread only.
    std::unique_ptr<RingPage> ring_;
    hypervisor::EventChannel channel_;  // until the data plane takes it
    std::unique_ptr<BlkfrontDevice> device_;
    bool in_fatal_ = false;

    xenstore::client::Watch backend_watch_;
    xenstore::client::Watch own_watch_;
    std::thread thread_;
};

}  // namespace pvsim::frontend::blkfront
