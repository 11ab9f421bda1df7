// vring_need_event(): does moving an index from old to new pass the event
// index the other side asked to hear about?
#include <gtest/gtest.h>

#include <cstdint>

#include "common/virtio/virtqueue.hpp"

namespace {

using pvsim::virtio::vring_need_event;

TEST(VringNeedEvent, NotifiesWhenTheUpdatePublishesTheRequestedEntry) {
    // The spec's example: used_event 0 means "tell me after the first buffer".
    EXPECT_TRUE(vring_need_event(0, 1, 0));
    EXPECT_FALSE(vring_need_event(1, 1, 0));  // asked for entry 1; only entry 0 published
    EXPECT_TRUE(vring_need_event(1, 2, 1));
}

TEST(VringNeedEvent, BatchesCountEveryEntryTheyPublish) {
    EXPECT_TRUE(vring_need_event(0, 32, 0));    // first of the batch
    EXPECT_TRUE(vring_need_event(31, 32, 0));   // last of the batch
    EXPECT_FALSE(vring_need_event(32, 32, 0));  // the next one, not yet published
    EXPECT_FALSE(vring_need_event(100, 32, 0));
    EXPECT_FALSE(vring_need_event(9, 20, 10));  // already passed before this update
}

TEST(VringNeedEvent, NoUpdateNeverNotifies) {
    for (int event : {0, 1, 0x7fff, 0xffff}) {
        for (int idx : {0, 5, 0xffff}) {
            EXPECT_FALSE(vring_need_event(static_cast<std::uint16_t>(event),
                                          static_cast<std::uint16_t>(idx),
                                          static_cast<std::uint16_t>(idx)));
        }
    }
}

TEST(VringNeedEvent, WorksAcrossThe16BitWrap) {
    EXPECT_TRUE(vring_need_event(0xffff, 0x0001, 0xfffe));   // event just before the wrap
    EXPECT_TRUE(vring_need_event(0x0000, 0x0001, 0xffff));   // event just after it
    EXPECT_TRUE(vring_need_event(0xfffe, 0x0002, 0xfffe));   // event at old
    EXPECT_FALSE(vring_need_event(0x0002, 0x0002, 0xfffe));  // event at new: not yet
    EXPECT_FALSE(vring_need_event(0xfffd, 0x0002, 0xfffe));  // event before old
    EXPECT_FALSE(vring_need_event(0x0000, 0x0000, 0xffff));  // only 0xffff published
}

// For any update, exactly the new - old event values inside [old, new)
// notify: the property the formula encodes, checked by counting.
TEST(VringNeedEvent, ExactlyTheEntriesPublishedNotify) {
    const std::uint16_t pairs[][2] = {
        {0, 0}, {0, 1}, {10, 42}, {0xfff0, 0x0010}, {0xffff, 0x0000}, {0x8000, 0x7fff}, {1, 0}};
    for (const auto& [old_idx, new_idx] : pairs) {
        unsigned notified = 0;
        for (unsigned e = 0; e <= 0xffff; ++e) {
            const auto event = static_cast<std::uint16_t>(e);
            const bool need = vring_need_event(event, new_idx, old_idx);
            const bool inside = static_cast<std::uint16_t>(event - old_idx) <
                                static_cast<std::uint16_t>(new_idx - old_idx);
            EXPECT_EQ(need, inside) << "event " << e << " old " << old_idx << " new " << new_idx;
            notified += need ? 1 : 0;
        }
        EXPECT_EQ(notified, static_cast<std::uint16_t>(new_idx - old_idx));
    }
}

TEST(VringNeedEvent, IsConstexpr) {
    static_assert(vring_need_event(0, 1, 0));
    static_assert(!vring_need_event(1, 1, 0));
    static_assert(vring_need_event(0xffff, 1, 0xfffe));
    SUCCEED();
}

}  // namespace
