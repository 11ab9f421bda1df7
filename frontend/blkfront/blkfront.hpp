// Opening a Xen PV disk from inside a guest: the whole of blkfront behind
// the BlockDevice API (frontend/block_device.hpp). open_blkfront() follows
// the device directory the toolstack wrote (device/vbd/<devid>), runs the
// xenbus handshake with the backend (xenbus_frontend.hpp) and returns once
// the device is Connected; I/O then goes through the data plane
// (blkfront_queue.hpp). Destroying the device closes it in order: Closing,
// the backend disconnects and goes Closed, then Closed.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "common/xen/xenbus.hpp"
#include "frontend/blkfront/blkfront_queue.hpp"
#include "frontend/blkfront/queue_set.hpp"
#include "frontend/blkfront/xenbus_frontend.hpp"
#include "frontend/block_device.hpp"
#include "hypervisor/client/hypervisor.hpp"
#include "xenstore/client/client.hpp"

namespace pvsim::frontend::blkfront {

class Blkfront final : public BlockDevice {
  public:
    // Use open_blkfront().
    explicit Blkfront(std::unique_ptr<XenbusFrontend> xenbus);
    // Closes the device (at most BlkfrontOptions::close_timeout). Not from
    // a completion callback.
    ~Blkfront() override;
    Blkfront(const Blkfront&) = delete;
    Blkfront& operator=(const Blkfront&) = delete;

    // BlockDevice (see BlkfrontQueue for the errors requests complete with).
    std::uint64_t capacity_sectors() const override { return device_.capacity_sectors(); }
    std::uint32_t sector_size() const override { return device_.sector_size(); }
    bool read_only() const override { return device_.read_only(); }
    void submit(std::span<BlockRequest> batch) override { device_.submit(batch); }
    std::size_t in_flight() const override { return device_.in_flight(); }
    std::string error() const override { return device_.error(); }

    BlkfrontCounters counters() const { return device_.counters(); }
    const DiskInfo& disk() const noexcept { return device_.config().disk; }
    // The completion thread's polling window maximum ("poll-us").
    std::chrono::microseconds poll() const { return device_.poll(); }
    // Our xenbus state, and the backend's as last seen.
    xen::XenbusState state() const { return xenbus_->state(); }
    xen::XenbusState backend_state() const { return xenbus_->backend_state(); }
    const std::string& nodename() const noexcept { return xenbus_->nodename(); }
    const std::string& backend_path() const noexcept { return xenbus_->backend_path(); }

    // Closes the device now (frontend-initiated): later requests complete
    // with -ENODEV. Idempotent.
    void close() { xenbus_->close(); }
    // Frontend-initiated reconnect (XenbusFrontend::reconnect()): requests
    // in flight and submitted meanwhile complete normally once Connected
    // again. Blocks until then; throws BlkfrontError when it cannot.
    void reconnect() { xenbus_->reconnect(); }
    bool reconnecting() const { return xenbus_->reconnecting(); }
    // Our configuration and what was negotiated with the backend.
    const xen::BlkifFeatureConfig& features() const noexcept { return xenbus_->features(); }
    XenbusFrontend::Negotiated negotiated() const { return xenbus_->negotiated(); }
    std::uint64_t recoveries() const { return xenbus_->recoveries(); }
    // The rings' data planes.
    QueueSet& queues() noexcept { return device_; }

  private:
    std::unique_ptr<XenbusFrontend> xenbus_;
    QueueSet& device_;
};

// The device directory of `devid` for the domain `hypervisor` speaks for:
// "/local/domain/<domid>/device/vbd/<devid>".
std::string vbd_nodename(const hypervisor::Hypervisor& hypervisor, std::uint32_t devid);

// Opens device/vbd/<devid> of this domain, or the device directory
// `nodename` ("device/vbd/51712" is taken relative to this domain's home),
// its control plane on a strand of `executor` (the guest's control plane:
// XenbusFrontend). Blocks until the backend is Connected, so never from
// that executor; throws BlkfrontError naming why not (the backend's error
// text when it wrote one, a bad backend value, the connect timeout), after
// closing what it had set up. `hypervisor`, `xenstore` and `executor` must
// outlive the device.
std::unique_ptr<Blkfront> open_blkfront(hypervisor::Hypervisor& hypervisor,
                                        xenstore::client::Client& xenstore,
                                        boost::asio::any_io_executor executor, std::uint32_t devid,
                                        BlkfrontOptions options = {});
std::unique_ptr<Blkfront> open_blkfront(hypervisor::Hypervisor& hypervisor,
                                        xenstore::client::Client& xenstore,
                                        boost::asio::any_io_executor executor,
                                        std::string_view nodename, BlkfrontOptions options = {});

}  // namespace pvsim::frontend::blkfront
