// What the toolstack tells a disk backend about one disk, in the backend
// directory it writes (libxl_disk.c, device_disk_add, Xen 4.17; DESIGN.md
// §5). The directory's kind is libxl's backend kind (libxl__device_from_disk):
//   vbd    backend/vbd: Linux's blkback. It opens the block device the
//          hotplug step names in physical-device (device_node.hpp), never
//          params, and ignores direct-io-safe
//   qdisk  backend/qdisk: QEMU's xen-block. It opens params itself, which
//          libxl writes as <format>:<path> (QEMU 8.x hw/block/xen-block.c
//          xen_block_device_create splits it at the first ':'; "aio" means
//          raw), and opens it O_DIRECT when direct-io-safe is 1
//          (xen_block_drive_create: cache.direct, aio=native)
// The keys:
//   frontend, frontend-id   the other end (read by Linux's xenbus core,
//                           read_otherend_details)
//   params                  qdisk: format:path of the image or device
//   mode                    "w" or "r" (Linux: writable iff it holds a 'w')
//   direct-io-safe          qdisk: 1 opens the store with O_DIRECT
//   direct                  pvsim's: 1 opens the store with O_DIRECT
//   discard-enable          libxl's: 0 and no discard is offered (Linux's
//                           xen_blkbk_discard then writes no discard key);
//                           missing means 1
//   poll-us                 pvsim's: the data plane's polling window in µs
//                           (default 50, 0 turns polling off; DESIGN.md §10)
//   pvsim-*                 the blkif features this end offers and how it
//                           reaches the data (common/xen/blkif_features.hpp)
// and, from the frontend directory, device-type ("cdrom" sets VDISK_CDROM,
// as Linux's backend_changed reads it there).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/xen/blkif_features.hpp"
#include "common/xen/grant_table.hpp"
#include "common/xen/node_values.hpp"
#include "xenstore/client/client.hpp"

namespace pvsim::backend::blkback {

inline constexpr std::chrono::microseconds kDefaultPollUs{50};
// A window above a second would be a typo, not a tuning.
inline constexpr std::uint64_t kMaxPollUs = 1'000'000;

// The backend directory's kind: backend/vbd or backend/qdisk.
enum class DeviceKind { vbd, qdisk };
// "vbd" | "qdisk": the directory under backend/.
std::string_view to_string(DeviceKind kind) noexcept;

// The other end, as the toolstack named it.
struct OtherEnd {
    std::string path;
    xen::DomId domid = 0;
};

// "frontend" and "frontend-id" of the backend directory `nodename`; nullopt
// while either is missing (the device is not ready to probe). Throws
// NodeError for a frontend-id that is not a domid.
std::optional<OtherEnd> read_frontend(xenstore::client::Client& client,
                                      const std::string& nodename);

struct VbdConfig {
    DeviceKind kind = DeviceKind::vbd;
    // qdisk: the path in params, which the backend opens; vbd: params as
    // written, for logs only (blkback opens physical-device).
    std::string params;
    std::string mode;
    bool read_only = false;
    bool direct = false;
    bool discard_enable = true;
    std::chrono::microseconds poll_us = kDefaultPollUs;
    bool cdrom = false;
    xen::BlkifFeatureConfig features = xen::BlkifFeatureConfig::defaults(xen::BlkifEnd::backend);
};

// Reads the keys above that the kind reads. Throws NodeError naming the
// key and value.
VbdConfig read_vbd_config(xenstore::client::Client& client, const std::string& nodename,
                          const std::string& frontend, DeviceKind kind = DeviceKind::vbd);

// qdisk's params: the path after a "raw:" or "aio:" format (none: the whole
// value is the path). Throws NodeError (ENOSYS) for another format, EINVAL
// for an empty path.
std::string qdisk_image_path(const std::string& params);

}  // namespace pvsim::backend::blkback
