// virtio-blk request, status and configuration layouts, feature bits and
// the names used in logs.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "common/virtio/features.hpp"
#include "common/virtio/virtio_blk.hpp"

namespace {

namespace v = pvsim::virtio;

TEST(VirtioBlk, RequestTypeNames) {
    EXPECT_EQ(v::name(v::BlkReqType::in), "VIRTIO_BLK_T_IN");
    EXPECT_EQ(v::name(v::BlkReqType::out), "VIRTIO_BLK_T_OUT");
    EXPECT_EQ(v::name(v::BlkReqType::flush), "VIRTIO_BLK_T_FLUSH");
    EXPECT_EQ(v::name(v::BlkReqType::get_id), "VIRTIO_BLK_T_GET_ID");
    EXPECT_EQ(v::name(v::BlkReqType::get_lifetime), "VIRTIO_BLK_T_GET_LIFETIME");
    EXPECT_EQ(v::name(v::BlkReqType::discard), "VIRTIO_BLK_T_DISCARD");
    EXPECT_EQ(v::name(v::BlkReqType::write_zeroes), "VIRTIO_BLK_T_WRITE_ZEROES");
    EXPECT_EQ(v::name(v::BlkReqType::secure_erase), "VIRTIO_BLK_T_SECURE_ERASE");
    // Raw values from the wire that are no request type.
    for (std::uint32_t raw : {2u, 3u, 5u, 9u, 12u, 15u, 0x80000000u}) {
        EXPECT_EQ(v::name(static_cast<v::BlkReqType>(raw)), "VIRTIO_BLK_T_UNKNOWN") << raw;
    }
}

TEST(VirtioBlk, StatusNames) {
    EXPECT_EQ(v::name(v::BlkStatus::ok), "VIRTIO_BLK_S_OK");
    EXPECT_EQ(v::name(v::BlkStatus::ioerr), "VIRTIO_BLK_S_IOERR");
    EXPECT_EQ(v::name(v::BlkStatus::unsupp), "VIRTIO_BLK_S_UNSUPP");
    EXPECT_EQ(v::name(static_cast<v::BlkStatus>(3)), "VIRTIO_BLK_S_UNKNOWN");
    EXPECT_EQ(static_cast<int>(v::BlkStatus::unsupp), 2);
}

TEST(VirtioBlk, OutHdrIsSixteenLittleEndianBytes) {
    const v::VirtioBlkOutHdr h{static_cast<std::uint32_t>(v::BlkReqType::out), 0,
                               0x0102030405060708ull};
    unsigned char bytes[sizeof h];
    std::memcpy(bytes, &h, sizeof h);
    const unsigned char expected[16] = {1, 0, 0, 0, 0, 0, 0, 0, 8, 7, 6, 5, 4, 3, 2, 1};
    EXPECT_EQ(std::memcmp(bytes, expected, sizeof expected), 0);
}

TEST(VirtioBlk, DiscardSegmentLayout) {
    EXPECT_EQ(offsetof(v::VirtioBlkDiscardWriteZeroes, sector), 0u);
    EXPECT_EQ(offsetof(v::VirtioBlkDiscardWriteZeroes, num_sectors), 8u);
    EXPECT_EQ(offsetof(v::VirtioBlkDiscardWriteZeroes, flags), 12u);
    EXPECT_EQ(v::kBlkWriteZeroesFlagUnmap, 1u);
}

TEST(VirtioBlk, ConfigOffsetsAsTheHeaderPacksThem) {
    using C = v::VirtioBlkConfig;
    EXPECT_EQ(offsetof(C, capacity), 0u);
    EXPECT_EQ(offsetof(C, size_max), 8u);
    EXPECT_EQ(offsetof(C, seg_max), 12u);
    EXPECT_EQ(offsetof(C, geometry), 16u);
    EXPECT_EQ(offsetof(C, blk_size), 20u);
    EXPECT_EQ(offsetof(C, physical_block_exp), 24u);
    EXPECT_EQ(offsetof(C, alignment_offset), 25u);
    EXPECT_EQ(offsetof(C, min_io_size), 26u);
    EXPECT_EQ(offsetof(C, opt_io_size), 28u);
    EXPECT_EQ(offsetof(C, wce), 32u);
    EXPECT_EQ(offsetof(C, num_queues), 34u);
    EXPECT_EQ(offsetof(C, max_discard_sectors), 36u);
    EXPECT_EQ(offsetof(C, max_write_zeroes_sectors), 48u);
    EXPECT_EQ(offsetof(C, write_zeroes_may_unmap), 56u);
    EXPECT_EQ(offsetof(C, max_secure_erase_sectors), 60u);
    EXPECT_EQ(offsetof(C, secure_erase_sector_alignment), 68u);
    EXPECT_EQ(sizeof(C), 72u);  // no tail padding despite the u64: packed
    EXPECT_EQ(alignof(C), 1u);
}

TEST(VirtioBlk, LifetimeLayout) {
    EXPECT_EQ(offsetof(v::VirtioBlkLifetime, device_lifetime_est_typ_a), 2u);
    EXPECT_EQ(offsetof(v::VirtioBlkLifetime, device_lifetime_est_typ_b), 4u);
    EXPECT_EQ(v::kBlkPreEolInfoUrgent, 3);
}

TEST(VirtioBlk, FeatureBitsAndNames) {
    EXPECT_EQ(v::feature_mask(v::BlkFeature::flush), 1ull << 9);
    EXPECT_EQ(v::feature_mask(v::BlkFeature::secure_erase), 1ull << 16);
    EXPECT_EQ(v::blk_feature_name(13), "VIRTIO_BLK_F_DISCARD");
    EXPECT_EQ(v::blk_feature_name(15), "VIRTIO_BLK_F_LIFETIME");
    EXPECT_EQ(v::blk_feature_name(3), "");   // bit 3 was never assigned
    EXPECT_EQ(v::blk_feature_name(32), "");  // a device-independent bit
    const std::uint64_t f =
        v::feature_mask(v::BlkFeature::flush) | v::feature_mask(v::BlkFeature::ro);
    EXPECT_TRUE(v::has_feature(f, v::BlkFeature::ro));
    EXPECT_FALSE(v::has_feature(f, v::BlkFeature::discard));
}

TEST(VirtioBlk, DescribeFeaturesNamesEveryBitInOrder) {
    // What qemu-storage-daemon's vhost-user-blk export offers, plus an
    // unknown bit and vhost-user's protocol-features bit.
    const std::uint64_t offered = v::feature_mask(v::BlkFeature::seg_max) |
                                  v::feature_mask(v::BlkFeature::flush) |
                                  v::feature_mask(v::Feature::event_idx) | v::feature_mask(30) |
                                  v::feature_mask(v::Feature::version_1) | v::feature_mask(45);
    EXPECT_EQ(v::describe_blk_features(offered),
              "VIRTIO_BLK_F_SEG_MAX|VIRTIO_BLK_F_FLUSH|VIRTIO_F_EVENT_IDX|bit 30|"
              "VIRTIO_F_VERSION_1|bit 45");
    EXPECT_EQ(v::describe_blk_features(0), "");
}

TEST(VirtioBlk, SectorsAreAlways512Bytes) {
    EXPECT_EQ(v::kSectorSize, 512u);
    EXPECT_EQ(1ull << v::kSectorShift, v::kSectorSize);
    EXPECT_EQ(v::kBlkIdBytes, 20u);
    EXPECT_EQ(v::kVirtioIdBlock, 2u);
}

}  // namespace
