// Which blkif features one end of a vbd offers or uses, and where it learns
// that. Linux sets these per host with module parameters (xen-blkback's
// feature_persistent, max_indirect_segments, max_ring_page_order,
// max_queues; xen-blkfront's feature_persistent, max_indirect_segments,
// max_ring_page_order, max_queues) and, since 5.19, per device in sysfs
// (feature_persistent). pvsim makes every one of them per vbd and per end:
// the toolstack writes "pvsim-*" nodes into the backend's and the
// frontend's device directory before either end starts, and each end reads
// its own directory's nodes once, when it sets the device up. The protocol
// nodes the ends then negotiate with (feature-persistent,
// feature-max-indirect-segments, max-ring-page-order, ring-page-order,
// multi-queue-max-queues, multi-queue-num-queues, feature-discard,
// feature-flush-cache, feature-barrier) are the real ones (blkif.h).
//
// An absent node leaves Linux's default for that end. A node that is there
// but malformed or out of range is an error naming the node and the range.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "common/xen/blkif.hpp"

namespace pvsim::xen {

enum class BlkifEnd { frontend, backend };

// How the backend reaches the data of a request: by mapping each segment's
// grant (GNTTABOP_map_grant_ref), or by asking the hypervisor to copy it
// (GNTTABOP_copy), never mapping guest memory at all.
enum class BlkifGrantMode { map, copy };

// The most queues either end offers or uses (pvsim's bound; Linux bounds
// them by the CPUs).
inline constexpr unsigned kBlkifMaxQueues = 16;
// xen-blkback's MAX_INDIRECT_SEGMENTS: the most segments a backend offers.
inline constexpr unsigned kBlkifBackendMaxIndirectSegments = 256;

struct BlkifFeatureConfig {
    // feature-persistent: offered (backend) / used when offered (frontend).
    bool persistent = true;
    // feature-max-indirect-segments: the backend's offer (0: none), the
    // frontend's ceiling on what it uses of an offer (0: never indirect).
    unsigned max_indirect_segments = 0;
    // max-ring-page-order: the backend's offer, the frontend's ceiling.
    unsigned max_ring_page_order = 0;
    // multi-queue-max-queues: the backend's offer, the frontend's ceiling
    // (1 on both: one ring, no queue-N directories).
    unsigned max_queues = 1;
    // feature-discard: offered when the store can discard (backend) / used
    // when offered (frontend).
    bool discard = true;
    // feature-flush-cache and feature-barrier: offered when the store has a
    // write cache (backend) / used when offered (frontend).
    bool flush_cache = true;
    bool barrier = true;
    // Backend only.
    BlkifGrantMode grant_mode = BlkifGrantMode::map;

    // Linux's defaults for `end`: both ends persistent, discard, flush and
    // barrier; backend 256 indirect segments, ring order 4, one queue per
    // CPU; frontend 32 segments (xen_blkif_max_segments), ring order 0,
    // min(4, CPUs) queues (xen_blkif_max_queues).
    static BlkifFeatureConfig defaults(BlkifEnd end);
};

// The "pvsim-*" configuration nodes, relative to a device directory.
namespace blkif_config_node {
inline constexpr std::string_view persistent = "pvsim-feature-persistent";                // 0|1
inline constexpr std::string_view max_indirect_segments = "pvsim-max-indirect-segments";  // 0..
inline constexpr std::string_view max_ring_page_order = "pvsim-max-ring-page-order";      // 0..4
inline constexpr std::string_view max_queues = "pvsim-max-queues";                        // 1..16
inline constexpr std::string_view discard = "pvsim-feature-discard";                      // 0|1
inline constexpr std::string_view flush_cache = "pvsim-feature-flush-cache";              // 0|1
inline constexpr std::string_view barrier = "pvsim-feature-barrier";                      // 0|1
inline constexpr std::string_view grant_mode = "pvsim-grant-mode";  // map|copy, backend only
}  // namespace blkif_config_node

class BlkifConfigError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// Reads `end`'s configuration through `read` (a node name relative to the
// device directory -> its value, or nullopt when absent), starting from
// defaults(end). Throws BlkifConfigError naming the node on a bad value
// (and for pvsim-grant-mode on the frontend, which has no say in it).
// Frontend segment counts are capped at kBlkifMaxIndirectSegments, backend
// ones at kBlkifBackendMaxIndirectSegments.
using BlkifNodeReader = std::function<std::optional<std::string>(std::string_view node)>;
BlkifFeatureConfig read_blkif_feature_config(BlkifEnd end, const BlkifNodeReader& read);

std::string_view to_string(BlkifGrantMode mode) noexcept;
std::optional<BlkifGrantMode> parse_grant_mode(std::string_view text) noexcept;

}  // namespace pvsim::xen
