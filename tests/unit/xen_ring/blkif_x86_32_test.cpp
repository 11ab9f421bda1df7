// x86_32-abi: the 32-bit block ring layout against Linux
// drivers/block/xen-blkback/common.h (Linux 6.x: struct
// blkif_x86_32_request and its u.rw / u.discard / u.other / u.indirect,
// all __attribute__((__packed__)), and DEFINE_RING_TYPES(blkif_x86_32,
// struct blkif_x86_32_request, struct blkif_response __packed)); the
// translation blkif_get_x86_32_req makes; and both ring ends in that layout.
#include "common/xen/blkif_x86_32.hpp"

#include <gtest/gtest.h>

#include <cstddef>
#include <cstring>

#include "common/xen/blkif_rings.hpp"
#include "tests/support/page_buffer.hpp"

namespace pvsim::xen {
namespace {

// The sizes and offsets below are common.h's, counted by hand: one byte of
// operation, then the union laid out with no padding before the 8-byte id.
TEST(BlkifX86_32Layout, RequestsAreLinuxsPackedStructs) {
    // struct blkif_x86_32_request (u.rw): 1 + 1 + 2 + 8 + 8 + 11 * 8.
    EXPECT_EQ(sizeof(BlkifX86_32Request), 108u);
    EXPECT_EQ(offsetof(BlkifX86_32Request, nr_segments), 1u);
    EXPECT_EQ(offsetof(BlkifX86_32Request, handle), 2u);
    EXPECT_EQ(offsetof(BlkifX86_32Request, id), 4u);
    EXPECT_EQ(offsetof(BlkifX86_32Request, sector_number), 12u);
    EXPECT_EQ(offsetof(BlkifX86_32Request, seg), 20u);
    // u.discard.
    EXPECT_EQ(offsetof(BlkifX86_32RequestDiscard, flag), 1u);
    EXPECT_EQ(offsetof(BlkifX86_32RequestDiscard, id), 4u);
    EXPECT_EQ(offsetof(BlkifX86_32RequestDiscard, sector_number), 12u);
    EXPECT_EQ(offsetof(BlkifX86_32RequestDiscard, nr_sectors), 20u);
    // u.other.
    EXPECT_EQ(offsetof(BlkifX86_32RequestOther, id), 4u);
    // u.indirect, with its 8-byte _pad2 "make it 64 byte aligned".
    EXPECT_EQ(sizeof(BlkifX86_32RequestIndirect), 64u);
    EXPECT_EQ(offsetof(BlkifX86_32RequestIndirect, indirect_op), 1u);
    EXPECT_EQ(offsetof(BlkifX86_32RequestIndirect, nr_segments), 2u);
    EXPECT_EQ(offsetof(BlkifX86_32RequestIndirect, id), 4u);
    EXPECT_EQ(offsetof(BlkifX86_32RequestIndirect, sector_number), 12u);
    EXPECT_EQ(offsetof(BlkifX86_32RequestIndirect, handle), 20u);
    EXPECT_EQ(offsetof(BlkifX86_32RequestIndirect, indirect_grefs), 24u);
    EXPECT_EQ(offsetof(BlkifX86_32RequestIndirect, pad2), 56u);
}

TEST(BlkifX86_32Layout, ResponsesAreTwelveBytes) {
    // struct blkif_response __packed.
    EXPECT_EQ(sizeof(BlkifX86_32Response), 12u);
    EXPECT_EQ(offsetof(BlkifX86_32Response, id), 0u);
    EXPECT_EQ(offsetof(BlkifX86_32Response, operation), 8u);
    EXPECT_EQ(offsetof(BlkifX86_32Response, status), 10u);
}

TEST(BlkifX86_32Layout, SlotsAre108BytesAndAPageHolds32) {
    // __RING_SIZE: (4096 - 64) / 108 = 37 slots fit, rounded down to 32; 16
    // pages: (65536 - 64) / 108 = 606, rounded down to 512.
    EXPECT_EQ(sizeof(BlkifX86_32SringEntry), 108u);
    EXPECT_EQ((ring_entries_offset<BlkifX86_32Request, BlkifX86_32Response>()), 64u);
    EXPECT_EQ(blkif_x86_32_ring_size(0), 32u);
    EXPECT_EQ(blkif_x86_32_ring_size(4), 512u);
}

TEST(BlkifX86_32Protocol, OnlyTheTwoX86NamesAreKnown) {
    EXPECT_EQ(parse_blkif_protocol("x86_64-abi"), BlkifProtocol::x86_64);
    EXPECT_EQ(parse_blkif_protocol("x86_32-abi"), BlkifProtocol::x86_32);
    EXPECT_EQ(parse_blkif_protocol("arm-abi"), std::nullopt);
    EXPECT_EQ(parse_blkif_protocol(""), std::nullopt);
    EXPECT_EQ(to_string(BlkifProtocol::x86_32), "x86_32-abi");
    EXPECT_EQ(to_string(BlkifProtocol::x86_64), "x86_64-abi");
}

TEST(BlkifX86_32Translation, ReadWriteCopiesOnlyTheSegmentsItCarries) {
    BlkifX86_32Request src{};
    src.operation = BlkifOp::write;
    src.nr_segments = 2;
    src.handle = 51712;
    src.id = 0x0102030405060708;
    src.sector_number = 99;
    for (unsigned i = 0; i < kBlkifMaxSegmentsPerRequest; ++i) {
        src.seg[i] = BlkifRequestSegment{100 + i, 1, 6, {0, 0}};
    }
    const BlkifRequest dst = blkif_get_x86_32_req(src);
    EXPECT_EQ(dst.operation, BlkifOp::write);
    EXPECT_EQ(dst.nr_segments, 2u);
    EXPECT_EQ(dst.handle, 51712u);
    EXPECT_EQ(dst.id, 0x0102030405060708u);
    EXPECT_EQ(dst.sector_number, 99u);
    EXPECT_EQ(dst.seg[1].gref, 101u);
    EXPECT_EQ(dst.seg[1].last_sect, 6u);
    // n = min(nr_segments, 11): the rest stays zero.
    EXPECT_EQ(dst.seg[2].gref, 0u);
    EXPECT_EQ(blkif_get_x86_32_req(blkif_put_x86_32_req(dst)).seg[1].gref, 101u);
}

TEST(BlkifX86_32Translation, IndirectCopiesTheFramesItsSegmentsNeed) {
    BlkifRequestIndirect native{};
    native.operation = BlkifOp::indirect;
    native.indirect_op = BlkifOp::read;
    native.nr_segments = 513;  // two frames
    native.id = 77;
    native.sector_number = 4096;
    native.handle = 3;
    for (unsigned i = 0; i < kBlkifMaxIndirectPagesPerRequest; ++i) {
        native.indirect_grefs[i] = 500 + i;
    }
    const BlkifX86_32Request slot = blkif_put_x86_32_req(blkif_request_slot(native));
    unsigned char bytes[sizeof slot];
    std::memcpy(bytes, &slot, sizeof slot);
    EXPECT_EQ(bytes[1], 0u);  // indirect_op: BLKIF_OP_READ
    GrantRef first = 0;
    std::memcpy(&first, bytes + 24, sizeof first);
    EXPECT_EQ(first, 500u);

    const auto back = blkif_request_as<BlkifRequestIndirect>(blkif_get_x86_32_req(slot));
    EXPECT_EQ(back.indirect_op, BlkifOp::read);
    EXPECT_EQ(back.nr_segments, 513u);
    EXPECT_EQ(back.id, 77u);
    EXPECT_EQ(back.sector_number, 4096u);
    EXPECT_EQ(back.handle, 3u);
    EXPECT_EQ(back.indirect_grefs[1], 501u);
    EXPECT_EQ(back.indirect_grefs[2], 0u);  // INDIRECT_PAGES(513) = 2
}

TEST(BlkifX86_32Translation, DiscardAndUnknownOperations) {
    BlkifRequestDiscard discard{};
    discard.operation = BlkifOp::discard;
    discard.flag = kBlkifDiscardSecure;
    discard.handle = 9;  // _pad1 in the 32-bit layout: not carried
    discard.id = 5;
    discard.sector_number = 16;
    discard.nr_sectors = 32;
    const auto back = blkif_request_as<BlkifRequestDiscard>(
        blkif_get_x86_32_req(blkif_put_x86_32_req(blkif_request_slot(discard))));
    EXPECT_EQ(back.flag, kBlkifDiscardSecure);
    EXPECT_EQ(back.handle, 0u);
    EXPECT_EQ(back.id, 5u);
    EXPECT_EQ(back.sector_number, 16u);
    EXPECT_EQ(back.nr_sectors, 32u);

    // "Only get the ID so failure can be reported to the frontend."
    BlkifX86_32Request other{};
    other.operation = static_cast<BlkifOp>(200);
    other.nr_segments = 3;
    other.id = 0xfeed;
    other.sector_number = 12;
    const BlkifRequest dst = blkif_get_x86_32_req(other);
    EXPECT_EQ(static_cast<unsigned>(dst.operation), 200u);
    EXPECT_EQ(dst.id, 0xfeedu);
    EXPECT_EQ(dst.nr_segments, 0u);
    EXPECT_EQ(dst.sector_number, 0u);
}

TEST(BlkifX86_32Rings, BothEndsSpeakTheLayoutAndTheRestSeesNativeMessages) {
    test::PageBuffer area(kXenPageSize);
    BlkifFrontRings front = BlkifX86_32FrontRing::init_shared(area.data(), area.size());
    BlkifBackRings back = BlkifX86_32BackRing(area.data(), area.size());
    EXPECT_EQ(front.protocol(), BlkifProtocol::x86_32);
    EXPECT_EQ(back.size(), 32u);
    for (std::uint64_t id = 0; id < 40; ++id) {  // past one lap of the ring
        BlkifRequest req{};
        req.operation = BlkifOp::read;
        req.nr_segments = 1;
        req.id = id;
        req.sector_number = id * 8;
        front.produce_request(req);
        (void)front.push_requests_and_check_notify();
        ASSERT_EQ(back.unconsumed_requests(), 1u);
        const BlkifRequest got = back.consume_request();
        EXPECT_EQ(got.id, id);
        EXPECT_EQ(got.sector_number, id * 8);
        BlkifResponse rsp{};
        rsp.id = got.id;
        rsp.operation = got.operation;
        rsp.status = BlkifStatus::eopnotsupp;
        back.produce_response(rsp);
        (void)back.push_responses_and_check_notify();
        // The response lies in the 108-byte slot of its index.
        std::uint64_t raw_id = 0;
        std::memcpy(&raw_id, static_cast<const std::byte*>(area.data()) + 64 + (id % 32) * 108,
                    sizeof raw_id);
        EXPECT_EQ(raw_id, id);
        ASSERT_EQ(front.unconsumed_responses(), 1u);
        const BlkifResponse answer = front.consume_response();
        EXPECT_EQ(answer.id, id);
        EXPECT_EQ(answer.status, BlkifStatus::eopnotsupp);
    }
}

}  // namespace
}  // namespace pvsim::xen
