// The shadow table (Linux xen-blkfront.c struct blk_shadow and its free
// list): ids are ring slots, pending from take() to release(), and the only
// ids a response may name.
#include <gtest/gtest.h>

#include <set>
#include <stdexcept>

#include "frontend/blkfront/shadow.hpp"

namespace pvsim::frontend::blkfront {
namespace {

TEST(ShadowTable, HandsOutEveryIdOnceThenIsFull) {
    ShadowTable shadow(32);
    std::set<std::uint64_t> ids;
    for (int i = 0; i < 32; ++i) {
        const auto id = shadow.take();
        ASSERT_TRUE(id.has_value());
        EXPECT_LT(*id, 32u);
        EXPECT_TRUE(ids.insert(*id).second);
        EXPECT_TRUE(shadow.pending(*id));
    }
    EXPECT_TRUE(shadow.full());
    EXPECT_EQ(shadow.in_use(), 32u);
    EXPECT_FALSE(shadow.take().has_value());
}

TEST(ShadowTable, ReleasedIdIsFreeAgainAndNoLongerPending) {
    ShadowTable shadow(4);
    const auto id = *shadow.take();
    EXPECT_EQ(id, 0u);  // lowest first
    shadow.at(id).grants.push_back(17);
    shadow.at(id).request.operation = xen::BlkifOp::write;
    ShadowEntry entry = shadow.release(id);
    EXPECT_EQ(entry.grants.size(), 1u);
    EXPECT_EQ(entry.request.operation, xen::BlkifOp::write);
    EXPECT_FALSE(shadow.pending(id));
    EXPECT_EQ(shadow.in_use(), 0u);
    // Reused, with a fresh entry.
    const auto again = *shadow.take();
    EXPECT_EQ(again, id);
    EXPECT_TRUE(shadow.at(again).grants.empty());
}

TEST(ShadowTable, IdsNotPendingAreRefused) {
    ShadowTable shadow(4);
    EXPECT_FALSE(shadow.pending(0));
    EXPECT_FALSE(shadow.pending(4));
    EXPECT_FALSE(shadow.pending(~0ull));
    EXPECT_THROW(shadow.at(1), std::out_of_range);
    EXPECT_THROW(shadow.release(99), std::out_of_range);
    const auto id = *shadow.take();
    shadow.release(id);
    EXPECT_THROW(shadow.release(id), std::out_of_range);  // answered twice
}

TEST(ShadowTable, PendingIdsListsWhatIsInFlight) {
    ShadowTable shadow(8);
    for (int i = 0; i < 5; ++i) {
        shadow.take();
    }
    shadow.release(1);
    shadow.release(3);
    EXPECT_EQ(shadow.pending_ids(), (std::vector<std::uint64_t>{0, 2, 4}));
}

TEST(PendingIo, CompletesOnItsLastPartWithTheFirstError) {
    PendingIo io(BlockCompletion{});
    io.outstanding = 3;
    EXPECT_FALSE(io.finish_part(0));
    EXPECT_FALSE(io.finish_part(-EIO));
    EXPECT_TRUE(io.finish_part(-EOPNOTSUPP));
    EXPECT_EQ(io.status, -EIO);
}

}  // namespace
}  // namespace pvsim::frontend::blkfront
