// A hostile virtio driver against the vhost-user-blk device: descriptor
// loops, chains longer than the queue, buffers outside the memory table and
// a driver that never takes its completions. For each, the device survives
// (the rogue's own queue still serves a good request), a second device in
// the same process, driven by a well-behaved driver on its own socket, keeps
// completing verified I/O beside it, and the device's log names the
// offender: the device ("rogue-disk", one front-end per socket), its queue
// and the head.
//
// Where QEMU's virtio (hw/virtio/virtio.c virtqueue_split_pop) and
// libvhost-user (vu_queue_pop) call virtio_error / vu_panic and stop the
// whole device until it is reset, pvsim's device returns the chain with
// nothing written (used len 0) and goes on with the queue (DESIGN.md §6,
// "MalformedChainsGetTheirStatusAndTheQueueGoesOn" in bad_input_test.cpp);
// the checks that find the chain malformed are QEMU's, named beside each
// attack. A loop of two direct descriptors and a buffer past every region
// are bad_input_test.cpp's; this file has the rest.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "server_fixture.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/log_capture.hpp"
#include "tests/support/thread_state.hpp"

namespace rogue_driver_test {

using namespace pvsim::test;
using pvsim::virtio::BlkReqType;
using pvsim::virtio::BlkStatus;
using pvsim::virtio::kDescFIndirect;
using pvsim::virtio::kDescFNext;
using pvsim::virtio::kDescFWrite;
using pvsim::virtio::VirtqDesc;

constexpr std::uint64_t kAllFeatures = ~std::uint64_t{0};
constexpr auto kOk = static_cast<std::uint8_t>(BlkStatus::ok);
// The rogue's queue: small, so that "longer than the queue" is cheap.
constexpr std::uint16_t kQueueSize = 16;
constexpr std::uint32_t kBlock = 4096;

class RogueDriver : public ServerFixture {
  protected:
    void SetUp() override {
        ServerFixture::SetUp();
        bystander_image_ = dir_.path() / "bystander.img";
        ASSERT_NO_FATAL_FAILURE(write_pattern_image(bystander_image_));
        bystander_server_ = make_server(dir_.path() / "bystander.sock", bystander_image_, 1, false,
                                        "bystander-disk");
        bystander_ = std::make_unique<TestFrontend>(dir_.path() / "bystander.sock");
        bystander_->negotiate(kAllFeatures);
        bystander_->start_queue(0);
        bystander_thread_ = std::thread([this] { run_bystander(); });

        server_ = make_server(socket_, image_, 1, false, "rogue-disk");
        rogue_ = connect();
        rogue_->negotiate(kAllFeatures);
        const std::set<pid_t> before = thread_ids();
        rogue_->start_queue(0, kQueueSize);
        for (const pid_t tid : thread_ids()) {
            if (!before.contains(tid)) {
                rogue_threads_.insert(tid);
            }
        }
        // The rest of the used ring's page and the page after it stay
        // unallocated: a device writing past the used ring would show there.
        guard_page_ = rogue_->memory().allocate_page();
    }

    void TearDown() override {
        stop_bystander_ = true;
        if (bystander_thread_.joinable()) {
            bystander_thread_.join();
        }
        rogue_.reset();
        server_.reset();
        bystander_.reset();
        bystander_server_.reset();
        std::lock_guard lock(mutex_);
        EXPECT_TRUE(bystander_errors_.empty()) << bystander_errors_.front();
    }

    // The well-behaved driver: writes a fresh pattern to a block, reads it
    // back and checks it, round after round, until the test ends.
    void run_bystander() {
        GuestMemory& mem = bystander_->memory();
        const BlkBuffers write = make_blk_request(mem, BlkReqType::out, 0, kBlock);
        const BlkBuffers read = make_blk_request(mem, BlkReqType::in, 0, kBlock);
        try {
            for (std::uint64_t round = 0; !stop_bystander_; ++round) {
                const std::uint64_t sector = (round % 64) * (kBlock / 512);
                for (const BlkBuffers* b : {&write, &read}) {
                    const pvsim::virtio::VirtioBlkOutHdr hdr{
                        static_cast<std::uint32_t>(b == &write ? BlkReqType::out : BlkReqType::in),
                        0, sector};
                    std::memcpy(mem.at(b->header), &hdr, sizeof(hdr));
                    *mem.at(b->status) = std::byte{0xff};
                }
                for (std::uint32_t i = 0; i < kBlock; ++i) {
                    *mem.at(write.data + i) = static_cast<std::byte>(round * 31 + i * 13);
                }
                std::memset(mem.at(read.data), 0, kBlock);
                if (bystander_->run(0, write, false) != kOk ||
                    bystander_->run(0, read, true) != kOk) {
                    throw std::runtime_error("a request was not OK");
                }
                if (std::memcmp(mem.at(read.data), mem.at(write.data), kBlock) != 0) {
                    throw std::runtime_error("read back other data than written");
                }
                const std::vector<std::uint8_t> on_disk =
                    image_bytes(bystander_image_, sector * 512, kBlock);
                if (std::memcmp(on_disk.data(), mem.at(write.data), kBlock) != 0) {
                    throw std::runtime_error("the image holds other data than written");
                }
                ++bystander_rounds_;
            }
        } catch (const std::exception& e) {
            std::lock_guard lock(mutex_);
            bystander_errors_.push_back(std::string("bystander: ") + e.what());
        }
    }

    // The bystander completes two more verified rounds from now.
    void expect_bystander_goes_on() {
        const std::uint64_t now = bystander_rounds_;
        EXPECT_TRUE(eventually([&] { return bystander_rounds_ >= now + 2; }));
    }

    // The rogue's own queue still serves a good read.
    void expect_rogue_queue_serves() {
        const BlkBuffers read = make_blk_request(rogue_->memory(), BlkReqType::in, 9, 512);
        ASSERT_EQ(rogue_->run(0, read, true), kOk);
        EXPECT_EQ(static_cast<std::uint8_t>(*rogue_->memory().at(read.data)),
                  pattern_byte(9 * 512));
    }

    // Publishes descriptor `head` as the rogue did it by hand; the used
    // length the device returned it with.
    std::uint32_t submit_by_hand(std::uint16_t head) {
        rogue_->submit(0, head);
        const auto used = rogue_->wait_used(0, 1);
        EXPECT_EQ(used.front().id, head);
        return used.front().len;
    }

    // An indirect table of `entries` in the rogue's memory; its address.
    std::uint64_t table_of(const std::vector<VirtqDesc>& entries) {
        const std::uint64_t table = rogue_->memory().allocate(sizeof(VirtqDesc) * entries.size());
        std::memcpy(rogue_->memory().at(table), entries.data(), sizeof(VirtqDesc) * entries.size());
        return table;
    }

    // The one warning naming the rogue device, its queue 0, the head and
    // `what`.
    void expect_logged(std::uint16_t head, const std::string& what) {
        const std::string at = "head " + std::to_string(head) + ":";
        const auto lines = log_.warnings_with({"rogue-disk queue 0", at, what});
        EXPECT_EQ(lines.size(), 1u) << what << " at " << at;
    }

    LogCapture log_;
    std::filesystem::path bystander_image_;
    std::unique_ptr<pvsim::backend::vhost_user_blk::VhostUserBlkServer> bystander_server_;
    std::unique_ptr<TestFrontend> bystander_;
    std::thread bystander_thread_;
    std::atomic<bool> stop_bystander_{false};
    std::atomic<std::uint64_t> bystander_rounds_{0};
    std::mutex mutex_;
    std::vector<std::string> bystander_errors_;
    std::unique_ptr<TestFrontend> rogue_;
    std::set<pid_t> rogue_threads_;
    std::uint64_t guard_page_ = 0;
};

TEST_F(RogueDriver, DescriptorLoopsAreRefusedAndNamedWhileTheOtherDeviceServes) {
    auto& q = rogue_->queue(0);
    const std::uint64_t hdr = make_blk_request(rogue_->memory(), BlkReqType::in, 0, 0).header;
    // A descriptor whose next is itself. QEMU's virtqueue_split_pop: "If
    // we've got too many, that implies a descriptor loop" (more entries than
    // the queue size: "Looped descriptor"); libvhost-user's vu_queue_map_desc
    // the same.
    q.ring->view().set_desc(15, VirtqDesc{hdr, 16, kDescFNext, 15});
    EXPECT_EQ(submit_by_hand(15), 0u);
    // A loop inside an indirect table (0 -> 1 -> 2 -> 0): the same check with
    // the table's size as the bound (QEMU: max = desc.len / sizeof(VRingDesc)).
    const std::uint64_t table =
        table_of({VirtqDesc{hdr, 16, kDescFNext, 1}, VirtqDesc{hdr, 16, kDescFNext, 2},
                  VirtqDesc{hdr, 16, kDescFNext, 0}});
    q.ring->view().set_desc(14, VirtqDesc{table, 3 * sizeof(VirtqDesc), kDescFIndirect, 0});
    EXPECT_EQ(submit_by_hand(14), 0u);

    expect_logged(15, "loop in the descriptor chain");
    expect_logged(14, "loop in the indirect table");
    EXPECT_EQ(counters().malformed_chains, 2u);
    EXPECT_EQ(counters().broken_queues, 0u);
    expect_rogue_queue_serves();
    expect_bystander_goes_on();
}

TEST_F(RogueDriver, ChainsLongerThanTheQueueAreRefusedAndNamed) {
    auto& q = rogue_->queue(0);
    const std::uint64_t hdr = make_blk_request(rogue_->memory(), BlkReqType::out, 0, 0).header;
    // virtio 1.2 §2.7.5.3.1: "A driver MUST NOT create a descriptor chain
    // longer than the Queue Size of the device."
    // An indirect table of kQueueSize + 1 entries, no loop in it.
    std::vector<VirtqDesc> long_table(kQueueSize + 1);
    for (std::uint16_t i = 0; i < long_table.size(); ++i) {
        const bool last = i + 1u == long_table.size();
        long_table[i] = VirtqDesc{hdr, 16, static_cast<std::uint16_t>(last ? 0 : kDescFNext),
                                  static_cast<std::uint16_t>(last ? 0 : i + 1)};
    }
    q.ring->view().set_desc(
        15, VirtqDesc{table_of(long_table),
                      static_cast<std::uint32_t>(long_table.size() * sizeof(VirtqDesc)),
                      kDescFIndirect, 0});
    EXPECT_EQ(submit_by_hand(15), 0u);
    // Two direct descriptors, then an indirect table of kQueueSize - 1: each
    // part within its table, kQueueSize + 1 descriptors in all.
    std::vector<VirtqDesc> short_table(long_table.end() - (kQueueSize - 1), long_table.end());
    for (std::uint16_t i = 0; i + 1u < short_table.size(); ++i) {
        short_table[i].next = static_cast<std::uint16_t>(i + 1);
    }
    q.ring->view().set_desc(12, VirtqDesc{hdr, 16, kDescFNext, 13});
    q.ring->view().set_desc(13, VirtqDesc{hdr, 16, kDescFNext, 14});
    q.ring->view().set_desc(
        14, VirtqDesc{table_of(short_table),
                      static_cast<std::uint32_t>(short_table.size() * sizeof(VirtqDesc)),
                      kDescFIndirect, 0});
    EXPECT_EQ(submit_by_hand(12), 0u);

    expect_logged(15, "an indirect table of 17 entries, more than 16");
    expect_logged(12, "the chain has more than 16 descriptors");
    EXPECT_EQ(counters().malformed_chains, 2u);
    EXPECT_EQ(counters().broken_queues, 0u);
    expect_rogue_queue_serves();
    expect_bystander_goes_on();
}

TEST_F(RogueDriver, BuffersOutsideTheMemoryTableAreRefusedAndNamed) {
    auto& q = rogue_->queue(0);
    GuestMemory& mem = rogue_->memory();
    const BlkBuffers b = make_blk_request(mem, BlkReqType::in, 0, 512);
    // QEMU's virtqueue_map_desc: a buffer dma_memory_map cannot map whole is
    // "virtio: bogus descriptor or out of resources"; libvhost-user's
    // virtqueue_map_desc: "virtio: invalid address for buffers".
    // A data buffer straddling the end of the only region.
    q.ring->view().set_desc(10, VirtqDesc{b.header, 16, kDescFNext, 11});
    q.ring->view().set_desc(11, VirtqDesc{mem.size() - 256, 512, kDescFWrite | kDescFNext, 12});
    q.ring->view().set_desc(12, VirtqDesc{b.status, 1, kDescFWrite, 0});
    EXPECT_EQ(submit_by_hand(10), 0u);
    // An address whose end wraps past 2^64.
    q.ring->view().set_desc(13, VirtqDesc{~std::uint64_t{0} - 8, 16, 0, 0});
    EXPECT_EQ(submit_by_hand(13), 0u);
    // An indirect table straddling the end of the region (QEMU's
    // virtqueue_split_pop maps the table with address_space_cache_init and
    // reports "Cannot map indirect buffer").
    q.ring->view().set_desc(14, VirtqDesc{mem.size() - 16, 32, kDescFIndirect, 0});
    EXPECT_EQ(submit_by_hand(14), 0u);
    // Nothing of the chain was used: not even its status byte.
    EXPECT_EQ(status_of(mem, b), 0xffu);

    expect_logged(10, "direct descriptor 11: buffer 0x" + fmt::format("{:x}", mem.size() - 256) +
                          " + 512 is outside the memory table");
    expect_logged(13, "is outside the memory table");
    expect_logged(14, "indirect table 0x" + fmt::format("{:x}", mem.size() - 16) +
                          " + 32 is outside the memory table");
    EXPECT_EQ(counters().malformed_chains, 3u);
    EXPECT_EQ(counters().broken_queues, 0u);
    expect_rogue_queue_serves();
    expect_bystander_goes_on();
}

TEST_F(RogueDriver, ADriverThatNeverTakesItsCompletionsIsServedWithoutOverrunOrSpinning) {
    // The rogue makes the whole queue available three times over, reusing
    // its descriptors once the device has used them, but never takes a used
    // element, never moves used_event and never reads its call eventfd. A
    // split queue gives the device no way to see that (the driver's
    // last-seen used index is its own), so it is no error and nothing is
    // logged: the device must only keep to the used ring, bound what it
    // holds by the queue (libvhost-user's vu_queue_pop: "Virtqueue size
    // exceeded" past vring.num in use) and sleep when it is done.
    auto& q = rogue_->queue(0);
    GuestMemory& mem = rogue_->memory();
    std::vector<std::uint16_t> heads;
    for (std::uint16_t i = 0; i < kQueueSize; ++i) {
        heads.push_back(
            q.ring->write_indirect(make_blk_request(mem, BlkReqType::in, i, 512).chain(true)));
    }
    constexpr unsigned kRounds = 3;
    for (unsigned round = 1; round <= kRounds; ++round) {
        for (const std::uint16_t head : heads) {
            rogue_->submit(0, head);
        }
        // Peeking at the device's used index is not taking the elements.
        ASSERT_TRUE(eventually([&] { return q.ring->view().used_idx() == round * kQueueSize; }));
    }
    EXPECT_EQ(counters().reads, kRounds * kQueueSize);
    EXPECT_EQ(counters().malformed_chains, 0u);
    EXPECT_EQ(counters().broken_queues, 0u);
    // The used ring holds the last round: each head once.
    std::multiset<std::uint32_t> ids;
    for (std::uint16_t i = 0; i < kQueueSize; ++i) {
        ids.insert(q.ring->view().used_elem(i).id);
    }
    EXPECT_EQ(ids, std::multiset<std::uint32_t>(heads.begin(), heads.end()));
    // Nothing written past the used ring (virtio 1.2 §2.7.8: flags, idx,
    // ring[queue size], avail_event), to the end of the page after it.
    const std::uint64_t used_end = q.ring->used_gpa() + pvsim::virtio::used_ring_size(kQueueSize);
    std::byte* past = mem.at(used_end);
    EXPECT_TRUE(std::all_of(past, mem.at(guard_page_ + pvsim::test::kGuestPage),
                            [](std::byte v) { return v == std::byte{0}; }));
    // With EVENT_IDX and used_event left at 0, the driver is interrupted
    // once, when the used index first passes 0, and never again
    // (vring_need_event, virtio 1.2 §2.7.10).
    EXPECT_EQ(counters().notifications_sent, 1u);
    // And the queue's thread, with nothing more to take, sleeps in poll(2)
    // rather than spinning on the ring.
    EXPECT_TRUE(eventually([&] {
        return std::any_of(rogue_threads_.begin(), rogue_threads_.end(),
                           [](pid_t tid) { return blocked_in_poll(tid); });
    }));
    EXPECT_TRUE(log_.warnings_with({"rogue-disk"}).empty());
    // Once the driver takes what it was given, it is served as before.
    while (q.ring->take_used()) {
    }
    expect_rogue_queue_serves();
    expect_bystander_goes_on();
}

}  // namespace rogue_driver_test
