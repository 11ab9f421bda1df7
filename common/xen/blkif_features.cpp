#include "common/xen/blkif_features.hpp"

#include <algorithm>
#include <charconv>
#include <thread>

#include "common/xen/blkif.hpp"

namespace pvsim::xen {

namespace {

unsigned online_cpus() noexcept {
    return std::max(1u, std::thread::hardware_concurrency());
}

std::string in_quotes(std::string_view text) {
    return "\"" + std::string(text) + "\"";
}

unsigned read_number(std::string_view node, const std::string& value, unsigned low, unsigned high) {
    unsigned number = 0;
    const auto* end = value.data() + value.size();
    const auto [ptr, ec] = std::from_chars(value.data(), end, number);
    if (value.empty() || ec != std::errc{} || ptr != end || number < low || number > high) {
        throw BlkifConfigError(std::string(node) + " " + in_quotes(value) +
                               " is not a number from " + std::to_string(low) + " to " +
                               std::to_string(high));
    }
    return number;
}

bool read_flag(std::string_view node, const std::string& value) {
    if (value == "0" || value == "1") {
        return value == "1";
    }
    throw BlkifConfigError(std::string(node) + " " + in_quotes(value) + " is not 0 or 1");
}

}  // namespace

BlkifFeatureConfig BlkifFeatureConfig::defaults(BlkifEnd end) {
    BlkifFeatureConfig config;
    if (end == BlkifEnd::backend) {
        config.max_indirect_segments = kBlkifBackendMaxIndirectSegments;
        config.max_ring_page_order = kBlkifMaxRingPageOrder;
        config.max_queues = std::min(online_cpus(), kBlkifMaxQueues);
    } else {
        config.max_indirect_segments = 32;
        config.max_ring_page_order = 0;
        config.max_queues = std::min(online_cpus(), 4u);
    }
    return config;
}

BlkifFeatureConfig read_blkif_feature_config(BlkifEnd end, const BlkifNodeReader& read) {
    namespace node = blkif_config_node;
    BlkifFeatureConfig config = BlkifFeatureConfig::defaults(end);
    const auto flag = [&](std::string_view name, bool& field) {
        if (const auto value = read(name)) {
            field = read_flag(name, *value);
        }
    };
    const auto number = [&](std::string_view name, unsigned& field, unsigned low, unsigned high) {
        if (const auto value = read(name)) {
            field = read_number(name, *value, low, high);
        }
    };
    flag(node::persistent, config.persistent);
    number(node::max_indirect_segments, config.max_indirect_segments, 0,
           end == BlkifEnd::backend ? kBlkifBackendMaxIndirectSegments : kBlkifMaxIndirectSegments);
    number(node::max_ring_page_order, config.max_ring_page_order, 0, kBlkifMaxRingPageOrder);
    number(node::max_queues, config.max_queues, 1, kBlkifMaxQueues);
    flag(node::discard, config.discard);
    flag(node::flush_cache, config.flush_cache);
    flag(node::barrier, config.barrier);
    if (const auto value = read(node::grant_mode)) {
        if (end == BlkifEnd::frontend) {
            throw BlkifConfigError(std::string(node::grant_mode) +
                                   " is the backend's: the frontend has no say in it");
        }
        const auto mode = parse_grant_mode(*value);
        if (!mode) {
            throw BlkifConfigError(std::string(node::grant_mode) + " " + in_quotes(*value) +
                                   " is not map or copy");
        }
        config.grant_mode = *mode;
    }
    return config;
}

std::string_view to_string(BlkifGrantMode mode) noexcept {
    return mode == BlkifGrantMode::copy ? "copy" : "map";
}

std::optional<BlkifGrantMode> parse_grant_mode(std::string_view text) noexcept {
    if (text == "map") {
        return BlkifGrantMode::map;
    }
    if (text == "copy") {
        return BlkifGrantMode::copy;
    }
    return std::nullopt;
}

}  // namespace pvsim::xen
