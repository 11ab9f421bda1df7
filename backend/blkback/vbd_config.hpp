// What the toolstack tells blkback about one vbd, in the backend directory
// it writes (libxl_disk.c, device_disk_add; DESIGN.md §5):
//   frontend, frontend-id   the other end (read by Linux's xenbus core,
//                           read_otherend_details)
//   params                  the image file or block device
//   mode                    "w" or "r" (Linux: writable iff it holds a 'w')
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

#include "common/xen/blkif_features.hpp"
#include "common/xen/grant_table.hpp"
#include "common/xen/node_values.hpp"
#include "xenstore/client/client.hpp"

namespace pvsim::backend::blkback {

inline constexpr std::chrono::microseconds kDefaultPollUs{50};
// A window above a second would be a typo, not a tuning.
inline constexpr std::uint64_t kMaxPollUs = 1'000'000;

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
    std::string params;
    std::string mode;
    bool read_only = false;
    bool direct = false;
    bool discard_enable = true;
    std::chrono::microseconds poll_us = kDefaultPollUs;
    bool cdrom = false;
    xen::BlkifFeatureConfig features = xen::BlkifFeatureConfig::defaults(xen::BlkifEnd::backend);
};

// Reads the keys above. Throws NodeError naming the key and value.
VbdConfig read_vbd_config(xenstore::client::Client& client, const std::string& nodename,
                          const std::string& frontend);

}  // namespace pvsim::backend::blkback
