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
//   access=rw|w|ro|r               default rw
//   format=raw                     the only format a raw backend serves
//   devtype=cdrom                  a read-only removable cdrom
//   backend=DOMAIN                 name or domid of the backend domain (dom0)
//   specification=xen|virtio       the transport (default xen)
//   direct=0|1                     pvsim: O_DIRECT on the backing store
//   poll-us=N                      pvsim: both ends' polling window (µs, 0 off)
// and the blkif feature keys, parsed and checked here:
//   persistent=0|1, queues=N (1..16), ring-page-order=N (0..4),
//   max-indirect-segments=N (0..256), grant-mode=map|copy,
//   discard=0|1 (also xl's bare `discard` / `no-discard`).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pvsim::tools::toolstack {

struct DiskSpec {
    std::string target;
    std::string format = "raw";
    std::string vdev;
    bool readonly = false;
    bool cdrom = false;
    std::string backend = "0";
    std::string specification = "xen";
    std::optional<bool> direct;
    std::optional<std::uint32_t> poll_us;

    std::optional<bool> persistent;
    std::optional<std::uint32_t> queues;
    std::optional<std::uint32_t> ring_page_order;
    std::optional<std::uint32_t> max_indirect_segments;
    std::optional<std::string> grant_mode;
    std::optional<bool> discard;

    // The feature keys given, as "key=value" items (for messages).
    std::string feature_keys() const;
};

// Throws ParseError (common/units.hpp) naming the item and what is accepted,
// for an unknown key, a bad value, a key given twice, or a missing target or
// vdev. Does not look at the file system or the domains.
DiskSpec parse_disk_spec(std::string_view text);

}  // namespace pvsim::tools::toolstack
