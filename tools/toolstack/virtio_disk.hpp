// The toolstack's part of a guest's virtio-blk disk (DESIGN.md §6): the
// vhost-user-blk device's directory for pvsim-backend, the guest's frontend
// directory, and the orderly detach. The keys are the virtio contract's:
//   backend  /local/domain/<backend>/backend/vhost-user-blk/<domid>/<devid>
//            params, mode (r|w|w!), socket, num-queues, poll-us, direct (read by the
//            device, backend/vhost_user_blk/device_keys.hpp), and frontend,
//            frontend-id, dev for the toolstack's own listing; the device
//            writes hotplug-status (connected | error + error), sectors,
//            sector-size
//            perms: n<backend>, r<domid>
//   frontend /local/domain/<domid>/device/vhost-user-blk/<devid>
//            vhost-user (the socket), virtual-device (vda), num-queues,
//            poll-us, reconnect (seconds, QEMU's chardev reconnect=), and
//            backend + backend-id when pvsim's device serves it
//            perms: n<domid>, r<backend>
// A disk whose frontend directory has no `backend` key was attached to
// someone else's vhost-user-blk socket (qemu-storage-daemon's export).
//
// Devices are numbered by their name as Linux's virtio_blk names them
// (virtblk_name_format: vda, vdb, ..., vdz, vdaa, ...): vda is 0. A guest's
// vbds and virtio disks are numbered apart (the agent's "transport").
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/run_dir.hpp"
#include "common/xen/grant_table.hpp"
#include "xenstore/client/client.hpp"

namespace pvsim::tools::toolstack {

// "vda" -> 0, "vdz" -> 25, "vdaa" -> 26. Throws ParseError (common/units.hpp)
// for anything else.
std::uint32_t virtio_devid(std::string_view vdev);
// Whether `vdev` is a virtio disk name (vd + letters).
bool is_virtio_vdev(std::string_view vdev);

// The most queues a virtio disk asks for (the device's and the driver's
// limit).
inline constexpr unsigned kVirtioMaxQueues = 16;
// The device type in xenstore paths: backend/<type>, device/<type>.
inline constexpr const char* kVirtioDeviceType = "vhost-user-blk";

struct VirtioDiskSpec {
    xen::DomId domid = 0;          // the guest
    xen::DomId backend_domid = 0;  // where pvsim-backend serves the device
    std::string vdev = "vda";
    std::string target;     // the image pvsim's device serves; empty with an external socket
    std::string socket;     // where the device listens (absolute)
    bool external = false;  // `socket` is someone else's: no backend directory
    bool readonly = false;
    bool shared = false;  // access=w!: mode w! (disk_sharing.hpp)
    bool direct = false;
    std::optional<unsigned> num_queues;
    std::optional<std::uint32_t> poll_us;
    std::optional<std::uint32_t> reconnect;  // seconds; the driver's `reconnect` key
};

struct VirtioDiskPaths {
    std::uint32_t devid = 0;
    xen::DomId domid = 0;
    xen::DomId backend_domid = 0;
    std::string backend;  // empty for an external device
    std::string frontend;

    static VirtioDiskPaths of(xen::DomId backend_domid, xen::DomId domid, std::uint32_t devid,
                              bool external);
};

// Where pvsim's device for (domid, devid) listens: <run>/vhost-user/<domid>-<devid>.sock.
std::filesystem::path virtio_socket_path(const RunDir& run, xen::DomId domid, std::uint32_t devid);

// The backend directory in one transaction; throws xenstore::client::Error
// (EEXIST) when it exists already.
void add_virtio_backend(xenstore::client::Client& client, const VirtioDiskSpec& spec,
                        const VirtioDiskPaths& paths);

// Waits until the device wrote hotplug-status. Returns "connected", or
// throws std::runtime_error with the device's error (or saying it did not
// answer within `timeout`).
void wait_virtio_backend(xenstore::client::Client& client, const VirtioDiskPaths& paths,
                         std::chrono::milliseconds timeout);

// The frontend directory in one transaction.
void add_virtio_frontend(xenstore::client::Client& client, const VirtioDiskSpec& spec,
                         const VirtioDiskPaths& paths);

// The orderly detach: the frontend directory goes, the guest closes its
// driver (stopping each queue with GET_VRING_BASE), then the backend
// directory goes (the device stops and removes its socket). The guest is
// asked over its agent until it has let go, within `timeout`; when it does
// not answer (it is gone), or `force`, the backend goes at once. Returns
// "detached" or "forced".
std::string detach_virtio_disk(xenstore::client::Client& client, const RunDir& run,
                               const VirtioDiskPaths& paths, bool force,
                               std::chrono::milliseconds timeout);

// The guest's virtio disks in devid order.
std::vector<VirtioDiskPaths> list_virtio_disks(xenstore::client::Client& client, xen::DomId domid);
std::optional<VirtioDiskPaths> find_virtio_disk(xenstore::client::Client& client, xen::DomId domid,
                                                std::string_view vdev);

struct VirtioDiskStatus {
    VirtioDiskPaths paths;
    std::string vdev;
    std::string target;  // the image, empty for an external device
    std::string access;  // rw | ro
    std::string socket;
    std::optional<std::string> hotplug_status;  // the device's (pvsim's only)
    std::optional<std::string> num_queues;      // asked for
    std::optional<std::string> error;

    bool external() const { return paths.backend.empty(); }
    // "virtio", or "virtio (vhost-user SOCK)" for an external device.
    std::string transport() const;
    nlohmann::json to_json() const;
};

VirtioDiskStatus read_virtio_disk_status(xenstore::client::Client& client,
                                         const VirtioDiskPaths& paths);

}  // namespace pvsim::tools::toolstack
