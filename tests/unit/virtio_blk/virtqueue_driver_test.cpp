// The driver's side of a split virtqueue, against a device side written
// here over the same guest memory (SplitVirtqView at the addresses the
// driver would send in SET_VRING_ADDR): chains, indirect tables, used
// entries, and EVENT_IDX notification suppression both ways.
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/os/shared_memory.hpp"
#include "common/virtio/virtqueue_view.hpp"
#include "frontend/virtio_blk/virtqueue_driver.hpp"
#include "hypervisor/client/domain_memory.hpp"

namespace pvsim::frontend::virtio_blk {
namespace {

using virtio::VirtqDesc;

std::string unique_name() {
    static std::atomic<unsigned> counter{0};
    return os::shm_name("vqtest" + std::to_string(::getpid()), "m" + std::to_string(counter++));
}

class VirtqueueDriverTest : public ::testing::Test {
  protected:
    // The device's window onto the driver's queue, through guest-physical
    // addresses as a device translates them.
    virtio::SplitVirtqView device_view(const VirtqueueDriver& vq) {
        auto at = [&](std::uint64_t gpa, std::size_t size) {
            return std::span<std::byte>(memory_.base() + gpa, size);
        };
        auto view = virtio::SplitVirtqView::from_parts(
            vq.size(), at(vq.desc_gpa(), virtio::desc_table_size(vq.size())),
            at(vq.avail_gpa(), virtio::avail_ring_size(vq.size())),
            at(vq.used_gpa(), virtio::used_ring_size(vq.size())));
        EXPECT_TRUE(view.has_value());
        return *view;
    }
    VirtqDesc table_entry(std::uint64_t gpa, std::size_t i) {
        VirtqDesc desc;
        std::memcpy(&desc, memory_.base() + gpa + i * sizeof(VirtqDesc), sizeof(desc));
        return desc;
    }
    // The device's reading of the chain at `head`, following next links
    // (and an indirect table).
    std::vector<VirtqDesc> walk(const virtio::SplitVirtqView& view, std::uint16_t head) {
        std::vector<VirtqDesc> chain;
        VirtqDesc desc = view.desc(head);
        if ((desc.flags & virtio::kDescFIndirect) != 0) {
            const std::size_t n = desc.len / sizeof(VirtqDesc);
            for (std::size_t i = 0;; i = table_entry(desc.addr, i).next) {
                chain.push_back(table_entry(desc.addr, i));
                if ((chain.back().flags & virtio::kDescFNext) == 0 || chain.size() > n) {
                    break;
                }
            }
            return chain;
        }
        for (;;) {
            chain.push_back(desc);
            if ((desc.flags & virtio::kDescFNext) == 0 || chain.size() > view.size()) {
                return chain;
            }
            desc = view.desc(desc.next);
        }
    }
    // The device completes the chain at avail entry `avail`.
    void complete(virtio::SplitVirtqView& view, std::uint16_t& used_idx, std::uint16_t avail,
                  std::uint32_t len) {
        view.set_used_elem(used_idx, {.id = view.avail_ring(avail), .len = len});
        view.publish_used_idx(++used_idx);
    }

    static std::vector<VirtqBuffer> buffers(std::size_t n) {
        std::vector<VirtqBuffer> out;
        for (std::size_t i = 0; i < n; ++i) {
            out.push_back({.addr = 0x10000 + i * 0x1000,
                           .len = static_cast<std::uint32_t>(512 * (i + 1)),
                           .device_writable = i + 1 == n});
        }
        return out;
    }

    hypervisor::DomainMemory memory_{os::SharedMemory::create(unique_name(), 1024 * 4096), 1};
};

TEST_F(VirtqueueDriverTest, DirectChainReachesTheDeviceAndComesBack) {
    VirtqueueDriver vq(memory_, {.queue_size = 8, .event_idx = false, .indirect_desc = false});
    auto device = device_view(vq);
    const auto chain = buffers(3);
    ASSERT_EQ(vq.add(chain, 42), VirtqueueDriver::AddResult::direct);
    EXPECT_EQ(vq.free_descriptors(), 5u);
    EXPECT_EQ(device.avail_idx(), 1);
    const auto seen = walk(device, device.avail_ring(0));
    ASSERT_EQ(seen.size(), 3u);
    for (std::size_t i = 0; i < 3; ++i) {
        EXPECT_EQ(seen[i].addr, chain[i].addr);
        EXPECT_EQ(seen[i].len, chain[i].len);
        EXPECT_EQ((seen[i].flags & virtio::kDescFWrite) != 0, chain[i].device_writable);
    }
    EXPECT_FALSE(vq.more_used());
    std::uint16_t used = 0;
    complete(device, used, 0, 1536);
    EXPECT_TRUE(vq.more_used());
    const auto got = vq.get_used();
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->token, 42u);
    EXPECT_EQ(got->len, 1536u);
    EXPECT_EQ(vq.free_descriptors(), 8u);
    EXPECT_EQ(vq.in_flight(), 0u);
    EXPECT_FALSE(vq.get_used().has_value());
}

TEST_F(VirtqueueDriverTest, FullTableSaysNoRoomUntilSomethingIsUsed) {
    VirtqueueDriver vq(memory_, {.queue_size = 4, .event_idx = false, .indirect_desc = false});
    auto device = device_view(vq);
    ASSERT_EQ(vq.add(buffers(3), 1), VirtqueueDriver::AddResult::direct);
    EXPECT_EQ(vq.add(buffers(2), 2), VirtqueueDriver::AddResult::no_room);
    ASSERT_EQ(vq.add(buffers(1), 3), VirtqueueDriver::AddResult::direct);
    EXPECT_EQ(vq.add(buffers(1), 4), VirtqueueDriver::AddResult::no_room);
    EXPECT_THROW(vq.add(buffers(5), 5), std::invalid_argument);
    std::uint16_t used = 0;
    complete(device, used, 1, 0);  // out of order: the second chain first
    EXPECT_EQ(vq.get_used()->token, 3u);
    complete(device, used, 0, 0);
    EXPECT_EQ(vq.get_used()->token, 1u);
    // Freed descriptors are reused, chained correctly again.
    ASSERT_EQ(vq.add(buffers(4), 6), VirtqueueDriver::AddResult::direct);
    EXPECT_EQ(walk(device, device.avail_ring(2)).size(), 4u);
}

// A device that went away leaves chains unanswered: detach_unused frees
// them (direct and indirect), the indices stay where they were, and a
// device set up again from them (avail idx as SET_VRING_BASE, the used idx
// in the ring) answers the chains added after.
TEST_F(VirtqueueDriverTest, DetachUnusedFreesUnansweredChainsAndKeepsTheIndices) {
    VirtqueueDriver vq(memory_, {.queue_size = 32, .event_idx = false, .indirect_desc = true});
    auto device = device_view(vq);
    const std::size_t pages_before = memory_.free_pages();
    ASSERT_EQ(vq.add(buffers(1), 1), VirtqueueDriver::AddResult::direct);
    ASSERT_EQ(vq.add(buffers(3), 2), VirtqueueDriver::AddResult::indirect);
    ASSERT_EQ(vq.add(buffers(20), 3), VirtqueueDriver::AddResult::indirect);  // a page table
    ASSERT_EQ(vq.add(buffers(1), 4), VirtqueueDriver::AddResult::direct);
    std::uint16_t used = 0;
    complete(device, used, 1, 0);
    EXPECT_EQ(vq.get_used()->token, 2u);

    EXPECT_EQ(vq.detach_unused(), 3u);
    EXPECT_EQ(vq.in_flight(), 0u);
    EXPECT_EQ(vq.free_descriptors(), 32u);
    EXPECT_EQ(vq.avail_idx(), 4);
    EXPECT_EQ(vq.last_used_idx(), 1);
    EXPECT_EQ(vq.detach_unused(), 0u);

    // The next device starts at avail entry 4 and used entry 1.
    ASSERT_EQ(vq.add(buffers(2), 5), VirtqueueDriver::AddResult::indirect);
    EXPECT_EQ(device.avail_idx(), 5);
    EXPECT_EQ(walk(device, device.avail_ring(4)).size(), 2u);
    complete(device, used, 4, 7);
    const auto got = vq.get_used();
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->token, 5u);
    EXPECT_EQ(got->len, 7u);
    EXPECT_EQ(vq.free_descriptors(), 32u);
    // The long table's page went back to the pool: the next one takes it.
    ASSERT_EQ(vq.add(buffers(20), 6), VirtqueueDriver::AddResult::indirect);
    EXPECT_EQ(memory_.free_pages(), pages_before - 1);
}

TEST_F(VirtqueueDriverTest, IndirectTablesSmallAndPageSized) {
    VirtqueueDriver vq(memory_, {.queue_size = 32, .event_idx = false, .indirect_desc = true});
    auto device = device_view(vq);
    const std::size_t free_before = memory_.free_pages();
    // One buffer never goes indirect (virtqueue_use_indirect).
    EXPECT_EQ(vq.add(buffers(1), 1), VirtqueueDriver::AddResult::direct);
    EXPECT_EQ(vq.add(buffers(3), 2), VirtqueueDriver::AddResult::indirect);
    EXPECT_EQ(vq.add(buffers(20), 3), VirtqueueDriver::AddResult::indirect);
    EXPECT_EQ(memory_.free_pages(), free_before - 1);  // the long table's page
    EXPECT_EQ(vq.free_descriptors(), 29u);
    const VirtqDesc head = device.desc(device.avail_ring(2));
    EXPECT_EQ(head.flags, virtio::kDescFIndirect);
    EXPECT_EQ(head.len, 20 * sizeof(VirtqDesc));
    const auto seen = walk(device, device.avail_ring(2));
    ASSERT_EQ(seen.size(), 20u);
    EXPECT_EQ(seen[19].addr, buffers(20)[19].addr);
    EXPECT_NE(seen[19].flags & virtio::kDescFWrite, 0);
    EXPECT_EQ(walk(device, device.avail_ring(1)).size(), 3u);
    // §2.7.5.3.1: no chain longer than the queue, indirect or not.
    EXPECT_EQ(vq.max_chain(), 32u);
    EXPECT_THROW(vq.add(buffers(33), 4), std::invalid_argument);
    std::uint16_t used = 0;
    for (std::uint16_t i = 0; i < 3; ++i) {
        complete(device, used, i, 0);
        EXPECT_EQ(vq.get_used()->token, i + 1u);
    }
    EXPECT_EQ(vq.free_descriptors(), 32u);
    // The page is pooled for the next long chain, not taken again.
    EXPECT_EQ(vq.add(buffers(32), 5), VirtqueueDriver::AddResult::indirect);
    EXPECT_EQ(memory_.free_pages(), free_before - 1);
}

TEST_F(VirtqueueDriverTest, EventIdxSuppressesKicksWhileTheDeviceIsAwake) {
    VirtqueueDriver vq(memory_, {.queue_size = 256, .event_idx = true, .indirect_desc = true});
    auto device = device_view(vq);
    // avail_event 0: the device wants to hear of entry 0.
    ASSERT_NE(vq.add(buffers(3), 0), VirtqueueDriver::AddResult::no_room);
    EXPECT_TRUE(vq.kick_prepare());
    EXPECT_FALSE(vq.kick_prepare());  // nothing new
    // The device is working and has not moved avail_event: no kicks for
    // the next batches.
    unsigned kicks = 0;
    for (std::uint32_t i = 1; i <= 10; ++i) {
        ASSERT_NE(vq.add(buffers(3), i), VirtqueueDriver::AddResult::no_room);
        kicks += vq.kick_prepare() ? 1 : 0;
    }
    EXPECT_EQ(kicks, 0u);
    // The device has caught up and asks for the next entry (11): one kick
    // for a batch of three that includes it.
    device.arm_avail_event(11);
    for (std::uint32_t i = 11; i < 14; ++i) {
        ASSERT_NE(vq.add(buffers(2), i), VirtqueueDriver::AddResult::no_room);
    }
    EXPECT_TRUE(vq.kick_prepare());
    ASSERT_NE(vq.add(buffers(2), 14), VirtqueueDriver::AddResult::no_room);
    EXPECT_FALSE(vq.kick_prepare());
}

TEST_F(VirtqueueDriverTest, UsedEventFollowsTheDriverAndIsParkedWhileItPolls) {
    VirtqueueDriver vq(memory_, {.queue_size = 16, .event_idx = true, .indirect_desc = false});
    auto device = device_view(vq);
    for (std::uint32_t i = 0; i < 4; ++i) {
        ASSERT_EQ(vq.add(buffers(1), i), VirtqueueDriver::AddResult::direct);
    }
    std::uint16_t used = 0;
    // Enabled (the start): the first completion interrupts.
    complete(device, used, 0, 0);
    EXPECT_TRUE(device.device_should_interrupt(0, 1, true));
    // The driver wakes and works with notifications off: none wanted.
    vq.disable_notifications();
    ASSERT_TRUE(vq.get_used().has_value());
    complete(device, used, 1, 0);
    EXPECT_FALSE(device.device_should_interrupt(1, 2, true));
    ASSERT_TRUE(vq.get_used().has_value());
    // Before sleeping it re-enables and looks again: nothing there, so it
    // may sleep, and the device's next completion must interrupt.
    EXPECT_TRUE(vq.enable_notifications());
    EXPECT_EQ(device.used_event(), 2);
    complete(device, used, 2, 0);
    EXPECT_TRUE(device.device_should_interrupt(2, 3, true));
    // Enabled while taking entries: used_event kept at the next one.
    ASSERT_TRUE(vq.get_used().has_value());
    EXPECT_EQ(device.used_event(), 3);
    // A completion that slipped in before enabling is found, not slept on.
    complete(device, used, 3, 0);
    EXPECT_FALSE(vq.enable_notifications());
}

TEST_F(VirtqueueDriverTest, WithoutEventIdxTheFlagsAreUsed) {
    VirtqueueDriver vq(memory_, {.queue_size = 8, .event_idx = false, .indirect_desc = false});
    auto device = device_view(vq);
    ASSERT_EQ(vq.add(buffers(1), 0), VirtqueueDriver::AddResult::direct);
    EXPECT_TRUE(vq.kick_prepare());
    device.set_used_flags(virtio::kUsedFNoNotify);
    ASSERT_EQ(vq.add(buffers(1), 1), VirtqueueDriver::AddResult::direct);
    EXPECT_FALSE(vq.kick_prepare());
    vq.disable_notifications();
    EXPECT_EQ(device.avail_flags(), virtio::kAvailFNoInterrupt);
    EXPECT_TRUE(vq.enable_notifications());
    EXPECT_EQ(device.avail_flags(), 0);
}

TEST_F(VirtqueueDriverTest, BadUsedEntriesAreRefused) {
    VirtqueueDriver vq(memory_, {.queue_size = 8, .event_idx = false, .indirect_desc = false});
    auto device = device_view(vq);
    ASSERT_EQ(vq.add(buffers(2), 0), VirtqueueDriver::AddResult::direct);
    // A head that is not in flight (descriptor 1 is the chain's second).
    device.set_used_elem(0, {.id = 1, .len = 0});
    device.publish_used_idx(1);
    EXPECT_THROW(vq.get_used(), VirtqueueError);

    VirtqueueDriver other(memory_, {.queue_size = 8, .event_idx = false, .indirect_desc = false});
    auto other_device = device_view(other);
    ASSERT_EQ(other.add(buffers(1), 0), VirtqueueDriver::AddResult::direct);
    other_device.set_used_elem(0, {.id = 0, .len = 0});
    other_device.publish_used_idx(2);  // two used, one in flight
    EXPECT_THROW(other.get_used(), VirtqueueError);

    VirtqueueDriver third(memory_, {.queue_size = 8, .event_idx = false, .indirect_desc = false});
    auto third_device = device_view(third);
    ASSERT_EQ(third.add(buffers(1), 0), VirtqueueDriver::AddResult::direct);
    third_device.set_used_elem(0, {.id = 999, .len = 0});
    third_device.publish_used_idx(1);
    EXPECT_THROW(third.get_used(), VirtqueueError);
}

TEST_F(VirtqueueDriverTest, BadQueueSizesAreRefusedAndPagesReturn) {
    EXPECT_THROW(VirtqueueDriver(memory_, {.queue_size = 3}), std::invalid_argument);
    EXPECT_THROW(VirtqueueDriver(memory_, {.queue_size = 512}), std::invalid_argument);
    const std::size_t free_before = memory_.free_pages();
    {
        VirtqueueDriver vq(memory_, {.queue_size = 256, .event_idx = true, .indirect_desc = true});
        EXPECT_LT(memory_.free_pages(), free_before);
        ASSERT_EQ(vq.add(buffers(100), 0), VirtqueueDriver::AddResult::indirect);
    }
    EXPECT_EQ(memory_.free_pages(), free_before);
}

}  // namespace
}  // namespace pvsim::frontend::virtio_blk
