// The vbd device class: blkfront behind the guest's device probe
// (vbd_class.hpp).
#include "frontend/guest/vbd_class.hpp"

#include <string>
#include <utility>

#include "common/counter_set.hpp"
#include "common/xen/vbd_interface.hpp"
#include "frontend/guest/blkfront_json.hpp"

namespace pvsim::frontend::guest {
namespace vbd_class {

// An open blkfront, as the probe holds it.
class VbdDevice final : public ProbedDevice {
  public:
    explicit VbdDevice(std::unique_ptr<blkfront::Blkfront> blkfront)
        : blkfront_(std::move(blkfront)) {}

    BlockDevice& block() override { return *blkfront_; }
    void describe(nlohmann::json& device) const override {
        add_open_device_fields(device, *blkfront_);
    }
    std::string summary() const override { return "backend " + blkfront_->backend_path(); }
    std::function<nlohmann::json()> counters_since() const override {
        return [blkfront = blkfront_.get(), before = blkfront_->counters()] {
            return counters_json(counter_delta(blkfront->counters(), before));
        };
    }
    xen::XenbusState close() override {
        blkfront_->close();
        return blkfront_->state();
    }
    void reconnect() override {
        try {
            blkfront_->reconnect();
        } catch (const blkfront::BlkfrontError& e) {
            throw DeviceError(e.what());
        }
    }
    bool reconnecting() const override { return blkfront_->reconnecting(); }

  private:
    std::unique_ptr<blkfront::Blkfront> blkfront_;
};

class VbdClass final : public DeviceClass {
  public:
    VbdClass(hypervisor::Hypervisor& hypervisor, boost::asio::any_io_executor control,
             blkfront::BlkfrontOptions options)
        : hypervisor_(hypervisor), control_(std::move(control)), options_(std::move(options)) {}

    std::string_view directory() const override { return "vbd"; }
    std::string_view transport() const override { return "xen"; }
    std::string device_text(std::uint32_t devid, const std::string&) const override {
        return "device " + xen::describe_devid(devid);
    }
    // "no device 51712 (xvda?)": the name is a guess from the number.
    std::string no_device_text(std::uint32_t devid) const override {
        const std::string name = xen::vdev_name(devid);
        return "no device " + std::to_string(devid) + (name.empty() ? "" : " (" + name + "?)");
    }
    std::optional<std::uint32_t> devid_of(std::string_view vdev) const override {
        return xen::vdev_number(vdev);
    }
    Endings endings() const override { return {}; }

    DeviceProbeResult probe(xenstore::client::Client& xenstore, std::uint32_t devid,
                            const std::string& nodename) override {
        DeviceProbeResult result;
        // xenbus_probe_node: only a device the toolstack has just set up
        // (Initialising) is probed; one at any other state is the leftover
        // of a closed device, waiting for the toolstack to remove it (a
        // devid whose open failed is left Closing or Closed, while one
        // written afresh is Initialising again).
        const auto state_node = xenstore.try_read(nodename + "/state");
        if (state_node != std::to_string(static_cast<unsigned>(xen::XenbusState::initialising))) {
            return result;
        }
        result.verdict = DeviceProbeResult::Verdict::open;
        result.vdev = xen::vdev_name(devid);
        result.open = [this, &xenstore, nodename](StateObserver observer) {
            blkfront::BlkfrontOptions options = options_;
            options.on_state = [observer = std::move(observer),
                                chained = options_.on_state](xen::XenbusState state) {
                observer(state);
                if (chained) {
                    chained(state);
                }
            };
            return std::make_unique<VbdDevice>(blkfront::open_blkfront(
                hypervisor_, xenstore, control_, nodename, std::move(options)));
        };
        return result;
    }

  private:
    hypervisor::Hypervisor& hypervisor_;
    const boost::asio::any_io_executor control_;
    const blkfront::BlkfrontOptions options_;
};

}  // namespace vbd_class

std::unique_ptr<DeviceClass> make_vbd_class(hypervisor::Hypervisor& hypervisor,
                                            boost::asio::any_io_executor control,
                                            blkfront::BlkfrontOptions options) {
    return std::make_unique<vbd_class::VbdClass>(hypervisor, std::move(control),
                                                 std::move(options));
}

}  // namespace pvsim::frontend::guest
