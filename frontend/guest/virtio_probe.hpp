// The guest's virtio-blk disks (DESIGN.md §6), beside its vbds
// (vbd_probe.hpp): a watch on this domain's device/vhost-user-blk; each new
// device directory (written by the toolstack in one transaction: vhost-user
// = the device's socket, virtual-device = its name, e.g. vda, num-queues
// wanted, poll-us) gets a virtio-blk driver, opened over the guest's memory
// on a thread of its own since open_virtio_blk blocks through the
// vhost-user handshake. A device whose directory goes away is closed
// (VirtioBlk::close: GET_VRING_BASE per queue) on a thread of its own and
// stays listed, Closing, until it is closed, so that the toolstack can
// remove the device's back end only after the guest let go of it.
//
// There is no xenbus state on this path; a DEVICE's "state" uses
// XenbusState's numbers for what the driver is doing (Initialising while it
// opens, Connected once open, Closing while it closes), so that the agent's
// answers keep one shape for both transports.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "common/xen/grant_table.hpp"
#include "frontend/guest/worker_threads.hpp"
#include "frontend/virtio_blk/virtio_blk.hpp"
#include "frontend/workload/written_blocks.hpp"
#include "hypervisor/client/domain_memory.hpp"
#include "xenstore/client/client.hpp"

namespace pvsim::frontend::guest {

class VirtioProbe;
struct VirtioSlot;  // virtio_probe.cpp

// Exclusive use of an open virtio-blk disk for one workload run (as
// DeviceLease for a vbd). Move-only.
class VirtioLease {
  public:
    VirtioLease(VirtioLease&& other) noexcept;
    VirtioLease& operator=(VirtioLease&&) = delete;
    VirtioLease(const VirtioLease&) = delete;
    ~VirtioLease();

    virtio_blk::VirtioBlk& device() const { return *device_; }
    workload::WrittenBlocks& written() const { return *written_; }

  private:
    friend class VirtioProbe;
    VirtioLease(VirtioProbe& probe, std::shared_ptr<VirtioSlot> slot,
                std::shared_ptr<virtio_blk::VirtioBlk> device,
                std::shared_ptr<workload::WrittenBlocks> written);

    VirtioProbe* probe_;
    std::shared_ptr<VirtioSlot> slot_;
    std::shared_ptr<virtio_blk::VirtioBlk> device_;
    std::shared_ptr<workload::WrittenBlocks> written_;
};

class VirtioProbe {
  public:
    // `memory` (the guest's own: queues and I/O buffers live in it) must
    // outlive the probe.
    VirtioProbe(hypervisor::DomainMemory& memory, xen::DomId domid);
    ~VirtioProbe();  // shutdown()
    VirtioProbe(const VirtioProbe&) = delete;
    VirtioProbe& operator=(const VirtioProbe&) = delete;

    // Registers the watch on device/vhost-user-blk over `xenstore` (the
    // guest's own client, which must outlive the probe or its shutdown()),
    // once xenstored serves this domain. From any thread but the client's
    // dispatch thread.
    void attach(xenstore::client::Client& xenstore);

    // The DEVICEs (agent_protocol.hpp), each with "transport":"virtio".
    nlohmann::json devices() const;
    // Whether `devid` is a virtio-blk disk here (open, opening or closing)
    // or was one whose open failed.
    bool knows(std::uint32_t devid) const;
    // As VbdProbe's: DEVICE once `devid` is open, else DeviceError.
    nlohmann::json wait_connected(std::uint32_t devid, std::chrono::milliseconds timeout);
    VirtioLease lease(std::uint32_t devid);
    // Closes an open disk (as if its directory went, but it stays listed
    // Closed until the directory goes). Returns once closed.
    void close(std::uint32_t devid);
    bool forget(std::uint32_t devid);

    // Wakes every wait and stops opening disks. Idempotent.
    void interrupt();
    // Unwatches, waits for openers, closes every disk. Idempotent. Not from
    // a probe thread.
    void shutdown();

  private:
    using Slot = VirtioSlot;
    friend class VirtioLease;

    void rescan();
    void open_device(const std::shared_ptr<Slot>& slot, virtio_blk::VirtioBlkOptions options);
    // Marks `slot` Closing and closes its driver on a thread of its own;
    // mutex_ held.
    void retire_locked(const std::shared_ptr<Slot>& slot, const std::string& why);
    void release_lease(Slot& slot);
    nlohmann::json describe_locked(const Slot& slot) const;

    hypervisor::DomainMemory& memory_;
    const std::string directory_;  // /local/domain/<domid>/device/vhost-user-blk
    xenstore::client::Client* xenstore_ = nullptr;

    mutable std::mutex mutex_;
    std::condition_variable changed_;
    bool interrupted_ = false;
    bool shut_down_ = false;
    std::map<std::uint32_t, std::shared_ptr<Slot>> slots_;
    std::map<std::uint32_t, std::string> open_errors_;
    std::map<std::uint32_t, std::shared_ptr<workload::WrittenBlocks>> written_;

    xenstore::client::Watch watch_;
    WorkerThreads workers_;  // openers and closers
};

}  // namespace pvsim::frontend::guest
