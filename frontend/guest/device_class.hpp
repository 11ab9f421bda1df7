// What a device class tells the guest's device probe (device_probe.hpp),
// as a Linux frontend driver fills in struct xenbus_driver for
// xenbus_probe_frontend: the directory under device/ its devices are in,
// how to tell a directory worth probing, how to open one (its probe
// callback, which for blkfront only returns once Connected), and what an
// open device is to the rest of the guest. Everything else - the watch,
// the slot per devid, opening off the watch thread, dropping and reaping,
// leases, the written-blocks memory - is the probe's, written once for
// every class (vbd_class.hpp, virtio_class.hpp).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/xen/xenbus.hpp"
#include "frontend/block_device.hpp"
#include "xenstore/client/client.hpp"

namespace pvsim::frontend::guest {

// A request about a device that cannot be served: what() is the sentence
// for the agent's error reply ("no device 51712 (xvda?)", "busy", ...).
class DeviceError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// Each state a device's frontend takes, in order, from whatever thread
// its driver reports on (blkfront: its control strand). States are
// XenbusState's; a class without xenbus states (virtio) uses the same
// numbers for what its driver does: Connected once open, Closed once
// closed by the guest.
using StateObserver = std::function<void(xen::XenbusState)>;

// One open device, as the probe holds it (the driver's data behind Linux's
// struct xenbus_device). Destroying it closes the device if it still is
// open, and may block for that: the probe destroys devices on its reaper
// thread only.
class ProbedDevice {
  public:
    virtual ~ProbedDevice() = default;

    // The device's block API (block_device.hpp), for a workload run.
    virtual BlockDevice& block() = 0;
    // What an open DEVICE carries besides devid, vdev, nodename, transport
    // and state (agent_protocol.hpp).
    virtual void describe(nlohmann::json& device) const = 0;
    // What the log line of an open says after the disk's size: "backend
    // /local/domain/0/backend/vbd/1/51712", "2 queue(s)".
    virtual std::string summary() const = 0;
    // The driver's counters now; the function returned gives, later, the
    // COUNTERS JSON of what changed since (an io's "frontend").
    virtual std::function<nlohmann::json()> counters_since() const = 0;
    // Guest-initiated close: blocks until closed; the state it reached.
    virtual xen::XenbusState close() = 0;
    // Guest-initiated reconnect (blkfront's resume): blocks until Connected
    // again; throws DeviceError when it cannot, or when the class has no
    // such thing.
    virtual void reconnect() = 0;
    // True while a reconnect passes through Closed (not the device's end).
    virtual bool reconnecting() const { return false; }
    // Its directory went (the toolstack detaches it), before the probe lets
    // go of it: a device waiting for its back end to come back stops
    // waiting, so that a run holding it ends. Does not block.
    virtual void dropped() {}
};

// What the class makes of a device directory (xenbus_probe_node and the
// driver's probe before it blocks): nothing to probe (yet), a device to
// open, or one whose configuration cannot work.
struct DeviceProbeResult {
    enum class Verdict { skip, open, fail };
    Verdict verdict = Verdict::skip;
    // The device's name ("xvda", "vda"), and fields a DEVICE carries from
    // the start, even while it opens (virtio: "vhost_user").
    std::string vdev;
    nlohmann::json fields = nlohmann::json::object();
    // Verdict::fail: why.
    std::string error;
    // Verdict::open: opens the device; blocks until it is usable (blkfront:
    // Connected) and throws what stopped it. Runs on an opener thread.
    std::function<std::unique_ptr<ProbedDevice>(StateObserver)> open;
};

class DeviceClass {
  public:
    virtual ~DeviceClass() = default;

    // The directory under device/ ("vbd", "vhost-user-blk").
    virtual std::string_view directory() const = 0;
    // A DEVICE's "transport", and the agent's name for the class ("xen",
    // "virtio").
    virtual std::string_view transport() const = 0;
    // How logs and errors name a device ("device 51712 (xvda)"), and one
    // that is not here ("no device 51712 (xvda?)"); `vdev` may be empty.
    virtual std::string device_text(std::uint32_t devid, const std::string& vdev) const = 0;
    virtual std::string no_device_text(std::uint32_t devid) const = 0;
    // The devid a name the class gives its devices stands for, where the
    // name alone says ("xvda" 51712; throws the parse error for a name of
    // no known form); nullopt where only a listed device says (virtio's
    // "virtual-device").
    virtual std::optional<std::uint32_t> devid_of(std::string_view /*vdev*/) const {
        return std::nullopt;
    }
    // Reads the directory `nodename` of `devid` (the probe's xenstore
    // client; may throw its errors: the directory is then skipped).
    virtual DeviceProbeResult probe(xenstore::client::Client& xenstore, std::uint32_t devid,
                                    const std::string& nodename) = 0;

    // How the class's devices end, where xenbus-state devices and the
    // others differ:
    //  - closed_drops: a frontend that reaches Closed is dropped (blkfront:
    //    its directory says Closed, the toolstack removes it next); else a
    //    closed device stays, listed Closed, until its directory goes.
    //  - failure_holds_directory: an open (or configuration) that failed is
    //    remembered until its directory goes, and the devid is not probed
    //    again meanwhile (nothing in a virtio disk's directory says it
    //    failed); else the directory itself says so (blkfront left it
    //    Closing) and the error is kept until the devid opens again.
    //  - listed_until_closed: a dropped device stays listed, Closing, until
    //    it is closed, so that the toolstack removes its back end only
    //    after the guest let go of it.
    struct Endings {
        bool closed_drops = true;
        bool failure_holds_directory = false;
        bool listed_until_closed = false;
    };
    virtual Endings endings() const = 0;
};

}  // namespace pvsim::frontend::guest
