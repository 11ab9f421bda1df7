// pvsim's split virtqueue layout and event-index arithmetic against
// linux/virtio_ring.h: its structures, vring_size(), vring_init() and
// vring_need_event() themselves.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "common/virtio/virtqueue.hpp"
#include "layout_check.hpp"
#include "real_virtio.h"

namespace {

namespace v = pvsim::virtio;
using pvsim::test::expect_same_layout;
using pvsim::test::field_entry;

std::vector<std::uint32_t> all_queue_sizes() {
    std::vector<std::uint32_t> out;
    for (std::uint32_t n = 1; n <= v::kMaxQueueSize; n *= 2) {
        out.push_back(n);
    }
    return out;
}

TEST(VirtqueueConformance, DescLayoutMatchesVringDesc) {
    expect_same_layout(PVSIM_REAL(real_vring_desc), sizeof(v::VirtqDesc),
                       {PVSIM_FIELD(v::VirtqDesc, addr), PVSIM_FIELD(v::VirtqDesc, len),
                        PVSIM_FIELD(v::VirtqDesc, flags), PVSIM_FIELD(v::VirtqDesc, next)});
}

TEST(VirtqueueConformance, AvailLayoutMatchesVringAvail) {
    expect_same_layout(PVSIM_REAL(real_vring_avail), sizeof(v::VirtqAvail),
                       {PVSIM_FIELD(v::VirtqAvail, flags), PVSIM_FIELD(v::VirtqAvail, idx),
                        field_entry("ring", sizeof(std::uint16_t), v::kAvailRingOffset)});
}

TEST(VirtqueueConformance, UsedElemLayoutMatchesVringUsedElem) {
    expect_same_layout(PVSIM_REAL(real_vring_used_elem), sizeof(v::VirtqUsedElem),
                       {PVSIM_FIELD(v::VirtqUsedElem, id), PVSIM_FIELD(v::VirtqUsedElem, len)});
}

TEST(VirtqueueConformance, UsedLayoutMatchesVringUsed) {
    expect_same_layout(PVSIM_REAL(real_vring_used), sizeof(v::VirtqUsed),
                       {PVSIM_FIELD(v::VirtqUsed, flags), PVSIM_FIELD(v::VirtqUsed, idx),
                        field_entry("ring", sizeof(v::VirtqUsedElem), v::kUsedRingOffset)});
}

TEST(VirtqueueConformance, PartSizesAddUpToVringSizeWithoutPadding) {
    // With align 1 vring_size() inserts no padding: it is the plain sum of
    // the three §2.7 part sizes.
    for (std::uint32_t n : all_queue_sizes()) {
        EXPECT_EQ(v::desc_table_size(n) + v::avail_ring_size(n) + v::used_ring_size(n),
                  real_vring_size(n, 1))
            << "queue size " << n;
    }
}

TEST(VirtqueueConformance, LegacyLayoutMatchesVringSizeAndVringInit) {
    const std::size_t aligns[] = {4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 65536};
    int compared = 0;
    for (std::uint32_t n : all_queue_sizes()) {
        for (std::size_t align : aligns) {
            SCOPED_TRACE(testing::Message() << "queue size " << n << ", align " << align);
            auto ours = v::legacy_split_layout(n, align);
            ASSERT_TRUE(ours.has_value());
            EXPECT_EQ(ours->total_size, real_vring_size(n, align));

            real_vring_offsets real{};
            ASSERT_EQ(real_vring_init_offsets(n, align, &real), 1);
            EXPECT_EQ(ours->desc_offset, real.desc);
            EXPECT_EQ(ours->avail_offset, real.avail);
            EXPECT_EQ(ours->used_offset, real.used);
            EXPECT_EQ(ours->avail_offset + v::used_event_offset(n), real.used_event);
            EXPECT_EQ(ours->used_offset + v::avail_event_offset(n), real.avail_event);
            // The trailing event field is the last thing in the area.
            EXPECT_EQ(real.avail_event + sizeof(std::uint16_t), ours->total_size);
            ++compared;
        }
    }
    EXPECT_EQ(compared, 16 * 13);
}

TEST(VirtqueueConformance, ModernLayoutIsVringInitWithTheUsedRingAlignment) {
    for (std::uint32_t n : all_queue_sizes()) {
        SCOPED_TRACE(testing::Message() << "queue size " << n);
        auto ours = v::split_layout(n);
        ASSERT_TRUE(ours.has_value());
        real_vring_offsets real{};
        ASSERT_EQ(real_vring_init_offsets(n, v::kUsedRingAlign, &real), 1);
        EXPECT_EQ(ours->total_size, real_vring_size(n, v::kUsedRingAlign));
        EXPECT_EQ(ours->avail_offset, real.avail);
        EXPECT_EQ(ours->used_offset, real.used);
    }
}

TEST(VirtqueueConformance, StructureAlignmentsMatch) {
    const std::map<std::string, std::size_t> ours = {
        {"struct vring_desc", alignof(v::VirtqDesc)},
        {"struct vring_avail", alignof(v::VirtqAvail)},
        {"struct vring_used_elem", alignof(v::VirtqUsedElem)},
        {"struct vring_used", alignof(v::VirtqUsed)},
    };
    int compared = 0;
    for (const auto& real : std::span(real_alignments, real_alignments_count)) {
        auto it = ours.find(real.name);
        if (it == ours.end()) {
            continue;  // not a ring structure; checked with its own ABI
        }
        EXPECT_EQ(it->second, real.alignment) << real.name;
        ++compared;
    }
    EXPECT_EQ(compared, 4);
}

// The wrap of the 16-bit indexes is where such arithmetic goes wrong, so
// every combination of event, new and old within 64 of it is tried.
TEST(VirtqueueConformance, NeedEventEqualsTheRealOneAroundTheWrap) {
    std::vector<std::uint16_t> window;
    for (int i = -64; i < 64; ++i) {
        window.push_back(static_cast<std::uint16_t>(i));
    }
    long trues = 0;
    long total = 0;
    for (std::uint16_t event : window) {
        for (std::uint16_t new_idx : window) {
            for (std::uint16_t old_idx : window) {
                const bool real = real_vring_need_event(event, new_idx, old_idx) != 0;
                const bool ours = v::vring_need_event(event, new_idx, old_idx);
                if (ours != real) {
                    FAIL() << "event " << event << " new " << new_idx << " old " << old_idx
                           << ": ours " << ours << ", real " << real;
                }
                trues += ours ? 1 : 0;
                ++total;
            }
        }
    }
    EXPECT_EQ(total, 128L * 128 * 128);
    // Both answers occur, so the comparison above tested something.
    EXPECT_GT(trues, 0);
    EXPECT_LT(trues, total);
}

TEST(VirtqueueConformance, NeedEventEqualsTheRealOneOverTheWholeIndexSpace) {
    std::mt19937 rng(20240521);  // fixed seed: a failure reproduces
    std::uniform_int_distribution<int> any(0, 0xffff);
    std::uniform_int_distribution<int> near(0, 512);
    for (int i = 0; i < 1'000'000; ++i) {
        const auto old_idx = static_cast<std::uint16_t>(any(rng));
        // Half the samples keep new within a queue's reach of old, where the
        // answer is not almost always "yes"; the other half are anywhere.
        const auto new_idx = static_cast<std::uint16_t>(i % 2 ? old_idx + near(rng) : any(rng));
        const auto event =
            static_cast<std::uint16_t>(i % 4 < 2 ? old_idx + near(rng) - 256 : any(rng));
        const bool real = real_vring_need_event(event, new_idx, old_idx) != 0;
        if (v::vring_need_event(event, new_idx, old_idx) != real) {
            FAIL() << "event " << event << " new " << new_idx << " old " << old_idx;
        }
    }
}

}  // namespace
