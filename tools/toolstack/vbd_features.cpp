#include "tools/toolstack/vbd_features.hpp"

#include <stdexcept>

namespace pvsim::tools::toolstack {

bool BlkifFeatureSettings::empty() const {
    return *this == BlkifFeatureSettings{};
}

BlkifFeatureSettings BlkifFeatureSettings::or_else(const BlkifFeatureSettings& fallback) const {
    BlkifFeatureSettings merged = *this;
    const auto fill = [](auto& field, const auto& other) {
        if (!field) {
            field = other;
        }
    };
    fill(merged.persistent, fallback.persistent);
    fill(merged.max_indirect_segments, fallback.max_indirect_segments);
    fill(merged.max_ring_page_order, fallback.max_ring_page_order);
    fill(merged.max_queues, fallback.max_queues);
    fill(merged.discard, fallback.discard);
    fill(merged.flush_cache, fallback.flush_cache);
    fill(merged.barrier, fallback.barrier);
    fill(merged.grant_mode, fallback.grant_mode);
    return merged;
}

ConfigNodes blkif_config_nodes(const BlkifFeatureSettings& settings, xen::BlkifEnd end) {
    namespace node = xen::blkif_config_node;
    ConfigNodes nodes;
    const auto flag = [&](std::string_view name, const std::optional<bool>& value) {
        if (value) {
            nodes.emplace_back(std::string(name), *value ? "1" : "0");
        }
    };
    const auto number = [&](std::string_view name, const std::optional<unsigned>& value) {
        if (value) {
            nodes.emplace_back(std::string(name), std::to_string(*value));
        }
    };
    flag(node::persistent, settings.persistent);
    number(node::max_indirect_segments, settings.max_indirect_segments);
    number(node::max_ring_page_order, settings.max_ring_page_order);
    number(node::max_queues, settings.max_queues);
    flag(node::discard, settings.discard);
    flag(node::flush_cache, settings.flush_cache);
    flag(node::barrier, settings.barrier);
    if (settings.grant_mode) {
        nodes.emplace_back(std::string(node::grant_mode),
                           std::string(xen::to_string(*settings.grant_mode)));
    }
    // The end is the judge of its own nodes: what it would refuse is not
    // written at all.
    try {
        (void)xen::read_blkif_feature_config(
            end, [&](std::string_view name) -> std::optional<std::string> {
                for (const auto& [key, value] : nodes) {
                    if (key == name) {
                        return value;
                    }
                }
                return std::nullopt;
            });
    } catch (const xen::BlkifConfigError& e) {
        throw std::invalid_argument(
            std::string(end == xen::BlkifEnd::frontend ? "frontend" : "backend") + ": " + e.what());
    }
    return nodes;
}

}  // namespace pvsim::tools::toolstack
