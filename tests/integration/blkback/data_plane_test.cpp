// blkback's data plane against a frontend in the test process (a dom0
// connection granting its own pages, test_frontend.hpp) and a real
// pvsim-hypervisor: requests travel through a real shared ring, grants are
// really mapped and unmapped, events really sent, and the I/O lands in an
// image file read back here with pread(2). Each engine is tried.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "backend/blkback/data_plane.hpp"
#include "backend/blkback/ring_connection.hpp"
#include "backend/blkback/vbd_config.hpp"
#include "backend/data_plane/pass_budget.hpp"
#include "backend/storage/backing_store.hpp"
#include "common/os/cpu_contention.hpp"
#include "common/os/unique_fd.hpp"
#include "tests/integration/blkback/test_frontend.hpp"
#include "tests/support/hypervisor_process.hpp"
#include "tests/support/log_capture.hpp"
#include "tests/support/thread_state.hpp"

namespace pvsim::backend::blkback {
namespace {

using test::pattern;
using test::TestFrontend;
using xen::BlkifOp;
using xen::BlkifStatus;

constexpr std::uint64_t kImageSectors = 4096;  // 2 MiB
constexpr std::size_t kDataPages = 64;

using test::blocked_in_poll;
using test::thread_ids;

class DataPlaneTest : public ::testing::TestWithParam<storage::EngineKind> {
  protected:
    DataPlaneTest() {
        image_ = hv_.temp_path() / "disk.img";
        const int fd = ::open(image_.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
        EXPECT_GE(fd, 0);
        EXPECT_EQ(::ftruncate(fd, kImageSectors * 512), 0);
        ::close(fd);
    }
    ~DataPlaneTest() override { plane_.reset(); }

    // Opens the store and starts the data plane on the frontend's ring.
    void start(bool read_only = false,
               std::chrono::microseconds poll = std::chrono::microseconds(50)) {
        storage::OpenOptions open;
        open.access = read_only ? storage::Access::read_only : storage::Access::read_write;
        store_.emplace(storage::BackingStore::open(image_, open));
        read_only_ = read_only;
        poll_ = poll;
        plane_ = plane_for(
            front_, metrics_,
            [this](const std::string& reason) {
                std::lock_guard lock(mutex_);
                ring_error_ = reason;
            },
            "test-vbd");
    }

    // A data plane on `front`'s ring, over the store start() opened.
    std::unique_ptr<DataPlane> plane_for(TestFrontend& front,
                                         std::shared_ptr<LiveCounters<VbdCounters>> metrics,
                                         DataPlane::RingErrorHandler on_ring_error,
                                         std::string name) {
        VbdLimits limits;
        limits.sectors = store_->sectors();
        limits.logical_sector_size = store_->logical_sector_size();
        limits.read_only = read_only_;
        limits.flush = store_->write_cache();
        DataPlaneOptions options;
        options.poll_max = poll_;
        options.contention = contention_;
        options.engine = GetParam();
        return std::make_unique<DataPlane>(
            RingConnection::connect(be_, 0, front.ring_ref(), front.port()), *store_, limits,
            options, std::move(metrics), std::move(on_ring_error), std::move(name));
    }

    // With the longest polling window, `count` reads, each pushed once the
    // last one's answer came (the frontend spinning for it); the vbd's
    // counters once the data plane is gone.
    VbdCounters read_one_at_a_time(int count) {
        start(false, std::chrono::microseconds(kMaxPollUs));
        for (int i = 0; i < count; ++i) {
            front_.queue(TestFrontend::rw(BlkifOp::read, static_cast<std::uint64_t>(i),
                                          static_cast<std::uint64_t>(i % 64) * 8,
                                          {front_.segment(0)}));
            front_.push();
            EXPECT_EQ(front_.spin_responses(1).at(0).status, BlkifStatus::okay);
        }
        plane_.reset();
        return metrics_->snapshot();
    }

    std::vector<std::byte> image_bytes(std::uint64_t offset, std::size_t length) {
        std::vector<std::byte> out(length);
        const int fd = ::open(image_.c_str(), O_RDONLY | O_CLOEXEC);
        EXPECT_EQ(::pread(fd, out.data(), length, static_cast<off_t>(offset)),
                  static_cast<ssize_t>(length));
        ::close(fd);
        return out;
    }
    void write_image(std::uint64_t offset, const std::vector<std::byte>& bytes) {
        const int fd = ::open(image_.c_str(), O_WRONLY | O_CLOEXEC);
        EXPECT_EQ(::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset)),
                  static_cast<ssize_t>(bytes.size()));
        ::close(fd);
    }
    std::optional<std::string> ring_error() {
        std::lock_guard lock(mutex_);
        return ring_error_;
    }

    test::HypervisorProcess hv_;
    hypervisor::Hypervisor fe_hv_ = hv_.connect_dom0();
    hypervisor::Hypervisor be_ = hv_.connect_dom0();
    TestFrontend front_{fe_hv_, 0, kDataPages};
    std::filesystem::path image_;
    std::optional<storage::BackingStore> store_;
    bool read_only_ = false;
    std::chrono::microseconds poll_{50};
    // These tests count what polling does, so their loops poll whatever
    // else runs on the machine, unless a test says otherwise.
    os::CpuContention::Options contention_{.enabled = false};
    std::shared_ptr<LiveCounters<VbdCounters>> metrics_ =
        std::make_shared<LiveCounters<VbdCounters>>();
    std::unique_ptr<DataPlane> plane_;
    std::mutex mutex_;
    std::optional<std::string> ring_error_;
};

TEST_P(DataPlaneTest, WritesLandInTheImageAndReadsBringThemBack) {
    start();
    // Three writes: one page, three pages, and a partial page (sectors 2..5).
    const auto a = pattern(4096, 1);
    const auto b = pattern(3 * 4096, 2);
    const auto c = pattern(4 * 512, 3);
    std::memcpy(front_.page(0).data, a.data(), a.size());
    for (int i = 0; i < 3; ++i) {
        std::memcpy(front_.page(1 + i).data, b.data() + i * 4096, 4096);
    }
    std::memcpy(front_.page(4).data + 2 * 512, c.data(), c.size());
    front_.queue(TestFrontend::rw(BlkifOp::write, 10, 0, {front_.segment(0)}));
    front_.queue(TestFrontend::rw(BlkifOp::write, 11, 8,
                                  {front_.segment(1), front_.segment(2), front_.segment(3)}));
    front_.queue(TestFrontend::rw(BlkifOp::write, 12, 100, {front_.segment(4, 2, 5)}));
    front_.push();
    auto responses = TestFrontend::by_id(front_.wait_responses(3));
    for (std::uint64_t id : {10, 11, 12}) {
        EXPECT_EQ(responses.at(id).status, BlkifStatus::okay) << id;
        EXPECT_EQ(responses.at(id).operation, BlkifOp::write) << id;
    }
    EXPECT_EQ(image_bytes(0, 4096), a);
    EXPECT_EQ(image_bytes(8 * 512, 3 * 4096), b);
    EXPECT_EQ(image_bytes(100 * 512, 4 * 512), c);

    // Read them back into other pages, through one request of 11 segments
    // for the first 11 pages of the disk.
    std::vector<xen::BlkifRequestSegment> segments;
    for (std::size_t i = 0; i < 11; ++i) {
        segments.push_back(front_.segment(20 + i));
    }
    front_.queue(TestFrontend::rw(BlkifOp::read, 20, 0, segments));
    front_.queue(TestFrontend::rw(BlkifOp::read, 21, 100, {front_.segment(40, 4, 7)}));
    front_.push();
    responses = TestFrontend::by_id(front_.wait_responses(2));
    EXPECT_EQ(responses.at(20).status, BlkifStatus::okay);
    EXPECT_EQ(responses.at(21).status, BlkifStatus::okay);
    const auto disk = image_bytes(0, 11 * 4096);
    for (std::size_t i = 0; i < 11; ++i) {
        EXPECT_EQ(std::memcmp(front_.page(20 + i).data, disk.data() + i * 4096, 4096), 0) << i;
    }
    EXPECT_EQ(std::memcmp(front_.page(40).data + 4 * 512, c.data(), c.size()), 0);

    plane_.reset();
    const VbdCounters counters = metrics_->snapshot();
    EXPECT_EQ(counters.requests, 5u);
    EXPECT_EQ(counters.writes, 3u);
    EXPECT_EQ(counters.reads, 2u);
    EXPECT_EQ(counters.segments, 1u + 3u + 1u + 11u + 1u);
    EXPECT_EQ(counters.bytes_written, a.size() + b.size() + c.size());
    EXPECT_EQ(counters.bytes_read, 11u * 4096 + 4 * 512);
    EXPECT_EQ(counters.responses, 5u);
    EXPECT_EQ(counters.errors, 0u);
    EXPECT_EQ(counters.grant_maps, counters.segments);
    EXPECT_EQ(counters.grant_unmaps, counters.segments);
    EXPECT_LE(counters.map_hypercalls, 5u);
    // Every mapping went: the segments' and the ring's.
    EXPECT_EQ(be_.mapping_count(), 0u);
    // The JSON report carries the same counts, bytes being both directions.
    const nlohmann::json json = metrics_->snapshot().to_json();
    EXPECT_EQ(json.at("requests"), 5u);
    EXPECT_EQ(json.at("bytes"), counters.bytes_read + counters.bytes_written);
    EXPECT_EQ(json.at("grant_unmaps"), counters.segments);
    EXPECT_EQ(json.at("notifications_sent"), counters.notifications_sent);
}

TEST_P(DataPlaneTest, EachBadRequestIsAnsweredAloneAndTheRingGoesOn) {
    start();
    const auto data = pattern(4096, 9);
    write_image(0, data);
    auto req = [&](BlkifOp op, std::uint64_t id, std::uint64_t sector,
                   std::vector<xen::BlkifRequestSegment> segs) {
        front_.queue(TestFrontend::rw(op, id, sector, segs));
    };
    // 1: an operation blkif does not define.
    xen::BlkifRequest unknown = TestFrontend::rw(BlkifOp::read, 1, 0, {front_.segment(0)});
    unknown.operation = static_cast<BlkifOp>(99);
    front_.queue(unknown);
    // 2-4: operations this vbd does not offer.
    req(BlkifOp::write_barrier, 2, 0, {front_.segment(1)});
    req(BlkifOp::discard, 3, 0, {});
    req(BlkifOp::indirect, 4, 0, {});
    // 5: a read with no segment; 6: twelve segments.
    req(BlkifOp::read, 5, 0, {});
    xen::BlkifRequest twelve = TestFrontend::rw(BlkifOp::read, 6, 0, {front_.segment(2)});
    twelve.nr_segments = 12;
    front_.queue(twelve);
    // 7: first_sect after last_sect; 8: last_sect beyond the page.
    req(BlkifOp::read, 7, 0, {front_.segment(3, 5, 4)});
    req(BlkifOp::read, 8, 0, {front_.segment(4, 0, 8)});
    // 9: past the end; 10: running over the end.
    req(BlkifOp::read, 9, kImageSectors, {front_.segment(5)});
    req(BlkifOp::read, 10, kImageSectors - 4, {front_.segment(6)});
    // 11: a grant that does not map (never granted), beside a good one.
    req(BlkifOp::read, 11, 0, {front_.segment(7), {4000, 0, 7, {0, 0}}});
    // 12: a good read among them.
    req(BlkifOp::read, 12, 0, {front_.segment(8)});
    front_.push();
    const auto responses = TestFrontend::by_id(front_.wait_responses(12));
    ASSERT_EQ(responses.size(), 12u);
    for (std::uint64_t id = 1; id <= 4; ++id) {
        EXPECT_EQ(responses.at(id).status, BlkifStatus::eopnotsupp) << id;
    }
    EXPECT_EQ(static_cast<unsigned>(responses.at(1).operation), 99u);
    EXPECT_EQ(responses.at(2).operation, BlkifOp::write_barrier);
    EXPECT_EQ(responses.at(3).operation, BlkifOp::discard);
    for (std::uint64_t id = 5; id <= 11; ++id) {
        EXPECT_EQ(responses.at(id).status, BlkifStatus::error) << id;
        EXPECT_EQ(responses.at(id).operation, BlkifOp::read) << id;
    }
    EXPECT_EQ(responses.at(12).status, BlkifStatus::okay);
    EXPECT_EQ(std::memcmp(front_.page(8).data, data.data(), data.size()), 0);
    EXPECT_FALSE(ring_error());

    // The ring still serves.
    req(BlkifOp::read, 13, 8, {front_.segment(9)});
    front_.push();
    EXPECT_EQ(front_.wait_responses(1).at(0).status, BlkifStatus::okay);

    plane_.reset();
    const VbdCounters counters = metrics_->snapshot();
    EXPECT_EQ(counters.requests, 13u);
    EXPECT_EQ(counters.unsupported, 4u);
    EXPECT_EQ(counters.errors, 7u);
    EXPECT_EQ(counters.grant_map_failures, 1u);
    // The good half of request 11 was mapped and given back.
    EXPECT_EQ(counters.grant_maps, counters.grant_unmaps);
    EXPECT_EQ(be_.mapping_count(), 0u);
}

TEST_P(DataPlaneTest, AReadOnlyVbdRefusesWritesAndFlushesButServesReads) {
    start(/*read_only=*/true);
    const auto before = image_bytes(0, 4096);
    std::memset(front_.page(0).data, 0xab, 4096);
    front_.queue(TestFrontend::rw(BlkifOp::write, 1, 0, {front_.segment(0)}));
    front_.queue(TestFrontend::rw(BlkifOp::flush_diskcache, 2, 0, {}));
    front_.queue(TestFrontend::rw(BlkifOp::read, 3, 0, {front_.segment(1)}));
    front_.push();
    const auto responses = TestFrontend::by_id(front_.wait_responses(3));
    EXPECT_EQ(responses.at(1).status, BlkifStatus::error);
    EXPECT_EQ(responses.at(2).status, BlkifStatus::error);
    EXPECT_EQ(responses.at(3).status, BlkifStatus::okay);
    EXPECT_EQ(image_bytes(0, 4096), before);
}

TEST_P(DataPlaneTest, FlushesSucceedAndAFlushWithDataWritesIt) {
    start();
    const auto data = pattern(4096, 5);
    std::memcpy(front_.page(3).data, data.data(), data.size());
    front_.queue(TestFrontend::rw(BlkifOp::flush_diskcache, 1, 0, {}));
    front_.queue(TestFrontend::rw(BlkifOp::flush_diskcache, 2, 64, {front_.segment(3)}));
    front_.push();
    const auto responses = TestFrontend::by_id(front_.wait_responses(2));
    EXPECT_EQ(responses.at(1).status, BlkifStatus::okay);
    EXPECT_EQ(responses.at(1).operation, BlkifOp::flush_diskcache);
    EXPECT_EQ(responses.at(2).status, BlkifStatus::okay);
    EXPECT_EQ(image_bytes(64 * 512, 4096), data);
    plane_.reset();
    EXPECT_EQ(metrics_->snapshot().flushes, 2u);
    EXPECT_EQ(be_.mapping_count(), 0u);
}

// Linux __do_block_io_op: RING_REQUEST_PROD_OVERFLOW -> -EACCES, and
// xen_blkif_schedule then waits for kthread_should_stop(): the ring halts
// and nothing is reported to the control plane.
TEST_P(DataPlaneTest, AFrontendRunningAheadOfTheRingHaltsItSilently) {
    start();
    front_.queue(TestFrontend::rw(BlkifOp::read, 1, 0, {front_.segment(0)}));
    front_.push();
    ASSERT_EQ(front_.wait_responses(1).at(0).status, BlkifStatus::okay);

    // req_prod 33 slots past the responses: more than a ring of 32.
    xen::SharedRing& shared = front_.shared();
    const xen::RingIdx rsp = xen::ring_index(shared.rsp_prod).load();
    xen::ring_index(shared.req_prod).store(rsp + 33);
    front_.kick();
    ASSERT_TRUE(test::eventually([&] { return plane_->ring_failed(); }));
    EXPECT_FALSE(ring_error().has_value()) << *ring_error();
    // Nothing more is taken from that ring: kicked, then stopped (which
    // answers every request taken, StoppingAnswersEveryRequestTaken), it
    // has answered nothing more. And it still stops cleanly.
    front_.kick();
    plane_.reset();
    EXPECT_FALSE(front_.has_responses());
    EXPECT_EQ(metrics_->snapshot().requests, 1u);
    EXPECT_EQ(be_.mapping_count(), 0u);
}

// Queue depth 32 with batched submission (DESIGN.md §10), with polling and
// without: one push of 32 requests notifies the backend at most once, the
// backend takes no more events than were sent (sends coalesce while
// pending), and each of its pushes of responses (RING_PUSH_RESPONSES_AND_
// CHECK_NOTIFY) notifies the frontend at most once. How many responses a
// push carries depends on the speed of the store, so it is printed, not
// asserted.
TEST_P(DataPlaneTest, AtDepth32EachPushNotifiesAtMostOnceAndEventsCoalesce) {
    for (const auto poll : {std::chrono::microseconds(50), std::chrono::microseconds(0)}) {
        SCOPED_TRACE("poll-us " + std::to_string(poll.count()));
        metrics_ = std::make_shared<LiveCounters<VbdCounters>>();
        plane_.reset();
        start(false, poll);
        const std::uint64_t sent_before = front_.notifications_sent();
        const std::uint64_t received_before = front_.notifications_received();
        constexpr int kRounds = 40;
        constexpr int kDepth = 32;
        std::uint64_t id = 0;
        for (int round = 0; round < kRounds; ++round) {
            for (int i = 0; i < kDepth; ++i) {
                const auto sector = static_cast<std::uint64_t>((round * kDepth + i) % 512) * 8;
                front_.queue(TestFrontend::rw(i % 2 ? BlkifOp::read : BlkifOp::write, id++, sector,
                                              {front_.segment(static_cast<std::size_t>(i))}));
            }
            front_.push();
            for (const auto& r : front_.wait_responses(kDepth)) {
                ASSERT_EQ(r.status, BlkifStatus::okay);
            }
        }
        plane_.reset();
        const VbdCounters c = metrics_->snapshot();
        const double requests = kRounds * kDepth;
        EXPECT_EQ(c.requests, static_cast<std::uint64_t>(requests));
        EXPECT_EQ(c.responses, static_cast<std::uint64_t>(requests));
        const std::uint64_t to_backend = front_.notifications_sent() - sent_before;
        EXPECT_LE(to_backend, static_cast<std::uint64_t>(kRounds));
        // Each end counts no more events than the other sent.
        EXPECT_LE(c.notifications_received, to_backend);
        EXPECT_LE(front_.notifications_received() - received_before, c.notifications_sent);
        // Every push of responses notified or was suppressed by rsp_event,
        // and carried at least one response.
        EXPECT_GE(c.notifications_sent + c.notifications_suppressed, 1u);
        EXPECT_LE(c.notifications_sent + c.notifications_suppressed, c.responses);
        EXPECT_EQ(c.grant_maps, requests);
        EXPECT_EQ(c.grant_unmaps, requests);
        // Grants are mapped per burst, not per request.
        EXPECT_LT(c.map_hypercalls, c.requests);
        EXPECT_EQ(c.bytes(), requests * 4096);
        std::cout << "poll-us " << poll.count() << ": " << c.to_json().dump() << "\n";
    }
}

// One request at a time from a frontend that polls for its response. The
// backend, polling with a window far longer than the frontend takes to push
// its next request (the largest poll-us allowed, so that even a loaded
// machine does not end a poll early), finds the requests while polling: it
// leaves req_event behind meanwhile, so a push needs an event only after the
// backend asked for one on its way to sleep (events_armed), whatever the
// speed of either end.
// XSA-332's storm (backend/data_plane/late_eoi.hpp, after Linux's
// xen_irq_lateeoi_locked()): a frontend that notifies again and again with
// nothing on its ring has its events taken late, so that its 1000
// notifications, each given the thread time to sleep again (200 us apart),
// wake the ring's thread a dozen times instead of once each; and the
// backend says so once, naming the ring. The ring still serves the request
// it is given after the storm, once the delay is over.
TEST_P(DataPlaneTest, ANotificationStormIsTakenLateAndNamedOnce) {
    pvsim::test::LogCapture log;
    start();
    constexpr int kStorm = 1000;
    for (int i = 0; i < kStorm; ++i) {
        front_.kick();
        std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    front_.queue(TestFrontend::rw(BlkifOp::read, 1, 0, {front_.segment(0)}));
    front_.push();
    front_.kick();  // whatever the ring's event index says: the storm goes on
    EXPECT_EQ(front_.wait_responses(1).at(0).status, BlkifStatus::okay);
    plane_.reset();
    const VbdCounters c = metrics_->snapshot();
    EXPECT_GE(c.spurious_events, 2u);
    // Without late EOI nearly every notification finds the thread asleep
    // and wakes it: hundreds. With it, the delays (4, 8, ... 512 ms) outlast
    // the storm after about ten.
    EXPECT_LT(c.notifications_received, 50u) << c.spurious_events << " spurious";
    EXPECT_EQ(log.warnings_with({"test-vbd: notified 2 times in a row with no new request",
                                 "taken late, up to 1000 ms", "XSA-332"})
                  .size(),
              1u);
}

TEST_P(DataPlaneTest, WhileTheBackendPollsTheFrontendNeedNotNotify) {
    constexpr int kRequests = 100;
    const VbdCounters c = read_one_at_a_time(kRequests);
    EXPECT_EQ(c.requests, static_cast<std::uint64_t>(kRequests));
    // The first push finds req_event at its initial 1 and notifies; after
    // that a push notifies only past a req_event the backend moved on its
    // way to sleep (RING_FINAL_CHECK_FOR_REQUESTS). While it polls it moves
    // none, so every push it found polling needed no event. This holds at
    // any speed: a frontend held up past the window costs an arm and then
    // one notification, never one without an arm.
    EXPECT_LE(front_.notifications_sent(), 1 + c.events_armed) << c.to_json().dump();
    // And it did poll: with the longest window, a request missed only by a
    // frontend held up for all of it.
    EXPECT_GT(c.poll_hits, 0u) << c.to_json().dump();
    // And the responses need none either: the frontend never armed rsp_event
    // past its first value.
    EXPECT_LE(c.notifications_sent, 1u);
}

// While more threads are runnable than the machine has CPUs, a spin would
// take a CPU from a thread with work, so the loop does not poll
// (common/os/cpu_contention.hpp; KVM's halt-polling likewise polls only
// while single_task_running()): the same frontend as above, waiting for each
// answer, finds a loop that never polls, and the ring still serves it all.
TEST_P(DataPlaneTest, WhileMoreThreadsAreRunnableThanCpusTheBackendDoesNotPoll) {
    const std::filesystem::path loadavg = hv_.temp_path() / "loadavg";
    std::ofstream(loadavg) << "3.10 2.80 2.50 9/412 12345\n";
    contention_ = {.enabled = true, .source = loadavg.string(), .cpus = 2};
    constexpr int kRequests = 100;
    const VbdCounters c = read_one_at_a_time(kRequests);
    EXPECT_EQ(c.requests, static_cast<std::uint64_t>(kRequests));
    EXPECT_EQ(c.poll_hits, 0u) << c.to_json().dump();
    // Not polling, it arms before each sleep; every notification the
    // frontend sent went past an armed req_event.
    EXPECT_GT(c.events_armed, 0u);
    EXPECT_LE(front_.notifications_sent(), 1 + c.events_armed) << c.to_json().dump();
}

// A ring of large reads is answered a PassBudget at a time
// (backend/data_plane/pass_budget.hpp), as Linux blkback answers each
// request when its bio ends, not once the whole ring has been read: 16 reads
// of 11 pages (44 KiB, 704 KiB in all) pushed at once come back in three
// pushes with the sync engine, which reads as it takes (6, 6 and 4
// requests: a pass stops at the request that reaches 256 KiB). The other
// engines answer as their completions come, so their pushes depend on
// timing and are only bounded.
TEST_P(DataPlaneTest, ARingOfLargeReadsIsAnsweredAPassBudgetAtATime) {
    start();
    constexpr std::uint64_t kRequests = 16;
    constexpr std::size_t kSegments = xen::kBlkifMaxSegmentsPerRequest;
    for (std::uint64_t id = 0; id < kRequests; ++id) {
        std::vector<xen::BlkifRequestSegment> segments;
        for (std::size_t i = 0; i < kSegments; ++i) {
            segments.push_back(front_.segment((id * kSegments + i) % kDataPages));
        }
        front_.queue(TestFrontend::rw(BlkifOp::read, id, id * kSegments * 8, segments));
    }
    front_.push();
    for (const auto& r : front_.wait_responses(kRequests)) {
        EXPECT_EQ(r.status, BlkifStatus::okay) << r.id;
    }
    plane_.reset();
    const VbdCounters c = metrics_->snapshot();
    EXPECT_EQ(c.bytes_read, kRequests * kSegments * 4096);
    const std::uint64_t pushes = c.notifications_sent + c.notifications_suppressed;
    const std::uint64_t bytes_per_pass = data_plane::PassBudget::kBytes;
    const std::uint64_t request_bytes = kSegments * 4096;
    const std::uint64_t per_pass = (bytes_per_pass + request_bytes - 1) / request_bytes;
    const std::uint64_t passes = (kRequests + per_pass - 1) / per_pass;
    ASSERT_EQ(passes, 3u);
    if (GetParam() == storage::EngineKind::sync) {
        EXPECT_EQ(pushes, passes) << c.to_json().dump();
    } else {
        EXPECT_GE(pushes, 1u) << c.to_json().dump();
    }
    EXPECT_LE(pushes, kRequests) << c.to_json().dump();
}

TEST_P(DataPlaneTest, StoppingAnswersEveryRequestTaken) {
    start();
    for (int i = 0; i < 32; ++i) {
        front_.queue(TestFrontend::rw(BlkifOp::write, static_cast<std::uint64_t>(i),
                                      static_cast<std::uint64_t>(i) * 8,
                                      {front_.segment(static_cast<std::size_t>(i))}));
    }
    front_.push();
    ASSERT_TRUE(test::eventually([&] { return metrics_->snapshot().requests > 0; }));
    plane_->stop();
    const VbdCounters c = metrics_->snapshot();
    EXPECT_EQ(c.responses, c.requests);
    EXPECT_EQ(c.grant_maps, c.grant_unmaps);
    EXPECT_EQ(front_.ring().unconsumed_responses(), c.responses);
}

// DESIGN.md §10: a data-plane loop whose poll(2) fails stops its ring for
// good and says why, and every other ring keeps running. The failure is
// real: poll(2) answers EINVAL when it is given more fds than RLIMIT_NOFILE,
// and a serving loop sleeps on three (I/O completions, stop, the event
// channel). The other ring sleeps in poll(2) already, so it never calls it
// while the limit is low.
TEST_P(DataPlaneTest, ARingWhosePollFailsStopsForGoodAndSaysWhyWhileAnotherRingKeepsServing) {
    rlimit saved{};
    ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
    start();
    // The limit comes back as soon as the failure is reported (on the ring's
    // thread, before it drains and ends), so only the failing loop runs
    // without fds.
    plane_.reset();
    plane_ = plane_for(
        front_, metrics_,
        [&](const std::string& reason) {
            ::setrlimit(RLIMIT_NOFILE, &saved);
            std::lock_guard lock(mutex_);
            ring_error_ = reason;
        },
        "test-vbd");
    TestFrontend other_front(fe_hv_, 0, 1);
    const auto other_metrics = std::make_shared<LiveCounters<VbdCounters>>();
    std::atomic<bool> other_failed{false};
    const std::set<pid_t> before = thread_ids();
    std::unique_ptr<DataPlane> other = plane_for(
        other_front, other_metrics, [&](const std::string&) { other_failed = true; }, "other-vbd");
    ASSERT_TRUE(test::eventually([&] {
        for (const pid_t tid : thread_ids()) {
            if (!before.contains(tid) && blocked_in_poll(tid)) {
                return true;
            }
        }
        return false;
    }));
    // What needs a new fd on the way to the failure is done once before the
    // limit goes down: the frontend's first event (its send eventfd comes
    // from the hypervisor), and UBSan's first check of a std::system_error
    // caught as a std::exception (its probe opens a pipe).
    front_.kick();
    try {
        os::throw_system_error("poll", EINVAL);
    } catch (const std::exception& e) {
        EXPECT_NE(std::string(e.what()).find("poll"), std::string::npos);
    }

    rlimit low = saved;
    low.rlim_cur = 2;
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
    // The kick wakes this ring's loop, which finds nothing and sleeps again.
    front_.kick();
    const bool reported = test::eventually([&] { return ring_error().has_value(); });
    ::setrlimit(RLIMIT_NOFILE, &saved);
    ASSERT_TRUE(reported);
    EXPECT_NE(ring_error()->find("poll"), std::string::npos) << *ring_error();
    EXPECT_NE(ring_error()->find(std::strerror(EINVAL)), std::string::npos) << *ring_error();
    EXPECT_TRUE(plane_->ring_failed());

    // Nothing more is taken from that ring, and it is not retried (checked
    // once the ring has stopped, below).
    front_.queue(TestFrontend::rw(BlkifOp::read, 1, 0, {front_.segment(0)}));
    front_.push();

    // The other ring serves on.
    const auto data = pattern(4096, 9);
    std::memcpy(other_front.page(0).data, data.data(), data.size());
    other_front.queue(TestFrontend::rw(BlkifOp::write, 7, 64, {other_front.segment(0)}));
    other_front.push();
    EXPECT_EQ(other_front.wait_responses(1).at(0).status, BlkifStatus::okay);
    EXPECT_EQ(image_bytes(64 * 512, 4096), data);
    EXPECT_FALSE(other->ring_failed());
    EXPECT_FALSE(other_failed);

    // Both still stop cleanly; stopping answers every request taken
    // (StoppingAnswersEveryRequestTaken), and the failed ring took none.
    plane_.reset();
    other.reset();
    EXPECT_FALSE(front_.has_responses());
    EXPECT_EQ(metrics_->snapshot().requests, 0u);
    EXPECT_EQ(be_.mapping_count(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Engines, DataPlaneTest,
                         ::testing::Values(storage::EngineKind::io_uring,
                                           storage::EngineKind::threads, storage::EngineKind::sync),
                         [](const ::testing::TestParamInfo<storage::EngineKind>& param_info) {
                             return std::string(storage::to_string(param_info.param));
                         });

}  // namespace
}  // namespace pvsim::backend::blkback
