// The guest's device probing, as Linux's xenbus_probe_frontend does it
// (drivers/xen/xenbus/xenbus_probe_frontend.c, xenbus_probe.c): a watch on
// this domain's device/vbd; each new device directory whose state is
// Initialising gets a blkfront (opened on a thread of its own, since
// open_blkfront blocks until Connected and the watch thread must never
// block); a device whose directory goes away, or whose frontend reached
// Closed (a backend-initiated detach, our own close, or a failure), is
// dropped, its blkfront destroyed on a thread of its own, so that a
// re-attach of the same devid opens afresh; device/vbd is read again once
// it is destroyed, so that a directory written afresh while the device was
// still held (every event of it seen with the devid taken) is probed.
//
// Besides the devices it keeps, per devid, the workload engine's memory of
// what was written (workload::WrittenBlocks), which outlives the device: a
// guest remembers what it wrote to a vdev across detach and re-attach.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/xen/xenbus.hpp"
#include "frontend/blkfront/blkfront.hpp"
#include "frontend/guest/worker_threads.hpp"
#include "frontend/workload/written_blocks.hpp"
#include "hypervisor/client/hypervisor.hpp"
#include "xenstore/client/client.hpp"

namespace pvsim::frontend::guest {

// A request about a device that cannot be served: what() is the sentence
// for the agent's error reply ("no device 51712 (xvda?)", "busy", ...).
class DeviceError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

class VbdProbe;
// The probe's record of one device (vbd_probe.cpp).
struct VbdSlot;

// Exclusive use of an open device for one workload run: the device stays
// alive while the lease does (even if it is dropped meanwhile), and no other
// lease on it is given out. Move-only.
class DeviceLease {
  public:
    DeviceLease(DeviceLease&& other) noexcept;
    DeviceLease& operator=(DeviceLease&&) = delete;
    DeviceLease(const DeviceLease&) = delete;
    ~DeviceLease();

    blkfront::Blkfront& device() const { return *device_; }
    workload::WrittenBlocks& written() const { return *written_; }

  private:
    friend class VbdProbe;
    DeviceLease(VbdProbe& probe, std::shared_ptr<VbdSlot> slot,
                std::shared_ptr<blkfront::Blkfront> device,
                std::shared_ptr<workload::WrittenBlocks> written)
        : probe_(&probe),
          slot_(std::move(slot)),
          device_(std::move(device)),
          written_(std::move(written)) {}

    VbdProbe* probe_;
    std::shared_ptr<VbdSlot> slot_;
    std::shared_ptr<blkfront::Blkfront> device_;
    std::shared_ptr<workload::WrittenBlocks> written_;
};

class VbdProbe {
  public:
    // `options` for every blkfront (its on_state is chained after the
    // probe's own). `hypervisor` must outlive the probe; the probe owns the
    // xenstore client (the guest's own, over its ring).
    VbdProbe(hypervisor::Hypervisor& hypervisor, xenstore::client::Client xenstore,
             blkfront::BlkfrontOptions options = {});
    ~VbdProbe();  // shutdown()
    VbdProbe(const VbdProbe&) = delete;
    VbdProbe& operator=(const VbdProbe&) = delete;

    // Starts probing: a thread registers the watch on device/vbd, which
    // waits until xenstored serves this domain (the toolstack introduces it
    // after create).
    void start();
    // Runs `callback` with the probe's xenstore client on the probing
    // thread once xenstored serves this domain (the guest's other watchers
    // start there: virtio_probe.hpp). Before start().
    void on_xenstore_connected(std::function<void(xenstore::client::Client&)> callback);
    // Whether xenstored has answered yet.
    bool xenstore_connected() const;

    // The "devices" list (agent_protocol.hpp), by devid.
    nlohmann::json devices() const;
    // Blocks until `devid` is Connected and open here and returns its
    // DEVICE; throws DeviceError naming its state, or why it failed to
    // open, when it is not within `timeout`.
    nlohmann::json wait_connected(std::uint32_t devid, std::chrono::milliseconds timeout);
    // Exclusive use of an open device; throws DeviceError for a devid
    // unknown here, one not open yet, or one in use ("busy").
    DeviceLease lease(std::uint32_t devid);
    // Frontend-initiated close of an open device (Blkfront::close()):
    // blocks until the frontend is Closed; returns that state. Throws
    // DeviceError as lease() does, except that a busy device is closed too
    // (its run then fails with -ENODEV).
    xen::XenbusState close(std::uint32_t devid);
    // Frontend-initiated reconnect of an open device
    // (Blkfront::reconnect()), busy or not: blocks until it is Connected
    // again. Throws DeviceError as close() does, or naming why it could not.
    void reconnect(std::uint32_t devid);
    // Drops the written-blocks memory of `devid`; whether there was one.
    bool forget(std::uint32_t devid);

    // Wakes every wait_connected() and stops opening devices: the first
    // step of shutting down. Idempotent, from any thread.
    void interrupt();
    // Stops probing, waits for devices being opened, then closes every
    // device in devid order (the Blkfront destructors) and the xenstore
    // connection. Idempotent. Not from a probe or blkfront thread.
    void shutdown();

  private:
    using Slot = VbdSlot;
    friend class DeviceLease;

    void connect_xenstore();
    // The watch callback: compares device/vbd with what is known.
    void rescan();
    void open_device(std::shared_ptr<Slot> slot);
    void state_changed(const std::weak_ptr<Slot>& weak, xen::XenbusState state);
    // Forgets `slot` and hands it to the reaper; mutex_ held.
    void drop_locked(const std::shared_ptr<Slot>& slot, const std::string& why);
    void reap();
    void release_lease(Slot& slot);
    std::shared_ptr<Slot> open_slot_locked(std::uint32_t devid) const;
    // The device of `devid` once its open finishes (at most kOpenWait):
    // Linux's driver core holds the device lock across blkfront's probe,
    // so an unplug or a resume that comes while it is still opening (the
    // toolstack saw Connected before the probe returned) waits for it.
    // Throws DeviceError for a devid unknown here, dropped, or not open in
    // time.
    std::shared_ptr<blkfront::Blkfront> opened_device(std::uint32_t devid);
    nlohmann::json describe_locked(const Slot& slot) const;

    hypervisor::Hypervisor& hypervisor_;
    xenstore::client::Client xenstore_;
    blkfront::BlkfrontOptions options_;
    std::function<void(xenstore::client::Client&)> on_connected_;
    const std::string vbd_directory_;  // /local/domain/<domid>/device/vbd

    mutable std::mutex mutex_;
    std::condition_variable changed_;
    bool interrupted_ = false;
    bool shut_down_ = false;
    bool connected_ = false;
    std::map<std::uint32_t, std::shared_ptr<Slot>> slots_;
    // Why the last open of a devid failed (until it is opened again).
    std::map<std::uint32_t, std::string> open_errors_;
    std::map<std::uint32_t, std::shared_ptr<workload::WrittenBlocks>> written_;
    // Dropped devices waiting for the reaper, and their devids until their
    // blkfront is gone (a re-attach opens only after that).
    std::deque<std::shared_ptr<Slot>> reap_queue_;
    std::multiset<std::uint32_t> retiring_;
    bool reaper_stop_ = false;

    xenstore::client::Watch watch_;
    std::thread connect_thread_;
    std::thread reaper_;
    WorkerThreads openers_;
};

}  // namespace pvsim::frontend::guest
