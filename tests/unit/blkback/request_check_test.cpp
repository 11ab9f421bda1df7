// Every per-request error of the block path (DESIGN.md §8), and
// what a valid request turns into, checked on the private copy alone.
#include <gtest/gtest.h>

#include "backend/blkback/request_check.hpp"

namespace pvsim::backend::blkback {
namespace {

using xen::BlkifOp;
using xen::BlkifRequest;
using xen::BlkifStatus;

VbdLimits disk(std::uint64_t sectors = 1024, bool read_only = false) {
    VbdLimits limits;
    limits.sectors = sectors;
    limits.read_only = read_only;
    limits.flush = !read_only;
    return limits;
}

BlkifRequest request(BlkifOp op, std::uint64_t sector, unsigned segments, std::uint8_t first = 0,
                     std::uint8_t last = 7) {
    BlkifRequest req{};
    req.operation = op;
    req.id = 0x1122334455667788ull;
    req.sector_number = sector;
    req.nr_segments = static_cast<std::uint8_t>(segments);
    for (unsigned i = 0; i < segments && i < xen::kBlkifMaxSegmentsPerRequest; ++i) {
        req.seg[i] = {100 + i, first, last, {0, 0}};
    }
    return req;
}

TEST(RequestCheck, AReadOfElevenWholePagesIsServed) {
    const RequestCheck check = check_request(request(BlkifOp::read, 10, 11), disk());
    ASSERT_TRUE(check.ok()) << check.reason;
    EXPECT_EQ(check.request.kind, IoKind::read);
    EXPECT_EQ(check.request.id, 0x1122334455667788ull);
    EXPECT_EQ(check.request.sector_number, 10u);
    EXPECT_EQ(check.request.nr_segments, 11u);
    EXPECT_EQ(check.request.nr_sectors, 88u);
    EXPECT_EQ(check.request.bytes(), 88u * 512);
    EXPECT_EQ(check.request.seg[10].gref, 110u);
    EXPECT_FALSE(check.request.maps_readonly());
}

TEST(RequestCheck, PartialSegmentsCountTheirSectors) {
    const RequestCheck check = check_request(request(BlkifOp::write, 0, 2, 3, 5), disk());
    ASSERT_TRUE(check.ok());
    EXPECT_EQ(check.request.nr_sectors, 6u);
    EXPECT_TRUE(check.request.maps_readonly());
}

TEST(RequestCheck, AWriteEndingExactlyAtTheEndIsServed) {
    EXPECT_TRUE(check_request(request(BlkifOp::write, 1016, 1), disk()).ok());
}

TEST(RequestCheck, AFlushNeedsNoSegmentAndMayCarrySome) {
    const RequestCheck empty = check_request(request(BlkifOp::flush_diskcache, 0, 0), disk());
    ASSERT_TRUE(empty.ok());
    EXPECT_EQ(empty.request.kind, IoKind::flush);
    EXPECT_EQ(empty.request.nr_sectors, 0u);
    const RequestCheck with_data = check_request(request(BlkifOp::flush_diskcache, 8, 2), disk());
    ASSERT_TRUE(with_data.ok());
    EXPECT_EQ(with_data.request.nr_sectors, 16u);
    EXPECT_TRUE(with_data.request.maps_readonly());
}

TEST(RequestCheck, UnknownOperationsAreNotSupported) {
    BlkifRequest req = request(BlkifOp::read, 0, 1);
    for (unsigned op : {4u, 7u, 99u, 255u}) {
        req.operation = static_cast<BlkifOp>(op);
        const RequestCheck check = check_request(req, disk());
        EXPECT_EQ(check.status, BlkifStatus::eopnotsupp) << op;
        EXPECT_EQ(static_cast<unsigned>(check.request.operation), op);
        EXPECT_EQ(check.request.id, req.id);
        EXPECT_FALSE(check.reason.empty());
    }
}

TEST(RequestCheck, OperationsNotOfferedAreNotSupported) {
    for (BlkifOp op : {BlkifOp::write_barrier, BlkifOp::discard, BlkifOp::indirect}) {
        EXPECT_EQ(check_request(request(op, 0, 1), disk()).status, BlkifStatus::eopnotsupp)
            << static_cast<unsigned>(op);
    }
}

// Linux dispatch_discard_io: "blkif->vbd.discard_secure &&
// (req->u.discard.flag & BLKIF_DISCARD_SECURE)" chooses a secure erase;
// without discard-secure the flag is ignored and the discard is plain.
TEST(RequestCheck, ASecureDiscardWithoutDiscardSecureIsAPlainDiscard) {
    VbdLimits limits = disk();
    limits.discard = true;
    xen::BlkifRequestDiscard discard{};
    discard.operation = BlkifOp::discard;
    discard.flag = xen::kBlkifDiscardSecure;
    discard.id = 7;
    discard.sector_number = 8;
    discard.nr_sectors = 16;
    const BlkifRequest req = xen::blkif_request_slot(discard);
    const auto plain = check_request(req, limits);
    EXPECT_EQ(plain.status, BlkifStatus::okay);
    EXPECT_FALSE(plain.request.secure);
    limits.discard_secure = true;
    const auto secure = check_request(req, limits);
    EXPECT_EQ(secure.status, BlkifStatus::okay);
    EXPECT_TRUE(secure.request.secure);
}

TEST(RequestCheck, AFlushOfAStoreWithoutCacheIsNotSupported) {
    VbdLimits limits = disk();
    limits.flush = false;
    EXPECT_EQ(check_request(request(BlkifOp::flush_diskcache, 0, 0), limits).status,
              BlkifStatus::eopnotsupp);
}

TEST(RequestCheck, NoSegmentOrMoreThanElevenIsAnError) {
    EXPECT_EQ(check_request(request(BlkifOp::read, 0, 0), disk()).status, BlkifStatus::error);
    EXPECT_EQ(check_request(request(BlkifOp::write, 0, 0), disk()).status, BlkifStatus::error);
    BlkifRequest twelve = request(BlkifOp::read, 0, 11);
    twelve.nr_segments = 12;
    EXPECT_EQ(check_request(twelve, disk()).status, BlkifStatus::error);
    twelve.nr_segments = 255;
    EXPECT_EQ(check_request(twelve, disk()).status, BlkifStatus::error);
    twelve.operation = BlkifOp::flush_diskcache;
    EXPECT_EQ(check_request(twelve, disk()).status, BlkifStatus::error);
}

TEST(RequestCheck, FirstSectAfterLastSectIsAnError) {
    const RequestCheck check = check_request(request(BlkifOp::read, 0, 1, 4, 3), disk());
    EXPECT_EQ(check.status, BlkifStatus::error);
    EXPECT_NE(check.reason.find("first_sect"), std::string_view::npos);
}

TEST(RequestCheck, LastSectBeyondThePageIsAnError) {
    EXPECT_EQ(check_request(request(BlkifOp::read, 0, 1, 0, 8), disk()).status, BlkifStatus::error);
    EXPECT_EQ(check_request(request(BlkifOp::read, 0, 1, 9, 255), disk()).status,
              BlkifStatus::error);
    // Only the bad segment of several.
    BlkifRequest req = request(BlkifOp::write, 0, 3);
    req.seg[2].last_sect = 8;
    EXPECT_EQ(check_request(req, disk()).status, BlkifStatus::error);
}

TEST(RequestCheck, ARangePastTheEndIsAnError) {
    EXPECT_EQ(check_request(request(BlkifOp::read, 1024, 1), disk()).status, BlkifStatus::error);
    EXPECT_EQ(check_request(request(BlkifOp::read, 1020, 1), disk()).status, BlkifStatus::error);
    // A sector number that wraps around 2^64 with the length.
    EXPECT_EQ(check_request(request(BlkifOp::write, ~0ull - 3, 1), disk()).status,
              BlkifStatus::error);
}

TEST(RequestCheck, AWriteOrFlushToAReadOnlyVbdIsAnError) {
    const VbdLimits ro = disk(1024, true);
    EXPECT_EQ(check_request(request(BlkifOp::write, 0, 1), ro).status, BlkifStatus::error);
    EXPECT_EQ(check_request(request(BlkifOp::flush_diskcache, 0, 0), ro).status,
              BlkifStatus::error);
    EXPECT_TRUE(check_request(request(BlkifOp::read, 0, 1), ro).ok());
}

TEST(RequestCheck, RangesMustFollowTheLogicalSectorSize) {
    VbdLimits limits = disk();
    limits.logical_sector_size = 4096;
    EXPECT_TRUE(check_request(request(BlkifOp::read, 8, 1), limits).ok());
    EXPECT_EQ(check_request(request(BlkifOp::read, 1, 1), limits).status, BlkifStatus::error);
    EXPECT_EQ(check_request(request(BlkifOp::read, 8, 1, 0, 3), limits).status, BlkifStatus::error);
}

}  // namespace
}  // namespace pvsim::backend::blkback
