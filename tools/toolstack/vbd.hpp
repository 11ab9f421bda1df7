// The toolstack's part of attaching and detaching a vbd, as libxl does it
// (tools/libs/light/libxl_disk.c device_disk_add, libxl_device.c
// libxl__device_generic_add, libxl__initiate_device_generic_remove,
// libxl__device_destroy; DESIGN.md §5):
//   attach  both device directories with their permissions in one
//           transaction, then wait for the backend to reach InitWait, then
//           (phy) run the block hotplug step (block_script.hpp) and check
//           its hotplug-status (device_hotplug)
//   detach  online=0 and state=Closing on the backend in one transaction,
//           wait for the backend to reach Closed, run the hotplug step's
//           remove (phy), remove both directories
// with the virtual-device numbers of common/xen/vbd_interface.hpp. The
// backend directory is under backend/vbd for phy and backend/qdisk for
// qdisk (disk_backend.hpp, libxl__device_from_disk); the frontend's is
// always device/vbd.
//
// Keys written (libxl's, plus pvsim's own `direct` and `poll-us`, which the
// backend documents in backend/blkback/vbd_config.hpp, and each end's
// blkif feature settings as the "pvsim-*" nodes of
// common/xen/blkif_features.hpp, only those the spec sets):
//   backend  /local/domain/<backend>/backend/<vbd|qdisk>/<domid>/<devid>
//            frontend, frontend-id, online=1, removable=0, bootable=1,
//            dev, type (phy|qdisk), mode (r|w|w!), device-type, params (phy: the
//            target; qdisk: raw:<target>), script=block (phy),
//            direct-io-safe=1 (when asked), direct, poll-us, pvsim-*,
//            state=1
//            perms: n<backend>, r<domid>
//   frontend /local/domain/<domid>/device/vbd/<devid>
//            backend, backend-id, virtual-device, device-type, trusted,
//            protocol, poll-us, pvsim-*, state=1
//            perms: n<domid>, r<backend>
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "common/xen/blkif_x86_32.hpp"
#include "common/xen/grant_table.hpp"
#include "common/xen/xenbus.hpp"
#include "tools/toolstack/disk_backend.hpp"
#include "tools/toolstack/vbd_features.hpp"
#include "xenstore/client/client.hpp"

namespace pvsim::tools::toolstack {

struct VbdSpec {
    xen::DomId domid = 0;          // the frontend's domain
    xen::DomId backend_domid = 0;  // where pvsim-backend serves it
    std::string vdev = "xvda";
    std::string target;  // "params": an image file or block device
    bool readonly = false;
    // access=w!: mode w!, which the sharing check (disk_sharing.hpp) lets
    // another disk write beside.
    bool shared = false;
    // xl's backendtype (unset: select_disk_backend's choice for target).
    std::optional<DiskBackend> backend;
    bool cdrom = false;   // device-type cdrom instead of disk
    bool direct = false;  // pvsim: O_DIRECT on the store
    // xl's direct-io-safe: the backend dir's direct-io-safe=1, which QEMU's
    // xen-block turns into O_DIRECT and Linux's blkback ignores.
    bool direct_io_safe = false;
    // pvsim: the polling window of both ends' loops in µs (0: off); the
    // ends' default (50) when unset.
    std::optional<std::uint32_t> poll_us;
    // The guest's ABI: the frontend's "protocol" node, whose ring layout
    // pvsim's blkfront then uses.
    xen::BlkifProtocol protocol = xen::BlkifProtocol::x86_64;
    // libxl_device_disk.trusted: the frontend's "trusted" node; false makes
    // Linux's blkfront (5.19+) and pvsim's bounce data through their own
    // pages (XSA-403).
    bool trusted = true;
    // The blkif features asked of each end (unset: the end's default).
    BlkifFeatureSettings frontend_features;
    BlkifFeatureSettings backend_features;
};

struct VbdPaths {
    std::uint32_t devid = 0;
    xen::DomId domid = 0;
    xen::DomId backend_domid = 0;
    DiskBackend type = DiskBackend::phy;
    std::string backend;   // /local/domain/<backend>/backend/<vbd|qdisk>/<domid>/<devid>
    std::string frontend;  // /local/domain/<domid>/device/vbd/<devid>
    std::string libxl;     // /libxl/<domid>/device/vbd/<devid>: the toolstack's record

    static VbdPaths of(xen::DomId backend_domid, xen::DomId domid, std::uint32_t devid,
                       DiskBackend type = DiskBackend::phy);
    // The nodes xenbus_dev_fatal writes for each end (error/<nodename>/error
    // under the end's home).
    std::string backend_error_node() const;
    std::string frontend_error_node() const;
};

// Writes both directories in one transaction (retried on EAGAIN). Throws
// ParseError for a bad vdev, std::invalid_argument for a spec without a
// target, with a target that cannot be stat'ed and no backendtype=qdisk
// (select_disk_backend), or with a feature setting an end would refuse
// (nothing written), DiskInUse when the target is in use in a way the
// access cannot share (disk_sharing.hpp, checked in the same transaction),
// and xenstore::client::Error(EEXIST) when the vbd exists already.
VbdPaths add_vbd(xenstore::client::Client& client, const VbdSpec& spec);
// The same inside the caller's transaction (libxl__device_generic_add
// writes in its caller's).
VbdPaths add_vbd(xenstore::client::Transaction& t, const VbdSpec& spec);

// Blocks until the node `state_path` holds a state for which `accept`
// returns true (nullopt: missing or not a state) or `timeout` passes.
// Returns the state seen last, and whether it was accepted.
struct StateWait {
    std::optional<xen::XenbusState> state;
    bool accepted = false;
};
StateWait wait_for_state(xenstore::client::Client& client, const std::string& state_path,
                         const std::function<bool(std::optional<xen::XenbusState>)>& accept,
                         std::chrono::milliseconds timeout);

// The error the backend reported for the vbd (its `error` node), if any.
std::optional<std::string> read_backend_error(xenstore::client::Client& client,
                                              const VbdPaths& paths);

// libxl's block-attach: add_vbd, then wait for the backend to reach
// InitWait or beyond, then for phy the block hotplug step. Throws
// std::runtime_error with the backend's error when it goes Closing or
// Closed instead, when it does not answer within `timeout` (is
// pvsim-backend running?), or with the hotplug step's hotplug-error; the
// directories stay for the caller to inspect or detach.
VbdPaths attach_vbd(xenstore::client::Client& client, const VbdSpec& spec,
                    std::chrono::milliseconds timeout = std::chrono::seconds(10));

struct DetachOptions {
    // libxl's LIBXL_DESTROY_TIMEOUT.
    std::chrono::milliseconds timeout = std::chrono::seconds(10);
    // Remove the directories even when the backend does not reach Closed.
    bool force = false;
};

// libxl__initiate_device_generic_remove then libxl__device_destroy: online=0
// and (unless already Closed) state=Closing in one transaction, wait for the
// backend's Closed, run the hotplug step's remove (a loop device it made
// goes), remove both directories. Throws std::runtime_error naming the
// state reached when the backend is not Closed in time and `force` is false
// (the directories then stay).
void detach_vbd(xenstore::client::Client& client, const VbdPaths& paths,
                const DetachOptions& options = {});

// libxl__device_destroy: removes both directories and the error nodes the
// ends left, and the backend's per-domain directory once empty, in one
// transaction.
void destroy_vbd(xenstore::client::Client& client, const VbdPaths& paths);
// The same inside the caller's transaction.
void destroy_vbd(xenstore::client::Transaction& t, const VbdPaths& paths);

}  // namespace pvsim::tools::toolstack
