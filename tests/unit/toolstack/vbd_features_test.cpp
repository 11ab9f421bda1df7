// The "pvsim-*" nodes the toolstack writes for a DISKSPEC's blkif features
// (tools/toolstack/vbd_features.hpp): only what is set, in the names of
// common/xen/blkif_features.hpp, read back by each end to what was asked,
// and a value the end would refuse refused before anything is written.
#include <gtest/gtest.h>

#include <map>
#include <stdexcept>

#include "tools/toolstack/disk_spec.hpp"
#include "tools/toolstack/vbd_features.hpp"

namespace pvsim::tools::toolstack {
namespace {

using xen::BlkifEnd;
using xen::BlkifFeatureConfig;

BlkifFeatureConfig read_back(const ConfigNodes& nodes, BlkifEnd end) {
    const std::map<std::string, std::string, std::less<>> store(nodes.begin(), nodes.end());
    return xen::read_blkif_feature_config(end, [&](std::string_view name) {
        const auto found = store.find(name);
        return found == store.end() ? std::nullopt : std::optional<std::string>(found->second);
    });
}

TEST(VbdFeatures, NothingSetWritesNothing) {
    EXPECT_TRUE(blkif_config_nodes({}, BlkifEnd::frontend).empty());
    EXPECT_TRUE(blkif_config_nodes({}, BlkifEnd::backend).empty());
}

TEST(VbdFeatures, EveryBackendSettingIsItsNodeAndReadsBack) {
    const DiskSpec spec = parse_disk_spec(
        "target=/a.img,vdev=xvda,persistent=off,max-indirect-segments=64,ring-page-order=2,"
        "queues=3,discard=off,flush=off,barrier=on,grant-mode=copy");
    const ConfigNodes nodes = blkif_config_nodes(spec.backend_features, BlkifEnd::backend);
    const ConfigNodes expected = {
        {"pvsim-feature-persistent", "0"},  {"pvsim-max-indirect-segments", "64"},
        {"pvsim-max-ring-page-order", "2"}, {"pvsim-max-queues", "3"},
        {"pvsim-feature-discard", "0"},     {"pvsim-feature-flush-cache", "0"},
        {"pvsim-feature-barrier", "1"},     {"pvsim-grant-mode", "copy"}};
    EXPECT_EQ(nodes, expected);
    const BlkifFeatureConfig config = read_back(nodes, BlkifEnd::backend);
    EXPECT_FALSE(config.persistent);
    EXPECT_EQ(config.max_indirect_segments, 64u);
    EXPECT_EQ(config.max_ring_page_order, 2u);
    EXPECT_EQ(config.max_queues, 3u);
    EXPECT_FALSE(config.discard);
    EXPECT_FALSE(config.flush_cache);
    EXPECT_TRUE(config.barrier);
    EXPECT_EQ(config.grant_mode, xen::BlkifGrantMode::copy);

    // The frontend gets the same, without the grant mode.
    const ConfigNodes front = blkif_config_nodes(spec.frontend_features, BlkifEnd::frontend);
    EXPECT_EQ(front.size(), expected.size() - 1);
    EXPECT_EQ(read_back(front, BlkifEnd::frontend).max_queues, 3u);
}

TEST(VbdFeatures, UnsetOnesKeepTheEndsDefaults) {
    BlkifFeatureSettings settings;
    settings.persistent = false;
    const BlkifFeatureConfig config =
        read_back(blkif_config_nodes(settings, BlkifEnd::frontend), BlkifEnd::frontend);
    BlkifFeatureConfig expected = BlkifFeatureConfig::defaults(BlkifEnd::frontend);
    expected.persistent = false;
    EXPECT_EQ(config.max_indirect_segments, expected.max_indirect_segments);
    EXPECT_EQ(config.max_ring_page_order, expected.max_ring_page_order);
    EXPECT_EQ(config.max_queues, expected.max_queues);
    EXPECT_FALSE(config.persistent);
    EXPECT_TRUE(config.discard);
}

TEST(VbdFeatures, WhatTheEndWouldRefuseIsRefused) {
    BlkifFeatureSettings settings;
    settings.max_queues = 0;
    try {
        (void)blkif_config_nodes(settings, BlkifEnd::backend);
        ADD_FAILURE() << "queues 0 accepted";
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("backend: pvsim-max-queues \"0\" is not a number "
                                             "from 1 to 16"),
                  std::string::npos)
            << e.what();
    }
    BlkifFeatureSettings copy;
    copy.grant_mode = xen::BlkifGrantMode::copy;
    EXPECT_THROW((void)blkif_config_nodes(copy, BlkifEnd::frontend), std::invalid_argument);
    BlkifFeatureSettings segments;
    segments.max_indirect_segments = 512;
    EXPECT_THROW((void)blkif_config_nodes(segments, BlkifEnd::backend), std::invalid_argument);
    EXPECT_EQ(blkif_config_nodes(segments, BlkifEnd::frontend).size(), 1u);
}

TEST(VbdFeatures, OrElseFillsOnlyWhatIsUnset) {
    BlkifFeatureSettings mine;
    mine.max_queues = 2;
    BlkifFeatureSettings fallback;
    fallback.max_queues = 4;
    fallback.discard = false;
    const BlkifFeatureSettings merged = mine.or_else(fallback);
    EXPECT_EQ(merged.max_queues, 2u);
    EXPECT_EQ(merged.discard, false);
    EXPECT_FALSE(merged.persistent.has_value());
    EXPECT_FALSE(merged.empty());
    EXPECT_TRUE(BlkifFeatureSettings{}.empty());
}

}  // namespace
}  // namespace pvsim::tools::toolstack
