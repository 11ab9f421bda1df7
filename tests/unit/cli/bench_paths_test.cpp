// pvsim bench's path names (tools/cli/bench_paths.hpp): each named path is
// the Xen vbd with the one feature it names on and the others off, `xen:`
// items run on to the next name, and a bad list is a ParseError naming it.
#include <gtest/gtest.h>

#include "common/units.hpp"
#include "tools/cli/bench_paths.hpp"
#include "tools/toolstack/disk_spec.hpp"

namespace pvsim::tools::cli {
namespace {

toolstack::BlkifFeatureSettings backend_of(const BenchPath& path) {
    return toolstack::parse_disk_spec("target=/a,vdev=xvda" +
                                      (path.features.empty() ? "" : "," + path.features))
        .backend_features;
}

std::string error_of(const std::string& list) {
    try {
        (void)parse_bench_paths(list);
    } catch (const ParseError& e) {
        return e.what();
    }
    ADD_FAILURE() << list << " accepted";
    return {};
}

TEST(BenchPaths, XenIsEveryFeatureOff) {
    const auto paths = parse_bench_paths("xen");
    ASSERT_EQ(paths.size(), 1u);
    EXPECT_FALSE(paths[0].local);
    const auto features = backend_of(paths[0]);
    EXPECT_EQ(features.persistent, false);
    EXPECT_EQ(features.max_indirect_segments, 0u);
    EXPECT_EQ(features.max_ring_page_order, 0u);
    EXPECT_EQ(features.max_queues, 1u);
    EXPECT_EQ(features.grant_mode, xen::BlkifGrantMode::map);
}

TEST(BenchPaths, EachNamedPathTurnsOneFeatureOn) {
    const auto paths = parse_bench_paths(
        "local,xen-persistent,xen-indirect,xen-multipage,xen-mq,xen-copy,xen-all");
    ASSERT_EQ(paths.size(), 7u);
    EXPECT_TRUE(paths[0].local);
    EXPECT_EQ(backend_of(paths[1]).persistent, true);
    EXPECT_EQ(backend_of(paths[1]).max_queues, 1u);
    EXPECT_EQ(backend_of(paths[2]).max_indirect_segments, 256u);
    EXPECT_EQ(backend_of(paths[2]).persistent, false);
    EXPECT_EQ(backend_of(paths[3]).max_ring_page_order, 4u);
    EXPECT_EQ(backend_of(paths[4]).max_queues, 2u);
    EXPECT_EQ(backend_of(paths[5]).grant_mode, xen::BlkifGrantMode::copy);
    // Linux's defaults: nothing written.
    EXPECT_EQ(paths[6].features, "");
    EXPECT_TRUE(backend_of(paths[6]).empty());
}

TEST(BenchPaths, XenItemsRunOnToTheNextName) {
    const auto paths = parse_bench_paths("xen:persistent=on,queues=2,no-discard,local,xen");
    ASSERT_EQ(paths.size(), 3u);
    EXPECT_EQ(paths[0].name, "xen:persistent=on,queues=2,no-discard");
    EXPECT_EQ(paths[0].features, "persistent=on,queues=2,no-discard");
    EXPECT_EQ(backend_of(paths[0]).max_queues, 2u);
    EXPECT_TRUE(paths[1].local);
    EXPECT_EQ(paths[2].name, "xen");
}

TEST(BenchPaths, VirtioPathsNameTheirDevice) {
    const auto paths = parse_bench_paths("virtio,xen:queues=2,virtio-qsd");
    ASSERT_EQ(paths.size(), 3u);
    EXPECT_EQ(paths[0].name, "virtio");
    EXPECT_EQ(paths[0].virtio, VirtioDevice::pvsim);
    EXPECT_FALSE(paths[0].local);
    EXPECT_EQ(paths[1].virtio, VirtioDevice::none);
    EXPECT_EQ(paths[1].features, "queues=2");
    EXPECT_EQ(paths[2].name, "virtio-qsd");
    EXPECT_EQ(paths[2].virtio, VirtioDevice::qsd);
    EXPECT_NE(error_of("virtio,virtio").find("\"virtio\" given twice"), std::string::npos);
}

TEST(BenchPaths, BadListsAreParseErrors) {
    EXPECT_NE(
        error_of("xen,warp").find("unknown path \"warp\"; paths: local, virtio, virtio-qsd, xen"),
        std::string::npos);
    EXPECT_NE(error_of("").find("no path given"), std::string::npos);
    EXPECT_NE(error_of("xen-mq,xen-mq").find("\"xen-mq\" given twice"), std::string::npos);
    EXPECT_NE(error_of("queues=2").find("unknown path \"queues=2\""), std::string::npos);
    EXPECT_NE(error_of("xen:target=/b").find("only blkif feature items"), std::string::npos);
    EXPECT_NE(error_of("xen:ring-page-order=7").find("ring-page-order=7"), std::string::npos);
}

}  // namespace
}  // namespace pvsim::tools::cli
