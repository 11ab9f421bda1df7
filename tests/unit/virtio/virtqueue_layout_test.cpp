// Split virtqueue sizes and offsets, checked against values worked out by
// hand from the virtio 1.2 §2.7 table (16*N, 6+2*N, 6+8*N; alignments
// 16/2/4) and the legacy layout's padding to Queue Align.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>

#include "common/virtio/virtqueue.hpp"

namespace {

namespace v = pvsim::virtio;

struct Expected {
    std::uint32_t n;
    std::size_t avail_offset, avail_size, used_offset, used_size, total;
};

TEST(VirtqueueLayout, ModernLayoutForSeveralQueueSizes) {
    // avail ends at 16N + 6 + 2N; the used ring starts at the next multiple of 4.
    const Expected cases[] = {
        {1, 16, 8, 24, 14, 38},                   // 16+8=24, already 4-aligned
        {2, 32, 10, 44, 22, 66},                  // 32+10=42 -> 44
        {8, 128, 22, 152, 70, 222},               // 128+22=150 -> 152
        {256, 4096, 518, 4616, 2054, 6670},       // 4096+518=4614 -> 4616
        {1024, 16384, 2054, 18440, 8198, 26638},  // 16384+2054=18438 -> 18440
        {32768, 524288, 65542, 589832, 262150, 851982},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.n);
        auto l = v::split_layout(c.n);
        ASSERT_TRUE(l.has_value());
        EXPECT_EQ(l->queue_size, c.n);
        EXPECT_EQ(l->desc_offset, 0u);
        EXPECT_EQ(l->desc_size, 16u * c.n);
        EXPECT_EQ(l->avail_offset, c.avail_offset);
        EXPECT_EQ(l->avail_size, c.avail_size);
        EXPECT_EQ(l->used_offset, c.used_offset);
        EXPECT_EQ(l->used_size, c.used_size);
        EXPECT_EQ(l->total_size, c.total);
    }
}

TEST(VirtqueueLayout, LegacyLayoutPadsTheUsedRingToQueueAlign) {
    // The classic legacy PCI numbers: 256 entries at 4096 alignment take
    // two pages plus the used ring: 8192 + 2054 = 10246.
    auto l256 = v::legacy_split_layout(256, 4096);
    ASSERT_TRUE(l256.has_value());
    EXPECT_EQ(l256->avail_offset, 4096u);
    EXPECT_EQ(l256->used_offset, 8192u);
    EXPECT_EQ(l256->total_size, 10246u);

    auto l8 = v::legacy_split_layout(8, 4096);  // 150 bytes of desc+avail -> one page
    ASSERT_TRUE(l8.has_value());
    EXPECT_EQ(l8->used_offset, 4096u);
    EXPECT_EQ(l8->total_size, 4096u + 70u);

    auto big = v::legacy_split_layout(32768, 4096);  // 589830 -> 593920
    ASSERT_TRUE(big.has_value());
    EXPECT_EQ(big->used_offset, 593920u);
    EXPECT_EQ(big->total_size, 593920u + 262150u);

    auto l64 = v::legacy_split_layout(4, 64);  // 64 + 14 = 78 -> 128
    ASSERT_TRUE(l64.has_value());
    EXPECT_EQ(l64->used_offset, 128u);
    EXPECT_EQ(l64->total_size, 128u + 38u);
}

TEST(VirtqueueLayout, ModernLayoutIsLegacyLayoutAtTheUsedRingAlignment) {
    for (std::uint32_t n = 1; n <= v::kMaxQueueSize; n *= 2) {
        EXPECT_EQ(v::split_layout(n), v::legacy_split_layout(n, v::kUsedRingAlign)) << n;
    }
}

TEST(VirtqueueLayout, EveryPartMeetsItsAlignment) {
    for (std::uint32_t n = 1; n <= v::kMaxQueueSize; n *= 2) {
        for (std::size_t align : {4u, 16u, 4096u}) {
            auto l = v::legacy_split_layout(n, align);
            ASSERT_TRUE(l.has_value());
            EXPECT_EQ(l->desc_offset % v::kDescTableAlign, 0u);
            EXPECT_EQ(l->avail_offset % v::kAvailRingAlign, 0u);
            EXPECT_EQ(l->used_offset % align, 0u);
            EXPECT_GE(l->used_offset, l->avail_offset + l->avail_size);  // no overlap
            EXPECT_LT(l->used_offset, l->avail_offset + l->avail_size + align);
        }
    }
}

TEST(VirtqueueLayout, InvalidQueueSizesHaveNoLayout) {
    for (std::uint32_t n : {0u, 3u, 6u, 100u, 32767u, 32769u, 65536u, 0xffffffffu}) {
        EXPECT_FALSE(v::is_valid_queue_size(n)) << n;
        EXPECT_FALSE(v::split_layout(n).has_value()) << n;
        EXPECT_FALSE(v::legacy_split_layout(n, 4096).has_value()) << n;
    }
    EXPECT_TRUE(v::is_valid_queue_size(1));
    EXPECT_TRUE(v::is_valid_queue_size(32768));
}

TEST(VirtqueueLayout, QueueAlignMustBeAPowerOfTwoThatKeepsTheUsedRingAligned) {
    for (std::size_t align : {0u, 1u, 2u, 3u, 6u, 100u, 4095u}) {
        EXPECT_FALSE(v::legacy_split_layout(256, align).has_value()) << align;
    }
    EXPECT_TRUE(v::legacy_split_layout(256, 4).has_value());
    EXPECT_TRUE(v::legacy_split_layout(256, 1u << 20).has_value());
}

TEST(VirtqueueLayout, EventFieldsSitJustPastTheirRings) {
    EXPECT_EQ(v::used_event_offset(256), 4u + 2u * 256);   // avail: flags, idx, ring[256]
    EXPECT_EQ(v::avail_event_offset(256), 4u + 8u * 256);  // used: flags, idx, ring[256]
    EXPECT_EQ(v::used_event_offset(1) + 2, v::avail_ring_size(1));
    EXPECT_EQ(v::avail_event_offset(1) + 2, v::used_ring_size(1));
}

TEST(VirtqueueLayout, IsUsableAtCompileTime) {
    static_assert(v::split_layout(256)->total_size == 6670);
    static_assert(v::legacy_split_layout(256, 4096)->total_size == 10246);
    static_assert(!v::split_layout(0).has_value());
    static_assert(v::desc_table_size(4) == 64 && v::avail_ring_size(4) == 14 &&
                  v::used_ring_size(4) == 38);
    SUCCEED();
}

}  // namespace
