// Probing the guest's vbds as xenbus_probe_frontend does (vbd_probe.hpp).
//
// Threads: the watch callback (the xenstore client's dispatch thread) only
// reads xenstore and spawns openers; each opener blocks in open_blkfront;
// blkfront's control thread reports states (state_changed), which may drop
// a device but never destroys one, since a blkfront cannot be destroyed
// from its own control thread; the reaper destroys dropped devices. One
// mutex guards the probe's records; nothing that blocks runs under it.
#include "frontend/guest/vbd_probe.hpp"

#include <cerrno>
#include <cstdint>
#include <exception>
#include <optional>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

#include "common/xen/vbd_interface.hpp"
#include "frontend/guest/blkfront_json.hpp"
#include "xenstore/client/xenbus_client.hpp"
#include "xenstore/client/xenbus_paths.hpp"

namespace pvsim::frontend::guest {

struct VbdSlot {
    std::uint32_t devid = 0;
    std::string nodename;
    // The last state the frontend took (Initialising until it reports one).
    xen::XenbusState state = xen::XenbusState::initialising;
    // Set once open_blkfront returned; moved to the reaper when dropped.
    std::shared_ptr<blkfront::Blkfront> device;
    bool busy = false;     // a lease is out
    bool dropped = false;  // no longer in slots_
};

namespace {

// How long an unplug or a resume waits for an open in progress: as long as
// the agent's wait-device by default.
constexpr std::chrono::seconds kOpenWait{30};

// "no device 51712 (xvda?)": the name is a guess from the number.
std::string no_device(std::uint32_t devid) {
    const std::string name = xen::vdev_name(devid);
    return "no device " + std::to_string(devid) + (name.empty() ? "" : " (" + name + "?)");
}

std::string device_text(std::uint32_t devid) {
    return "device " + xen::describe_devid(devid);
}

}  // namespace

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

VbdProbe::VbdProbe(hypervisor::Hypervisor& hypervisor, xenstore::client::Client xenstore,
                   blkfront::BlkfrontOptions options)
    : hypervisor_(hypervisor),
      xenstore_(std::move(xenstore)),
      options_(std::move(options)),
      vbd_directory_(xenstore::client::frontend_directory(hypervisor.domid(), "vbd")) {
    reaper_ = std::thread([this] { reap(); });
}

VbdProbe::~VbdProbe() {
    shutdown();
}

void VbdProbe::start() {
    std::lock_guard lock(mutex_);
    if (connect_thread_.joinable() || interrupted_) {
        return;
    }
    connect_thread_ = std::thread([this] { connect_xenstore(); });
}

void VbdProbe::on_xenstore_connected(std::function<void(xenstore::client::Client&)> callback) {
    std::lock_guard lock(mutex_);
    on_connected_ = std::move(callback);
}

bool VbdProbe::xenstore_connected() const {
    std::lock_guard lock(mutex_);
    return connected_;
}

void VbdProbe::connect_xenstore() {
    try {
        // The first call over the ring: it is answered once the toolstack
        // has introduced this domain to xenstored. The watch fires once at
        // registration, which probes the devices already there.
        xenstore::client::Watch watch =
            xenstore_.watch(vbd_directory_, "pvsim-guest:vbd", [this](const auto&) { rescan(); });
        std::unique_lock lock(mutex_);
        connected_ = true;
        if (interrupted_) {
            lock.unlock();
            watch.unwatch();
            return;
        }
        watch_ = std::move(watch);
        const auto on_connected = on_connected_;
        lock.unlock();
        spdlog::info("xenstore connected; watching {}", vbd_directory_);
        if (on_connected) {
            on_connected(xenstore_);
        }
    } catch (const std::exception& e) {
        spdlog::error("xenstore: cannot watch {}: {}", vbd_directory_, e.what());
    }
}

void VbdProbe::rescan() {
    std::map<std::uint32_t, std::string> present;  // devid -> its directory
    try {
        present = xenstore::client::xenbus_read_devices(xenstore_, vbd_directory_);
    } catch (const std::exception& e) {
        spdlog::warn("reading {}: {}", vbd_directory_, e.what());
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
        for (const auto& [devid, nodename] : present) {
            // A devid whose open failed is not remembered here: its
            // directory is left Closing or Closed, which is not probed
            // below, while one written afresh is Initialising again.
            if (!slots_.contains(devid)) {
                candidates.emplace_back(devid, nodename);
            }
        }
    }

    for (const auto& [devid, nodename] : candidates) {
        std::optional<std::string> state;
        try {
            state = xenstore_.try_read(nodename + "/state");
        } catch (const std::exception& e) {
            spdlog::warn("reading {}/state: {}", nodename, e.what());
            continue;
        }
        // xenbus_probe_node: only a device the toolstack has just set up
        // (Initialising) is probed; one at any other state is the leftover
        // of a closed device, waiting for the toolstack to remove it.
        if (state != std::to_string(static_cast<unsigned>(xen::XenbusState::initialising))) {
            continue;
        }
        auto slot = std::make_shared<Slot>();
        slot->devid = devid;
        slot->nodename = nodename;
        {
            std::lock_guard lock(mutex_);
            if (interrupted_ || slots_.contains(devid)) {
                continue;
            }
            slots_.emplace(devid, slot);
            open_errors_.erase(devid);
        }
        spdlog::info("{}: new device at {}", device_text(devid), nodename);
        openers_.spawn([this, slot] { open_device(slot); });
    }
}

void VbdProbe::open_device(std::shared_ptr<Slot> slot) {
    {
        // A re-attach of a devid opens once the blkfront of its previous
        // attachment is gone, so that two never follow one directory.
        std::unique_lock lock(mutex_);
        changed_.wait(lock, [&] {
            return interrupted_ || slot->dropped || !retiring_.contains(slot->devid);
        });
        if (interrupted_ || slot->dropped) {
            return;
        }
    }
    blkfront::BlkfrontOptions options = options_;
    options.on_state = [this, weak = std::weak_ptr<Slot>(slot),
                        chained = options_.on_state](xen::XenbusState state) {
        state_changed(weak, state);
        if (chained) {
            chained(state);
        }
    };
    std::shared_ptr<blkfront::Blkfront> device;
    try {
        device =
            blkfront::open_blkfront(hypervisor_, xenstore_, slot->nodename, std::move(options));
    } catch (const std::exception& e) {
        // blkfront has written its error node for the toolstack already.
        spdlog::error("{}: open failed: {}", device_text(slot->devid), e.what());
        std::lock_guard lock(mutex_);
        open_errors_[slot->devid] = e.what();
        if (!slot->dropped) {
            drop_locked(slot, "its open failed");
        }
        changed_.notify_all();
        return;
    }
    spdlog::info("{}: open, {} sectors of {} bytes{}, backend {}", device_text(slot->devid),
                 device->capacity_sectors(), device->sector_size(),
                 device->read_only() ? ", read-only" : "", device->backend_path());
    {
        std::lock_guard lock(mutex_);
        if (!slot->dropped) {
            slot->device = std::move(device);
            changed_.notify_all();
            return;
        }
    }
    // Dropped while it opened (its directory went): it closes here.
    spdlog::info("{}: dropped while opening; closing it", device_text(slot->devid));
    device.reset();
}

void VbdProbe::state_changed(const std::weak_ptr<Slot>& weak, xen::XenbusState state) {
    const std::shared_ptr<Slot> slot = weak.lock();
    if (!slot) {
        return;
    }
    spdlog::info("{}: frontend {}", device_text(slot->devid), xen::name(state));
    std::lock_guard lock(mutex_);
    slot->state = state;
    // A reconnect passes through Closed; the device stays.
    if (state == xen::XenbusState::closed && !slot->dropped &&
        !(slot->device && slot->device->reconnecting())) {
        drop_locked(slot, "its frontend is Closed");
    }
    changed_.notify_all();
}

void VbdProbe::drop_locked(const std::shared_ptr<Slot>& slot, const std::string& why) {
    slot->dropped = true;
    const auto found = slots_.find(slot->devid);
    if (found != slots_.end() && found->second == slot) {
        slots_.erase(found);
    }
    retiring_.insert(slot->devid);
    reap_queue_.push_back(slot);
    changed_.notify_all();
    spdlog::info("{}: dropped: {}", device_text(slot->devid), why);
}

void VbdProbe::reap() {
    for (;;) {
        std::shared_ptr<Slot> slot;
        std::shared_ptr<blkfront::Blkfront> device;
        {
            std::unique_lock lock(mutex_);
            changed_.wait(lock, [&] { return reaper_stop_ || !reap_queue_.empty(); });
            if (reap_queue_.empty()) {
                return;
            }
            slot = std::move(reap_queue_.front());
            reap_queue_.pop_front();
            // Only the device is destroyed here; the slot itself may be
            // released anywhere, a blkfront control thread included.
            device = std::move(slot->device);
        }
        if (device) {
            // Closes it if it was not Closed yet (its directory went first);
            // a run still holding it destroys it when it ends instead.
            device.reset();
        }
        {
            std::lock_guard lock(mutex_);
            retiring_.erase(retiring_.find(slot->devid));
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

void VbdProbe::release_lease(Slot& slot) {
    std::lock_guard lock(mutex_);
    slot.busy = false;
}

std::shared_ptr<VbdProbe::Slot> VbdProbe::open_slot_locked(std::uint32_t devid) const {
    const auto found = slots_.find(devid);
    if (found == slots_.end()) {
        throw DeviceError(no_device(devid));
    }
    const std::shared_ptr<Slot>& slot = found->second;
    if (!slot->device) {
        throw DeviceError(device_text(devid) + " is not open yet (" +
                          std::string(xen::name(slot->state)) + ")");
    }
    if (slot->state != xen::XenbusState::connected) {
        throw DeviceError(device_text(devid) + " is " + std::string(xen::name(slot->state)));
    }
    return slot;
}

nlohmann::json VbdProbe::describe_locked(const Slot& slot) const {
    nlohmann::json device = {{"devid", slot.devid},
                             {"vdev", xen::vdev_name(slot.devid)},
                             {"nodename", slot.nodename},
                             {"transport", "xen"},
                             {"state", static_cast<unsigned>(slot.state)}};
    if (slot.device) {
        add_open_device_fields(device, *slot.device);
        device["state"] = static_cast<unsigned>(slot.state);
    }
    return device;
}

nlohmann::json VbdProbe::devices() const {
    std::lock_guard lock(mutex_);
    nlohmann::json list = nlohmann::json::array();
    for (const auto& [devid, slot] : slots_) {
        list.push_back(describe_locked(*slot));
    }
    return list;
}

nlohmann::json VbdProbe::wait_connected(std::uint32_t devid, std::chrono::milliseconds timeout) {
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
            throw DeviceError(device_text(devid) + " failed to open: " + error->second);
        }
        if (changed_.wait_until(lock, deadline) == std::cv_status::timeout) {
            break;
        }
    }
    const auto found = slots_.find(devid);
    if (found == slots_.end()) {
        throw DeviceError(no_device(devid) + " after " + std::to_string(timeout.count()) + " ms");
    }
    const Slot& slot = *found->second;
    if (slot.device && slot.state == xen::XenbusState::connected) {
        return describe_locked(slot);
    }
    throw DeviceError(device_text(devid) + " is still " + std::string(xen::name(slot.state)) +
                      " after " + std::to_string(timeout.count()) + " ms");
}

DeviceLease VbdProbe::lease(std::uint32_t devid) {
    std::lock_guard lock(mutex_);
    if (interrupted_) {
        throw DeviceError("the guest is shutting down");
    }
    const std::shared_ptr<Slot> slot = open_slot_locked(devid);
    if (slot->busy) {
        throw DeviceError("busy: " + device_text(devid) + " is running another io");
    }
    std::shared_ptr<workload::WrittenBlocks>& written = written_[devid];
    if (!written) {
        written = std::make_shared<workload::WrittenBlocks>();
    }
    slot->busy = true;
    return DeviceLease(*this, slot, slot->device, written);
}

std::shared_ptr<blkfront::Blkfront> VbdProbe::opened_device(std::uint32_t devid) {
    const auto deadline = std::chrono::steady_clock::now() + kOpenWait;
    std::unique_lock lock(mutex_);
    for (;;) {
        const auto found = slots_.find(devid);
        if (found == slots_.end()) {
            throw DeviceError(no_device(devid));
        }
        const Slot& slot = *found->second;
        if (slot.device) {
            return slot.device;
        }
        if (interrupted_ || slot.dropped ||
            changed_.wait_until(lock, deadline) == std::cv_status::timeout) {
            throw DeviceError(device_text(devid) + " is not open yet (" +
                              std::string(xen::name(slot.state)) + ")");
        }
    }
}

xen::XenbusState VbdProbe::close(std::uint32_t devid) {
    const std::shared_ptr<blkfront::Blkfront> device = opened_device(devid);
    spdlog::info("{}: closing (frontend-initiated)", device_text(devid));
    device->close();
    return device->state();
}

void VbdProbe::reconnect(std::uint32_t devid) {
    const std::shared_ptr<blkfront::Blkfront> device = opened_device(devid);
    spdlog::info("{}: reconnecting (frontend-initiated)", device_text(devid));
    try {
        device->reconnect();
    } catch (const blkfront::BlkfrontError& e) {
        throw DeviceError(e.what());
    }
}

bool VbdProbe::forget(std::uint32_t devid) {
    std::lock_guard lock(mutex_);
    return written_.erase(devid) > 0;
}

void VbdProbe::interrupt() {
    std::lock_guard lock(mutex_);
    interrupted_ = true;
    changed_.notify_all();
}

void VbdProbe::shutdown() {
    interrupt();
    bool connected = false;
    {
        std::lock_guard lock(mutex_);
        if (shut_down_) {
            return;
        }
        shut_down_ = true;
        connected = connected_;
    }
    if (connect_thread_.joinable()) {
        if (!connected) {
            // The watch registration still waits for xenstored: fail it.
            xenstore_.close();
        }
        connect_thread_.join();
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
        std::shared_ptr<blkfront::Blkfront> device;
        {
            std::lock_guard lock(mutex_);
            device = std::move(slot->device);
        }
        if (device) {
            spdlog::info("{}: closing", device_text(slot->devid));
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
    xenstore_.close();
}

}  // namespace pvsim::frontend::guest
