// Grant entries: the compare-and-swap on the flags, the guest's publish and
// revoke, and status names and messages.
#include "common/xen/grant_table.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <thread>

#include "common/xen/event_channel.hpp"

namespace pvsim::xen {
namespace {

TEST(GrantFlags, CompareExchangeSwapsOnlyAnExpectedValue) {
    GrantEntryV1 entry{};
    grant_entry_publish(entry, 5, 0x1234, kGtfPermitAccess);
    EXPECT_EQ(entry.domid, 5u);
    EXPECT_EQ(entry.frame, 0x1234u);
    EXPECT_EQ(entry.flags, kGtfPermitAccess);

    std::uint16_t expected = kGtfPermitAccess;
    EXPECT_TRUE(grant_flags_compare_exchange(entry, expected, kGtfPermitAccess | kGtfWriting));
    EXPECT_EQ(entry.flags, kGtfPermitAccess | kGtfWriting);

    // A stale expectation fails and reports what is there now.
    expected = kGtfPermitAccess;
    EXPECT_FALSE(grant_flags_compare_exchange(entry, expected, 0));
    EXPECT_EQ(expected, kGtfPermitAccess | kGtfWriting);
    EXPECT_EQ(entry.flags, kGtfPermitAccess | kGtfWriting);
}

TEST(GrantFlags, EndAccessFailsWhilePinned) {
    GrantEntryV1 entry{};
    grant_entry_publish(entry, 1, 77, kGtfPermitAccess | kGtfReadonly | kGtfReading);
    EXPECT_FALSE(grant_entry_try_end_access(entry));
    EXPECT_EQ(entry.flags, kGtfPermitAccess | kGtfReadonly | kGtfReading);

    grant_flags(entry).fetch_and(static_cast<std::uint16_t>(~kGtfReading));
    grant_flags(entry).fetch_or(kGtfWriting);
    EXPECT_FALSE(grant_entry_try_end_access(entry));

    grant_flags(entry).fetch_and(static_cast<std::uint16_t>(~kGtfWriting));
    EXPECT_TRUE(grant_entry_try_end_access(entry));
    EXPECT_EQ(entry.flags, 0u);
}

// A pinning thread and a revoking thread race on one entry, each with
// compare-and-swap, as the hypervisor and the guest do. The revoke must never
// land while a pin is held (the unpin's swap would then find the flags
// changed under it), and once it has landed no pin is taken. The mapper makes
// a fixed number of attempts, so the revoke succeeds at the latest when it
// is done.
TEST(GrantFlags, RevokeAndPinNeverOverlap) {
    constexpr int kRounds = 50;
    constexpr int kPinAttempts = 2000;
    for (int round = 0; round < kRounds; ++round) {
        GrantEntryV1 entry{};
        grant_entry_publish(entry, 3, 1, kGtfPermitAccess);
        std::atomic<int> overlaps{0};
        std::atomic<int> pins_after_revoke{0};
        std::atomic<bool> revoked{false};
        std::atomic<bool> pinned_once{false};

        std::thread mapper([&] {
            for (int attempt = 0; attempt < kPinAttempts; ++attempt) {
                if (attempt % 16 == 0) {
                    std::this_thread::yield();
                }
                std::uint16_t flags = grant_flags(entry).load();
                if ((flags & kGtfTypeMask) != kGtfPermitAccess) {
                    continue;  // revoked: nothing to pin
                }
                const auto pinned = static_cast<std::uint16_t>(flags | kGtfReading);
                if (!grant_flags_compare_exchange(entry, flags, pinned)) {
                    continue;
                }
                if (revoked.load()) {
                    ++pins_after_revoke;
                }
                pinned_once = true;
                std::uint16_t expected = pinned;
                if (!grant_flags_compare_exchange(entry, expected, flags)) {
                    ++overlaps;
                }
            }
        });
        // Revoke while the mapper is busy pinning, not before it starts.
        while (!pinned_once.load()) {
            std::this_thread::yield();
        }
        while (!grant_entry_try_end_access(entry)) {
            std::this_thread::yield();
        }
        revoked = true;
        mapper.join();
        EXPECT_EQ(entry.flags, 0u);
        EXPECT_EQ(overlaps.load(), 0);
        EXPECT_EQ(pins_after_revoke.load(), 0);
    }
}

TEST(GrantStatus, NamesAndXenMessages) {
    EXPECT_EQ(name(GntSt::okay), "GNTST_okay");
    EXPECT_EQ(name(GntSt::bad_domain), "GNTST_bad_domain");
    EXPECT_EQ(name(GntSt::permission_denied), "GNTST_permission_denied");
    EXPECT_EQ(name(GntSt::no_space), "GNTST_no_space");
    EXPECT_EQ(name(static_cast<GntSt>(-14)), "GNTST_unknown");
    EXPECT_EQ(message(GntSt::okay), "okay");
    EXPECT_EQ(message(GntSt::bad_gntref), "invalid grant reference");
    EXPECT_EQ(message(GntSt::no_device_space), "no spare translation slot in the I/O MMU");
    EXPECT_EQ(message(GntSt::eagain), "operation not done; try again");
    EXPECT_EQ(message(GntSt::no_space), "out of space");
    EXPECT_EQ(message(static_cast<GntSt>(-14)), "unknown grant status");
    EXPECT_EQ(message(static_cast<GntSt>(1)), "unknown grant status");
}

TEST(GrantTable, EntriesPerFrameAndFlagBits) {
    EXPECT_EQ(kGrantEntriesPerFrame, 512u);
    EXPECT_EQ(kGtfReadonly, 4u);
    EXPECT_EQ(kGtfReading, 8u);
    EXPECT_EQ(kGtfWriting, 16u);
    EXPECT_EQ(kGtfSubPage, 256u);
    EXPECT_EQ(kDomidSelf, 0x7FF0u);
}

TEST(EventChannel, TwoLevelLimitsAndBitPositions) {
    EXPECT_EQ(kInvalidEvtchnPort, 0u);
    EXPECT_EQ(kEvtchn2lNrChannels, 4096u);
    EXPECT_EQ(evtchn_2l_word(0), 0u);
    EXPECT_EQ(evtchn_2l_bit(63), 63u);
    EXPECT_EQ(evtchn_2l_word(64), 1u);
    EXPECT_EQ(evtchn_2l_bit(64), 0u);
    EXPECT_EQ(evtchn_2l_word(4095), 63u);
}

}  // namespace
}  // namespace pvsim::xen
