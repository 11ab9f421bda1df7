// SplitVirtqView: a driver's view and a device's view over the same bytes
// see each other's writes where the spec puts them.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <thread>
#include <vector>

#include "common/virtio/virtqueue.hpp"
#include "common/virtio/virtqueue_view.hpp"
#include "shared_area.hpp"

namespace {

namespace v = pvsim::virtio;
using pvsim::test::SharedArea;

template <class T>
T raw(const std::byte* p) {
    T out;
    std::memcpy(&out, p, sizeof(T));
    return out;
}

bool operator==(const v::VirtqDesc& a, const v::VirtqDesc& b) {
    return a.addr == b.addr && a.len == b.len && a.flags == b.flags && a.next == b.next;
}

TEST(SplitVirtqView, RefusesPartsThatBreakTheSpecOrDoNotFit) {
    SharedArea area(3 * 4096);
    auto b = area.bytes();
    auto desc = b.subspan(0, 4096);
    auto avail = b.subspan(4096, 4096);
    auto used = b.subspan(8192, 4096);
    EXPECT_TRUE(v::SplitVirtqView::from_parts(16, desc, avail, used).has_value());

    EXPECT_FALSE(v::SplitVirtqView::from_parts(0, desc, avail, used).has_value());
    EXPECT_FALSE(v::SplitVirtqView::from_parts(24, desc, avail, used).has_value());
    EXPECT_FALSE(v::SplitVirtqView::from_parts(65536, desc, avail, used).has_value());
    // Too short: the table of 16 needs 256 bytes, the avail ring 38, the used 134.
    EXPECT_FALSE(v::SplitVirtqView::from_parts(16, desc.first(255), avail, used).has_value());
    EXPECT_FALSE(v::SplitVirtqView::from_parts(16, desc, avail.first(37), used).has_value());
    EXPECT_FALSE(v::SplitVirtqView::from_parts(16, desc, avail, used.first(133)).has_value());
    EXPECT_TRUE(v::SplitVirtqView::from_parts(16, desc.first(256), avail.first(38), used.first(134))
                    .has_value());
    // Misaligned: desc needs 16, avail 2, used 4.
    EXPECT_FALSE(v::SplitVirtqView::from_parts(16, desc.subspan(8), avail, used).has_value());
    EXPECT_FALSE(v::SplitVirtqView::from_parts(16, desc, avail.subspan(1), used).has_value());
    EXPECT_FALSE(v::SplitVirtqView::from_parts(16, desc, avail, used.subspan(2)).has_value());
    EXPECT_TRUE(
        v::SplitVirtqView::from_parts(16, desc.subspan(16), avail.subspan(2), used.subspan(4))
            .has_value());

    auto layout = *v::split_layout(256);
    EXPECT_FALSE(v::SplitVirtqView::over(b.first(layout.total_size - 1), layout).has_value());
    EXPECT_TRUE(v::SplitVirtqView::over(b.first(layout.total_size), layout).has_value());
}

TEST(SplitVirtqView, DeviceReadsTheDriversChainThroughItsOwnView) {
    const auto layout = *v::split_layout(256);
    SharedArea area(layout.total_size);
    auto driver = v::SplitVirtqView::over(area.bytes(), layout);
    auto device = v::SplitVirtqView::over(area.bytes(), layout);
    ASSERT_TRUE(driver && device);
    EXPECT_EQ(driver->size(), 256);

    // A virtio-blk read: header (device-readable), data and status (device-writable).
    const v::VirtqDesc chain[] = {
        {0x10000, 16, v::kDescFNext, 9},
        {0x20000, 4096, v::kDescFNext | v::kDescFWrite, 2},
        {0x30000, 1, v::kDescFWrite, 0},
    };
    driver->set_desc(5, chain[0]);
    driver->set_desc(9, chain[1]);
    driver->set_desc(2, chain[2]);
    driver->set_avail_ring(0, 5);
    EXPECT_EQ(device->avail_idx(), 0);  // written but not yet published
    driver->publish_avail_idx(1);

    ASSERT_EQ(device->avail_idx(), 1);
    std::uint16_t index = device->avail_ring(0);
    EXPECT_EQ(index, 5);
    std::vector<v::VirtqDesc> seen;
    for (;;) {
        ASSERT_LT(index, device->size());
        seen.push_back(device->desc(index));
        if ((seen.back().flags & v::kDescFNext) == 0) {
            break;
        }
        index = seen.back().next;
    }
    ASSERT_EQ(seen.size(), 3u);
    for (std::size_t i = 0; i < 3; ++i) {
        EXPECT_TRUE(seen[i] == chain[i]) << i;
    }

    device->set_used_elem(0, {5, 4097});
    device->publish_used_idx(1);
    ASSERT_EQ(driver->used_idx(), 1);
    const v::VirtqUsedElem done = driver->used_elem(0);
    EXPECT_EQ(done.id, 5u);
    EXPECT_EQ(done.len, 4097u);

    // And the bytes are where the spec says, not merely consistent between views.
    const std::byte* base = area.data();
    EXPECT_TRUE(raw<v::VirtqDesc>(base + 9 * 16) == chain[1]);
    EXPECT_EQ(raw<std::uint16_t>(base + layout.avail_offset + 2), 1);  // avail->idx
    EXPECT_EQ(raw<std::uint16_t>(base + layout.avail_offset + 4), 5);  // avail->ring[0]
    EXPECT_EQ(raw<std::uint16_t>(base + layout.used_offset + 2), 1);   // used->idx
    EXPECT_EQ(raw<std::uint32_t>(base + layout.used_offset + 4), 5u);  // used->ring[0].id
    EXPECT_EQ(raw<std::uint32_t>(base + layout.used_offset + 8), 4097u);
}

TEST(SplitVirtqView, RingSlotsAreTheFreeRunningIndexModuloTheQueueSize) {
    const auto layout = *v::split_layout(8);
    SharedArea area(4096);
    auto q = v::SplitVirtqView::over(area.bytes(), layout);
    ASSERT_TRUE(q);
    const std::byte* avail_ring = area.data() + layout.avail_offset + 4;
    const std::byte* used_ring = area.data() + layout.used_offset + 4;

    q->set_avail_ring(8 + 3, 7);
    EXPECT_EQ(q->avail_ring(3), 7);
    EXPECT_EQ(raw<std::uint16_t>(avail_ring + 2 * 3), 7);
    q->set_avail_ring(0xffff, 4);  // slot 7, just before the 16-bit wrap
    EXPECT_EQ(raw<std::uint16_t>(avail_ring + 2 * 7), 4);
    EXPECT_EQ(q->avail_ring(7), 4);

    q->set_used_elem(0x10001 & 0xffff, {6, 512});  // index 1 after a full wrap
    EXPECT_EQ(raw<std::uint32_t>(used_ring + 8 * 1), 6u);
    EXPECT_EQ(raw<std::uint32_t>(used_ring + 8 * 1 + 4), 512u);
}

TEST(SplitVirtqView, EventIndexesLiveJustPastTheRingsAndAreNotClobbered) {
    const auto layout = *v::split_layout(16);
    SharedArea area(4096);
    auto q = v::SplitVirtqView::over(area.bytes(), layout);
    ASSERT_TRUE(q);
    q->set_used_event(0x1234);
    q->set_avail_event(0x4321);
    EXPECT_EQ(raw<std::uint16_t>(area.data() + layout.avail_offset + 4 + 2 * 16), 0x1234);
    EXPECT_EQ(raw<std::uint16_t>(area.data() + layout.used_offset + 4 + 8 * 16), 0x4321);

    q->set_avail_ring(15, 0xffff);  // the last slots border the event fields
    q->set_used_elem(15, {0xffffffff, 0xffffffff});
    EXPECT_EQ(q->used_event(), 0x1234);
    EXPECT_EQ(q->avail_event(), 0x4321);
}

TEST(SplitVirtqView, DriverKicksOnlyWhenTheDeviceAskedForWhatItPublished) {
    const auto layout = *v::split_layout(64);
    SharedArea area(4096);
    auto driver = v::SplitVirtqView::over(area.bytes(), layout);
    auto device = v::SplitVirtqView::over(area.bytes(), layout);
    ASSERT_TRUE(driver && device);

    // EVENT_IDX: the device wants to hear once entry 3 is published.
    device->arm_avail_event(3);
    driver->publish_avail_idx(2);
    EXPECT_FALSE(driver->driver_should_kick(0, 2, true));
    driver->publish_avail_idx(4);
    EXPECT_TRUE(driver->driver_should_kick(2, 4, true));
    // With EVENT_IDX the NO_NOTIFY flag is ignored (§2.7.10).
    device->set_used_flags(v::kUsedFNoNotify);
    EXPECT_TRUE(driver->driver_should_kick(2, 4, true));

    // Without EVENT_IDX only the flag counts.
    EXPECT_FALSE(driver->driver_should_kick(4, 5, false));
    device->set_used_flags(0);
    EXPECT_TRUE(driver->driver_should_kick(4, 5, false));
}

TEST(SplitVirtqView, DeviceInterruptsOnlyWhenTheDriverAskedForWhatItPublished) {
    const auto layout = *v::split_layout(64);
    SharedArea area(4096);
    auto driver = v::SplitVirtqView::over(area.bytes(), layout);
    auto device = v::SplitVirtqView::over(area.bytes(), layout);
    ASSERT_TRUE(driver && device);

    driver->arm_used_event(10);
    device->publish_used_idx(10);
    EXPECT_FALSE(device->device_should_interrupt(0, 10, true));  // entries 0..9 only
    device->publish_used_idx(11);
    EXPECT_TRUE(device->device_should_interrupt(10, 11, true));
    driver->set_avail_flags(v::kAvailFNoInterrupt);
    EXPECT_TRUE(device->device_should_interrupt(10, 11, true));  // flag ignored with EVENT_IDX
    EXPECT_FALSE(device->device_should_interrupt(11, 12, false));
    driver->set_avail_flags(0);
    EXPECT_TRUE(device->device_should_interrupt(11, 12, false));
}

TEST(SplitVirtqView, WorksOverSeparatelyPlacedPartsAndTheLegacyLayout) {
    // Parts in reverse order inside one mapping, as a 1.x driver may place them.
    SharedArea area(3 * 4096);
    auto b = area.bytes();
    auto driver =
        v::SplitVirtqView::from_parts(32, b.subspan(8192), b.subspan(4096 + 2), b.subspan(4));
    auto device =
        v::SplitVirtqView::from_parts(32, b.subspan(8192), b.subspan(4096 + 2), b.subspan(4));
    ASSERT_TRUE(driver && device);
    driver->set_desc(31, {0xabc, 8, 0, 0});
    driver->set_avail_ring(0, 31);
    driver->publish_avail_idx(1);
    ASSERT_EQ(device->avail_idx(), 1);
    EXPECT_EQ(device->desc(device->avail_ring(0)).addr, 0xabcu);
    EXPECT_EQ(raw<std::uint64_t>(area.data() + 8192 + 31 * 16), 0xabcu);
    EXPECT_EQ(raw<std::uint16_t>(area.data() + 4096 + 2 + 4), 31);

    const auto legacy = *v::legacy_split_layout(256, 4096);
    SharedArea legacy_area(legacy.total_size);
    auto q = v::SplitVirtqView::over(legacy_area.bytes(), legacy);
    ASSERT_TRUE(q);
    q->set_used_elem(0, {7, 9});
    q->publish_used_idx(1);
    EXPECT_EQ(raw<std::uint16_t>(legacy_area.data() + 8192 + 2), 1);
    EXPECT_EQ(raw<std::uint32_t>(legacy_area.data() + 8192 + 4), 7u);
}

// A driver and a device on two threads push requests through a small queue
// with notification suppression on, each sleeping whenever it has nothing to
// do. A lost wake-up (a missing barrier between publishing and checking)
// would leave both asleep; every request must instead complete exactly once.
class SplitVirtqViewNotify : public testing::TestWithParam<bool> {};

TEST_P(SplitVirtqViewNotify, EveryRequestCompletesWithSuppressionOn) {
    const bool event_idx = GetParam();
    constexpr std::uint16_t kSize = 16;
    constexpr std::uint32_t kRequests = 20000;
    const auto layout = *v::split_layout(kSize);
    SharedArea area(4096);
    auto driver = *v::SplitVirtqView::over(area.bytes(), layout);
    auto device = *v::SplitVirtqView::over(area.bytes(), layout);
    std::atomic<std::uint32_t> kicks{0};
    std::atomic<std::uint32_t> interrupts{0};
    auto reply_len = [](std::uint64_t addr) { return static_cast<std::uint32_t>(addr * 7 + 1); };

    std::thread device_thread([&] {
        std::uint16_t last_avail = 0;
        std::uint16_t used = 0;
        for (std::uint32_t done = 0; done < kRequests;) {
            const std::uint16_t old_used = used;
            while (last_avail != device.avail_idx()) {
                const std::uint16_t head = device.avail_ring(last_avail++);
                device.set_used_elem(used++, {head, reply_len(device.desc(head).addr)});
                ++done;
            }
            if (used != old_used) {
                device.publish_used_idx(used);
                if (device.device_should_interrupt(old_used, used, event_idx)) {
                    interrupts.fetch_add(1);
                    interrupts.notify_one();
                }
                continue;
            }
            // Nothing to do: ask for a kick, re-check, then sleep.
            const std::uint32_t seen = kicks.load();
            if (event_idx) {
                device.arm_avail_event(last_avail);
            } else {
                device.set_used_flags(0);
                v::full_barrier();
            }
            if (device.avail_idx() == last_avail) {
                kicks.wait(seen);
            }
            if (!event_idx) {
                device.set_used_flags(v::kUsedFNoNotify);  // busy again
            }
        }
    });

    std::vector<std::uint16_t> free_descs;
    for (std::uint16_t d = 0; d < kSize; ++d) {
        free_descs.push_back(d);
    }
    std::vector<std::uint32_t> request_of(kSize);
    std::vector<int> completions(kRequests, 0);
    std::uint32_t submitted = 0;
    std::uint32_t completed = 0;
    std::uint16_t avail = 0;
    std::uint16_t last_used = 0;
    bool bad_len = false;
    while (completed < kRequests) {
        bool progress = false;
        while (last_used != driver.used_idx()) {
            const v::VirtqUsedElem e = driver.used_elem(last_used++);
            const std::uint32_t req = request_of.at(e.id);
            bad_len |= e.len != reply_len(req);
            ++completions.at(req);
            free_descs.push_back(static_cast<std::uint16_t>(e.id));
            ++completed;
            progress = true;
        }
        const std::uint16_t old_avail = avail;
        while (!free_descs.empty() && submitted < kRequests) {
            const std::uint16_t d = free_descs.back();
            free_descs.pop_back();
            request_of[d] = submitted;
            driver.set_desc(d, {submitted, 512, v::kDescFWrite, 0});
            driver.set_avail_ring(avail++, d);
            ++submitted;
        }
        if (avail != old_avail) {
            driver.publish_avail_idx(avail);
            if (driver.driver_should_kick(old_avail, avail, event_idx)) {
                kicks.fetch_add(1);
                kicks.notify_one();
            }
            progress = true;
        }
        if (progress || completed == kRequests) {
            continue;
        }
        const std::uint32_t seen = interrupts.load();
        if (event_idx) {
            driver.arm_used_event(last_used);
        } else {
            driver.set_avail_flags(0);
            v::full_barrier();
        }
        if (driver.used_idx() == last_used) {
            interrupts.wait(seen);
        }
        if (!event_idx) {
            driver.set_avail_flags(v::kAvailFNoInterrupt);
        }
    }
    device_thread.join();

    EXPECT_FALSE(bad_len);
    for (std::uint32_t r = 0; r < kRequests; ++r) {
        ASSERT_EQ(completions[r], 1) << "request " << r;
    }
    // Notifications happened, and never more than one per request.
    EXPECT_GE(kicks.load(), 1u);
    EXPECT_LE(kicks.load(), kRequests);
    EXPECT_LE(interrupts.load(), kRequests);
}

INSTANTIATE_TEST_SUITE_P(EventIdxAndFlags, SplitVirtqViewNotify, testing::Bool(),
                         [](const testing::TestParamInfo<bool>& param_info) {
                             return param_info.param ? "EventIdx" : "Flags";
                         });

// The device in another process, as vhost-user has it: it sees the driver's
// descriptors and data through shared memory only, writes its answer into
// the buffers and publishes; the driver must see the answer once it sees
// the used index.
TEST(SplitVirtqView, ChildProcessServesRequestsThroughSharedMemory) {
    constexpr std::uint16_t kSize = 64;
    constexpr std::uint32_t kRequests = 5000;
    const auto layout = *v::split_layout(kSize);
    const std::size_t data_offset = 4096;  // one 8-byte buffer per descriptor after the queue
    ASSERT_LE(layout.total_size, data_offset);
    SharedArea area(data_offset + kSize * 8);

    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        auto device = v::SplitVirtqView::over(area.bytes(), layout);
        if (!device) {
            ::_exit(2);
        }
        std::uint16_t last_avail = 0;
        for (std::uint32_t done = 0; done < kRequests;) {
            const std::uint16_t avail = device->avail_idx();
            if (avail == last_avail) {
                ::sched_yield();
                continue;
            }
            std::uint16_t used = last_avail;  // in-order device: used trails avail
            while (last_avail != avail) {
                const std::uint16_t head = device->avail_ring(last_avail++);
                if (head >= device->size()) {
                    ::_exit(3);
                }
                const v::VirtqDesc d = device->desc(head);
                std::uint64_t request;
                std::memcpy(&request, area.data() + d.addr, sizeof request);
                const std::uint64_t answer = request * 3 + 1;
                std::memcpy(area.data() + d.addr, &answer, sizeof answer);
                device->set_used_elem(used++, {head, 8});
                ++done;
            }
            device->publish_used_idx(used);
        }
        ::_exit(0);
    }

    auto driver = v::SplitVirtqView::over(area.bytes(), layout);
    ASSERT_TRUE(driver);
    std::uint32_t submitted = 0;
    std::uint32_t completed = 0;
    std::uint16_t avail = 0;
    std::uint16_t last_used = 0;
    std::uint32_t wrong = 0;
    std::vector<std::uint16_t> free_descs;
    for (std::uint16_t d = 0; d < kSize; ++d) {
        free_descs.push_back(d);
    }
    std::vector<std::uint64_t> request_of(kSize);
    while (completed < kRequests) {
        while (last_used != driver->used_idx()) {
            const v::VirtqUsedElem e = driver->used_elem(last_used++);
            std::uint64_t answer;
            std::memcpy(&answer, area.data() + data_offset + e.id * 8, sizeof answer);
            wrong += (answer != request_of[e.id] * 3 + 1 || e.len != 8) ? 1 : 0;
            free_descs.push_back(static_cast<std::uint16_t>(e.id));
            ++completed;
        }
        const std::uint16_t old_avail = avail;
        while (!free_descs.empty() && submitted < kRequests) {
            const std::uint16_t d = free_descs.back();
            free_descs.pop_back();
            request_of[d] = submitted + 1000;
            std::memcpy(area.data() + data_offset + d * 8, &request_of[d], 8);
            driver->set_desc(d, {data_offset + d * 8, 8, v::kDescFWrite, 0});
            driver->set_avail_ring(avail++, d);
            ++submitted;
        }
        if (avail != old_avail) {
            driver->publish_avail_idx(avail);
        } else {
            ::sched_yield();
        }
    }
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
    EXPECT_EQ(wrong, 0u);
    EXPECT_EQ(completed, kRequests);
}

}  // namespace
