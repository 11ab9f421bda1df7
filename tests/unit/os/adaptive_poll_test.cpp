// The polling window's rules (adaptive_poll.hpp, after QEMU's
// adjust_polling_time).
#include <gtest/gtest.h>

#include "common/adaptive_poll.hpp"

namespace pvsim {
namespace {

using std::chrono::microseconds;

TEST(AdaptivePoll, StartsAtItsMaximum) {
    const AdaptivePoll poll(microseconds(50));
    EXPECT_TRUE(poll.enabled());
    EXPECT_EQ(poll.window(), microseconds(50));
}

TEST(AdaptivePoll, ZeroTurnsItOff) {
    AdaptivePoll poll(microseconds(0));
    EXPECT_FALSE(poll.enabled());
    poll.record(microseconds(10));
    EXPECT_EQ(poll.window(), microseconds(0));
}

TEST(AdaptivePoll, WorkFoundInsideTheWindowChangesNothing) {
    AdaptivePoll poll(microseconds(50));
    poll.record(microseconds(20));
    poll.record(microseconds(50));
    EXPECT_EQ(poll.window(), microseconds(50));
}

TEST(AdaptivePoll, LongWaitsShrinkItToNothing) {
    AdaptivePoll poll(microseconds(50));
    poll.record(std::chrono::milliseconds(5));
    EXPECT_EQ(poll.window(), microseconds(25));
    for (int i = 0; i < 4; ++i) {
        poll.record(std::chrono::milliseconds(5));
    }
    EXPECT_EQ(poll.window(), microseconds(0));
}

TEST(AdaptivePoll, WaitsJustBeyondTheWindowGrowItUpToTheMaximum) {
    AdaptivePoll poll(microseconds(50));
    for (int i = 0; i < 6; ++i) {
        poll.record(std::chrono::milliseconds(5));
    }
    ASSERT_EQ(poll.window(), microseconds(0));
    poll.record(microseconds(30));
    EXPECT_EQ(poll.window(), microseconds(4));
    poll.record(microseconds(30));
    EXPECT_EQ(poll.window(), microseconds(8));
    poll.record(microseconds(30));
    poll.record(microseconds(30));
    EXPECT_EQ(poll.window(), microseconds(32));
    poll.record(microseconds(40));
    EXPECT_EQ(poll.window(), microseconds(50));
}

TEST(AdaptivePoll, ANewMaximumKeepsTheWindowWithinIt) {
    AdaptivePoll poll(microseconds(50));
    poll.set_max(microseconds(20));
    EXPECT_EQ(poll.window(), microseconds(20));
    poll.set_max(microseconds(0));
    EXPECT_FALSE(poll.enabled());
    EXPECT_EQ(poll.window(), microseconds(0));
}

}  // namespace
}  // namespace pvsim
