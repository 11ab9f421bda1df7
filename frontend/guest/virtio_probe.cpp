// The guest's virtio-blk disks (virtio_probe.hpp).
//
// Threads: the watch callback (the xenstore client's dispatch thread) reads
// xenstore and spawns openers and closers, never blocking on a device; an
// opener blocks in open_virtio_blk; a closer in VirtioBlk::close. One mutex
// guards the records; nothing that blocks runs under it.
#include "frontend/guest/virtio_probe.hpp"

#include <cerrno>
#include <exception>
#include <optional>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

#include "common/counter_set.hpp"
#include "common/virtio/features.hpp"
#include "common/xen/node_values.hpp"
#include "common/xen/xenbus.hpp"
#include "frontend/guest/vbd_probe.hpp"
#include "xenstore/client/xenbus_client.hpp"
#include "xenstore/client/xenbus_paths.hpp"

namespace pvsim::frontend::guest {

struct VirtioSlot {
    std::uint32_t devid = 0;
    std::string nodename;
    std::string vdev;    // virtual-device
    std::string socket;  // vhost-user
    xen::XenbusState state = xen::XenbusState::initialising;
    std::shared_ptr<virtio_blk::VirtioBlk> device;  // set once open
    bool busy = false;                              // a lease is out
};

namespace {

std::string disk_text(std::uint32_t devid, const std::string& vdev) {
    return "virtio disk " + std::to_string(devid) + (vdev.empty() ? "" : " (" + vdev + ")");
}

}  // namespace

VirtioLease::VirtioLease(VirtioProbe& probe, std::shared_ptr<VirtioSlot> slot,
                         std::shared_ptr<virtio_blk::VirtioBlk> device,
                         std::shared_ptr<workload::WrittenBlocks> written)
    : probe_(&probe),
      slot_(std::move(slot)),
      device_(std::move(device)),
      written_(std::move(written)) {}

VirtioLease::VirtioLease(VirtioLease&& other) noexcept
    : probe_(std::exchange(other.probe_, nullptr)),
      slot_(std::move(other.slot_)),
      device_(std::move(other.device_)),
      written_(std::move(other.written_)) {}

VirtioLease::~VirtioLease() {
    if (probe_ != nullptr && slot_) {
        probe_->release_lease(*slot_);
    }
}

VirtioProbe::VirtioProbe(hypervisor::DomainMemory& memory, xen::DomId domid)
    : memory_(memory), directory_(xenstore::client::frontend_directory(domid, "vhost-user-blk")) {}

VirtioProbe::~VirtioProbe() {
    shutdown();
}

void VirtioProbe::attach(xenstore::client::Client& xenstore) {
    {
        std::lock_guard lock(mutex_);
        if (interrupted_ || xenstore_ != nullptr) {
            return;
        }
        xenstore_ = &xenstore;
    }
    try {
        // Fires once at registration: disks written before are probed too.
        xenstore::client::Watch watch = xenstore.watch(directory_, "pvsim-guest:vhost-user-blk",
                                                       [this](const auto&) { rescan(); });
        std::unique_lock lock(mutex_);
        if (interrupted_) {
            lock.unlock();
            watch.unwatch();
            return;
        }
        watch_ = std::move(watch);
        lock.unlock();
        spdlog::info("watching {}", directory_);
    } catch (const std::exception& e) {
        spdlog::error("xenstore: cannot watch {}: {}", directory_, e.what());
    }
}

void VirtioProbe::rescan() {
    xenstore::client::Client* xenstore = nullptr;
    {
        std::lock_guard lock(mutex_);
        if (interrupted_ || xenstore_ == nullptr) {
            return;
        }
        xenstore = xenstore_;
    }
    std::map<std::uint32_t, std::string> present;  // devid -> its directory
    try {
        present = xenstore::client::xenbus_read_devices(*xenstore, directory_);
    } catch (const std::exception& e) {
        spdlog::warn("reading {}: {}", directory_, e.what());
        return;
    }

    std::vector<std::pair<std::uint32_t, std::string>> candidates;
    {
        std::lock_guard lock(mutex_);
        if (interrupted_) {
            return;
        }
        std::vector<std::shared_ptr<Slot>> gone;
        for (const auto& [devid, slot] : slots_) {
            if (!present.contains(devid) && slot->state != xen::XenbusState::closing) {
                gone.push_back(slot);
            }
        }
        for (const auto& slot : gone) {
            retire_locked(slot, "its directory is gone");
        }
        // An open's error is kept for the toolstack until it removes the
        // directory.
        std::erase_if(open_errors_, [&](const auto& e) { return !present.contains(e.first); });
        for (const auto& [devid, nodename] : present) {
            if (!slots_.contains(devid) && !open_errors_.contains(devid)) {
                candidates.emplace_back(devid, nodename);
            }
        }
    }

    for (const auto& [devid, nodename] : candidates) {
        auto slot = std::make_shared<Slot>();
        slot->devid = devid;
        slot->nodename = nodename;
        virtio_blk::VirtioBlkOptions options;
        std::string error;
        try {
            const auto socket = xenstore->try_read(nodename + "/vhost-user");
            if (!socket) {
                // The toolstack writes every key in one transaction: a
                // directory without its socket is not one of its disks.
                spdlog::warn("{}: no vhost-user key; ignored", nodename);
                continue;
            }
            slot->socket = *socket;
            slot->vdev = xenstore->try_read(nodename + "/virtual-device").value_or("");
            if (const auto queues = xenstore->try_read(nodename + "/num-queues")) {
                const auto n = xen::parse_node_u32(queues);
                if (!n || *n < 1 || *n > virtio_blk::kMaxQueues) {
                    error = "num-queues \"" + *queues + "\": expected 1 to " +
                            std::to_string(virtio_blk::kMaxQueues);
                } else {
                    options.num_queues = *n;
                }
            }
            if (const auto poll = xenstore->try_read(nodename + "/poll-us")) {
                const auto n = xen::parse_node_u32(poll);
                if (!n) {
                    error = "poll-us \"" + *poll + "\": expected a whole number of microseconds";
                } else {
                    options.poll = std::chrono::microseconds(*n);
                }
            }
        } catch (const std::exception& e) {
            spdlog::warn("reading {}: {}", nodename, e.what());
            continue;
        }
        options.name = disk_text(devid, slot->vdev);
        std::lock_guard lock(mutex_);
        if (interrupted_ || slots_.contains(devid)) {
            continue;
        }
        if (!error.empty()) {
            spdlog::error("{}: {}", options.name, error);
            open_errors_[devid] = error;
            changed_.notify_all();
            continue;
        }
        slots_.emplace(devid, slot);
        spdlog::info("{}: new disk at {}, device socket {}", options.name, nodename, slot->socket);
        workers_.spawn([this, slot, options] { open_device(slot, options); });
    }
}

void VirtioProbe::open_device(const std::shared_ptr<Slot>& slot,
                              virtio_blk::VirtioBlkOptions options) {
    const std::string name = options.name;
    std::shared_ptr<virtio_blk::VirtioBlk> device;
    try {
        device = virtio_blk::open_virtio_blk(memory_, slot->socket, std::move(options));
    } catch (const std::exception& e) {
        spdlog::error("{}: open failed: {}", name, e.what());
        std::lock_guard lock(mutex_);
        open_errors_[slot->devid] = e.what();
        if (const auto found = slots_.find(slot->devid);
            found != slots_.end() && found->second == slot) {
            slots_.erase(found);
        }
        changed_.notify_all();
        return;
    }
    spdlog::info("{}: open, {} sectors of {} bytes{}, {} queue(s)", name,
                 device->capacity_sectors(), device->sector_size(),
                 device->read_only() ? ", read-only" : "", device->queue_count());
    {
        std::lock_guard lock(mutex_);
        if (slot->state != xen::XenbusState::closing) {
            slot->device = std::move(device);
            slot->state = xen::XenbusState::connected;
            changed_.notify_all();
            return;
        }
    }
    // Its directory went while it opened.
    spdlog::info("{}: removed while opening; closing it", name);
    device->close();
    std::lock_guard lock(mutex_);
    if (const auto found = slots_.find(slot->devid);
        found != slots_.end() && found->second == slot) {
        slots_.erase(found);
    }
    changed_.notify_all();
}

void VirtioProbe::retire_locked(const std::shared_ptr<Slot>& slot, const std::string& why) {
    spdlog::info("{}: {}; closing it", disk_text(slot->devid, slot->vdev), why);
    const bool closed = slot->state == xen::XenbusState::closed;
    slot->state = xen::XenbusState::closing;
    changed_.notify_all();
    if (!slot->device) {
        // Still opening: the opener closes it.
        return;
    }
    std::shared_ptr<virtio_blk::VirtioBlk> device = slot->device;
    workers_.spawn([this, slot, device, closed] {
        if (!closed) {
            // Lets what is on the queues complete, then GET_VRING_BASE per
            // queue (vhost-user.rst: stopping a ring) and hangs up.
            device->close();
        }
        spdlog::info("{}: closed", disk_text(slot->devid, slot->vdev));
        {
            std::lock_guard lock(mutex_);
            slot->device.reset();
            if (const auto found = slots_.find(slot->devid);
                found != slots_.end() && found->second == slot) {
                slots_.erase(found);
            }
            changed_.notify_all();
        }
        // A re-attach of the devid written meanwhile opens now.
        rescan();
    });
}

void VirtioProbe::release_lease(Slot& slot) {
    std::lock_guard lock(mutex_);
    slot.busy = false;
}

nlohmann::json VirtioProbe::describe_locked(const Slot& slot) const {
    nlohmann::json device = {
        {"devid", slot.devid},       {"vdev", slot.vdev},
        {"nodename", slot.nodename}, {"transport", "virtio"},
        {"vhost_user", slot.socket}, {"state", static_cast<unsigned>(slot.state)}};
    if (slot.device) {
        const virtio_blk::VirtioBlk& blk = *slot.device;
        const virtio_blk::DiskConfig& disk = blk.disk();
        device["backend"] = slot.socket;
        device["capacity_sectors"] = blk.capacity_sectors();
        device["sector_size"] = blk.sector_size();
        device["read_only"] = blk.read_only();
        device["error"] = blk.error();
        device["in_flight"] = blk.in_flight();
        device["counters"] = counters_json(blk.counters());
        device["features"] = {
            {"queues", blk.queue_count()},
            {"event_idx", virtio::has_feature(disk.features, virtio::Feature::event_idx)},
            {"indirect_desc", virtio::has_feature(disk.features, virtio::Feature::indirect_desc)},
            {"flush", disk.flush},
            {"discard", disk.discard},
            {"writeback", disk.writeback},
            {"seg_max", disk.limits.max_segments}};
    }
    return device;
}

nlohmann::json VirtioProbe::devices() const {
    std::lock_guard lock(mutex_);
    nlohmann::json list = nlohmann::json::array();
    for (const auto& [devid, slot] : slots_) {
        list.push_back(describe_locked(*slot));
    }
    return list;
}

bool VirtioProbe::knows(std::uint32_t devid) const {
    std::lock_guard lock(mutex_);
    return slots_.contains(devid) || open_errors_.contains(devid);
}

nlohmann::json VirtioProbe::wait_connected(std::uint32_t devid, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::unique_lock lock(mutex_);
    for (;;) {
        if (interrupted_) {
            throw DeviceError("the guest is shutting down");
        }
        const auto found = slots_.find(devid);
        if (found != slots_.end()) {
            const Slot& slot = *found->second;
            if (slot.device && slot.state == xen::XenbusState::connected) {
                return describe_locked(slot);
            }
        } else if (const auto error = open_errors_.find(devid); error != open_errors_.end()) {
            throw DeviceError(disk_text(devid, "") + " failed to open: " + error->second);
        }
        if (changed_.wait_until(lock, deadline) == std::cv_status::timeout) {
            break;
        }
    }
    const auto found = slots_.find(devid);
    if (found == slots_.end()) {
        throw DeviceError("no virtio disk " + std::to_string(devid) + " after " +
                          std::to_string(timeout.count()) + " ms");
    }
    throw DeviceError(disk_text(devid, found->second->vdev) + " is still " +
                      std::string(xen::name(found->second->state)) + " after " +
                      std::to_string(timeout.count()) + " ms");
}

VirtioLease VirtioProbe::lease(std::uint32_t devid) {
    std::lock_guard lock(mutex_);
    if (interrupted_) {
        throw DeviceError("the guest is shutting down");
    }
    const auto found = slots_.find(devid);
    if (found == slots_.end()) {
        throw DeviceError("no virtio disk " + std::to_string(devid));
    }
    const std::shared_ptr<Slot>& slot = found->second;
    if (!slot->device || slot->state != xen::XenbusState::connected) {
        throw DeviceError(disk_text(devid, slot->vdev) + " is " +
                          std::string(xen::name(slot->state)));
    }
    if (slot->busy) {
        throw DeviceError("busy: " + disk_text(devid, slot->vdev) + " is running another io");
    }
    std::shared_ptr<workload::WrittenBlocks>& written = written_[devid];
    if (!written) {
        written = std::make_shared<workload::WrittenBlocks>();
    }
    slot->busy = true;
    return VirtioLease(*this, slot, slot->device, written);
}

void VirtioProbe::close(std::uint32_t devid) {
    std::shared_ptr<virtio_blk::VirtioBlk> device;
    std::shared_ptr<Slot> slot;
    {
        std::lock_guard lock(mutex_);
        const auto found = slots_.find(devid);
        if (found == slots_.end()) {
            throw DeviceError("no virtio disk " + std::to_string(devid));
        }
        slot = found->second;
        if (!slot->device) {
            throw DeviceError(disk_text(devid, slot->vdev) + " is not open (" +
                              std::string(xen::name(slot->state)) + ")");
        }
        device = slot->device;
    }
    spdlog::info("{}: closing (guest-initiated)", disk_text(devid, slot->vdev));
    device->close();
    std::lock_guard lock(mutex_);
    if (slot->state == xen::XenbusState::connected) {
        slot->state = xen::XenbusState::closed;
    }
    changed_.notify_all();
}

bool VirtioProbe::forget(std::uint32_t devid) {
    std::lock_guard lock(mutex_);
    return written_.erase(devid) > 0;
}

void VirtioProbe::interrupt() {
    std::lock_guard lock(mutex_);
    interrupted_ = true;
    changed_.notify_all();
}

void VirtioProbe::shutdown() {
    interrupt();
    {
        std::lock_guard lock(mutex_);
        if (shut_down_) {
            return;
        }
        shut_down_ = true;
    }
    // After this no watch callback runs, so nothing more is spawned but by
    // the closers, which stop at interrupted_.
    watch_.unwatch();
    workers_.join_all();
    std::vector<std::shared_ptr<Slot>> slots;
    {
        std::lock_guard lock(mutex_);
        for (const auto& [devid, slot] : slots_) {
            slots.push_back(slot);
        }
        slots_.clear();
    }
    for (const auto& slot : slots) {
        std::shared_ptr<virtio_blk::VirtioBlk> device;
        {
            std::lock_guard lock(mutex_);
            device = std::move(slot->device);
        }
        if (device) {
            spdlog::info("{}: closing", disk_text(slot->devid, slot->vdev));
            device->close();
        }
    }
}

}  // namespace pvsim::frontend::guest
