// BlockRequest -> virtio-blk requests: descriptors per contiguous run of
// pages, seg_max and size_max splits, flush and discard shapes, status
// bytes, and what the driver takes from a device's features and config.
#include <cerrno>
#include <cstring>

#include <gtest/gtest.h>

#include "tests/support/block_request.hpp"

#include "common/virtio/vhost_user.hpp"
#include "frontend/virtio_blk/negotiate.hpp"
#include "frontend/virtio_blk/request_builder.hpp"

namespace pvsim::frontend::virtio_blk {
namespace {

using virtio::BlkFeature;
using virtio::BlkReqType;

using test::request_of;

TEST(RequestBuilderTest, ContiguousPagesShareADescriptor) {
    const GuestBuffer buffer{.pages = {10, 11, 12, 20, 21}, .length = 5 * 4096};
    const auto plans = plan_requests(
        request_of(BlockOperation::write, 64, &buffer),
        RequestLimits{
            .max_segments = 16, .max_segment_bytes = 0xfffff000, .max_discard_sectors = 1});
    ASSERT_EQ(plans.size(), 1u);
    EXPECT_EQ(plans[0].type, BlkReqType::out);
    EXPECT_EQ(plans[0].sector, 64u);
    const std::vector<DataSegment> expected = {{.gpa = 10 * 4096, .len = 3 * 4096},
                                               {.gpa = 20 * 4096, .len = 2 * 4096}};
    EXPECT_EQ(plans[0].data, expected);
}

TEST(RequestBuilderTest, SegMaxAndSizeMaxSplitIntoConsecutiveRequests) {
    const GuestBuffer buffer{.pages = {1, 2, 3, 4, 5, 7, 9}, .length = 6 * 4096 + 1024};
    // Runs of at most two pages, two segments per request.
    const auto plans = plan_requests(
        request_of(BlockOperation::read, 100, &buffer),
        RequestLimits{.max_segments = 2, .max_segment_bytes = 2 * 4096, .max_discard_sectors = 1});
    ASSERT_EQ(plans.size(), 3u);
    EXPECT_EQ(plans[0].type, BlkReqType::in);
    EXPECT_EQ(plans[0].sector, 100u);
    EXPECT_EQ(plans[0].data,
              (std::vector<DataSegment>{{1 * 4096, 2 * 4096}, {3 * 4096, 2 * 4096}}));
    EXPECT_EQ(plans[1].sector, 100u + 32);
    EXPECT_EQ(plans[1].data, (std::vector<DataSegment>{{5 * 4096, 4096}, {7 * 4096, 4096}}));
    EXPECT_EQ(plans[2].sector, 100u + 48);
    EXPECT_EQ(plans[2].data, (std::vector<DataSegment>{{9 * 4096, 1024}}));
    // One page per request: seven, the partial last page at sector 48.
    const auto more = plan_requests(
        request_of(BlockOperation::read, 0, &buffer),
        RequestLimits{.max_segments = 1, .max_segment_bytes = 4096, .max_discard_sectors = 1});
    ASSERT_EQ(more.size(), 7u);
    EXPECT_EQ(more[6].sector, 48u);
    EXPECT_EQ(more[6].data, (std::vector<DataSegment>{{9 * 4096, 1024}}));
}

TEST(RequestBuilderTest, FlushAndDiscard) {
    const RequestLimits limits{
        .max_segments = 8, .max_segment_bytes = 0xfffff000, .max_discard_sectors = 1000};
    const auto flush = plan_requests(request_of(BlockOperation::flush, 77, nullptr), limits);
    ASSERT_EQ(flush.size(), 1u);
    EXPECT_EQ(flush[0].type, BlkReqType::flush);
    EXPECT_EQ(flush[0].sector, 0u);
    EXPECT_TRUE(flush[0].data.empty());

    const auto discard =
        plan_requests(request_of(BlockOperation::discard, 500, nullptr, 2500), limits);
    ASSERT_EQ(discard.size(), 3u);
    EXPECT_EQ(discard[0].type, BlkReqType::discard);
    EXPECT_EQ(discard[0].sector, 500u);
    EXPECT_EQ(discard[0].discard_sectors, 1000u);
    EXPECT_EQ(discard[2].sector, 2500u);
    EXPECT_EQ(discard[2].discard_sectors, 500u);
}

TEST(RequestBuilderTest, MalformedRequestsAreRefused) {
    const RequestLimits limits{
        .max_segments = 8, .max_segment_bytes = 0xfffff000, .max_discard_sectors = 1000};
    const GuestBuffer odd{.pages = {1}, .length = 100};
    const GuestBuffer too_long{.pages = {1}, .length = 8192};
    const GuestBuffer empty{.pages = {1}, .length = 0};
    const GuestBuffer page{.pages = {1}, .length = 4096};
    EXPECT_THROW(plan_requests(request_of(BlockOperation::read, 0, nullptr), limits),
                 std::invalid_argument);
    EXPECT_THROW(plan_requests(request_of(BlockOperation::read, 0, &odd), limits),
                 std::invalid_argument);
    EXPECT_THROW(plan_requests(request_of(BlockOperation::write, 0, &too_long), limits),
                 std::invalid_argument);
    EXPECT_THROW(plan_requests(request_of(BlockOperation::write, 0, &empty), limits),
                 std::invalid_argument);
    EXPECT_THROW(plan_requests(request_of(BlockOperation::discard, 0, nullptr, 0), limits),
                 std::invalid_argument);
    EXPECT_THROW(plan_requests(request_of(BlockOperation::flush, 0, &page), limits),
                 std::invalid_argument);
}

TEST(RequestBuilderTest, StatusBytes) {
    EXPECT_EQ(status_errno(0), 0);
    EXPECT_EQ(status_errno(1), -EIO);
    EXPECT_EQ(status_errno(2), -EOPNOTSUPP);
    EXPECT_EQ(status_errno(0xff), -EIO);
}

TEST(NegotiateTest, FeaturesAreTheOfferedOnesTheDriverKnows) {
    const std::uint64_t offered =
        virtio::feature_mask(virtio::Feature::version_1) |
        virtio::feature_mask(virtio::Feature::event_idx) | virtio::feature_mask(BlkFeature::flush) |
        virtio::feature_mask(BlkFeature::topology) | virtio::feature_mask(BlkFeature::lifetime) |
        virtio::feature_mask(vhost_user::kFProtocolFeatures);
    const std::uint64_t chosen = select_features(offered);
    EXPECT_EQ(chosen, offered & ~(virtio::feature_mask(BlkFeature::topology) |
                                  virtio::feature_mask(BlkFeature::lifetime)));
    EXPECT_THROW(select_features(virtio::feature_mask(BlkFeature::flush)), std::runtime_error);

    using vhost_user::ProtocolFeature;
    const std::uint64_t protocol =
        vhost_user::protocol_feature_mask(ProtocolFeature::mq) |
        vhost_user::protocol_feature_mask(ProtocolFeature::reply_ack) |
        vhost_user::protocol_feature_mask(ProtocolFeature::config) |
        vhost_user::protocol_feature_mask(ProtocolFeature::inflight_shmfd) |
        vhost_user::protocol_feature_mask(ProtocolFeature::backend_req);
    EXPECT_EQ(select_protocol_features(protocol),
              vhost_user::protocol_feature_mask(ProtocolFeature::mq) |
                  vhost_user::protocol_feature_mask(ProtocolFeature::reply_ack) |
                  vhost_user::protocol_feature_mask(ProtocolFeature::config));
}

TEST(NegotiateTest, DiskConfigUnderTheNegotiatedFeatures) {
    virtio::VirtioBlkConfig config{};
    config.capacity = 131072;
    config.seg_max = 1022;
    config.size_max = 65536;
    config.blk_size = 4096;
    config.num_queues = 4;
    config.wce = 0;
    config.max_discard_sectors = 32768;
    std::vector<std::byte> bytes(sizeof(config));
    std::memcpy(bytes.data(), &config, sizeof(config));

    const std::uint64_t all =
        virtio::feature_mask(BlkFeature::seg_max) | virtio::feature_mask(BlkFeature::size_max) |
        virtio::feature_mask(BlkFeature::blk_size) | virtio::feature_mask(BlkFeature::mq) |
        virtio::feature_mask(BlkFeature::flush) | virtio::feature_mask(BlkFeature::config_wce) |
        virtio::feature_mask(BlkFeature::discard) | virtio::feature_mask(BlkFeature::ro);
    const DiskConfig disk = read_disk_config(bytes, all, 256);
    EXPECT_EQ(disk.capacity, 131072u);
    EXPECT_EQ(disk.sector_size, 4096u);
    EXPECT_TRUE(disk.read_only);
    EXPECT_TRUE(disk.flush);
    EXPECT_FALSE(disk.writeback);  // CONFIG_WCE with wce 0: writethrough
    EXPECT_TRUE(disk.discard);
    EXPECT_EQ(disk.device_queues, 4u);
    EXPECT_EQ(disk.limits.max_segments, 254u);  // the queue size less header and status
    EXPECT_EQ(disk.limits.max_segment_bytes, 65536u);
    EXPECT_EQ(disk.limits.max_discard_sectors, 32768u);

    // Nothing negotiated: only capacity counts, and one segment per request.
    const DiskConfig bare = read_disk_config(bytes, 0, 256);
    EXPECT_EQ(bare.sector_size, 512u);
    EXPECT_FALSE(bare.read_only);
    EXPECT_FALSE(bare.flush);
    EXPECT_EQ(bare.device_queues, 1u);
    EXPECT_EQ(bare.limits.max_segments, 1u);

    // A config as short as QEMU 7.2's is enough.
    EXPECT_EQ(
        read_disk_config(std::span(bytes).first(kConfigSizeWithoutSecureErase), all, 256).capacity,
        131072u);
    EXPECT_THROW(read_disk_config(std::span(bytes).first(20), all, 256), std::runtime_error);
    config.blk_size = 1000;
    std::memcpy(bytes.data(), &config, sizeof(config));
    EXPECT_THROW(read_disk_config(bytes, all, 256), std::runtime_error);
}

}  // namespace
}  // namespace pvsim::frontend::virtio_blk
