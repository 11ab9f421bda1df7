// Late EOI (backend/data_plane/late_eoi.hpp) against Linux 6.1's
// xen_irq_lateeoi_locked() with the default spurious_threshold of 1 and
// CONFIG_HZ=250: the delays, their cap, and the reset by a real event.
#include "backend/data_plane/late_eoi.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <vector>

namespace pvsim::backend::data_plane {
namespace late_eoi_test {

using namespace std::chrono_literals;

TEST(LateEoi, OneSpuriousEventIsFreeThenDelaysDoubleFromOneJiffyUpToOneSecond) {
    LateEoi eoi;
    const auto now = LateEoi::Clock::now();
    std::vector<std::chrono::milliseconds> delays;
    for (int i = 0; i < 14; ++i) {
        delays.push_back(eoi.event_handled(false, now));
    }
    // spurious_cnt 1: none; 2..9: 1 << (cnt - 2) jiffies of 4 ms; 10: 256
    // jiffies, capped at HZ (250); the count stops at 10 (1 << 10 >= 4 * HZ).
    const std::vector<std::chrono::milliseconds> expected{0ms,    4ms,    8ms,    16ms,  32ms,
                                                          64ms,   128ms,  256ms,  512ms, 1000ms,
                                                          1000ms, 1000ms, 1000ms, 1000ms};
    EXPECT_EQ(delays, expected);
    EXPECT_EQ(eoi.spurious_in_a_row(), 10u);
}

TEST(LateEoi, EventsWaitOutTheDelayAndARealEventEndsIt) {
    LateEoi eoi;
    const auto now = LateEoi::Clock::now();
    EXPECT_EQ(eoi.holding(now), 0ms);
    (void)eoi.event_handled(false, now);
    EXPECT_EQ(eoi.holding(now), 0ms);
    EXPECT_EQ(eoi.event_handled(false, now), 4ms);
    EXPECT_EQ(eoi.holding(now), 4ms);
    EXPECT_EQ(eoi.holding(now + 1500us), 3ms);  // rounded up
    EXPECT_EQ(eoi.holding(now + 4ms), 0ms);
    EXPECT_EQ(eoi.event_handled(false, now), 8ms);
    EXPECT_EQ(eoi.event_handled(true, now), 0ms);
    EXPECT_EQ(eoi.holding(now), 0ms);
    EXPECT_EQ(eoi.spurious_in_a_row(), 0u);
    // Counting starts over: one spurious event is free again.
    EXPECT_EQ(eoi.event_handled(false, now), 0ms);
    EXPECT_EQ(eoi.event_handled(false, now), 4ms);
}

}  // namespace late_eoi_test
}  // namespace pvsim::backend::data_plane
