// What a blkback publishes about its disk before it goes Connected, as
// blkfront reads it (Linux xen-blkfront.c: blkfront_connect and
// blkfront_gather_backend_features; key meanings from xen/io/blkif.h,
// "Backend XenBus Nodes").
//
// Values come from another domain, so every one is checked: a value that is
// not a plain decimal number, or one out of range, is an error naming the
// key and the text (DESIGN.md §8), which the control plane turns into a
// fatal device error.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "common/xen/blkif.hpp"

namespace pvsim::frontend::blkfront {

struct DiskInfo {
    // "sectors": the capacity. Counted in 512-byte units whatever
    // "sector-size" says, as Linux blkback writes it and blkfront reads it
    // (blkif.h: "sector-size" must stay 512 unless the frontend wrote
    // "feature-large-sector-size", which blkfront does not).
    std::uint64_t sectors = 0;
    std::uint32_t sector_size = 512;           // "sector-size"
    std::uint32_t physical_sector_size = 512;  // "physical-sector-size", default sector-size
    std::uint32_t info = 0;                    // "info": VDISK_* bits
    bool feature_flush_cache = false;          // "feature-flush-cache"
    bool feature_barrier = false;              // "feature-barrier"
    bool feature_discard = false;              // "feature-discard"
    // blkfront_setup_discard (Linux 4.x-6.x), read only with feature-discard:
    // "discard-granularity" and "discard-alignment" in bytes (0 when not
    // given) and "discard-secure"; blkif_set_queue_limits makes them the
    // queue's discard_granularity, discard_alignment and, with
    // discard-secure, max_secure_erase_sectors.
    std::uint32_t discard_granularity = 0;
    std::uint32_t discard_alignment = 0;
    bool feature_secdiscard = false;
    bool feature_persistent = false;          // "feature-persistent"
    std::uint32_t max_indirect_segments = 0;  // "feature-max-indirect-segments"

    bool read_only() const noexcept { return (info & xen::kVdiskReadonly) != 0; }

    // The operation a flush travels as, as Linux's blkfront picks it:
    // FLUSH_DISKCACHE when "feature-flush-cache", else WRITE_BARRIER (with no
    // segments) when "feature-barrier", else none: a backend that offers
    // neither writes through, and a flush has nothing to do.
    std::optional<xen::BlkifOp> flush_operation() const noexcept;
};

// A node of the backend's directory: its value, or nullopt when missing.
using BackendNodeReader = std::function<std::optional<std::string>(std::string_view key)>;

// Reads and checks every key above. "sectors", "info" and "sector-size" are
// required (Linux reads them with one xenbus_gather and fails the device
// without them); the rest default as blkif.h says. Throws
// std::invalid_argument naming the key and its value.
DiskInfo read_disk_info(const BackendNodeReader& read);

// A xenstore number as blkif.h's <uint32_t>/<uint64_t> nodes hold one: plain
// decimal digits, no sign, no spaces, at most `max`. Throws
// std::invalid_argument naming `key` and the text.
std::uint64_t parse_node_number(std::string_view key, std::string_view text, std::uint64_t max);

// A boolean feature node: "0" or "1" (any other number reads as true, as
// Linux's xenbus_read_unsigned() != 0 does); missing is `fallback`.
bool parse_node_flag(std::string_view key, const std::optional<std::string>& text,
                     bool fallback = false);

}  // namespace pvsim::frontend::blkfront
