// The virtio-blk driver over qemu-storage-daemon 7.2's vhost-user-blk export:
// the handshake, verified I/O against the image file's bytes, flush and
// discard, notification counts at queue depth 32, several queues, a clean
// close and reopen, and the daemon killed under I/O.
#include <cerrno>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "common/virtio/features.hpp"
#include "common/virtio/vhost_user.hpp"
#include "common/virtio/virtio_blk.hpp"
#include "qsd_fixture.hpp"

namespace pvsim::test {
namespace {

using frontend::BlockOperation;
using frontend::BlockRequest;
using frontend::virtio_blk::VirtioBlk;
using frontend::virtio_blk::VirtioBlkOptions;

// Keeps `depth` requests in flight until `total` have completed, each a
// 4 KiB read or write at a page of its own; returns how many failed.
struct DepthRun {
    DepthRun(VirtioBlk& device, hypervisor::DomainMemory& memory, unsigned depth,
             std::uint64_t total)
        : device_(device), total_(total) {
        for (unsigned i = 0; i < depth; ++i) {
            buffers_.push_back(std::make_unique<PageBuffer>(memory, kPage));
        }
    }

    void start() {
        {
            std::lock_guard lock(mutex_);
            active_ = buffers_.size();
        }
        for (unsigned i = 0; i < buffers_.size(); ++i) {
            if (!issue(i)) {
                end_chain();
            }
        }
    }
    // Waits until every chain of requests has ended (bounded).
    bool wait() {
        std::unique_lock lock(mutex_);
        return done_.wait_for(lock, std::chrono::seconds(60), [&] { return active_ == 0; });
    }
    // Waits until `count` requests have completed (bounded).
    bool wait_completed(std::uint64_t count) {
        std::unique_lock lock(mutex_);
        return done_.wait_for(lock, std::chrono::seconds(60),
                              [&] { return completed_ >= count || active_ == 0; });
    }
    std::uint64_t completed() {
        std::lock_guard lock(mutex_);
        return completed_;
    }
    std::uint64_t count(int status) {
        std::lock_guard lock(mutex_);
        return statuses_[status];
    }

  private:
    void end_chain() {
        std::lock_guard lock(mutex_);
        --active_;
        done_.notify_all();
    }
    // A request continues chain `slot` until `total` are issued or one fails.
    bool issue(unsigned slot) {
        std::uint64_t n;
        {
            std::lock_guard lock(mutex_);
            if (issued_ == total_) {
                return false;
            }
            n = issued_++;
        }
        BlockRequest request;
        request.operation = n % 2 == 0 ? BlockOperation::read : BlockOperation::write;
        request.sector = (n % 4096) * 8;
        request.buffer = &buffers_[slot]->buffer();
        request.done = [this, slot](int status) {
            {
                std::lock_guard lock(mutex_);
                ++completed_;
                ++statuses_[status];
                done_.notify_all();
            }
            if (status != 0 || !issue(slot)) {
                end_chain();
            }
        };
        device_.submit({&request, 1});
        return true;
    }

    VirtioBlk& device_;
    const std::uint64_t total_;
    std::vector<std::unique_ptr<PageBuffer>> buffers_;
    std::mutex mutex_;
    std::condition_variable done_;
    std::uint64_t issued_ = 0;
    std::uint64_t completed_ = 0;
    std::size_t active_ = 0;
    std::map<int, std::uint64_t> statuses_;
};

TEST_F(QsdTest, HandshakeNegotiatesTheExportsFeaturesAndCapacity) {
    start();
    auto device = open();
    EXPECT_EQ(device->capacity_sectors(), (64u << 20) / 512);
    EXPECT_EQ(device->sector_size(), 512u);
    EXPECT_FALSE(device->read_only());
    EXPECT_EQ(device->queue_count(), 1u);
    const std::uint64_t features = device->disk().features;
    EXPECT_TRUE(virtio::has_feature(features, virtio::Feature::version_1));
    EXPECT_TRUE(virtio::has_feature(features, virtio::Feature::event_idx));
    EXPECT_TRUE(virtio::has_feature(features, virtio::Feature::indirect_desc));
    EXPECT_TRUE(virtio::has_feature(features, virtio::BlkFeature::flush));
    EXPECT_TRUE(virtio::has_feature(features, virtio::BlkFeature::discard));
    EXPECT_TRUE(virtio::has_feature(features, virtio::BlkFeature::seg_max));
    EXPECT_TRUE(vhost_user::has_protocol_feature(device->protocol_features(),
                                                 vhost_user::ProtocolFeature::reply_ack));
    EXPECT_TRUE(vhost_user::has_protocol_feature(device->protocol_features(),
                                                 vhost_user::ProtocolFeature::config));
    EXPECT_FALSE(vhost_user::has_protocol_feature(device->protocol_features(),
                                                  vhost_user::ProtocolFeature::inflight_shmfd));
    EXPECT_GE(device->disk().limits.max_segments, 1u);
    EXPECT_EQ(device->error(), "");
}

TEST_F(QsdTest, WritesLandInTheImageAndReadsReturnIt) {
    start();
    auto device = open();
    // A page, a 64 KiB run, and 1 MiB (split by seg_max, indirect tables).
    const std::pair<std::uint64_t, std::size_t> cases[] = {
        {0, kPage}, {8 * 100, 16 * kPage}, {8 * 1000, 256 * kPage}, {8 * 3, 3 * kPage + 1024}};
    std::uint64_t seed = 1;
    for (const auto& [sector, bytes] : cases) {
        SCOPED_TRACE("sector " + std::to_string(sector) + ", " + std::to_string(bytes) + " bytes");
        PageBuffer out(*memory_, bytes);
        const std::vector<std::byte> data = pattern(bytes, seed++);
        out.fill(data);
        ASSERT_EQ(run_one(*device, BlockOperation::write, sector, &out.buffer()), 0);
        ASSERT_EQ(run_one(*device, BlockOperation::flush, 0, nullptr), 0);
        EXPECT_EQ(qsd_->read_image(sector * 512, bytes), data);
        PageBuffer in(*memory_, bytes);
        ASSERT_EQ(run_one(*device, BlockOperation::read, sector, &in.buffer()), 0);
        EXPECT_EQ(in.bytes(), data);
    }
    // Bytes put in the image by someone else are what a read returns.
    const std::vector<std::byte> outside = pattern(8 * kPage, 99);
    qsd_->write_image(512 * 8 * 2000, outside);
    PageBuffer in(*memory_, outside.size());
    ASSERT_EQ(run_one(*device, BlockOperation::read, 8 * 2000, &in.buffer()), 0);
    EXPECT_EQ(in.bytes(), outside);

    const auto counters = device->counters();
    EXPECT_GT(counters.requests, 9u);  // the 1 MiB write and read were split
    EXPECT_EQ(counters.indirect_requests, counters.requests);
    EXPECT_EQ(counters.data_copies, 0u);
    EXPECT_EQ(counters.flushes, 4u);
    EXPECT_EQ(counters.completions, counters.requests);
}

TEST_F(QsdTest, OutOfRangeAndMalformedRequestsFailLocally) {
    start();
    auto device = open();
    PageBuffer buffer(*memory_, kPage);
    EXPECT_EQ(
        run_one(*device, BlockOperation::read, device->capacity_sectors() - 4, &buffer.buffer()),
        -EIO);
    EXPECT_EQ(run_one(*device, BlockOperation::read, 0, nullptr), -EINVAL);
    EXPECT_EQ(device->counters().requests, 0u);
    EXPECT_EQ(
        run_one(*device, BlockOperation::read, device->capacity_sectors() - 8, &buffer.buffer()),
        0);
}

TEST_F(QsdTest, DiscardReadsBackZeros) {
    start(QsdOptions{.unmap = true});
    auto device = open();
    const std::size_t bytes = 64 * kPage;
    PageBuffer out(*memory_, bytes);
    out.fill(pattern(bytes, 7));
    ASSERT_EQ(run_one(*device, BlockOperation::write, 2048, &out.buffer()), 0);
    ASSERT_EQ(run_one(*device, BlockOperation::discard, 2048, nullptr, bytes / 512), 0);
    PageBuffer in(*memory_, bytes);
    in.fill(pattern(bytes, 8));
    ASSERT_EQ(run_one(*device, BlockOperation::read, 2048, &in.buffer()), 0);
    EXPECT_EQ(in.bytes(), std::vector<std::byte>(bytes));
    EXPECT_EQ(qsd_->read_image(2048 * 512, bytes), std::vector<std::byte>(bytes));
    EXPECT_EQ(device->counters().discards, 1u);
}

TEST_F(QsdTest, DiscardOnTheDefaultNodesCompletesButKeepsTheData) {
    // The command line without discard=unmap: QEMU's block layer accepts the
    // discard and drops it (bdrv_co_pdiscard without BDRV_O_UNMAP).
    start();
    auto device = open();
    PageBuffer out(*memory_, 4 * kPage);
    const std::vector<std::byte> data = pattern(4 * kPage, 3);
    out.fill(data);
    ASSERT_EQ(run_one(*device, BlockOperation::write, 64, &out.buffer()), 0);
    EXPECT_EQ(run_one(*device, BlockOperation::discard, 64, nullptr, 32), 0);
    EXPECT_EQ(qsd_->read_image(64 * 512, data.size()), data);
    EXPECT_EQ(device->counters().discards, 1u);
}

TEST_F(QsdTest, ReadOnlyExportRefusesWrites) {
    start(QsdOptions{.writable = false});
    const std::vector<std::byte> data = pattern(2 * kPage, 11);
    qsd_->write_image(0, data);
    auto device = open();
    EXPECT_TRUE(device->read_only());
    EXPECT_TRUE(virtio::has_feature(device->disk().features, virtio::BlkFeature::ro));
    PageBuffer in(*memory_, data.size());
    ASSERT_EQ(run_one(*device, BlockOperation::read, 0, &in.buffer()), 0);
    EXPECT_EQ(in.bytes(), data);
    // As blkfront, the write goes to the device, which refuses it.
    PageBuffer out(*memory_, data.size());
    EXPECT_EQ(run_one(*device, BlockOperation::write, 0, &out.buffer()), -EIO);
    EXPECT_EQ(qsd_->read_image(0, data.size()), data);
    EXPECT_EQ(device->error(), "");
}

TEST_F(QsdTest, QueueDepth32TakesFewerNotificationsThanRequests) {
    start();
    auto device = open();
    DepthRun run(*device, *memory_, 32, 4000);
    run.start();
    ASSERT_TRUE(run.wait());
    EXPECT_EQ(run.count(0), 4000u);
    const auto counters = device->counters();
    EXPECT_EQ(counters.requests, 4000u);
    EXPECT_EQ(counters.completions, 4000u);
    // EVENT_IDX and polling both ways: neither side hears of every request.
    EXPECT_LT(counters.notifications_sent, counters.requests);
    EXPECT_LT(counters.notifications_received, counters.requests);
    EXPECT_GT(counters.notifications_suppressed, 0u);
    EXPECT_LT(counters.notifications_sent + counters.notifications_received, counters.requests)
        << "kicks " << counters.notifications_sent << ", calls " << counters.notifications_received;
    // in_flight() counts a request until its callback has returned.
    EXPECT_TRUE(eventually([&] { return device->in_flight() == 0; }));
}

TEST_F(QsdTest, SeveralQueuesWhenTheExportHasThem) {
    start(QsdOptions{.num_queues = 2});
    auto device = open(VirtioBlkOptions{.num_queues = 4});
    ASSERT_EQ(device->queue_count(), 2u);
    std::size_t queue_of[2];
    std::vector<std::thread> threads;
    for (unsigned t = 0; t < 2; ++t) {
        threads.emplace_back([&, t] {
            queue_of[t] = device->queue_of_this_thread();
            PageBuffer out(*memory_, 8 * kPage);
            const std::vector<std::byte> data = pattern(8 * kPage, 100 + t);
            out.fill(data);
            EXPECT_EQ(run_one(*device, BlockOperation::write, 8 * 64 * t, &out.buffer()), 0);
            PageBuffer in(*memory_, 8 * kPage);
            EXPECT_EQ(run_one(*device, BlockOperation::read, 8 * 64 * t, &in.buffer()), 0);
            EXPECT_EQ(in.bytes(), data);
        });
    }
    for (auto& thread : threads) {
        thread.join();
    }
    EXPECT_NE(queue_of[0], queue_of[1]);
    EXPECT_EQ(device->counters().queues, 2u);
    EXPECT_EQ(device->counters().requests, 4u);
}

TEST_F(QsdTest, CleanCloseThenReopenSeesTheData) {
    start();
    const std::vector<std::byte> data = pattern(4 * kPage, 5);
    {
        auto device = open();
        PageBuffer out(*memory_, data.size());
        out.fill(data);
        ASSERT_EQ(run_one(*device, BlockOperation::write, 80, &out.buffer()), 0);
        device->close();
        EXPECT_EQ(run_one(*device, BlockOperation::read, 80, &out.buffer()), -ENODEV);
    }
    const std::size_t free_pages = memory_->free_pages();
    const int fds = count_open_fds();
    for (int round = 0; round < 2; ++round) {
        auto device = open();
        PageBuffer in(*memory_, data.size());
        ASSERT_EQ(run_one(*device, BlockOperation::read, 80, &in.buffer()), 0);
        EXPECT_EQ(in.bytes(), data);
    }
    // Every page the queues took is back, and every fd (socket, eventfds).
    EXPECT_EQ(memory_->free_pages(), free_pages);
    EXPECT_EQ(count_open_fds(), fds);
}

TEST_F(QsdTest, DaemonKilledUnderIoFailsEverythingWithEnodev) {
    start();
    auto device = open();
    DepthRun run(*device, *memory_, 32, 1'000'000);
    run.start();
    ASSERT_TRUE(run.wait_completed(500));
    qsd_->kill();
    ASSERT_TRUE(run.wait()) << "requests in flight when the device died never completed";
    EXPECT_GT(run.count(-ENODEV), 0u);
    EXPECT_EQ(run.count(-ENODEV) + run.count(0), run.completed());
    EXPECT_NE(device->error(), "");
    EXPECT_TRUE(device->failed());
    PageBuffer buffer(*memory_, kPage);
    EXPECT_EQ(run_one(*device, BlockOperation::read, 0, &buffer.buffer()), -ENODEV);
    EXPECT_TRUE(eventually([&] { return device->in_flight() == 0; }));
}

TEST_F(QsdTest, NoDeviceListeningFailsTheOpenWithAVhostUserError) {
    VirtioBlkOptions options;
    options.connect_timeout = std::chrono::milliseconds(200);
    EXPECT_THROW(frontend::virtio_blk::open_virtio_blk(
                     *memory_, (dir_.path() / "nobody.sock").string(), options),
                 frontend::virtio_blk::VhostUserError);
}

}  // namespace
}  // namespace pvsim::test
