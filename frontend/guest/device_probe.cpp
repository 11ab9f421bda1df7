// Probing one device class as xenbus_probe_frontend does (device_probe.hpp).
//
// Threads: the watch callback (the xenstore client's dispatch thread) only
// reads xenstore and spawns openers; each opener blocks in its class's
// open; a device's driver reports states (state_changed) from its own
// thread (blkfront: its control strand), which may drop a device but never
// destroys one; the reaper destroys dropped devices, then reads the
// directory again. One mutex guards the probe's records; nothing that
// blocks runs under it.
#include "frontend/guest/device_probe.hpp"

#include <algorithm>
#include <exception>
#include <utility>

#include <spdlog/spdlog.h>

#include "xenstore/client/xenbus_client.hpp"
#include "xenstore/client/xenbus_paths.hpp"

namespace pvsim::frontend::guest {

struct DeviceSlot {
    std::uint32_t devid = 0;
    std::string nodename;
    std::string vdev;
    nlohmann::json fields;  // the class's, from the probe
    // The last state the frontend took (Initialising until it reports one).
    xen::XenbusState state = xen::XenbusState::initialising;
    // Set once the open returned; moved to the reaper when dropped.
    std::shared_ptr<ProbedDevice> device;
    bool opening = true;   // its opener has not finished
    bool busy = false;     // a lease is out
    bool dropped = false;  // no longer in slots_
};

namespace device_probe {

// How long an unplug or a resume waits for an open in progress: as long as
// the agent's wait-device by default.
constexpr std::chrono::seconds kOpenWait{30};

std::string state_name(xen::XenbusState state) {
    return std::string(xen::name(state));
}

}  // namespace device_probe

DeviceLease::DeviceLease(DeviceProbe& probe, std::shared_ptr<DeviceSlot> slot,
                         std::shared_ptr<ProbedDevice> device,
                         std::shared_ptr<workload::WrittenBlocks> written)
    : probe_(&probe),
      slot_(std::move(slot)),
      device_(std::move(device)),
      written_(std::move(written)) {}

DeviceLease::DeviceLease(DeviceLease&& other) noexcept
    : probe_(std::exchange(other.probe_, nullptr)),
      slot_(std::move(other.slot_)),
      device_(std::move(other.device_)),
      written_(std::move(other.written_)) {}

DeviceLease::~DeviceLease() {
    if (probe_ != nullptr && slot_) {
        probe_->release_lease(*slot_);
    }
}

DeviceProbe::DeviceProbe(std::unique_ptr<DeviceClass> device_class, xen::DomId domid)
    : class_(std::move(device_class)),
      endings_(class_->endings()),
      directory_(xenstore::client::frontend_directory(domid, class_->directory())) {
    reaper_ = std::thread([this] { reap(); });
}

DeviceProbe::~DeviceProbe() {
    shutdown();
}

std::string DeviceProbe::text(std::uint32_t devid, const std::string& vdev) const {
    return class_->device_text(devid, vdev);
}

void DeviceProbe::watch(xenstore::client::Client& xenstore) {
    {
        std::lock_guard lock(mutex_);
        if (interrupted_ || xenstore_ != nullptr) {
            return;
        }
        xenstore_ = &xenstore;
    }
    // Fires once at registration, which probes the devices already there.
    xenstore::client::Watch watch =
        xenstore.watch(directory_, "pvsim-guest:" + std::string(class_->directory()),
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
}

void DeviceProbe::rescan() {
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
            if (!present.contains(devid)) {
                gone.push_back(slot);
            }
        }
        for (const auto& slot : gone) {
            drop_locked(slot, "its directory is gone");
        }
        if (endings_.failure_holds_directory) {
            // Kept for the toolstack until it removes the directory.
            std::erase_if(open_errors_,
                          [&](const auto& error) { return !present.contains(error.first); });
        }
        for (const auto& [devid, nodename] : present) {
            // A devid whose device is still being destroyed is probed once
            // it is gone (the reaper reads the directory again).
            if (slots_.contains(devid) || retiring_locked(devid) ||
                (endings_.failure_holds_directory && open_errors_.contains(devid))) {
                continue;
            }
            candidates.emplace_back(devid, nodename);
        }
    }

    for (const auto& [devid, nodename] : candidates) {
        DeviceProbeResult probed;
        try {
            probed = class_->probe(*xenstore, devid, nodename);
        } catch (const std::exception& e) {
            spdlog::warn("reading {}: {}", nodename, e.what());
            continue;
        }
        if (probed.verdict == DeviceProbeResult::Verdict::skip) {
            continue;
        }
        std::lock_guard lock(mutex_);
        if (interrupted_ || slots_.contains(devid) || retiring_locked(devid)) {
            continue;
        }
        if (probed.verdict == DeviceProbeResult::Verdict::fail) {
            spdlog::error("{}: {}", text(devid, probed.vdev), probed.error);
            open_errors_[devid] = probed.error;
            changed_.notify_all();
            continue;
        }
        auto slot = std::make_shared<Slot>();
        slot->devid = devid;
        slot->nodename = nodename;
        slot->vdev = probed.vdev;
        slot->fields = probed.fields;
        slots_.emplace(devid, slot);
        open_errors_.erase(devid);
        spdlog::info("{}: new device at {}", text(devid, slot->vdev), nodename);
        openers_.spawn([this, slot, probed = std::move(probed)] { open_device(slot, probed); });
    }
}

void DeviceProbe::open_device(const std::shared_ptr<Slot>& slot, const DeviceProbeResult& probed) {
    const std::string name = text(slot->devid, slot->vdev);
    std::unique_ptr<ProbedDevice> device;
    try {
        device = probed.open([this, weak = std::weak_ptr<Slot>(slot)](xen::XenbusState state) {
            state_changed(weak, state);
        });
    } catch (const std::exception& e) {
        // A driver with an error node (blkfront) has written it already.
        spdlog::error("{}: open failed: {}", name, e.what());
        std::lock_guard lock(mutex_);
        open_errors_[slot->devid] = e.what();
        slot->opening = false;
        if (!slot->dropped) {
            drop_locked(slot, "its open failed");
        } else {
            reap_queue_.push_back(slot);
        }
        changed_.notify_all();
        return;
    }
    const BlockDevice& block = device->block();
    spdlog::info("{}: open, {} sectors of {} bytes{}, {}", name, block.capacity_sectors(),
                 block.sector_size(), block.read_only() ? ", read-only" : "", device->summary());
    std::lock_guard lock(mutex_);
    slot->opening = false;
    slot->device = std::move(device);
    if (slot->dropped) {
        // Dropped while it opened (its directory went): the reaper closes it.
        spdlog::info("{}: dropped while opening; closing it", name);
        reap_queue_.push_back(slot);
    }
    changed_.notify_all();
}

void DeviceProbe::state_changed(const std::weak_ptr<Slot>& weak, xen::XenbusState state) {
    const std::shared_ptr<Slot> slot = weak.lock();
    if (!slot) {
        return;
    }
    spdlog::info("{}: frontend {}", text(slot->devid, slot->vdev), xen::name(state));
    std::lock_guard lock(mutex_);
    slot->state = state;
    // A reconnect passes through Closed; the device stays.
    if (endings_.closed_drops && state == xen::XenbusState::closed && !slot->dropped &&
        !(slot->device && slot->device->reconnecting())) {
        drop_locked(slot, "its frontend is Closed");
    }
    changed_.notify_all();
}

void DeviceProbe::drop_locked(const std::shared_ptr<Slot>& slot, const std::string& why) {
    slot->dropped = true;
    const auto found = slots_.find(slot->devid);
    if (found != slots_.end() && found->second == slot) {
        slots_.erase(found);
    }
    if (endings_.listed_until_closed) {
        slot->state = xen::XenbusState::closing;
    }
    retiring_.push_back(slot);
    if (!slot->opening) {
        reap_queue_.push_back(slot);
    }
    changed_.notify_all();
    spdlog::info("{}: dropped: {}", text(slot->devid, slot->vdev), why);
}

bool DeviceProbe::retiring_locked(std::uint32_t devid) const {
    return std::any_of(retiring_.begin(), retiring_.end(),
                       [devid](const auto& slot) { return slot->devid == devid; });
}

void DeviceProbe::reap() {
    for (;;) {
        std::shared_ptr<Slot> slot;
        std::shared_ptr<ProbedDevice> device;
        {
            std::unique_lock lock(mutex_);
            changed_.wait(lock, [&] { return reaper_stop_ || !reap_queue_.empty(); });
            if (reap_queue_.empty()) {
                return;
            }
            slot = std::move(reap_queue_.front());
            reap_queue_.pop_front();
            // Only the device is destroyed here; the slot itself may be
            // released anywhere, a driver's control strand included.
            device = std::move(slot->device);
        }
        if (device) {
            // Closes it if it was not closed yet (its directory went first);
            // a run still holding it destroys it when it ends instead.
            device->dropped();
            device.reset();
            spdlog::info("{}: closed", text(slot->devid, slot->vdev));
        }
        {
            std::lock_guard lock(mutex_);
            std::erase(retiring_, slot);
            changed_.notify_all();
        }
        // The toolstack may have removed the directory and written it
        // afresh while the device was still held: every event of the new
        // one was seen with the devid taken. Linux ends the same way: the
        // dropped device is unregistered, and xenbus_probe_node probes an
        // Initialising directory the next time it looks.
        rescan();
    }
}

void DeviceProbe::release_lease(Slot& slot) {
    std::lock_guard lock(mutex_);
    slot.busy = false;
}

std::shared_ptr<DeviceProbe::Slot> DeviceProbe::open_slot_locked(std::uint32_t devid) const {
    const auto found = slots_.find(devid);
    if (found == slots_.end()) {
        throw DeviceError(class_->no_device_text(devid));
    }
    const std::shared_ptr<Slot>& slot = found->second;
    if (!slot->device) {
        throw DeviceError(text(devid, slot->vdev) + " is not open yet (" +
                          device_probe::state_name(slot->state) + ")");
    }
    if (slot->state != xen::XenbusState::connected) {
        throw DeviceError(text(devid, slot->vdev) + " is " + device_probe::state_name(slot->state));
    }
    return slot;
}

nlohmann::json DeviceProbe::describe_locked(const Slot& slot) const {
    nlohmann::json device = slot.fields;
    device["devid"] = slot.devid;
    device["vdev"] = slot.vdev;
    device["nodename"] = slot.nodename;
    device["transport"] = class_->transport();
    if (slot.device) {
        slot.device->describe(device);
    }
    device["state"] = static_cast<unsigned>(slot.state);
    return device;
}

void DeviceProbe::devices(nlohmann::json& list) const {
    std::lock_guard lock(mutex_);
    std::map<std::uint32_t, const Slot*> listed;
    for (const auto& [devid, slot] : slots_) {
        listed.emplace(devid, slot.get());
    }
    if (endings_.listed_until_closed) {
        for (const auto& slot : retiring_) {
            listed.emplace(slot->devid, slot.get());
        }
    }
    for (const auto& [devid, slot] : listed) {
        list.push_back(describe_locked(*slot));
    }
}

std::optional<std::uint32_t> DeviceProbe::listed_devid(std::string_view vdev) const {
    std::lock_guard lock(mutex_);
    for (const auto& [devid, slot] : slots_) {
        if (!slot->vdev.empty() && slot->vdev == vdev) {
            return devid;
        }
    }
    return std::nullopt;
}

nlohmann::json DeviceProbe::wait_connected(std::uint32_t devid, std::chrono::milliseconds timeout) {
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
            throw DeviceError(text(devid) + " failed to open: " + error->second);
        }
        if (changed_.wait_until(lock, deadline) == std::cv_status::timeout) {
            break;
        }
    }
    const std::string after = " after " + std::to_string(timeout.count()) + " ms";
    const auto found = slots_.find(devid);
    if (found == slots_.end()) {
        throw DeviceError(class_->no_device_text(devid) + after);
    }
    const Slot& slot = *found->second;
    if (slot.device && slot.state == xen::XenbusState::connected) {
        return describe_locked(slot);
    }
    throw DeviceError(text(devid, slot.vdev) + " is still " + device_probe::state_name(slot.state) +
                      after);
}

DeviceLease DeviceProbe::lease(std::uint32_t devid) {
    std::lock_guard lock(mutex_);
    if (interrupted_) {
        throw DeviceError("the guest is shutting down");
    }
    const std::shared_ptr<Slot> slot = open_slot_locked(devid);
    if (slot->busy) {
        throw DeviceError("busy: " + text(devid, slot->vdev) + " is running another io");
    }
    std::shared_ptr<workload::WrittenBlocks>& written = written_[devid];
    if (!written) {
        written = std::make_shared<workload::WrittenBlocks>();
    }
    slot->busy = true;
    return DeviceLease(*this, slot, slot->device, written);
}

bool DeviceProbe::awaits_probe(std::uint32_t devid) {
    xenstore::client::Client* xenstore = nullptr;
    {
        std::lock_guard lock(mutex_);
        if (slots_.contains(devid) || xenstore_ == nullptr) {
            return false;
        }
        xenstore = xenstore_;
    }
    try {
        const std::string nodename = directory_ + "/" + std::to_string(devid);
        return class_->probe(*xenstore, devid, nodename).verdict ==
               DeviceProbeResult::Verdict::open;
    } catch (const std::exception&) {
        return false;
    }
}

std::shared_ptr<ProbedDevice> DeviceProbe::opened_device(std::uint32_t devid) {
    const auto deadline = std::chrono::steady_clock::now() + device_probe::kOpenWait;
    // A directory the toolstack wrote that the probe has yet to see (its
    // watch event is still on the way, or the devid's previous device is
    // being destroyed) is an open in progress too.
    const bool awaited = awaits_probe(devid);
    std::unique_lock lock(mutex_);
    for (;;) {
        const auto found = slots_.find(devid);
        if (found == slots_.end()) {
            if (!awaited || interrupted_ ||
                changed_.wait_until(lock, deadline) == std::cv_status::timeout) {
                throw DeviceError(class_->no_device_text(devid));
            }
            continue;
        }
        const Slot& slot = *found->second;
        if (slot.device) {
            return slot.device;
        }
        if (interrupted_ || slot.dropped ||
            changed_.wait_until(lock, deadline) == std::cv_status::timeout) {
            throw DeviceError(text(devid, slot.vdev) + " is not open yet (" +
                              device_probe::state_name(slot.state) + ")");
        }
    }
}

xen::XenbusState DeviceProbe::close(std::uint32_t devid) {
    const std::shared_ptr<ProbedDevice> device = opened_device(devid);
    spdlog::info("{}: closing (frontend-initiated)", text(devid));
    return device->close();
}

void DeviceProbe::reconnect(std::uint32_t devid) {
    const std::shared_ptr<ProbedDevice> device = opened_device(devid);
    spdlog::info("{}: reconnecting (frontend-initiated)", text(devid));
    device->reconnect();
}

bool DeviceProbe::forget(std::uint32_t devid) {
    std::lock_guard lock(mutex_);
    return written_.erase(devid) > 0;
}

void DeviceProbe::interrupt() {
    std::lock_guard lock(mutex_);
    interrupted_ = true;
    changed_.notify_all();
}

void DeviceProbe::shutdown() {
    interrupt();
    {
        std::lock_guard lock(mutex_);
        if (shut_down_) {
            return;
        }
        shut_down_ = true;
    }
    // After this no watch callback runs, so no opener is spawned.
    watch_.unwatch();
    openers_.join_all();

    std::vector<std::shared_ptr<Slot>> slots;
    {
        std::lock_guard lock(mutex_);
        for (const auto& [devid, slot] : slots_) {
            slot->dropped = true;
            slots.push_back(slot);
        }
        slots_.clear();
    }
    for (const auto& slot : slots) {
        std::shared_ptr<ProbedDevice> device;
        {
            std::lock_guard lock(mutex_);
            device = std::move(slot->device);
        }
        if (device) {
            spdlog::info("{}: closing", text(slot->devid, slot->vdev));
            device.reset();
        }
    }
    {
        std::lock_guard lock(mutex_);
        reaper_stop_ = true;
        changed_.notify_all();
    }
    if (reaper_.joinable()) {
        reaper_.join();
    }
}

}  // namespace pvsim::frontend::guest
