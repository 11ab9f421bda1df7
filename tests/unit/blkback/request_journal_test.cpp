// The journal a ring's data plane keeps so that the next backend of the
// ring can serve again what a killed one took (request_journal.hpp).
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

#include "backend/blkback/request_journal.hpp"

namespace pvsim::backend::blkback {
namespace {

const std::string kJournalRunTag = "journaltest" + std::to_string(::getpid());
constexpr RequestJournal::Ring kJournalRing{.frontend = 3, .ring_ref = 8, .port = 5, .slots = 32};

xen::BlkifRequest taken(std::uint64_t id) {
    xen::BlkifRequest req{};
    req.operation = xen::BlkifOp::write;
    req.nr_segments = 1;
    req.id = id;
    req.sector_number = id * 8;
    return req;
}

TEST(RequestJournal, TheNextBackendOfTheSameRingReplaysWhatWasTaken) {
    RequestJournal first(kJournalRunTag, kJournalRing);
    EXPECT_EQ(first.inherited(), 0u);
    EXPECT_FALSE(first.replay(40).has_value());
    // Indices wrap the 32 slots: 40 and 41 sit in slots 8 and 9.
    first.record(40, taken(7));
    first.record(41, taken(9));
    // Opened again while the first still maps it, as after a kill.
    RequestJournal next(kJournalRunTag, kJournalRing);
    EXPECT_EQ(next.inherited(), 2u);
    ASSERT_TRUE(next.replay(40).has_value());
    EXPECT_EQ(next.replay(40)->id, 7u);
    EXPECT_EQ(next.replay(41)->sector_number, 72u);
    // The same slots at another turn of the ring were never taken.
    EXPECT_FALSE(next.replay(72).has_value());
    EXPECT_FALSE(next.replay(42).has_value());
}

TEST(RequestJournal, AnotherRingStartsEmpty) {
    {
        RequestJournal left(kJournalRunTag, kJournalRing);
        left.record(1, taken(1));
    }
    RequestJournal::Ring other = kJournalRing;
    other.port = 6;
    RequestJournal fresh(kJournalRunTag, other);
    EXPECT_EQ(fresh.inherited(), 0u);
    EXPECT_FALSE(fresh.replay(1).has_value());
}

}  // namespace
}  // namespace pvsim::backend::blkback
