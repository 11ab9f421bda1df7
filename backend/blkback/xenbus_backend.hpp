// The control plane of one vbd (Linux xen-blkback/xenbus.c: struct
// backend_info with xen_blkbk_probe, backend_changed, frontend_changed,
// connect_ring, connect, and xenbus_probe.c's removal): it opens the store,
// publishes blkback's limits and goes InitWait, follows the frontend's
// state, hands a connected ring to a DataPlane and takes it back at
// disconnect. It never touches the ring itself (DESIGN.md §2).
//
// Which store, by the directory's kind (vbd_config.hpp):
//   vbd    as Linux 6.1's blkback: InitWait at probe with a watch on
//          physical-device (xen_blkbk_probe); when the toolstack's hotplug
//          step writes it, the device it names is opened (backend_changed,
//          xen_vbd_create) and, the frontend being ready, the ring
//          connected (xen_update_blkif_status). Until then the vbd stays
//          InitWait whatever the frontend does. A physical-device changed
//          once set is ignored with Linux's warning ("changing physical
//          device (from %x:%x to %x:%x) not supported.")
//   qdisk  as QEMU's xen-block: params is opened before InitWait
//
// It offers what the vbd's pvsim-* nodes allow (persistent grants,
// indirect segments, ring page order, queues) before InitWait, and
// discard, flush and barrier at Connected when the store can do them; a
// flush or barrier the store then refuses turns its key to 0, as Linux's
// __end_block_io_op does.
//
// States, as Linux's frontend_changed (5.6+, blkback with allow_rebind):
//   frontend Initialising   we are Closed -> InitWait (reconnect)
//   frontend Initialised or Connected, we are not Connected
//                           read the ring keys (queue-K/ too); map, bind,
//                           start one data plane per queue; publish sectors,
//                           sector-size, physical-sector-size, info and the
//                           features in one transaction; -> Connected.
//                           A frontend found Connected when the vbd is
//                           probed (this backend was restarted) is the same
//                           case: its live rings are attached where their
//                           responses stopped (BACK_RING_ATTACH at rsp_prod,
//                           xen_blkif_map), so the requests between rsp_prod
//                           and req_prod are served again and the frontend
//                           never leaves Connected
//   frontend Closing        -> Closing (mirror); the ring stays mapped
//                           until the frontend's Closed, which Linux's
//                           blkfront gives once it has let go of the ring
//   frontend Closed         disconnect (let in-flight I/O finish, unbind,
//                           unmap) -> Closed; when offline, release the
//                           store (Linux unregisters the device)
//   frontend gone (Unknown) disconnect and release the store; Closed only
//                           when the toolstack forced Closing
//                           (xenbus_dev_remove)
// The daemon stopping is Linux's unbind (xenbus_dev_remove with
// allow_rebind): every ring is disconnected, and the state is left as it
// is unless the toolstack forced Closing, so that the next backend
// reattaches the live rings.
// While Connected it checks the target's size every 100 ms and publishes a
// change as xen_vbd_resize does (vbd_resize.hpp).
// Anything wrong (a store that does not open, ring keys that cannot be
// used, a ring the data plane found broken) is xenbus_dev_fatal: the error
// node and Closing; nothing crashes and other vbds are untouched.
//
// Every method runs on the control plane's executor (one thread); watch
// events and the data plane's ring error are posted to it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include "backend/blkback/blkback_options.hpp"
#include "backend/blkback/data_plane.hpp"
#include "backend/blkback/vbd_config.hpp"
#include "backend/blkback/vbd_counters.hpp"
#include "backend/storage/backing_store.hpp"
#include "common/xen/physical_device.hpp"
#include "hypervisor/client/hypervisor.hpp"
#include "xenstore/client/client.hpp"
#include "xenstore/client/xenbus_client.hpp"
#include "xenstore/client/xenbus_probe_backend.hpp"
#include "xenstore/client/xenbus_watch.hpp"

namespace pvsim::backend::blkback {

class XenbusBackend : public xenstore::client::BackendDevice,
                      public std::enable_shared_from_this<XenbusBackend> {
  public:
    // xen_blkbk_probe for the backend directory `nodename`: nullptr while
    // the directory does
    // not yet name its frontend. A device that fails later steps (bad keys,
    // a store that does not open) is returned all the same, in Closing with
    // its error node written, so that it is not probed again.
    static std::shared_ptr<XenbusBackend> probe(boost::asio::any_io_executor executor,
                                                hypervisor::Hypervisor& hypervisor,
                                                xenstore::client::Client& client,
                                                const std::string& nodename, DeviceKind kind,
                                                const BlkbackOptions& options);

    // Disconnects; writes nothing (the directory may be gone).
    ~XenbusBackend() override;
    XenbusBackend(const XenbusBackend&) = delete;
    XenbusBackend& operator=(const XenbusBackend&) = delete;

    // The frontend's state node changed (or may have): read it and act.
    void frontend_changed();
    // backend_changed: the vbd's physical-device node changed (or may have).
    void physical_device_changed();
    // The data plane of connection `generation` stopped its ring.
    void ring_failed(std::uint64_t generation, const std::string& reason);
    // Its store refused a flush or a barrier (__end_block_io_op):
    // feature-flush-cache or feature-barrier is written 0.
    void flush_refused(std::uint64_t generation, IoKind kind);
    // The daemon is stopping (Linux xenbus_dev_remove of a driver with
    // allow_rebind): disconnect; Closed only if the toolstack forced
    // Closing, otherwise the state stays for the next backend to reattach.
    void shutdown() override;

    const std::string& nodename() const noexcept { return device_.nodename(); }
    const std::string& frontend() const noexcept { return device_.otherend(); }
    xen::XenbusState state() const noexcept { return device_.state(); }
    bool connected() const noexcept { return !data_planes_.empty(); }
    VbdCounters counters() const noexcept { return metrics_->snapshot(); }
    // For `pvsim block-list --json` and logs: paths, state, store, ring,
    // engine, last error and counters.
    nlohmann::json describe() const;

  private:
    XenbusBackend(boost::asio::any_io_executor executor, hypervisor::Hypervisor& hypervisor,
                  xenstore::client::Client& client, const std::string& nodename,
                  const OtherEnd& frontend, DeviceKind kind, const BlkbackOptions& options);

    // The rest of xen_blkbk_probe: read the keys (a qdisk opens its store
    // here), publish the limits, watch the frontend (and a vbd's
    // physical-device), InitWait.
    void start();
    // Reads the directory's keys; on failure, the error node and Closing.
    bool read_config();
    // Opens `path` as the store; on failure, the error node and Closing.
    bool open_store(const std::filesystem::path& path);
    // connect_ring + xen_update_blkif_status.
    void connect_ring();
    // connect(): the disk's keys in one transaction, then Connected.
    bool publish_disk();
    // xen_blkif_schedule's size check, every kResizeCheckInterval while
    // connected (vbd_resize.hpp).
    void schedule_resize_check();
    void check_resize();
    // xen_blkif_disconnect. Idempotent.
    void disconnect();
    // Disconnected for good: the store goes too (device_unregister).
    void release();
    // The end of xenbus_dev_remove: Closed if the toolstack forced Closing.
    void close_if_forced();

    boost::asio::any_io_executor executor_;
    hypervisor::Hypervisor& hypervisor_;
    xenstore::client::XenbusDevice device_;
    DeviceKind kind_;
    BlkbackOptions options_;
    std::optional<VbdConfig> config_;
    // A vbd's device, once opened (Linux's be->major, be->minor).
    std::optional<xen::PhysicalDevice> physical_device_;
    std::optional<storage::BackingStore> store_;
    std::shared_ptr<LiveCounters<VbdCounters>> metrics_ =
        std::make_shared<LiveCounters<VbdCounters>>();
    // One per queue (Linux: one xen_blkif_ring and its thread per queue).
    std::vector<std::unique_ptr<DataPlane>> data_planes_;
    // Persistent grants in use on the connected rings.
    bool persistent_ = false;
    // Bumped at every connection, so a ring error posted by an earlier data
    // plane is recognised as stale.
    std::uint64_t generation_ = 0;
    xenstore::client::XenbusWatch frontend_watch_;
    // A vbd's watch on its physical-device (Linux's be->backend_watch).
    xenstore::client::XenbusWatch backend_watch_;
    boost::asio::steady_timer resize_timer_;
    // The size could not be read: said once, not every 100 ms.
    bool size_unreadable_ = false;
};

}  // namespace pvsim::backend::blkback
