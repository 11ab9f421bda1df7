// The device side of a split virtqueue: malformed queues detected, and used
// buffer notifications gated by vring_need_event (EVENT_IDX) or
// VIRTQ_AVAIL_F_NO_INTERRUPT, counted.
#include <gtest/gtest.h>

#include <string>

#include "backend/vhost_user_blk/vring.hpp"
#include "chain_fixture.hpp"

namespace {

using pvsim::backend::vhost_user_blk::Vring;
using pvsim::test::ChainFixture;

class VringTest : public ::testing::Test, protected ChainFixture {};

TEST_F(VringTest, AnAvailIndexMoreThanAQueueAheadIsAMalformedQueue) {
    Vring ring(device_view(), 0, true);
    std::string why;
    queue.publish_raw_avail_idx(kQueueSize);
    EXPECT_EQ(ring.available(why), std::optional<std::uint16_t>(kQueueSize));
    queue.publish_raw_avail_idx(kQueueSize + 1);
    EXPECT_FALSE(ring.available(why).has_value());
    EXPECT_NE(why.find("avail index"), std::string::npos);
}

TEST_F(VringTest, AHeadOutOfRangeIsAMalformedQueue) {
    Vring ring(device_view(), 0, true);
    queue.set_avail_slot(0, 3);
    queue.set_avail_slot(1, kQueueSize);
    queue.publish_raw_avail_idx(2);
    std::string why;
    EXPECT_EQ(ring.take_head(why), std::optional<std::uint16_t>(3));
    EXPECT_FALSE(ring.take_head(why).has_value());
    EXPECT_NE(why.find("out of range"), std::string::npos);
    EXPECT_EQ(ring.last_avail_idx(), 1);
}

TEST_F(VringTest, WithEventIdxOnlyTheUpdateThatPassesUsedEventNotifies) {
    Vring ring(device_view(), 0, true);
    int calls = 0;
    auto complete = [&](int n) {
        for (int i = 0; i < n; ++i) {
            ring.add_used(0, 1);
        }
        calls += ring.flush_used() ? 1 : 0;
    };
    // The driver asks to hear after the 4th used entry (used_event 3).
    queue.view().set_used_event(3);
    complete(1);  // used 0..1
    complete(1);  // 1..2
    EXPECT_EQ(calls, 0);
    complete(2);  // 2..4 passes 3
    EXPECT_EQ(calls, 1);
    complete(5);  // 4..9: used_event was not moved on, so no more
    EXPECT_EQ(calls, 1);
    // A driver keeping used_event current (used_event = its last seen) hears
    // of every batch.
    for (int i = 0; i < 10; ++i) {
        queue.view().set_used_event(static_cast<std::uint16_t>(9 + i));
        complete(1);
    }
    EXPECT_EQ(calls, 11);
    // Nothing new: nothing to publish, no call.
    EXPECT_FALSE(ring.flush_used());
}

TEST_F(VringTest, WithoutEventIdxNoInterruptSuppresses) {
    Vring ring(device_view(), 0, false);
    queue.view().set_avail_flags(pvsim::virtio::kAvailFNoInterrupt);
    ring.add_used(0, 1);
    EXPECT_FALSE(ring.flush_used());
    queue.view().set_avail_flags(0);
    ring.add_used(0, 1);
    EXPECT_TRUE(ring.flush_used());
    EXPECT_EQ(queue.view().used_idx(), 2);
}

TEST_F(VringTest, EnableNotifyArmsAvailEventAndSeesLateEntries) {
    Vring ring(device_view(), 0, true);
    EXPECT_FALSE(ring.enable_notify());
    EXPECT_EQ(queue.view().avail_event(), 0);
    queue.write_chain({{memory.allocate(16), 16, false}});
    queue.publish(0);
    EXPECT_TRUE(ring.enable_notify());

    Vring plain(device_view(), 1, false);
    plain.disable_notify();
    EXPECT_NE(queue.view().used_flags() & pvsim::virtio::kUsedFNoNotify, 0);
    EXPECT_FALSE(plain.enable_notify());
    EXPECT_EQ(queue.view().used_flags() & pvsim::virtio::kUsedFNoNotify, 0);
}

}  // namespace
