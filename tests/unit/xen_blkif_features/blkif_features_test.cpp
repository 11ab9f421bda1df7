// Each end's blkif feature configuration (common/xen/blkif_features.hpp):
// Linux's defaults per end when no node is there, every "pvsim-*" node
// read into its field, and a malformed or out-of-range value an error
// naming the node and what it takes.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>

#include "common/xen/blkif.hpp"
#include "common/xen/blkif_features.hpp"
#include "tests/support/online_cpus.hpp"

namespace pvsim::xen {
namespace {

using Nodes = std::map<std::string, std::string, std::less<>>;

BlkifFeatureConfig read(BlkifEnd end, const Nodes& nodes) {
    return read_blkif_feature_config(end, [&](std::string_view name) {
        const auto found = nodes.find(name);
        return found == nodes.end() ? std::nullopt : std::optional<std::string>(found->second);
    });
}

// The error's message for `value` at `node` ("" and a failure if none).
std::string error_of(BlkifEnd end, std::string_view node, const std::string& value) {
    try {
        (void)read(end, {{std::string(node), value}});
    } catch (const BlkifConfigError& e) {
        return e.what();
    }
    ADD_FAILURE() << node << "=" << value << " accepted";
    return {};
}

// The CPUs Linux counts online, read from the kernel.
unsigned cpus() {
    return pvsim::test::online_cpus_from_sysfs();
}

// Linux 6.1 drivers/block/xen-blkback: feature_persistent true
// (xenbus.c), MAX_INDIRECT_SEGMENTS 256 (common.h), xen_blkif_max_ring_order
// XENBUS_MAX_RING_GRANT_ORDER, 4 (blkback.c, include/xen/xenbus.h),
// xenblk_max_queues num_online_cpus() (blkback.c xen_blkif_init), which
// pvsim bounds at 16 (blkif_config_node::max_queues's range).
TEST(BlkifFeatures, BackendDefaultsAreXenBlkbacks) {
    const BlkifFeatureConfig config = read(BlkifEnd::backend, {});
    EXPECT_TRUE(config.persistent);
    EXPECT_EQ(config.max_indirect_segments, 256u);
    EXPECT_EQ(config.max_ring_page_order, 4u);
    EXPECT_EQ(config.max_queues, std::min(cpus(), 16u));
    EXPECT_TRUE(config.discard);
    EXPECT_TRUE(config.flush_cache);
    EXPECT_TRUE(config.barrier);
    EXPECT_EQ(config.grant_mode, BlkifGrantMode::map);
}

// Linux 6.1 drivers/block/xen-blkfront.c: feature_persistent true,
// xen_blkif_max_segments 32, xen_blkif_max_ring_order 0, xen_blkif_max_queues
// 4, lowered to num_online_cpus() by xlblk_init.
TEST(BlkifFeatures, FrontendDefaultsAreXenBlkfronts) {
    const BlkifFeatureConfig config = read(BlkifEnd::frontend, {});
    EXPECT_TRUE(config.persistent);
    EXPECT_EQ(config.max_indirect_segments, 32u);
    EXPECT_EQ(config.max_ring_page_order, 0u);
    EXPECT_EQ(config.max_queues, std::min(cpus(), 4u));
    EXPECT_TRUE(config.discard);
    EXPECT_TRUE(config.flush_cache);
    EXPECT_TRUE(config.barrier);
    EXPECT_EQ(config.grant_mode, BlkifGrantMode::map);
}

TEST(BlkifFeatures, DefaultsMatchReadingNoNodes) {
    for (const BlkifEnd end : {BlkifEnd::frontend, BlkifEnd::backend}) {
        const BlkifFeatureConfig a = BlkifFeatureConfig::defaults(end);
        const BlkifFeatureConfig b = read(end, {});
        EXPECT_EQ(a.persistent, b.persistent);
        EXPECT_EQ(a.max_indirect_segments, b.max_indirect_segments);
        EXPECT_EQ(a.max_ring_page_order, b.max_ring_page_order);
        EXPECT_EQ(a.max_queues, b.max_queues);
    }
}

TEST(BlkifFeatures, EachNodeSetsItsField) {
    namespace node = blkif_config_node;
    for (const BlkifEnd end : {BlkifEnd::frontend, BlkifEnd::backend}) {
        EXPECT_FALSE(read(end, {{std::string(node::persistent), "0"}}).persistent);
        EXPECT_EQ(
            read(end, {{std::string(node::max_indirect_segments), "0"}}).max_indirect_segments, 0u);
        EXPECT_EQ(
            read(end, {{std::string(node::max_indirect_segments), "128"}}).max_indirect_segments,
            128u);
        EXPECT_EQ(read(end, {{std::string(node::max_ring_page_order), "3"}}).max_ring_page_order,
                  3u);
        EXPECT_EQ(read(end, {{std::string(node::max_queues), "7"}}).max_queues, 7u);
        EXPECT_FALSE(read(end, {{std::string(node::discard), "0"}}).discard);
        EXPECT_FALSE(read(end, {{std::string(node::flush_cache), "0"}}).flush_cache);
        EXPECT_FALSE(read(end, {{std::string(node::barrier), "0"}}).barrier);
        // A node naming the default is read as that.
        EXPECT_TRUE(read(end, {{std::string(node::persistent), "1"}}).persistent);
    }
    EXPECT_EQ(read(BlkifEnd::backend, {{std::string(node::grant_mode), "copy"}}).grant_mode,
              BlkifGrantMode::copy);
    EXPECT_EQ(read(BlkifEnd::backend, {{std::string(node::grant_mode), "map"}}).grant_mode,
              BlkifGrantMode::map);
    // One node leaves the others at their defaults.
    const BlkifFeatureConfig one = read(BlkifEnd::backend, {{std::string(node::max_queues), "2"}});
    EXPECT_TRUE(one.persistent);
    EXPECT_EQ(one.max_indirect_segments, 256u);
}

TEST(BlkifFeatures, NodeNamesAreTheContracts) {
    namespace node = blkif_config_node;
    EXPECT_EQ(node::persistent, "pvsim-feature-persistent");
    EXPECT_EQ(node::max_indirect_segments, "pvsim-max-indirect-segments");
    EXPECT_EQ(node::max_ring_page_order, "pvsim-max-ring-page-order");
    EXPECT_EQ(node::max_queues, "pvsim-max-queues");
    EXPECT_EQ(node::discard, "pvsim-feature-discard");
    EXPECT_EQ(node::flush_cache, "pvsim-feature-flush-cache");
    EXPECT_EQ(node::barrier, "pvsim-feature-barrier");
    EXPECT_EQ(node::grant_mode, "pvsim-grant-mode");
}

// A frontend may use as many segments as one indirect request can carry:
// BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST (8) frames of PAGE_SIZE /
// sizeof(struct blkif_request_segment) (512) segments (blkif.h), 4096; a
// backend offers at most MAX_INDIRECT_SEGMENTS, 256.
TEST(BlkifFeatures, RangesAreEachEnds) {
    namespace node = blkif_config_node;
    EXPECT_EQ(read(BlkifEnd::frontend, {{std::string(node::max_indirect_segments), "4096"}})
                  .max_indirect_segments,
              4096u);
    EXPECT_NE(
        error_of(BlkifEnd::frontend, node::max_indirect_segments, "4097").find("from 0 to 4096"),
        std::string::npos);
    EXPECT_NE(error_of(BlkifEnd::backend, node::max_indirect_segments, "257").find("from 0 to 256"),
              std::string::npos);
    EXPECT_EQ(read(BlkifEnd::backend, {{std::string(node::max_ring_page_order), "4"}})
                  .max_ring_page_order,
              4u);
    EXPECT_EQ(read(BlkifEnd::backend, {{std::string(node::max_queues), "16"}}).max_queues, 16u);
    EXPECT_EQ(read(BlkifEnd::backend, {{std::string(node::max_queues), "1"}}).max_queues, 1u);
}

TEST(BlkifFeatures, BadValuesNameTheNodeAndTheRange) {
    namespace node = blkif_config_node;
    for (const BlkifEnd end : {BlkifEnd::frontend, BlkifEnd::backend}) {
        for (const std::string bad : {"", "2", "yes", "on", " 1", "01x"}) {
            const std::string message = error_of(end, node::persistent, bad);
            EXPECT_NE(message.find("pvsim-feature-persistent \"" + bad + "\" is not 0 or 1"),
                      std::string::npos)
                << message;
        }
        for (const std::string bad : {"", "x", "-1", "1.5", "+2", "99999999999", "5"}) {
            const std::string message = error_of(end, node::max_ring_page_order, bad);
            EXPECT_NE(message.find("pvsim-max-ring-page-order \"" + bad +
                                   "\" is not a number from 0 to 4"),
                      std::string::npos)
                << message;
        }
        for (const std::string bad : {"0", "17"}) {
            EXPECT_NE(error_of(end, node::max_queues, bad).find("from 1 to 16"), std::string::npos);
        }
        for (const std::string_view flag : {node::discard, node::flush_cache, node::barrier}) {
            EXPECT_NE(error_of(end, flag, "true").find(std::string(flag)), std::string::npos);
        }
    }
    EXPECT_NE(error_of(BlkifEnd::backend, node::grant_mode, "steal").find("is not map or copy"),
              std::string::npos);
    // The frontend has no say in the grant mode, whatever the value.
    EXPECT_NE(error_of(BlkifEnd::frontend, node::grant_mode, "map").find("the backend's"),
              std::string::npos);
}

TEST(BlkifFeatures, GrantModeText) {
    EXPECT_EQ(to_string(BlkifGrantMode::map), "map");
    EXPECT_EQ(to_string(BlkifGrantMode::copy), "copy");
    EXPECT_EQ(parse_grant_mode("copy"), BlkifGrantMode::copy);
    EXPECT_EQ(parse_grant_mode("map"), BlkifGrantMode::map);
    EXPECT_FALSE(parse_grant_mode("Map").has_value());
    EXPECT_FALSE(parse_grant_mode("").has_value());
}

}  // namespace
}  // namespace pvsim::xen
