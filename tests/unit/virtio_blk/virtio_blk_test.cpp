// The whole driver (handshake, queue, completion thread) against the
// scripted device: the order of the handshake, what it refuses, I/O through
// the queue, a device that writes a bad used element or hangs up (and, with
// reconnect, one connected to again), and the close sequence.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>

#include <gtest/gtest.h>

#include "common/os/shared_memory.hpp"
#include "frontend/virtio_blk/virtio_blk.hpp"
#include "hypervisor/client/domain_memory.hpp"
#include "scripted_device.hpp"
#include "tests/support/block_request.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/temp_dir.hpp"

namespace pvsim::test {
namespace {

using frontend::BlockOperation;
using frontend::BlockRequest;
using frontend::GuestBuffer;
using frontend::virtio_blk::open_virtio_blk;
using frontend::virtio_blk::VhostUserError;
using frontend::virtio_blk::VirtioBlkOptions;

std::string unique_name() {
    static std::atomic<unsigned> counter{0};
    return os::shm_name("vblktest" + std::to_string(::getpid()), "m" + std::to_string(counter++));
}

class VirtioBlkTest : public ::testing::Test {
  protected:
    std::string socket() const { return (dir_.path() / "device.sock").string(); }
    void start(ScriptedDeviceOptions options = {}) { device_.emplace(socket(), options); }
    std::unique_ptr<frontend::virtio_blk::VirtioBlk> open(
        std::chrono::milliseconds reconnect = std::chrono::milliseconds(0)) {
        // Bounds on a hang only: no case here waits for a timeout, and a
        // sanitized device on a loaded machine may take seconds to answer.
        VirtioBlkOptions options;
        options.connect_timeout = std::chrono::seconds(20);
        options.reply_timeout = std::chrono::seconds(20);
        options.reconnect = reconnect;
        return open_virtio_blk(memory_, socket(), options);
    }
    // A device that hangs up once the driver has its ring, and the driver
    // (connecting again every 10 ms) once it has seen it go.
    std::unique_ptr<frontend::virtio_blk::VirtioBlk> open_and_lose_the_device() {
        start(ScriptedDeviceOptions{.hang_up_after = Request::set_vring_enable});
        auto blk = open(std::chrono::milliseconds(10));
        EXPECT_TRUE(eventually([&] { return !blk->connected(); }));
        EXPECT_FALSE(blk->failed()) << blk->error();
        device_.reset();
        std::filesystem::remove(socket());
        return blk;
    }
    // Pages that are not physically contiguous (every other one), so each
    // is a descriptor of its own.
    GuestBuffer buffer(std::size_t pages) {
        GuestBuffer b;
        for (std::size_t i = 0; i < pages; ++i) {
            b.pages.push_back(memory_.allocate_page());
            memory_.allocate_page();
        }
        b.length = pages * 4096;
        return b;
    }

    TempDir dir_;
    hypervisor::DomainMemory memory_{os::SharedMemory::create(unique_name(), 512 * 4096), 1};
    std::optional<ScriptedDevice> device_;
};

TEST_F(VirtioBlkTest, HandshakeInQemusOrderAndCloseStopsTheRing) {
    start();
    {
        auto blk = open();
        EXPECT_EQ(blk->capacity_sectors(), 2048u);
        EXPECT_EQ(blk->queue_count(), 1u);
        blk->close();
    }
    const std::vector<Request> expected = {Request::get_features,
                                           Request::get_protocol_features,
                                           Request::set_protocol_features,
                                           Request::set_owner,
                                           Request::get_config,
                                           Request::set_features,
                                           Request::set_mem_table,
                                           Request::set_vring_num,
                                           Request::set_vring_base,
                                           Request::set_vring_addr,
                                           Request::set_vring_kick,
                                           Request::set_vring_call,
                                           Request::set_vring_enable,
                                           Request::get_vring_base};
    EXPECT_TRUE(eventually([&] { return device_->saw_eof(); }));
    EXPECT_EQ(device_->requests(), expected);
}

TEST_F(VirtioBlkTest, ReadsAndWritesGoThroughTheQueue) {
    start();
    auto blk = open();
    GuestBuffer out = buffer(20);  // more than seg_max pages: split in three
    for (std::size_t i = 0; i < out.pages.size(); ++i) {
        std::memset(memory_.page(out.pages[i]).data(), static_cast<int>(i + 1), 4096);
    }
    ASSERT_EQ(run_one(*blk, BlockOperation::write, 100, &out), 0);
    GuestBuffer in = buffer(20);
    ASSERT_EQ(run_one(*blk, BlockOperation::read, 100, &in), 0);
    for (std::size_t i = 0; i < in.pages.size(); ++i) {
        EXPECT_EQ(
            std::memcmp(memory_.page(in.pages[i]).data(), memory_.page(out.pages[i]).data(), 4096),
            0)
            << "page " << i;
    }
    // Neither FLUSH nor DISCARD offered: a flush completes at once, a
    // discard is not supported; neither reaches the device.
    EXPECT_EQ(run_one(*blk, BlockOperation::flush, 0, nullptr), 0);
    EXPECT_EQ(run_one(*blk, BlockOperation::discard, 0, nullptr, 8), -EOPNOTSUPP);
    const auto counters = blk->counters();
    EXPECT_EQ(counters.requests, 6u);
    EXPECT_EQ(counters.indirect_requests, 6u);
    EXPECT_EQ(counters.bytes, 2u * 20 * 4096);
    EXPECT_EQ(counters.flushes, 0u);
}

TEST_F(VirtioBlkTest, DeeperThanTheQueueWithoutPolling) {
    // 16 requests kept going on a 4-entry queue: submitters wait for room,
    // and a completion callback's submit is queued and issued as room frees.
    start();
    VirtioBlkOptions options;
    options.queue_size = 4;
    options.poll = std::chrono::microseconds(0);
    auto blk = open_virtio_blk(memory_, socket(), options);
    constexpr unsigned kDepth = 16;
    constexpr unsigned kTotal = 2000;
    std::mutex mutex;
    std::condition_variable finished;
    unsigned issued = 0, completed = 0, failed = 0;
    std::vector<GuestBuffer> buffers;
    for (unsigned i = 0; i < kDepth; ++i) {
        buffers.push_back(buffer(1));
    }
    std::function<void(unsigned)> issue = [&](unsigned slot) {
        {
            std::lock_guard lock(mutex);
            if (issued == kTotal) {
                return;
            }
            ++issued;
        }
        BlockRequest request;
        request.operation = slot % 2 == 0 ? BlockOperation::read : BlockOperation::write;
        request.sector = slot * 8;
        request.buffer = &buffers[slot];
        request.done = [&, slot](int status) {
            {
                std::lock_guard lock(mutex);
                ++completed;
                failed += status != 0 ? 1 : 0;
                finished.notify_all();
            }
            issue(slot);
        };
        blk->submit({&request, 1});
    };
    std::vector<std::thread> submitters;
    for (unsigned i = 0; i < kDepth; ++i) {
        submitters.emplace_back([&, i] { issue(i); });
    }
    for (auto& thread : submitters) {
        thread.join();
    }
    std::unique_lock lock(mutex);
    ASSERT_TRUE(
        finished.wait_for(lock, std::chrono::seconds(60), [&] { return completed == kTotal; }))
        << completed << " of " << kTotal << " completed";
    EXPECT_EQ(failed, 0u);
    lock.unlock();
    // The last callbacks may still be running: they end before `issue` does.
    blk->close();
    EXPECT_EQ(blk->counters().requests, kTotal);
}

TEST_F(VirtioBlkTest, ShorterConfigSpaceIsAskedForWhenTheWholeIsDeclined) {
    ScriptedDeviceOptions options;
    options.max_config_size = 60;  // up to the write-zeroes fields
    options.capacity = 4096;
    start(options);
    auto blk = open();
    EXPECT_EQ(blk->capacity_sectors(), 4096u);
    blk->close();
    const auto requests = device_->requests();
    EXPECT_EQ(std::count(requests.begin(), requests.end(), Request::get_config), 2);
}

TEST_F(VirtioBlkTest, LegacyDeviceIsRefused) {
    ScriptedDeviceOptions options;
    options.features &= ~virtio::feature_mask(virtio::Feature::version_1);
    start(options);
    try {
        open();
        FAIL() << "opened a device without VIRTIO_F_VERSION_1";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("VIRTIO_F_VERSION_1"), std::string::npos) << e.what();
    }
}

TEST_F(VirtioBlkTest, RefusedRequestFailsTheOpen) {
    start(ScriptedDeviceOptions{.refuse = Request::set_mem_table});
    try {
        open();
        FAIL() << "a refused SET_MEM_TABLE went unnoticed";
    } catch (const VhostUserError& e) {
        EXPECT_NE(std::string(e.what()).find("VHOST_USER_SET_MEM_TABLE"), std::string::npos)
            << e.what();
    }
}

TEST_F(VirtioBlkTest, HangUpAfterAnAckFailsTheOpen) {
    start(ScriptedDeviceOptions{.hang_up_after = Request::set_features});
    EXPECT_THROW(open(), VhostUserError);
}

TEST_F(VirtioBlkTest, NoConfigProtocolFeatureIsRefused) {
    ScriptedDeviceOptions options;
    options.protocol_features =
        vhost_user::protocol_feature_mask(vhost_user::ProtocolFeature::reply_ack);
    start(options);
    EXPECT_THROW(open(), std::runtime_error);
}

TEST_F(VirtioBlkTest, BadUsedElementFailsTheDevice) {
    start(ScriptedDeviceOptions{.bad_used_id = true});
    auto blk = open();
    GuestBuffer in = buffer(1);
    EXPECT_EQ(run_one(*blk, BlockOperation::read, 0, &in), -ENODEV);
    EXPECT_NE(blk->error().find("heads no chain"), std::string::npos) << blk->error();
    EXPECT_TRUE(blk->failed());
    EXPECT_EQ(run_one(*blk, BlockOperation::read, 0, &in), -ENODEV);
    // in_flight() counts a request until its callback has returned.
    EXPECT_TRUE(eventually([&] { return blk->in_flight() == 0; }));
}

TEST_F(VirtioBlkTest, DeviceHangingUpFailsTheDevice) {
    start(ScriptedDeviceOptions{.hang_up_after = Request::set_vring_enable});
    auto blk = open();
    EXPECT_TRUE(eventually([&] { return blk->failed(); }));
    EXPECT_NE(blk->error().find("closed the connection"), std::string::npos) << blk->error();
    GuestBuffer in = buffer(1);
    EXPECT_EQ(run_one(*blk, BlockOperation::read, 0, &in), -ENODEV);
}

// QEMU's reconnect=: a request submitted while the device is away is held,
// and served once a device listens again and has had the whole handshake.
TEST_F(VirtioBlkTest, WithReconnectADeviceThatHangsUpIsConnectedToAgain) {
    auto blk = open_and_lose_the_device();
    std::atomic<int> status{1};
    GuestBuffer in = buffer(2);
    BlockRequest held = request_of(BlockOperation::read, 8, &in);
    held.done = [&](int s) { status = s; };
    blk->submit({&held, 1});
    start();
    EXPECT_TRUE(eventually([&] { return status.load() != 1; }));
    EXPECT_EQ(status.load(), 0);
    EXPECT_TRUE(blk->connected());
    EXPECT_EQ(blk->counters().reconnections, 1u);
    EXPECT_EQ(blk->error(), "");
    EXPECT_EQ(run_one(*blk, BlockOperation::read, 0, &in), 0);
    // The new device was set up from the start, its ring from where the
    // driver is.
    const std::vector<Request> seen = device_->requests();
    for (const Request r :
         {Request::get_features, Request::set_features, Request::set_mem_table,
          Request::set_vring_base, Request::set_vring_kick, Request::set_vring_enable}) {
        EXPECT_NE(std::find(seen.begin(), seen.end(), r), seen.end()) << vhost_user::name(r);
    }
}

// The driver has no config-change path: a device back as another disk
// fails it, and what it held with it.
TEST_F(VirtioBlkTest, ADeviceThatComesBackAsAnotherDiskFailsIt) {
    auto blk = open_and_lose_the_device();
    start(ScriptedDeviceOptions{.capacity = 4096});
    EXPECT_TRUE(eventually([&] { return blk->failed(); }));
    EXPECT_NE(blk->error().find("another disk"), std::string::npos) << blk->error();
    GuestBuffer in = buffer(1);
    EXPECT_EQ(run_one(*blk, BlockOperation::read, 0, &in), -ENODEV);
}

// Closing (block-detach) while the device is away waits for nothing: what
// is held fails with -ENODEV.
TEST_F(VirtioBlkTest, ClosingWhileTheDeviceIsAwayFailsWhatIsHeld) {
    auto blk = open_and_lose_the_device();
    std::atomic<int> status{1};
    GuestBuffer in = buffer(1);
    BlockRequest held = request_of(BlockOperation::read, 0, &in);
    held.done = [&](int s) { status = s; };
    blk->submit({&held, 1});
    blk->close();
    EXPECT_EQ(status.load(), -ENODEV);
    EXPECT_EQ(blk->counters().reconnections, 0u);
}

TEST_F(VirtioBlkTest, BadOptionsAreRefusedBeforeConnecting) {
    VirtioBlkOptions options;
    options.queue_size = 100;
    EXPECT_THROW(open_virtio_blk(memory_, socket(), options), std::invalid_argument);
    options.queue_size = 256;
    options.num_queues = 17;
    EXPECT_THROW(open_virtio_blk(memory_, socket(), options), std::invalid_argument);
}

}  // namespace
}  // namespace pvsim::test
