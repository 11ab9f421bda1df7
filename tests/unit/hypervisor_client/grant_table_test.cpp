// The granting side of grant tables (Linux drivers/xen/grant-table.c), with
// the test playing the hypervisor: it pins and unpins entries by setting
// GTF_reading / GTF_writing in the shared flags, as xen/common/grant_table.c
// does.
#include "hypervisor/client/grant_table.hpp"

#include <algorithm>
#include <chrono>
#include <mutex>
#include <new>
#include <set>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/eventually.hpp"
#include "tests/support/log_capture.hpp"

namespace pvsim::hypervisor {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

class GrantTableTest : public ::testing::Test {
  protected:
    std::vector<xen::GrantEntryV1> entries_ =
        std::vector<xen::GrantEntryV1>(xen::kGrantEntriesPerFrame);
    GrantTable table_{entries_};

    // The hypervisor's pin and unpin of an entry.
    void pin(xen::GrantRef ref, std::uint16_t flag) {
        xen::grant_flags(entries_[ref]).fetch_or(flag);
    }
    void unpin(xen::GrantRef ref, std::uint16_t flag) {
        xen::grant_flags(entries_[ref]).fetch_and(static_cast<std::uint16_t>(~flag));
    }
};

TEST_F(GrantTableTest, GrantFillsAV1EntryForTheGrantee) {
    const xen::GrantRef ref = table_.grant_access(3, 0x1234, false);
    EXPECT_EQ(entries_[ref].domid, 3);
    EXPECT_EQ(entries_[ref].frame, 0x1234u);
    EXPECT_EQ(entries_[ref].flags, xen::kGtfPermitAccess);
    EXPECT_EQ(&table_.entry(ref), &entries_[ref]);
}

TEST_F(GrantTableTest, ReadonlyGrantsCarryGtfReadonly) {
    const xen::GrantRef ref = table_.grant_access(0, 42, true);
    EXPECT_EQ(entries_[ref].flags, xen::kGtfPermitAccess | xen::kGtfReadonly);
    EXPECT_EQ(entries_[ref].frame, 42u);
}

TEST_F(GrantTableTest, ReservedRefsAreNeverHandedOutAndEveryOtherRefIs) {
    std::set<xen::GrantRef> refs;
    for (std::size_t i = 0; i < table_.capacity() - xen::kGnttabNrReservedEntries; ++i) {
        const xen::GrantRef ref = table_.grant_access(1, i, false);
        EXPECT_GE(ref, xen::kGnttabNrReservedEntries);
        EXPECT_LT(ref, table_.capacity());
        refs.insert(ref);
    }
    EXPECT_EQ(refs.size(), table_.capacity() - xen::kGnttabNrReservedEntries);
    EXPECT_EQ(table_.free_count(), 0u);
    // The reserved entries were left alone.
    for (xen::GrantRef ref = 0; ref < xen::kGnttabNrReservedEntries; ++ref) {
        EXPECT_EQ(entries_[ref].flags, 0) << ref;
    }
    EXPECT_THROW(table_.grant_access(1, 7, false), std::bad_alloc);
}

TEST_F(GrantTableTest, AFreedRefCanBeGrantedAgain) {
    std::vector<xen::GrantRef> refs;
    while (table_.free_count() > 0) {
        refs.push_back(table_.grant_access(1, 5, false));
    }
    EXPECT_TRUE(table_.try_end_access(refs[10]));
    EXPECT_EQ(table_.free_count(), 1u);
    EXPECT_EQ(table_.grant_access(2, 6, true), refs[10]);
    EXPECT_EQ(entries_[refs[10]].domid, 2);
}

TEST_F(GrantTableTest, EndingAccessClearsTheFlags) {
    const xen::GrantRef ref = table_.grant_access(1, 9, false);
    const std::size_t free_before = table_.free_count();
    EXPECT_TRUE(table_.try_end_access(ref));
    EXPECT_EQ(entries_[ref].flags, 0);
    EXPECT_EQ(table_.free_count(), free_before + 1);
}

TEST_F(GrantTableTest, EndFailsWhilePinnedAndKeepsTheRefAllocated) {
    for (const std::uint16_t flag : {xen::kGtfReading, xen::kGtfWriting}) {
        const xen::GrantRef ref = table_.grant_access(1, 9, false);
        pin(ref, flag);
        const std::size_t free_before = table_.free_count();
        EXPECT_FALSE(table_.try_end_access(ref));
        EXPECT_FALSE(table_.try_end_access(ref));
        EXPECT_EQ(table_.free_count(), free_before);
        // The entry is still valid for the mapper.
        EXPECT_EQ(entries_[ref].flags, xen::kGtfPermitAccess | flag);
        unpin(ref, flag);
        EXPECT_TRUE(table_.try_end_access(ref));
        EXPECT_EQ(table_.free_count(), free_before + 1);
    }
}

TEST_F(GrantTableTest, APinnedRefIsNeverHandedOutAgain) {
    const xen::GrantRef pinned = table_.grant_access(1, 9, false);
    pin(pinned, xen::kGtfWriting);
    EXPECT_FALSE(table_.end_access(pinned));
    while (table_.free_count() > 0) {
        EXPECT_NE(table_.grant_access(1, 1, false), pinned);
    }
    EXPECT_THROW(table_.grant_access(1, 1, false), std::bad_alloc);
}

TEST_F(GrantTableTest, APinnedRefIsDeferredAndReclaimedOnceUnpinned) {
    const xen::GrantRef a = table_.grant_access(1, 10, false);
    const xen::GrantRef b = table_.grant_access(1, 11, true);
    const xen::GrantRef c = table_.grant_access(1, 12, false);
    pin(a, xen::kGtfWriting);
    pin(b, xen::kGtfReading);
    const std::size_t free_before = table_.free_count();

    EXPECT_FALSE(table_.end_access(a));
    EXPECT_FALSE(table_.end_access(b));
    EXPECT_TRUE(table_.end_access(c));
    EXPECT_EQ(table_.deferred_count(), 2u);
    EXPECT_EQ(table_.free_count(), free_before + 1);

    EXPECT_THAT(table_.reclaim_deferred(), IsEmpty());
    unpin(b, xen::kGtfReading);
    EXPECT_THAT(table_.reclaim_deferred(), ElementsAre(b));
    EXPECT_EQ(table_.deferred_count(), 1u);
    EXPECT_EQ(entries_[b].flags, 0);
    unpin(a, xen::kGtfWriting);
    EXPECT_THAT(table_.reclaim_deferred(), ElementsAre(a));
    EXPECT_EQ(table_.deferred_count(), 0u);
    EXPECT_EQ(table_.free_count(), free_before + 3);
}

TEST_F(GrantTableTest, ADeferredRefCannotBeEndedAgain) {
    const xen::GrantRef ref = table_.grant_access(1, 10, false);
    pin(ref, xen::kGtfReading);
    EXPECT_FALSE(table_.end_access(ref));
    EXPECT_THROW(table_.end_access(ref), std::invalid_argument);
    EXPECT_THROW(table_.try_end_access(ref), std::invalid_argument);
    EXPECT_EQ(table_.deferred_count(), 1u);
}

TEST_F(GrantTableTest, EndingARefTwiceOrOneNeverGrantedIsRejected) {
    const xen::GrantRef ref = table_.grant_access(1, 10, false);
    EXPECT_TRUE(table_.try_end_access(ref));
    EXPECT_THROW(table_.try_end_access(ref), std::invalid_argument);
    EXPECT_THROW(table_.end_access(ref), std::invalid_argument);
    // Reserved, never granted, and past the end of the table.
    EXPECT_THROW(table_.try_end_access(xen::kGnttabReservedXenstore), std::invalid_argument);
    EXPECT_THROW(table_.try_end_access(300), std::invalid_argument);
    EXPECT_THROW(table_.end_access(xen::kGrantEntriesPerFrame), std::invalid_argument);
    EXPECT_THROW((void)table_.entry(xen::kGrantEntriesPerFrame), std::out_of_range);
}

TEST_F(GrantTableTest, AFrameBeyondThirtyTwoBitsIsRefused) {
    const std::size_t free_before = table_.free_count();
    EXPECT_THROW(table_.grant_access(1, std::uint64_t{1} << 32, false), std::invalid_argument);
    EXPECT_EQ(table_.free_count(), free_before);
}

// gnttab_handle_deferred on its timer: a parked grant whose other end has
// let go ends with no call from its owner, and its page goes back.
TEST(GrantTableReclaimTimer, AParkedGrantEndsOnTheTimerOnceUnpinnedAndItsPageIsFreed) {
    std::vector<xen::GrantEntryV1> entries(xen::kGrantEntriesPerFrame);
    std::mutex mutex;
    std::vector<std::uint64_t> freed;
    GrantTable table(
        entries,
        [&](std::uint64_t gfn) {
            std::lock_guard lock(mutex);
            freed.push_back(gfn);
        },
        ReclaimTiming{std::chrono::milliseconds(10), 10, 60});
    const xen::GrantRef ref = table.grant_access(1, 0x42, false);
    xen::grant_flags(entries[ref]).fetch_or(xen::kGtfReading);
    EXPECT_FALSE(table.end_access(ref, 0x42));
    // Still pinned: passes go by, nothing is freed.
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_EQ(table.deferred_count(), 1u);
    EXPECT_EQ(table.deferred_pages_freed(), 0u);
    xen::grant_flags(entries[ref]).fetch_and(static_cast<std::uint16_t>(~xen::kGtfReading));
    // A pass takes the entry off the list, then frees its page outside the
    // lock (as gnttab_handle_deferred drops gnttab_list_lock to free it):
    // wait for the page, the pass's last step.
    EXPECT_TRUE(::pvsim::test::eventually([&] { return table.deferred_pages_freed() == 1; }));
    EXPECT_EQ(table.deferred_count(), 0u);
    std::lock_guard lock(mutex);
    EXPECT_EQ(freed, std::vector<std::uint64_t>{0x42});
}

// free_per_iteration: a timer pass ends at most ten entries, so 25
// unpinned at once are 15 after the first pass (passes are a second apart,
// Linux's HZ, and each holds the lock for all it does); reclaim_deferred()
// has no limit and ends the rest at once.
TEST(GrantTableReclaimTimer, ATimerPassEndsAtMostFreePerIterationEntries) {
    std::vector<xen::GrantEntryV1> entries(xen::kGrantEntriesPerFrame);
    GrantTable table(entries, {}, ReclaimTiming{std::chrono::milliseconds(1000), 10, 60});
    std::vector<xen::GrantRef> refs;
    for (int i = 0; i < 25; ++i) {
        refs.push_back(table.grant_access(1, 0x100 + i, true));
        xen::grant_flags(entries[refs.back()]).fetch_or(xen::kGtfReading);
        EXPECT_FALSE(table.end_access(refs.back()));
    }
    for (const xen::GrantRef ref : refs) {
        xen::grant_flags(entries[ref]).fetch_and(static_cast<std::uint16_t>(~xen::kGtfReading));
    }
    ASSERT_TRUE(::pvsim::test::eventually([&] { return table.deferred_count() < 25; }));
    EXPECT_EQ(table.deferred_count(), 15u);  // the next pass is a second away
    EXPECT_EQ(table.reclaim_deferred().size(), 15u);
    EXPECT_EQ(table.deferred_count(), 0u);
    EXPECT_EQ(table.free_count(), xen::kGrantEntriesPerFrame - xen::kGnttabNrReservedEntries);
}

// warn_delay: an entry the other end keeps mapped is named once.
TEST(GrantTableReclaimTimer, AnEntryStillPinnedAfterWarnDelayPassesIsNamedOnce) {
    ::pvsim::test::LogCapture log;
    {
        std::vector<xen::GrantEntryV1> entries(xen::kGrantEntriesPerFrame);
        GrantTable table(entries, {}, ReclaimTiming{std::chrono::milliseconds(5), 10, 3});
        const xen::GrantRef ref = table.grant_access(1, 7, false);
        xen::grant_flags(entries[ref]).fetch_or(xen::kGtfWriting | xen::kGtfReading);
        EXPECT_FALSE(table.end_access(ref));
        EXPECT_TRUE(::pvsim::test::eventually(
            [&] { return !log.warnings_with({"still pending"}).empty(); }));
        std::this_thread::sleep_for(std::chrono::milliseconds(50));  // ten more passes
        EXPECT_EQ(table.deferred_count(), 1u);
    }  // the table, and its timer, go before the capture
    EXPECT_EQ(log.warnings_with({"grant ref 0x", "still pending"}).size(), 1u);
}

TEST(GrantTableSmall, ATableNoBiggerThanTheReservedRefsHasNoneToGive) {
    std::vector<xen::GrantEntryV1> entries(xen::kGnttabNrReservedEntries);
    GrantTable table(entries);
    EXPECT_EQ(table.free_count(), 0u);
    EXPECT_THROW(table.grant_access(1, 1, false), std::bad_alloc);
}

}  // namespace
}  // namespace pvsim::hypervisor
