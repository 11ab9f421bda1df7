// The guest's devices of every class (guest_devices.hpp).
#include "frontend/guest/guest_devices.hpp"

#include <exception>
#include <string>

#include <spdlog/spdlog.h>

namespace pvsim::frontend::guest {

GuestDevices::GuestDevices(xen::DomId domid, xenstore::client::Client xenstore)
    : domid_(domid), xenstore_(std::move(xenstore)) {}

GuestDevices::~GuestDevices() {
    shutdown();
}

void GuestDevices::add(std::unique_ptr<DeviceClass> device_class) {
    probes_.push_back(std::make_unique<DeviceProbe>(std::move(device_class), domid_));
}

void GuestDevices::start() {
    std::lock_guard lock(mutex_);
    if (connect_thread_.joinable() || interrupted_) {
        return;
    }
    connect_thread_ = std::thread([this] { connect_xenstore(); });
}

bool GuestDevices::xenstore_connected() const {
    std::lock_guard lock(mutex_);
    return connected_;
}

void GuestDevices::connect_xenstore() {
    for (const auto& probe : probes_) {
        try {
            // The first watch is the first call over the ring: it is
            // answered once the toolstack has introduced this domain to
            // xenstored.
            probe->watch(xenstore_);
        } catch (const std::exception& e) {
            spdlog::error("xenstore: cannot watch device/{}: {}", probe->device_class().directory(),
                          e.what());
            continue;
        }
        std::lock_guard lock(mutex_);
        if (!connected_) {
            connected_ = true;
            spdlog::info("xenstore connected");
        }
    }
}

nlohmann::json GuestDevices::devices() const {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& probe : probes_) {
        probe->devices(list);
    }
    return list;
}

DeviceProbe& GuestDevices::probe(std::string_view transport) {
    for (const auto& probe : probes_) {
        if (probe->device_class().transport() == transport) {
            return *probe;
        }
    }
    throw DeviceError("transport: expected " + transports() + ", got \"" + std::string(transport) +
                      "\"");
}

DeviceProbe& GuestDevices::default_probe() {
    if (probes_.empty()) {
        throw DeviceError("this guest probes no devices");
    }
    return *probes_.front();
}

std::pair<DeviceProbe*, std::uint32_t> GuestDevices::find(std::string_view vdev) {
    for (const auto& probe : probes_) {
        if (const auto devid = probe->listed_devid(vdev)) {
            return {probe.get(), *devid};
        }
    }
    for (const auto& probe : probes_) {
        if (const auto devid = probe->device_class().devid_of(vdev)) {
            return {probe.get(), *devid};
        }
    }
    throw DeviceError("no device named \"" + std::string(vdev) + "\"");
}

std::string GuestDevices::transports() const {
    std::string out;
    for (std::size_t i = 0; i < probes_.size(); ++i) {
        if (i > 0) {
            out += i + 1 == probes_.size() ? " or " : ", ";
        }
        out += "\"" + std::string(probes_[i]->device_class().transport()) + "\"";
    }
    return out;
}

void GuestDevices::interrupt() {
    {
        std::lock_guard lock(mutex_);
        interrupted_ = true;
    }
    for (const auto& probe : probes_) {
        probe->interrupt();
    }
}

void GuestDevices::shutdown() {
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
            // The first watch still waits for xenstored: fail it.
            xenstore_.close();
        }
        connect_thread_.join();
    }
    // The last added first: a class may use what an earlier one set up.
    for (auto it = probes_.rbegin(); it != probes_.rend(); ++it) {
        (*it)->shutdown();
    }
    xenstore_.close();
}

}  // namespace pvsim::frontend::guest
