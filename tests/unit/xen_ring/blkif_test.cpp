// blkif: the request layouts sharing one slot, indirect frame arithmetic and
// the names used in logs and errors.
#include "common/xen/blkif.hpp"

#include <gtest/gtest.h>

#include <cstring>

#include "tests/support/page_buffer.hpp"

namespace pvsim::xen {
namespace {

TEST(BlkifNames, OperationsAsTheHeaderSpellsThem) {
    EXPECT_EQ(name(BlkifOp::read), "BLKIF_OP_READ");
    EXPECT_EQ(name(BlkifOp::write), "BLKIF_OP_WRITE");
    EXPECT_EQ(name(BlkifOp::write_barrier), "BLKIF_OP_WRITE_BARRIER");
    EXPECT_EQ(name(BlkifOp::flush_diskcache), "BLKIF_OP_FLUSH_DISKCACHE");
    EXPECT_EQ(name(BlkifOp::reserved_1), "BLKIF_OP_RESERVED_1");
    EXPECT_EQ(name(BlkifOp::discard), "BLKIF_OP_DISCARD");
    EXPECT_EQ(name(BlkifOp::indirect), "BLKIF_OP_INDIRECT");
    EXPECT_EQ(name(static_cast<BlkifOp>(7)), "BLKIF_OP_UNKNOWN");
    EXPECT_EQ(name(static_cast<BlkifOp>(255)), "BLKIF_OP_UNKNOWN");
}

TEST(BlkifNames, StatusesAsTheHeaderSpellsThem) {
    EXPECT_EQ(name(BlkifStatus::okay), "BLKIF_RSP_OKAY");
    EXPECT_EQ(name(BlkifStatus::error), "BLKIF_RSP_ERROR");
    EXPECT_EQ(name(BlkifStatus::eopnotsupp), "BLKIF_RSP_EOPNOTSUPP");
    EXPECT_EQ(name(static_cast<BlkifStatus>(-3)), "BLKIF_RSP_UNKNOWN");
    EXPECT_EQ(name(static_cast<BlkifStatus>(1)), "BLKIF_RSP_UNKNOWN");
}

TEST(BlkifValues, OperationAndStatusNumbers) {
    EXPECT_EQ(static_cast<int>(BlkifOp::read), 0);
    EXPECT_EQ(static_cast<int>(BlkifOp::write), 1);
    EXPECT_EQ(static_cast<int>(BlkifOp::write_barrier), 2);
    EXPECT_EQ(static_cast<int>(BlkifOp::flush_diskcache), 3);
    EXPECT_EQ(static_cast<int>(BlkifOp::discard), 5);
    EXPECT_EQ(static_cast<int>(BlkifOp::indirect), 6);
    EXPECT_EQ(static_cast<int>(BlkifStatus::okay), 0);
    EXPECT_EQ(static_cast<int>(BlkifStatus::error), -1);
    EXPECT_EQ(static_cast<int>(BlkifStatus::eopnotsupp), -2);
}

TEST(BlkifLayouts, DiscardRoundTripsThroughTheSlot) {
    BlkifRequestDiscard discard{};
    discard.operation = BlkifOp::discard;
    discard.flag = kBlkifDiscardSecure;
    discard.handle = 51712;
    discard.id = 0x1122334455667788u;
    discard.sector_number = 4096;
    discard.nr_sectors = 1u << 20;

    BlkifRequest slot = blkif_request_slot(discard);
    // Fields common to every layout read straight from the slot.
    EXPECT_EQ(slot.operation, BlkifOp::discard);
    EXPECT_EQ(slot.id, discard.id);
    EXPECT_EQ(slot.handle, 51712u);
    EXPECT_EQ(slot.sector_number, 4096u);
    // Bytes past the discard layout are zero.
    const auto* bytes = reinterpret_cast<const unsigned char*>(&slot);
    for (std::size_t i = sizeof(BlkifRequestDiscard); i < sizeof slot; ++i) {
        ASSERT_EQ(bytes[i], 0u) << i;
    }
    BlkifRequestDiscard back = blkif_request_as<BlkifRequestDiscard>(slot);
    EXPECT_EQ(std::memcmp(&back, &discard, sizeof back), 0);
}

TEST(BlkifLayouts, IndirectRoundTripsThroughARing) {
    test::PageBuffer area(kXenPageSize);
    BlkifFrontRing front = BlkifFrontRing::init_shared(area.data(), area.size());
    BlkifBackRing back(area.data(), area.size());

    BlkifRequestIndirect indirect{};
    indirect.operation = BlkifOp::indirect;
    indirect.indirect_op = BlkifOp::write;
    indirect.nr_segments = 1000;
    indirect.id = 99;
    indirect.sector_number = 123456;
    indirect.handle = 51728;
    for (unsigned i = 0; i < kBlkifMaxIndirectPagesPerRequest; ++i) {
        indirect.indirect_grefs[i] = 100 + i;
    }
    front.produce_request(blkif_request_slot(indirect));
    front.push_requests();

    BlkifRequest req = back.consume_request();
    ASSERT_EQ(req.operation, BlkifOp::indirect);
    EXPECT_EQ(req.id, 99u);
    BlkifRequestIndirect got = blkif_request_as<BlkifRequestIndirect>(req);
    EXPECT_EQ(got.indirect_op, BlkifOp::write);
    EXPECT_EQ(got.nr_segments, 1000u);
    EXPECT_EQ(got.sector_number, 123456u);
    EXPECT_EQ(got.handle, 51728u);
    EXPECT_EQ(got.indirect_grefs[0], 100u);
    EXPECT_EQ(got.indirect_grefs[7], 107u);
}

TEST(BlkifIndirect, FramesPerSegmentCount) {
    EXPECT_EQ(kBlkifSegmentsPerIndirectFrame, 512u);
    EXPECT_EQ(kBlkifMaxIndirectSegments, 4096u);
    EXPECT_EQ(blkif_indirect_frames(0), 0u);
    EXPECT_EQ(blkif_indirect_frames(1), 1u);
    EXPECT_EQ(blkif_indirect_frames(512), 1u);
    EXPECT_EQ(blkif_indirect_frames(513), 2u);
    EXPECT_EQ(blkif_indirect_frames(4096), 8u);
}

TEST(BlkifConstants, SectorsAndSegments) {
    EXPECT_EQ(kBlkifMaxSegmentsPerRequest, 11u);
    EXPECT_EQ(kBlkifSectorSize, 512u);
    EXPECT_EQ(kBlkifSectorsPerFrame, 8u);
    EXPECT_EQ(kVdiskCdrom | kVdiskRemovable | kVdiskReadonly, 7u);
}

}  // namespace
}  // namespace pvsim::xen
