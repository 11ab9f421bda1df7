// The guest's probing of one device class, as Linux's
// xenbus_probe_frontend does it for every frontend driver alike
// (drivers/xen/xenbus/xenbus_probe_frontend.c, xenbus_probe.c): a watch on
// this domain's device/<class>; each new device directory the class
// finds worth probing (a vbd at Initialising: xenbus_probe_node) gets a
// slot and a device, opened on a thread of its own, since an open blocks
// (blkfront until Connected, virtio-blk through its vhost-user handshake)
// and the watch thread must never block; a device whose directory goes
// away, or whose frontend reached Closed (a backend-initiated detach, our
// own close, or a failure), is dropped, destroyed on the reaper thread (a
// device cannot be destroyed from its own control strand), and device/<class>
// is read again once it is gone, so that a directory written afresh while
// the device was still held (every event of it seen with the devid taken)
// is probed. What differs between classes is the class's
// (device_class.hpp).
//
// Besides the devices it keeps, per devid, the workload engine's memory of
// what was written (workload::WrittenBlocks), which outlives the device: a
// guest remembers what it wrote to a vdev across detach and re-attach.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/xen/grant_table.hpp"
#include "frontend/guest/device_class.hpp"
#include "frontend/guest/worker_threads.hpp"
#include "frontend/workload/written_blocks.hpp"
#include "xenstore/client/client.hpp"

namespace pvsim::frontend::guest {

class DeviceProbe;
// The probe's record of one device (device_probe.cpp).
struct DeviceSlot;

// Exclusive use of an open device for one workload run: the device stays
// alive while the lease does (even if it is dropped meanwhile), and no other
// lease on it is given out. Move-only.
class DeviceLease {
  public:
    DeviceLease(DeviceLease&& other) noexcept;
    DeviceLease& operator=(DeviceLease&&) = delete;
    DeviceLease(const DeviceLease&) = delete;
    ~DeviceLease();

    ProbedDevice& device() const { return *device_; }
    workload::WrittenBlocks& written() const { return *written_; }

  private:
    friend class DeviceProbe;
    DeviceLease(DeviceProbe& probe, std::shared_ptr<DeviceSlot> slot,
                std::shared_ptr<ProbedDevice> device,
                std::shared_ptr<workload::WrittenBlocks> written);

    DeviceProbe* probe_;
    std::shared_ptr<DeviceSlot> slot_;
    std::shared_ptr<ProbedDevice> device_;
    std::shared_ptr<workload::WrittenBlocks> written_;
};

class DeviceProbe {
  public:
    // Probes `device_class`'s directory under domain `domid`'s device/.
    DeviceProbe(std::unique_ptr<DeviceClass> device_class, xen::DomId domid);
    ~DeviceProbe();  // shutdown()
    DeviceProbe(const DeviceProbe&) = delete;
    DeviceProbe& operator=(const DeviceProbe&) = delete;

    const DeviceClass& device_class() const noexcept { return *class_; }

    // Registers the watch on device/<class> over `xenstore` (the guest's
    // own client, which must outlive the probe or its shutdown()); blocks
    // until xenstored serves this domain and throws the client's error when
    // it cannot. The first event probes the directories already there.
    // Not from the client's dispatch thread.
    void watch(xenstore::client::Client& xenstore);

    // The DEVICEs (agent_protocol.hpp), by devid, appended to `list`.
    void devices(nlohmann::json& list) const;
    // The devid of the device named `vdev` here, if one is listed.
    std::optional<std::uint32_t> listed_devid(std::string_view vdev) const;
    // Blocks until `devid` is Connected and open here and returns its
    // DEVICE; throws DeviceError naming its state, or why it failed to
    // open, when it is not within `timeout`.
    nlohmann::json wait_connected(std::uint32_t devid, std::chrono::milliseconds timeout);
    // Exclusive use of an open device; throws DeviceError for a devid
    // unknown here, one not open yet, or one in use ("busy").
    DeviceLease lease(std::uint32_t devid);
    // Guest-initiated close of an open device (ProbedDevice::close()):
    // blocks until closed; returns the state reached. Throws DeviceError as
    // lease() does, except that a busy device is closed too (its run then
    // fails with -ENODEV).
    xen::XenbusState close(std::uint32_t devid);
    // Guest-initiated reconnect of an open device, busy or not: blocks until
    // it is Connected again. Throws DeviceError as close() does, or naming
    // why it could not.
    void reconnect(std::uint32_t devid);
    // Drops the written-blocks memory of `devid`; whether there was one.
    bool forget(std::uint32_t devid);

    // Wakes every wait and stops opening devices: the first step of
    // shutting down. Idempotent, from any thread.
    void interrupt();
    // Stops probing, waits for devices being opened, then closes every
    // device in devid order (their destructors). Idempotent. Not from a
    // probe thread or a device's control strand.
    void shutdown();

  private:
    using Slot = DeviceSlot;
    friend class DeviceLease;

    // The watch callback: compares device/<class> with what is known.
    void rescan();
    void open_device(const std::shared_ptr<Slot>& slot, const DeviceProbeResult& probed);
    void state_changed(const std::weak_ptr<Slot>& weak, xen::XenbusState state);
    // Forgets `slot` and hands it to the reaper (or, while it opens, to its
    // opener, which hands it on); mutex_ held.
    void drop_locked(const std::shared_ptr<Slot>& slot, const std::string& why);
    bool retiring_locked(std::uint32_t devid) const;
    void reap();
    void release_lease(Slot& slot);
    std::shared_ptr<Slot> open_slot_locked(std::uint32_t devid) const;
    // The device of `devid` once its open finishes (at most kOpenWait):
    // Linux's driver core holds the device lock across the driver's probe,
    // so an unplug or a resume that comes while it is still opening (the
    // toolstack saw Connected before the probe returned) waits for it.
    // Throws DeviceError for a devid unknown here, dropped, or not open in
    // time.
    std::shared_ptr<ProbedDevice> opened_device(std::uint32_t devid);
    // Whether `devid` has no slot yet though its directory is one the
    // class would open (its watch event has not been handled yet).
    bool awaits_probe(std::uint32_t devid);
    nlohmann::json describe_locked(const Slot& slot) const;
    std::string text(std::uint32_t devid, const std::string& vdev = {}) const;

    const std::unique_ptr<DeviceClass> class_;
    const DeviceClass::Endings endings_;
    const std::string directory_;  // /local/domain/<domid>/device/<class>
    xenstore::client::Client* xenstore_ = nullptr;

    mutable std::mutex mutex_;
    std::condition_variable changed_;
    bool interrupted_ = false;
    bool shut_down_ = false;
    std::map<std::uint32_t, std::shared_ptr<Slot>> slots_;
    // Why the last open of a devid failed (see DeviceClass::Endings).
    std::map<std::uint32_t, std::string> open_errors_;
    std::map<std::uint32_t, std::shared_ptr<workload::WrittenBlocks>> written_;
    // Dropped devices until they are destroyed (a re-attach of the devid
    // is probed only after that), and those of them ready for the reaper.
    std::vector<std::shared_ptr<Slot>> retiring_;
    std::deque<std::shared_ptr<Slot>> reap_queue_;
    bool reaper_stop_ = false;

    xenstore::client::Watch watch_;
    std::thread reaper_;
    WorkerThreads openers_;
};

}  // namespace pvsim::frontend::guest
