// The blkif features a DISKSPEC asks of one end of a vbd, and the "pvsim-*"
// configuration nodes (common/xen/blkif_features.hpp) the toolstack writes
// for them into that end's device directory before either end starts. A
// feature left unset is not written, so the end keeps Linux's default for
// it (xen-blkback's and xen-blkfront's module parameters).
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/xen/blkif_features.hpp"

namespace pvsim::tools::toolstack {

struct BlkifFeatureSettings {
    std::optional<bool> persistent;                 // pvsim-feature-persistent
    std::optional<unsigned> max_indirect_segments;  // pvsim-max-indirect-segments
    std::optional<unsigned> max_ring_page_order;    // pvsim-max-ring-page-order
    std::optional<unsigned> max_queues;             // pvsim-max-queues
    std::optional<bool> discard;                    // pvsim-feature-discard
    std::optional<bool> flush_cache;                // pvsim-feature-flush-cache
    std::optional<bool> barrier;                    // pvsim-feature-barrier
    std::optional<xen::BlkifGrantMode> grant_mode;  // pvsim-grant-mode (backend only)

    bool empty() const;
    // These settings, with each unset one taken from `fallback`.
    BlkifFeatureSettings or_else(const BlkifFeatureSettings& fallback) const;

    bool operator==(const BlkifFeatureSettings&) const = default;
};

// The nodes to write (name relative to the device directory, value), in a
// fixed order, checked as `end` will read them (read_blkif_feature_config):
// throws std::invalid_argument with that check's message (naming the node
// and its range) for a value the end would refuse.
using ConfigNodes = std::vector<std::pair<std::string, std::string>>;
ConfigNodes blkif_config_nodes(const BlkifFeatureSettings& settings, xen::BlkifEnd end);

}  // namespace pvsim::tools::toolstack
