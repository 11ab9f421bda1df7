// Splitting block requests into blkif requests (xen/io/blkif.h): at most 11
// segments each, 512-byte sectors, first_sect/last_sect per 4 KiB page, and
// consecutive requests continuing on the disk where the previous one ended.
#include <gtest/gtest.h>

#include <numeric>
#include <stdexcept>

#include "frontend/blkfront/request_builder.hpp"

namespace pvsim::frontend::blkfront {
namespace {

GuestBuffer buffer_of(std::size_t pages, std::size_t length, hypervisor::Gfn first_gfn = 100) {
    GuestBuffer buffer;
    for (std::size_t i = 0; i < pages; ++i) {
        buffer.pages.push_back(first_gfn + i * 3);  // not contiguous, on purpose
    }
    buffer.length = length;
    return buffer;
}

constexpr auto kFlush = xen::BlkifOp::flush_diskcache;

TEST(RequestBuilder, OnePageReadIsOneSegmentOfEightSectors) {
    const GuestBuffer buffer = buffer_of(1, 4096);
    const auto plans = plan_requests(BlockOperation::read, 24, &buffer, kFlush);
    ASSERT_EQ(plans.size(), 1u);
    EXPECT_EQ(plans[0].operation, xen::BlkifOp::read);
    EXPECT_EQ(plans[0].sector, 24u);
    ASSERT_EQ(plans[0].segments.size(), 1u);
    EXPECT_EQ(plans[0].segments[0], (SegmentPlan{100, 0, 7}));
    EXPECT_EQ(plans[0].sectors(), 8u);
    EXPECT_EQ(plans[0].bytes(), 4096u);
}

TEST(RequestBuilder, ShortLastPageEndsEarly) {
    const GuestBuffer buffer = buffer_of(3, 2 * 4096 + 1024);
    const auto plans = plan_requests(BlockOperation::write, 0, &buffer, kFlush);
    ASSERT_EQ(plans.size(), 1u);
    EXPECT_EQ(plans[0].operation, xen::BlkifOp::write);
    ASSERT_EQ(plans[0].segments.size(), 3u);
    EXPECT_EQ(plans[0].segments[0], (SegmentPlan{100, 0, 7}));
    EXPECT_EQ(plans[0].segments[1], (SegmentPlan{103, 0, 7}));
    EXPECT_EQ(plans[0].segments[2], (SegmentPlan{106, 0, 1}));
    EXPECT_EQ(plans[0].sectors(), 18u);
}

TEST(RequestBuilder, OneSectorIsFirstSectZeroLastSectZero) {
    const GuestBuffer buffer = buffer_of(1, 512);
    const auto plans = plan_requests(BlockOperation::read, 7, &buffer, kFlush);
    ASSERT_EQ(plans.size(), 1u);
    EXPECT_EQ(plans[0].segments[0], (SegmentPlan{100, 0, 0}));
}

TEST(RequestBuilder, ElevenPagesFitOneRequestTwelveNeedTwo) {
    const GuestBuffer eleven = buffer_of(11, 11 * 4096);
    EXPECT_EQ(plan_requests(BlockOperation::read, 0, &eleven, kFlush).size(), 1u);

    const GuestBuffer twelve = buffer_of(12, 12 * 4096);
    const auto plans = plan_requests(BlockOperation::read, 1000, &twelve, kFlush);
    ASSERT_EQ(plans.size(), 2u);
    EXPECT_EQ(plans[0].segments.size(), 11u);
    EXPECT_EQ(plans[0].sector, 1000u);
    EXPECT_EQ(plans[1].segments.size(), 1u);
    EXPECT_EQ(plans[1].sector, 1000u + 88u);
    EXPECT_EQ(plans[1].segments[0].gfn, 100u + 11 * 3);
}

TEST(RequestBuilder, LargeIoCoversEveryPageOnceInOrderAndContiguouslyOnDisk) {
    const std::size_t pages = 40;
    const GuestBuffer buffer = buffer_of(pages, pages * 4096 - 3 * 512);
    const auto plans = plan_requests(BlockOperation::write, 5, &buffer, kFlush);
    ASSERT_EQ(plans.size(), 4u);  // 11 + 11 + 11 + 7
    std::uint64_t sector = 5;
    std::size_t page = 0;
    std::uint64_t total = 0;
    for (const BlkifRequestPlan& plan : plans) {
        EXPECT_LE(plan.segments.size(), xen::kBlkifMaxSegmentsPerRequest);
        EXPECT_EQ(plan.sector, sector);
        for (const SegmentPlan& segment : plan.segments) {
            EXPECT_EQ(segment.gfn, buffer.pages[page++]);
            EXPECT_EQ(segment.first_sect, 0);
            EXPECT_LE(segment.last_sect, 7);
        }
        sector += plan.sectors();
        total += plan.bytes();
    }
    EXPECT_EQ(page, pages);
    EXPECT_EQ(total, buffer.length);
    EXPECT_EQ(plans.back().segments.back().last_sect, 4);  // 8 - 3 sectors
}

TEST(RequestBuilder, ExtraPagesBeyondTheLengthAreNotUsed) {
    const GuestBuffer buffer = buffer_of(4, 4096);
    const auto plans = plan_requests(BlockOperation::read, 0, &buffer, kFlush);
    ASSERT_EQ(plans.size(), 1u);
    EXPECT_EQ(plans[0].segments.size(), 1u);
}

TEST(RequestBuilder, FlushIsOneRequestWithoutSegmentsInTheGivenOperation) {
    auto plans = plan_requests(BlockOperation::flush, 0, nullptr, xen::BlkifOp::flush_diskcache);
    ASSERT_EQ(plans.size(), 1u);
    EXPECT_EQ(plans[0].operation, xen::BlkifOp::flush_diskcache);
    EXPECT_TRUE(plans[0].segments.empty());
    plans = plan_requests(BlockOperation::flush, 0, nullptr, xen::BlkifOp::write_barrier);
    EXPECT_EQ(plans[0].operation, xen::BlkifOp::write_barrier);
}

TEST(RequestBuilder, MalformedRequestsAreRefusedWithAReason) {
    const GuestBuffer odd = buffer_of(1, 1000);
    const GuestBuffer empty = buffer_of(1, 0);
    const GuestBuffer overrun = buffer_of(1, 4096 + 512);
    EXPECT_THROW(plan_requests(BlockOperation::read, 0, nullptr, kFlush), std::invalid_argument);
    EXPECT_THROW(plan_requests(BlockOperation::read, 0, &odd, kFlush), std::invalid_argument);
    EXPECT_THROW(plan_requests(BlockOperation::write, 0, &empty, kFlush), std::invalid_argument);
    EXPECT_THROW(plan_requests(BlockOperation::write, 0, &overrun, kFlush), std::invalid_argument);
    const GuestBuffer data = buffer_of(1, 4096);
    EXPECT_THROW(plan_requests(BlockOperation::flush, 0, &data, kFlush), std::invalid_argument);
    try {
        plan_requests(BlockOperation::read, 0, &odd, kFlush);
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("1000"), std::string::npos) << e.what();
    }
}

TEST(RequestBuilder, SlotCarriesIdHandleSectorAndSegmentsWithPaddingZero) {
    const GuestBuffer buffer = buffer_of(2, 4096 + 1536);
    const auto plans = plan_requests(BlockOperation::write, 77, &buffer, kFlush);
    const xen::GrantRef refs[] = {40, 41};
    const xen::BlkifRequest slot = make_blkif_request(plans[0], 9, 51712, refs);
    EXPECT_EQ(slot.operation, xen::BlkifOp::write);
    EXPECT_EQ(slot.nr_segments, 2);
    EXPECT_EQ(slot.handle, 51712);
    EXPECT_EQ(slot.id, 9u);
    EXPECT_EQ(slot.sector_number, 77u);
    EXPECT_EQ(slot.seg[0].gref, 40u);
    EXPECT_EQ(slot.seg[0].first_sect, 0);
    EXPECT_EQ(slot.seg[0].last_sect, 7);
    EXPECT_EQ(slot.seg[1].gref, 41u);
    EXPECT_EQ(slot.seg[1].last_sect, 2);
    // Unused segments and padding are zero: nothing uninitialised reaches
    // the shared page.
    EXPECT_EQ(slot.pad[0] | slot.pad[1] | slot.pad[2] | slot.pad[3], 0);
    for (unsigned i = 2; i < xen::kBlkifMaxSegmentsPerRequest; ++i) {
        EXPECT_EQ(slot.seg[i].gref, 0u);
    }
    const xen::GrantRef one[] = {1};
    EXPECT_THROW(make_blkif_request(plans[0], 0, 0, one), std::invalid_argument);
}

// __blkdev_issue_discard's split for a queue with the backend's
// discard-granularity (bio_discard_limit, Linux 6.x): the first request ends
// at the first granularity boundary, the rest start on one; without a
// granularity, one request.
TEST(RequestBuilder, DiscardIsSplitAtTheFirstGranularityBoundaryAsBioDiscardLimit) {
    auto ranges = [](std::uint64_t sector, std::uint64_t sectors, std::uint32_t granularity) {
        std::vector<std::pair<std::uint64_t, std::uint64_t>> out;
        for (const auto& plan :
             plan_requests(BlockOperation::discard, sector, nullptr, kFlush,
                           xen::kBlkifMaxSegmentsPerRequest, sectors, granularity)) {
            EXPECT_EQ(plan.operation, xen::BlkifOp::discard);
            out.emplace_back(plan.sector, plan.discard_sectors);
        }
        return out;
    };
    using Ranges = std::vector<std::pair<std::uint64_t, std::uint64_t>>;
    EXPECT_EQ(ranges(3, 100, 0), (Ranges{{3, 100}}));
    EXPECT_EQ(ranges(3, 100, 512), (Ranges{{3, 100}}));
    EXPECT_EQ(ranges(3, 100, 4096), (Ranges{{3, 5}, {8, 95}}));
    EXPECT_EQ(ranges(8, 100, 4096), (Ranges{{8, 100}}));
    EXPECT_EQ(ranges(3, 4, 4096), (Ranges{{3, 4}}));
    // No request longer than UINT_MAX bytes rounded down to the granularity.
    const std::uint64_t cap = 0xffffffffull / 4096 * 4096 / 512;
    EXPECT_EQ(ranges(0, cap + 8, 4096), (Ranges{{0, cap}, {cap, 8}}));
}

}  // namespace
}  // namespace pvsim::frontend::blkfront
