// The virtio-blk device class: the virtio-blk driver behind the guest's
// device probe (virtio_class.hpp).
#include "frontend/guest/virtio_class.hpp"

#include <chrono>
#include <string>
#include <utility>

#include <spdlog/spdlog.h>

#include "common/counter_set.hpp"
#include "common/virtio/features.hpp"
#include "common/xen/node_values.hpp"
#include "frontend/virtio_blk/virtio_blk.hpp"

namespace pvsim::frontend::guest {
namespace virtio_class {

// The longest reconnect interval a disk may ask for.
constexpr std::uint32_t kMaxReconnectSeconds = 3600;

std::string disk_text(std::uint32_t devid, const std::string& vdev) {
    return "virtio disk " + std::to_string(devid) + (vdev.empty() ? "" : " (" + vdev + ")");
}

// An open virtio-blk disk, as the probe holds it; destroying it closes it.
class VirtioDevice final : public ProbedDevice {
  public:
    VirtioDevice(std::unique_ptr<virtio_blk::VirtioBlk> blk, std::string socket,
                 StateObserver observer)
        : blk_(std::move(blk)), socket_(std::move(socket)), observer_(std::move(observer)) {}

    BlockDevice& block() override { return *blk_; }
    void describe(nlohmann::json& device) const override {
        const virtio_blk::DiskConfig& disk = blk_->disk();
        device["backend"] = socket_;
        device["capacity_sectors"] = blk_->capacity_sectors();
        device["sector_size"] = blk_->sector_size();
        device["read_only"] = blk_->read_only();
        device["error"] = blk_->error();
        device["in_flight"] = blk_->in_flight();
        device["connected"] = blk_->connected();
        device["counters"] = counters_json(blk_->counters());
        device["features"] = {
            {"queues", blk_->queue_count()},
            {"event_idx", virtio::has_feature(disk.features, virtio::Feature::event_idx)},
            {"indirect_desc", virtio::has_feature(disk.features, virtio::Feature::indirect_desc)},
            {"flush", disk.flush},
            {"discard", disk.discard},
            {"writeback", disk.writeback},
            {"seg_max", disk.limits.max_segments}};
    }
    std::string summary() const override {
        return std::to_string(blk_->queue_count()) + " queue(s)";
    }
    std::function<nlohmann::json()> counters_since() const override {
        return [blk = blk_.get(), before = blk_->counters()] {
            return counters_json(counter_delta(blk->counters(), before));
        };
    }
    xen::XenbusState close() override {
        // Lets what is on the queues complete, then GET_VRING_BASE per
        // queue (vhost-user.rst: stopping a ring) and hangs up.
        blk_->close();
        observer_(xen::XenbusState::closed);
        return xen::XenbusState::closed;
    }
    void dropped() override {
        // A device that hung up is not waited for any more: what the disk
        // holds fails, and a run on it ends.
        blk_->give_up();
    }
    void reconnect() override {
        throw DeviceError(blk_->name() + " cannot reconnect: a virtio disk has no resume");
    }

  private:
    std::unique_ptr<virtio_blk::VirtioBlk> blk_;
    const std::string socket_;
    const StateObserver observer_;
};

class VirtioClass final : public DeviceClass {
  public:
    explicit VirtioClass(hypervisor::DomainMemory& memory) : memory_(memory) {}

    std::string_view directory() const override { return "vhost-user-blk"; }
    std::string_view transport() const override { return "virtio"; }
    std::string device_text(std::uint32_t devid, const std::string& vdev) const override {
        return disk_text(devid, vdev);
    }
    std::string no_device_text(std::uint32_t devid) const override {
        return "no virtio disk " + std::to_string(devid);
    }
    Endings endings() const override {
        return {
            .closed_drops = false, .failure_holds_directory = true, .listed_until_closed = true};
    }

    DeviceProbeResult probe(xenstore::client::Client& xenstore, std::uint32_t devid,
                            const std::string& nodename) override {
        DeviceProbeResult result;
        const auto socket = xenstore.try_read(nodename + "/vhost-user");
        if (!socket) {
            // The toolstack writes every key in one transaction: a
            // directory without its socket is not one of its disks.
            spdlog::warn("{}: no vhost-user key; ignored", nodename);
            return result;
        }
        result.vdev = xenstore.try_read(nodename + "/virtual-device").value_or("");
        result.fields["vhost_user"] = *socket;
        virtio_blk::VirtioBlkOptions options;
        options.name = disk_text(devid, result.vdev);
        if (const auto queues = xenstore.try_read(nodename + "/num-queues")) {
            const auto n = xen::parse_node_u32(queues);
            if (!n || *n < 1 || *n > virtio_blk::kMaxQueues) {
                result.error = "num-queues \"" + *queues + "\": expected 1 to " +
                               std::to_string(virtio_blk::kMaxQueues);
            } else {
                options.num_queues = *n;
            }
        }
        if (const auto poll = xenstore.try_read(nodename + "/poll-us")) {
            const auto n = xen::parse_node_u32(poll);
            if (!n) {
                result.error = "poll-us \"" + *poll + "\": expected a whole number of microseconds";
            } else {
                options.poll = std::chrono::microseconds(*n);
            }
        }
        if (const auto reconnect = xenstore.try_read(nodename + "/reconnect")) {
            // QEMU's -chardev socket,reconnect=SECONDS (0: off).
            const auto n = xen::parse_node_u32(reconnect);
            if (!n || *n > kMaxReconnectSeconds) {
                result.error = "reconnect \"" + *reconnect + "\": expected 0 to " +
                               std::to_string(kMaxReconnectSeconds) + " seconds";
            } else {
                options.reconnect = std::chrono::seconds(*n);
            }
        }
        if (!result.error.empty()) {
            result.verdict = DeviceProbeResult::Verdict::fail;
            return result;
        }
        result.verdict = DeviceProbeResult::Verdict::open;
        result.open = [this, socket = *socket, options](StateObserver observer) {
            auto blk = virtio_blk::open_virtio_blk(memory_, socket, options);
            observer(xen::XenbusState::connected);
            return std::make_unique<VirtioDevice>(std::move(blk), socket, std::move(observer));
        };
        return result;
    }

  private:
    hypervisor::DomainMemory& memory_;
};

}  // namespace virtio_class

std::unique_ptr<DeviceClass> make_virtio_class(hypervisor::DomainMemory& memory) {
    return std::make_unique<virtio_class::VirtioClass>(memory);
}

}  // namespace pvsim::frontend::guest
