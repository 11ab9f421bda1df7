// Reading what blkback publishes before Connected (blkif.h backend nodes,
// Linux blkfront_connect): required nodes, defaults, and a clear error for
// a value that is not what blkif.h says it is.
#include <gtest/gtest.h>

#include <map>
#include <stdexcept>
#include <string>

#include "frontend/blkfront/disk_info.hpp"

namespace pvsim::frontend::blkfront {
namespace {

class DiskInfoTest : public ::testing::Test {
  protected:
    std::map<std::string, std::string> nodes_ = {
        {"sectors", "2048"}, {"sector-size", "512"}, {"info", "0"}};

    DiskInfo read() {
        return read_disk_info([this](std::string_view key) -> std::optional<std::string> {
            const auto it = nodes_.find(std::string(key));
            if (it == nodes_.end()) {
                return std::nullopt;
            }
            return it->second;
        });
    }
    std::string error() {
        try {
            read();
        } catch (const std::invalid_argument& e) {
            return e.what();
        }
        return {};
    }
};

TEST_F(DiskInfoTest, MinimalBackendReadsWithDefaults) {
    const DiskInfo disk = read();
    EXPECT_EQ(disk.sectors, 2048u);
    EXPECT_EQ(disk.sector_size, 512u);
    EXPECT_EQ(disk.physical_sector_size, 512u);
    EXPECT_FALSE(disk.read_only());
    EXPECT_FALSE(disk.feature_flush_cache);
    EXPECT_FALSE(disk.feature_barrier);
    EXPECT_FALSE(disk.flush_operation().has_value());
}

TEST_F(DiskInfoTest, FeaturesAndInfoBits) {
    nodes_["info"] = "4";  // VDISK_READONLY
    nodes_["physical-sector-size"] = "4096";
    nodes_["feature-flush-cache"] = "1";
    nodes_["feature-barrier"] = "1";
    nodes_["feature-discard"] = "0";
    nodes_["feature-persistent"] = "0";
    nodes_["feature-max-indirect-segments"] = "256";
    const DiskInfo disk = read();
    EXPECT_TRUE(disk.read_only());
    EXPECT_EQ(disk.physical_sector_size, 4096u);
    EXPECT_EQ(disk.max_indirect_segments, 256u);
    // Linux prefers FLUSH_DISKCACHE over a barrier.
    EXPECT_EQ(disk.flush_operation(), xen::BlkifOp::flush_diskcache);
    nodes_["feature-flush-cache"] = "0";
    EXPECT_EQ(read().flush_operation(), xen::BlkifOp::write_barrier);
}

TEST_F(DiskInfoTest, MissingRequiredNodeIsNamed) {
    nodes_.erase("sectors");
    EXPECT_NE(error().find("'sectors' is missing"), std::string::npos) << error();
}

TEST_F(DiskInfoTest, BadValuesAreNamedWithTheirText) {
    nodes_["sectors"] = "lots";
    EXPECT_NE(error().find("'sectors' = 'lots'"), std::string::npos) << error();
    nodes_["sectors"] = "-5";
    EXPECT_NE(error().find("'sectors' = '-5'"), std::string::npos);
    nodes_["sectors"] = "18446744073709551616";  // 2^64
    EXPECT_NE(error().find("out of range"), std::string::npos);
    nodes_["sectors"] = "2048";
    nodes_["sector-size"] = "1000";
    EXPECT_NE(error().find("power of two"), std::string::npos);
    nodes_["sector-size"] = "256";
    EXPECT_NE(error().find("power of two"), std::string::npos);
    nodes_["sector-size"] = "4096";
    nodes_["physical-sector-size"] = "512";
    EXPECT_NE(error().find("multiple of sector-size"), std::string::npos);
    nodes_.erase("physical-sector-size");
    nodes_["feature-flush-cache"] = "yes";
    EXPECT_NE(error().find("'feature-flush-cache' = 'yes'"), std::string::npos);
}

// blkfront_setup_discard (Linux 4.x-6.x): the discard limits are read only
// when feature-discard is on, each 0 when missing; a bad one is an error.
TEST_F(DiskInfoTest, DiscardLimitsAreReadWithFeatureDiscardOnlyAsBlkfrontSetupDiscard) {
    nodes_["discard-granularity"] = "4096";
    nodes_["discard-alignment"] = "512";
    nodes_["discard-secure"] = "1";
    DiskInfo disk = read();
    EXPECT_EQ(disk.discard_granularity, 0u);
    EXPECT_EQ(disk.discard_alignment, 0u);
    EXPECT_FALSE(disk.feature_secdiscard);
    nodes_["feature-discard"] = "1";
    disk = read();
    EXPECT_EQ(disk.discard_granularity, 4096u);
    EXPECT_EQ(disk.discard_alignment, 512u);
    EXPECT_TRUE(disk.feature_secdiscard);
    nodes_.erase("discard-granularity");
    nodes_.erase("discard-alignment");
    nodes_.erase("discard-secure");
    disk = read();
    EXPECT_EQ(disk.discard_granularity, 0u);
    EXPECT_EQ(disk.discard_alignment, 0u);
    EXPECT_FALSE(disk.feature_secdiscard);
    nodes_["discard-granularity"] = "4k";
    EXPECT_NE(error().find("'discard-granularity' = '4k'"), std::string::npos);
}

TEST(NodeNumber, PlainDecimalOnly) {
    EXPECT_EQ(parse_node_number("k", "0", 10), 0u);
    EXPECT_EQ(parse_node_number("k", "10", 10), 10u);
    EXPECT_THROW(parse_node_number("k", "11", 10), std::invalid_argument);
    EXPECT_THROW(parse_node_number("k", "", 10), std::invalid_argument);
    EXPECT_THROW(parse_node_number("k", " 1", 10), std::invalid_argument);
    EXPECT_THROW(parse_node_number("k", "+1", 10), std::invalid_argument);
    EXPECT_THROW(parse_node_number("k", "0x1", 10), std::invalid_argument);
    EXPECT_FALSE(parse_node_flag("k", std::nullopt));
    EXPECT_TRUE(parse_node_flag("k", std::nullopt, true));
    EXPECT_TRUE(parse_node_flag("k", std::string("2")));
}

}  // namespace
}  // namespace pvsim::frontend::blkfront
