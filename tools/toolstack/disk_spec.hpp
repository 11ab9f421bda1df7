// DISKSPEC: xl's disk syntax (Xen's docs/misc/xl-disk-configuration.txt),
// the argument of `pvsim block-attach`: comma-separated KEY=VALUE items, or
// positional items, each filling the first of target, format, vdev, access
// not yet given. As in xl, an empty value (`IMG,,xvda`, `format=`) leaves
// the default, whitespace before an item is ignored, and a path given with
// `target=` may hold commas; it ends where another known KEY= item starts,
// so `target=IMG,vdev=xvda` and xl's `vdev=xvda,target=IMG` both work.
//
//   target=PATH                    the image file or block device ("params")
//   vdev=xvda                      the guest's name for it (vbd-interface.txt)
//   access=rw|w|ro|r|w!            default rw. w! is xm's and the block
//                                  script's shared-writable mode (written
//                                  as mode=w!): the sharing check
//                                  (disk_sharing.hpp) lets a second disk
//                                  write the same image; xl has no spelling
//                                  for it
//   format=raw                     the only format a raw backend serves
//   devtype=cdrom                  a read-only removable cdrom
//   backend=DOMAIN                 name or domid of the backend domain (dom0)
//   backendtype=phy|qdisk          xl's: phy is Linux's blkback (backend/vbd,
//                                  the block hotplug step names the device;
//                                  a file gets a loop device, which needs
//                                  root), qdisk is QEMU's xen-block
//                                  (backend/qdisk, opens the image itself).
//                                  Default: phy for a block device, qdisk
//                                  for a file (disk_backend.hpp). tap is
//                                  refused
//   direct-io-safe                 xl's flag: direct-io-safe=1 in the
//                                  backend directory; qdisk then opens the
//                                  image O_DIRECT, blkback ignores it (also
//                                  direct-io-safe=on|off)
//   specification=xen|virtio       the transport (default xen)
//   vhost-user=SOCK                pvsim: with specification=virtio, the
//                                  socket of a vhost-user-blk device already
//                                  listening (qemu-storage-daemon's export)
//                                  instead of pvsim's device on a target
//   reconnect=SECONDS              pvsim: with specification=virtio, how often
//                                  the guest's driver connects again to a
//                                  device that hung up, as QEMU's
//                                  `-chardev socket,reconnect=SECONDS`
//                                  (0..3600; 0 off: the hangup fails the
//                                  disk). Default 1 with vhost-user=, as
//                                  the Linux-guest tests run QEMU; 0 for
//                                  pvsim's own device
//   direct=0|1                     pvsim: O_DIRECT on the backing store
//   poll-us=N                      pvsim: both ends' polling window (µs, 0 off)
//   protocol=x86_64-abi|x86_32-abi pvsim: the guest's ABI, written as the
//                                  frontend's "protocol" node as libxl does
//                                  for a PV guest (default x86_64-abi);
//                                  blkfront lays its ring out in it
//   trusted / untrusted            xl's (Xen 4.17+): whether the guest may
//                                  trust the backend, written as the
//                                  frontend's "trusted" node 1|0 (default
//                                  trusted); with untrusted, blkfront
//                                  bounces data through pages of its own
//                                  (Linux 5.19+, XSA-403). Also trusted=on|off
// and pvsim's blkif feature keys (flags take on|off|1|0), each an end's
// setting as Linux's module parameters are (common/xen/blkif_features.hpp):
//   persistent=on|off              feature-persistent offered / used
//   max-indirect-segments=N        the backend's offer (0..256), the
//                                  frontend's ceiling (0: never indirect)
//   ring-page-order=N              the end's max-ring-page-order (0..4)
//   queues=N                       the end's multi-queue-max-queues (1..16)
//   discard=on|off                 feature-discard (also xl's bare
//                                  `discard` / `no-discard`)
//   flush=on|off                   feature-flush-cache
//   barrier=on|off                 feature-barrier
//   grant-mode=map|copy            the backend's: map each grant, or have the
//                                  hypervisor copy (GNTTABOP_copy)
// A key with a `frontend-` or `backend-` prefix sets that end only; without
// one it sets both (grant-mode: the backend), and a prefixed key wins over
// the unprefixed one whatever their order. A key not given leaves the end's
// Linux default.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/xen/blkif_x86_32.hpp"
#include "tools/toolstack/disk_backend.hpp"
#include "tools/toolstack/vbd_features.hpp"

namespace pvsim::tools::toolstack {

// The longest reconnect= (seconds).
inline constexpr std::uint32_t kMaxReconnectSeconds = 3600;
// reconnect= with vhost-user= when not given: QEMU's reconnect=1, as the
// Linux-guest tests run it against `pvsim export`.
inline constexpr std::uint32_t kDefaultVhostUserReconnectSeconds = 1;

struct DiskSpec {
    std::string target;
    std::string format = "raw";
    std::string vdev;
    bool readonly = false;
    bool shared = false;  // access=w!
    bool cdrom = false;
    std::string backend = "0";
    std::optional<DiskBackend> backendtype;
    std::optional<bool> direct_io_safe;
    std::string specification = "xen";
    std::optional<bool> direct;
    std::optional<std::uint32_t> poll_us;
    std::optional<std::string> vhost_user;   // an existing device's socket (virtio)
    std::optional<std::uint32_t> reconnect;  // seconds (virtio), QEMU's chardev reconnect=
    // The guest's ring layout (unset: x86_64-abi, the native one).
    std::optional<xen::BlkifProtocol> protocol;
    // libxl_device_disk.trusted (unset: trusted, libxl's default).
    std::optional<bool> trusted;

    // The blkif features asked of each end (unset: the end's default).
    BlkifFeatureSettings frontend_features;
    BlkifFeatureSettings backend_features;
};

// Every key with its values and default, for `block-attach --help`.
std::string_view disk_spec_help() noexcept;

// Throws ParseError (common/units.hpp) naming the item and what is accepted,
// for an unknown key, a bad value, a key given twice, or a missing target or
// vdev. Does not look at the file system or the domains.
DiskSpec parse_disk_spec(std::string_view text);

}  // namespace pvsim::tools::toolstack
