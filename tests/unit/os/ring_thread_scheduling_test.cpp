#include "common/os/ring_thread_scheduling.hpp"

#include <sched.h>

#include <gtest/gtest.h>

#include <thread>

namespace pvsim::os {
namespace {

// A ring thread runs under SCHED_BATCH, so another domain's woken ring
// thread does not preempt it; a thread it starts (as io_uring starts its
// workers from it) inherits the policy; the thread that started the ring
// thread keeps its own.
TEST(RingThreadScheduling, TheRingThreadAndWhatItStartsRunBatchedNotWhoStartedIt) {
    const int ours = ::sched_getscheduler(0);
    int ring = -1;
    int started_by_ring = -1;
    bool set = false;
    std::thread([&] {
        set = schedule_as_ring_thread();
        ring = ::sched_getscheduler(0);
        std::thread([&] { started_by_ring = ::sched_getscheduler(0); }).join();
    }).join();
    EXPECT_TRUE(set);
    EXPECT_EQ(ring, SCHED_BATCH);
    EXPECT_EQ(started_by_ring, SCHED_BATCH);
    EXPECT_EQ(::sched_getscheduler(0), ours);
}

}  // namespace
}  // namespace pvsim::os
