// The guest's devices, every class of them (Linux's frontend xenbus bus,
// xenbus_probe_frontend.c: one xenstore connection and one probe per
// driver): owns the guest's xenstore client and a DeviceProbe
// (device_probe.hpp) per device class, in the order they were added. A
// thread connects to xenstore (the first call over the ring is answered
// once the toolstack has introduced this domain) and then starts every
// probe's watch. The agent finds a device here by transport and devid, or
// by name, and then works on the probe alone.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "frontend/guest/device_probe.hpp"
#include "xenstore/client/client.hpp"

namespace pvsim::frontend::guest {

class GuestDevices {
  public:
    // `xenstore`: the guest's own client, over its ring.
    GuestDevices(xen::DomId domid, xenstore::client::Client xenstore);
    ~GuestDevices();  // shutdown()
    GuestDevices(const GuestDevices&) = delete;
    GuestDevices& operator=(const GuestDevices&) = delete;

    // Probes `device_class` too. Before start().
    void add(std::unique_ptr<DeviceClass> device_class);

    // Starts probing: a thread waits until xenstored serves this domain,
    // then watches every class's directory.
    void start();
    // Whether xenstored has answered yet.
    bool xenstore_connected() const;

    // The "devices" list (agent_protocol.hpp): every class's, in order.
    nlohmann::json devices() const;
    // The probe of the class whose "transport" is `transport`; throws
    // DeviceError naming the known ones.
    DeviceProbe& probe(std::string_view transport);
    // The first class's probe (the default transport).
    DeviceProbe& default_probe();
    // The probe and devid of the device named `vdev` ("xvda", "vda"): one
    // listed by that name, or the devid the name stands for. Throws
    // DeviceError (or the name's parse error) when no class knows it.
    std::pair<DeviceProbe*, std::uint32_t> find(std::string_view vdev);
    // "\"xen\" or \"virtio\"": the transports known, for errors.
    std::string transports() const;

    // Wakes every wait and stops opening devices. Idempotent.
    void interrupt();
    // Stops every probe (the last added first) and closes the xenstore
    // connection. Idempotent. Not from a probe or device thread.
    void shutdown();

  private:
    void connect_xenstore();

    const xen::DomId domid_;
    xenstore::client::Client xenstore_;
    std::vector<std::unique_ptr<DeviceProbe>> probes_;

    mutable std::mutex mutex_;
    bool connected_ = false;
    bool interrupted_ = false;
    bool shut_down_ = false;
    std::thread connect_thread_;
};

}  // namespace pvsim::frontend::guest
