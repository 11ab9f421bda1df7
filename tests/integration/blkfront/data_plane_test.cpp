// blkfront's data plane against a real pvsim-hypervisor and the in-process
// test backend (test_backend.hpp), both as dom0: dom0 grants pages to
// itself and maps its own grants, so the whole ring path - grants, event
// channel, shared ring - runs as it does between two domains.
#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "frontend/blkfront/blkfront_queue.hpp"
#include "frontend/blkfront/ring_page.hpp"
#include "tests/integration/blkfront/blkfront_fixture.hpp"
#include "tests/integration/blkfront/test_backend.hpp"
#include "tests/support/hypervisor_process.hpp"

namespace pvsim::frontend::blkfront {
namespace {

using test::Completions;
using test::IoBuffer;
using test::make_request;

constexpr std::uint64_t kSectors = 8192;  // 4 MiB

DataPlaneConfig default_config() {
    return test::xvda_config(kSectors);
}

class DataPlaneTest : public ::testing::Test {
  protected:
    void start(DataPlaneConfig config = default_config()) {
        ring_ = std::make_unique<RingPage>(dom0_, 0);
        hypervisor::EventChannel channel = dom0_.alloc_unbound(0);
        backend_ =
            std::make_unique<test::TestBackend>(dom0_, 0, ring_->ref(), channel.port(), kSectors);
        device_ = std::make_unique<BlkfrontQueue>(dom0_, ring_->area(), RingPage::bytes(),
                                                  std::move(channel), std::move(config),
                                                  [this](const std::string& reason) {
                                                      std::lock_guard lock(mutex_);
                                                      failures_.push_back(reason);
                                                  });
    }

    void submit_one(BlockOperation op, std::uint64_t sector, const IoBuffer* buffer,
                    Completions& done) {
        BlockRequest request =
            make_request(op, sector, buffer ? &buffer->guest() : nullptr, done.callback());
        device_->submit({&request, 1});
    }

    std::vector<std::string> failures() {
        std::lock_guard lock(mutex_);
        return failures_;
    }

    std::vector<std::byte> disk_bytes(std::uint64_t sector, std::size_t length) {
        return backend_->disk_bytes(sector, length);
    }

    test::HypervisorProcess hv_;
    hypervisor::Hypervisor dom0_ = hv_.connect_dom0();
    std::unique_ptr<RingPage> ring_;
    std::unique_ptr<test::TestBackend> backend_;
    std::unique_ptr<BlkfrontQueue> device_;  // destroyed first
    std::mutex mutex_;
    std::vector<std::string> failures_;
};

TEST_F(DataPlaneTest, Dom0GrantsAPageToItselfAndMapsItsOwnGrant) {
    const hypervisor::Gfn gfn = dom0_.memory().allocate_page();
    std::memcpy(dom0_.memory().page(gfn).data(), "granted-to-self", 15);
    const xen::GrantRef ref = dom0_.grant_table().grant_access(0, gfn, false);
    const hypervisor::GrantMapRequest map{0, ref, false};
    const auto mapped = dom0_.map_grant_refs({&map, 1});
    ASSERT_EQ(mapped[0].status, xen::GntSt::okay);
    EXPECT_EQ(std::memcmp(mapped[0].page, "granted-to-self", 15), 0);
    std::memcpy(mapped[0].page + 100, "via-mapping", 11);
    EXPECT_EQ(std::memcmp(dom0_.memory().page(gfn).data() + 100, "via-mapping", 11), 0);
    // Pinned while mapped: access cannot end, as for any other domain.
    EXPECT_FALSE(dom0_.grant_table().try_end_access(ref));
    EXPECT_EQ(dom0_.unmap_grant_refs({&mapped[0].handle, 1})[0], xen::GntSt::okay);
    EXPECT_TRUE(dom0_.grant_table().try_end_access(ref));
    dom0_.memory().free_page(gfn);
}

TEST_F(DataPlaneTest, WriteThenReadRoundTrips) {
    start();
    IoBuffer out(dom0_.memory(), 3 * 4096);
    out.fill(1);
    Completions done;
    submit_one(BlockOperation::write, 16, &out, done);
    ASSERT_TRUE(done.wait_for(1));
    EXPECT_EQ(done.statuses(), std::vector<int>{0});
    EXPECT_EQ(disk_bytes(16, out.guest().length), out.bytes());

    IoBuffer in(dom0_.memory(), 3 * 4096);
    submit_one(BlockOperation::read, 16, &in, done);
    ASSERT_TRUE(done.wait_for(2));
    EXPECT_EQ(done.statuses(), (std::vector<int>{0, 0}));
    EXPECT_EQ(in.bytes(), out.bytes());

    const BlkfrontCounters c = device_->counters();
    EXPECT_EQ(c.requests, 2u);
    EXPECT_EQ(c.segments, 6u);
    EXPECT_EQ(c.bytes, 6u * 4096);
    EXPECT_EQ(c.responses, 2u);
    // Counted until the callback has returned.
    EXPECT_TRUE(test::eventually([&] { return device_->in_flight() == 0; }));
    EXPECT_EQ(device_->error(), "");
    // Every grant ended: the backend unmapped before answering.
    EXPECT_EQ(c.grants_deferred, 0u);
    EXPECT_EQ(dom0_.grant_table().deferred_count(), 0u);

    // What the backend saw is blkif as Linux writes it.
    const auto seen = backend_->seen();
    ASSERT_EQ(seen.size(), 2u);
    EXPECT_EQ(seen[0].operation, xen::BlkifOp::write);
    EXPECT_EQ(seen[0].handle, 51712);
    EXPECT_EQ(seen[0].sector_number, 16u);
    EXPECT_EQ(seen[0].nr_segments, 3);
    EXPECT_EQ(seen[1].operation, xen::BlkifOp::read);
}

TEST_F(DataPlaneTest, IoOverElevenPagesIsSplitAndLandsContiguously) {
    start();
    const std::size_t length = 40 * 4096 - 1024;
    IoBuffer out(dom0_.memory(), length);
    out.fill(2);
    Completions done;
    submit_one(BlockOperation::write, 100, &out, done);
    ASSERT_TRUE(done.wait_for(1));
    EXPECT_EQ(done.statuses(), std::vector<int>{0});
    EXPECT_EQ(disk_bytes(100, length), out.bytes());

    const auto seen = backend_->seen();
    ASSERT_EQ(seen.size(), 4u);  // 11 + 11 + 11 + 7 pages
    std::uint64_t sector = 100;
    for (const xen::BlkifRequest& request : seen) {
        EXPECT_EQ(request.sector_number, sector);
        EXPECT_LE(request.nr_segments, 11);
        sector += request.nr_segments * 8u;
    }
    EXPECT_EQ(seen[3].nr_segments, 7);
    EXPECT_EQ(seen[3].seg[6].last_sect, 5);  // 1024 bytes short of the page

    IoBuffer in(dom0_.memory(), length);
    submit_one(BlockOperation::read, 100, &in, done);
    ASSERT_TRUE(done.wait_for(2));
    EXPECT_EQ(in.bytes(), out.bytes());
}

TEST_F(DataPlaneTest, FlushTravelsAsFlushDiskcacheWithoutSegments) {
    start();
    Completions done;
    submit_one(BlockOperation::flush, 0, nullptr, done);
    ASSERT_TRUE(done.wait_for(1));
    EXPECT_EQ(done.statuses(), std::vector<int>{0});
    const auto seen = backend_->seen();
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[0].operation, xen::BlkifOp::flush_diskcache);
    EXPECT_EQ(seen[0].nr_segments, 0);
}

TEST_F(DataPlaneTest, FlushWithoutAFlushFeatureCompletesAtOnce) {
    DataPlaneConfig config = default_config();
    config.disk.feature_flush_cache = false;
    start(config);
    Completions done;
    submit_one(BlockOperation::flush, 0, nullptr, done);
    ASSERT_TRUE(done.wait_for(1));
    EXPECT_EQ(done.statuses(), std::vector<int>{0});
    EXPECT_EQ(device_->counters().requests, 0u);
    EXPECT_TRUE(backend_->seen().empty());
}

TEST_F(DataPlaneTest, BarrierBackendGetsAnEmptyBarrierForAFlush) {
    DataPlaneConfig config = default_config();
    config.disk.feature_flush_cache = false;
    config.disk.feature_barrier = true;
    start(config);
    Completions done;
    submit_one(BlockOperation::flush, 0, nullptr, done);
    ASSERT_TRUE(done.wait_for(1));
    ASSERT_EQ(backend_->seen().size(), 1u);
    EXPECT_EQ(backend_->seen()[0].operation, xen::BlkifOp::write_barrier);
    EXPECT_EQ(backend_->seen()[0].nr_segments, 0);
}

// blkif_queue_rw_req (Linux 6.1): with feature-barrier and no
// feature-flush-cache blkfront has FUA, and a FUA write is one
// BLKIF_OP_WRITE_BARRIER carrying its data. FUA on a read means nothing: it
// stays a plain read, never a barrier.
TEST_F(DataPlaneTest, ToABarrierOnlyBackendAFuaWriteIsABarrierWithItsDataAndAFuaReadAPlainRead) {
    DataPlaneConfig config = default_config();
    config.disk.feature_flush_cache = false;
    config.disk.feature_barrier = true;
    start(config);
    IoBuffer out(dom0_.memory(), xen::kXenPageSize);
    out.fill(7);
    IoBuffer in(dom0_.memory(), xen::kXenPageSize);
    for (const auto& [op, buffer] :
         {std::pair{BlockOperation::write, &out}, std::pair{BlockOperation::read, &in}}) {
        Completions done;
        BlockRequest request = make_request(op, 8, &buffer->guest(), done.callback());
        request.fua = true;
        device_->submit({&request, 1});
        ASSERT_TRUE(done.wait_for(1));
        EXPECT_EQ(done.statuses(), std::vector<int>{0});
    }
    const auto seen = backend_->seen();
    ASSERT_EQ(seen.size(), 2u);
    EXPECT_EQ(seen[0].operation, xen::BlkifOp::write_barrier);
    EXPECT_EQ(seen[0].nr_segments, 1);
    EXPECT_EQ(seen[1].operation, xen::BlkifOp::read);
    // (That the barrier's data lands is SyncWriteTest's, against blkback:
    // this test backend takes a barrier as a flush alone.)
}

// Linux blkif_interrupt, BLKIF_OP_FLUSH_DISKCACHE / WRITE_BARRIER: an
// EOPNOTSUPP answer is BLK_STS_NOTSUPP, turned into BLK_STS_OK, and
// feature_flush = 0; so is a BLKIF_RSP_ERROR to a flush with no segment
// ("empty %s op failed"). Either way the flush succeeds, and the next one
// completes at once without reaching the ring.
TEST_F(DataPlaneTest, FlushRefusedByTheBackendSucceedsAndTurnsTheFeatureOff) {
    for (const xen::BlkifStatus refusal : {xen::BlkifStatus::eopnotsupp, xen::BlkifStatus::error}) {
        SCOPED_TRACE(xen::name(refusal));
        device_.reset();  // the last pass's queue, then its backend
        backend_.reset();
        start();
        backend_->force_status(refusal);
        Completions done;
        submit_one(BlockOperation::flush, 0, nullptr, done);
        ASSERT_TRUE(done.wait_for(1));
        EXPECT_EQ(done.statuses(), std::vector<int>{0});
        backend_->force_status(std::nullopt);
        submit_one(BlockOperation::flush, 0, nullptr, done);
        ASSERT_TRUE(done.wait_for(2));
        EXPECT_EQ(done.statuses()[1], 0);
        EXPECT_EQ(backend_->seen().size(), 1u);  // the second never went to the ring
    }
}

TEST_F(DataPlaneTest, BackendStatusesBecomeErrnos) {
    start();
    IoBuffer buffer(dom0_.memory(), 4096);
    Completions done;
    backend_->force_status(xen::BlkifStatus::error);
    submit_one(BlockOperation::read, 0, &buffer, done);
    ASSERT_TRUE(done.wait_for(1));
    backend_->force_status(static_cast<xen::BlkifStatus>(-7));  // not in blkif.h
    submit_one(BlockOperation::read, 0, &buffer, done);
    ASSERT_TRUE(done.wait_for(2));
    EXPECT_EQ(done.statuses(), (std::vector<int>{-EIO, -EIO}));
    EXPECT_EQ(device_->error(), "");  // a failed request does not fail the device
}

TEST_F(DataPlaneTest, WriteToAReadOnlyDiskGoesToTheBackendWhichRefusesIt) {
    DataPlaneConfig config = default_config();
    config.disk.info = xen::kVdiskReadonly;
    start(config);
    EXPECT_TRUE(device_->read_only());
    backend_->set_read_only(true);
    IoBuffer buffer(dom0_.memory(), 4096);
    Completions done;
    submit_one(BlockOperation::write, 0, &buffer, done);
    ASSERT_TRUE(done.wait_for(1));
    EXPECT_EQ(done.statuses(), std::vector<int>{-EIO});
}

TEST_F(DataPlaneTest, RequestsThatCannotBeIssuedCompleteWithTheirErrorOffTheRing) {
    start();
    IoBuffer buffer(dom0_.memory(), 4096);
    IoBuffer odd(dom0_.memory(), 4096);
    odd.guest().length = 700;
    Completions done;
    submit_one(BlockOperation::read, kSectors - 7, &buffer, done);  // one sector past the end
    submit_one(BlockOperation::write, ~0ull - 3, &buffer, done);    // wraps
    submit_one(BlockOperation::read, 0, &odd, done);
    submit_one(BlockOperation::read, 0, nullptr, done);
    ASSERT_TRUE(done.wait_for(4));
    EXPECT_EQ(done.statuses(), (std::vector<int>{-EIO, -EIO, -EINVAL, -EINVAL}));
    EXPECT_TRUE(backend_->seen().empty());
    // The last sectors are reachable.
    submit_one(BlockOperation::read, kSectors - 8, &buffer, done);
    ASSERT_TRUE(done.wait_for(5));
    EXPECT_EQ(done.statuses()[4], 0);
    EXPECT_EQ(device_->capacity_sectors(), kSectors);
    EXPECT_EQ(device_->sector_size(), 512u);
}

// DESIGN.md §10: at a queue depth of 32 with batched submission, each
// submitted batch is one push, which notifies the backend at most once
// (RING_PUSH_REQUESTS_AND_CHECK_NOTIFY), so the frontend sends far fewer
// events than requests whatever the speed of either end; and it takes no
// more events than the backend sent (sends coalesce while pending).
TEST_F(DataPlaneTest, Depth32BatchedSubmissionNotifiesTheBackendAtMostOncePerBatch) {
    start();
    constexpr std::size_t kDepth = 32;
    constexpr std::size_t kBatch = 8;
    constexpr std::size_t kTotal = 4096;
    std::vector<std::unique_ptr<IoBuffer>> buffers;
    for (std::size_t i = 0; i < kDepth; ++i) {
        buffers.push_back(std::make_unique<IoBuffer>(dom0_.memory(), 4096));
    }
    Completions done;
    std::size_t submitted = 0;
    std::uint64_t batches = 0;
    while (submitted < kTotal) {
        // Top the queue up to 32 once at least a batch has completed.
        if (submitted >= kDepth) {
            ASSERT_TRUE(done.wait_for(submitted - kDepth + kBatch));
        }
        const std::size_t room = kDepth - (submitted - done.count());
        std::vector<BlockRequest> batch;
        for (std::size_t i = 0; i < room && submitted + i < kTotal; ++i) {
            const std::size_t n = submitted + i;
            batch.push_back(make_request(BlockOperation::read, (n * 8) % kSectors,
                                         &buffers[n % kDepth]->guest(), done.callback()));
        }
        device_->submit(batch);
        submitted += batch.size();
        ++batches;
    }
    ASSERT_TRUE(done.wait_for(kTotal));
    for (int status : done.statuses()) {
        ASSERT_EQ(status, 0);
    }
    const BlkfrontCounters c = device_->counters();
    const test::TestBackend::Stats b = backend_->stats();
    ASSERT_EQ(c.requests, kTotal);
    std::printf(
        "%llu batches: frontend->backend %llu sent, %llu suppressed; backend->frontend "
        "%llu sent, %llu received\n",
        static_cast<unsigned long long>(batches),
        static_cast<unsigned long long>(c.notifications_sent),
        static_cast<unsigned long long>(c.notifications_suppressed),
        static_cast<unsigned long long>(b.notifications_sent),
        static_cast<unsigned long long>(c.notifications_received));
    // The first batch fills the queue, each later one follows at least
    // kBatch completions.
    EXPECT_LE(batches, 1 + (kTotal - kDepth) / kBatch);
    // One push per batch, each either notifying or suppressed by req_event.
    EXPECT_EQ(c.notifications_sent + c.notifications_suppressed, batches);
    EXPECT_GE(c.notifications_sent, 1u);  // req_event starts at 1: the first push notifies
    EXPECT_LE(c.notifications_received, b.notifications_sent);
}

// While more threads are runnable than the machine has CPUs the completion
// thread does not poll (common/os/cpu_contention.hpp): with a request still
// out, it asks for an event for the next response (rsp_event = rsp_cons + 1)
// as soon as it has run the last callback, where a polling thread would
// first spin through its window (a second here) and leave rsp_event as it
// was meanwhile.
TEST_F(DataPlaneTest, WhileMoreThreadsAreRunnableThanCpusTheFrontendArmsInsteadOfPolling) {
    const std::filesystem::path loadavg = hv_.temp_path() / "loadavg";
    std::ofstream(loadavg) << "3.10 2.80 2.50 9/412 12345\n";
    DataPlaneConfig config = default_config();
    config.poll = std::chrono::seconds(1);
    config.contention = {.enabled = true, .source = loadavg.string(), .cpus = 2};
    start(config);
    backend_->hold();
    IoBuffer a(dom0_.memory(), 4096);
    IoBuffer b(dom0_.memory(), 4096);
    Completions done_a;
    Completions done_b;
    submit_one(BlockOperation::read, 0, &a, done_a);
    submit_one(BlockOperation::read, 8, &b, done_b);
    ASSERT_TRUE(test::eventually([&] { return backend_->held().size() == 2; }));
    const xen::BlkifRequest first = backend_->held().at(0);
    xen::BlkifResponse answer{};
    answer.id = first.id;
    answer.operation = first.operation;
    backend_->respond_raw({answer});
    ASSERT_TRUE(done_a.wait_for(1));
    EXPECT_EQ(done_a.statuses(), std::vector<int>{0});
    // One response taken: the next one it wants to hear of is the second.
    EXPECT_TRUE(test::eventually([&] { return backend_->rsp_event() == 2; },
                                 std::chrono::milliseconds(500)))
        << "rsp_event " << backend_->rsp_event();
    // The read never answered ends with the device, while its callback's
    // Completions and buffer are still here.
    device_.reset();
    ASSERT_TRUE(done_b.wait_for(1));
    EXPECT_EQ(done_b.statuses(), std::vector<int>{-ENODEV});
}

TEST_F(DataPlaneTest, PollingOffStillServesEverything) {
    DataPlaneConfig config = default_config();
    config.poll = std::chrono::microseconds(0);
    start(config);
    IoBuffer out(dom0_.memory(), 8 * 4096);
    out.fill(3);
    IoBuffer in(dom0_.memory(), 8 * 4096);
    Completions done;
    for (int i = 0; i < 50; ++i) {
        submit_one(BlockOperation::write, 64, &out, done);
        submit_one(BlockOperation::read, 64, &in, done);
    }
    ASSERT_TRUE(done.wait_for(100));
    EXPECT_EQ(in.bytes(), out.bytes());
    EXPECT_GT(device_->counters().notifications_received, 0u);
}

TEST_F(DataPlaneTest, FullRingBlocksTheSubmitterUntilResponsesFreeSlots) {
    start();
    backend_->hold();
    IoBuffer buffer(dom0_.memory(), 4096);
    Completions done;
    std::atomic<bool> returned{false};
    std::thread submitter([&] {
        std::vector<BlockRequest> batch;
        for (int i = 0; i < 40; ++i) {
            batch.push_back(
                make_request(BlockOperation::read, 0, &buffer.guest(), done.callback()));
        }
        device_->submit(batch);
        returned = true;
    });
    ASSERT_TRUE(test::eventually([&] { return backend_->held().size() == 32; }));
    // The ring is full and nothing is answered: the submitter cannot be done.
    EXPECT_FALSE(returned.load());
    EXPECT_EQ(device_->in_flight(), 40u);
    backend_->release();
    submitter.join();
    ASSERT_TRUE(done.wait_for(40));
    EXPECT_EQ(done.statuses(), std::vector<int>(40, 0));
    ASSERT_TRUE(test::eventually([&] { return device_->in_flight() == 0; }));
}

TEST_F(DataPlaneTest, CallbacksThatSubmitOnAFullRingAreQueuedNotDeadlocked) {
    start();
    backend_->hold();
    IoBuffer buffer(dom0_.memory(), 4096);
    Completions first;
    Completions second;
    std::vector<BlockRequest> batch;
    for (int i = 0; i < 32; ++i) {
        batch.push_back(make_request(BlockOperation::read, 0, &buffer.guest(), [&](int status) {
            first.callback()(status);
            // Two more per completion: more than the ring has room for.
            std::vector<BlockRequest> more;
            more.push_back(
                make_request(BlockOperation::read, 8, &buffer.guest(), second.callback()));
            more.push_back(
                make_request(BlockOperation::read, 16, &buffer.guest(), second.callback()));
            device_->submit(more);
        }));
    }
    device_->submit(batch);
    ASSERT_TRUE(test::eventually([&] { return backend_->held().size() == 32; }));
    backend_->release();
    ASSERT_TRUE(first.wait_for(32));
    ASSERT_TRUE(second.wait_for(64));
    EXPECT_EQ(first.statuses(), std::vector<int>(32, 0));
    EXPECT_EQ(second.statuses(), std::vector<int>(64, 0));
    EXPECT_EQ(backend_->seen().size(), 96u);
}

// blkif_completion (Linux 5.17+, XSA-396): without persistent grants a
// grant the backend still maps when its request is answered is "backend has
// not unmapped grant", and blkif_interrupt's "err:" disables the device.
// The request is not finished while the backend can still write its pages:
// its caller has the buffer back, with an error, only once they are let go.
TEST_F(DataPlaneTest, GrantStillMappedAfterTheAnswerFailsTheDeviceAndDelaysTheCompletion) {
    start();
    backend_->keep_mapped(true);
    IoBuffer buffer(dom0_.memory(), 2 * 4096);
    Completions done;
    submit_one(BlockOperation::write, 0, &buffer, done);
    ASSERT_TRUE(test::eventually([&] { return device_->failed(); }));
    EXPECT_NE(device_->error().find("backend has not unmapped grant"), std::string::npos)
        << device_->error();
    // The frontend has taken the response, and failed, but the backend
    // still maps both pages: the caller may not have its buffer back yet.
    // A later request is refused, finished after anything the failure
    // finished (callbacks run in the order their requests finished).
    Completions later;
    submit_one(BlockOperation::read, 0, &buffer, later);
    ASSERT_TRUE(later.wait_for(1));
    EXPECT_EQ(later.statuses(), std::vector<int>{-ENODEV});
    EXPECT_EQ(device_->counters().responses, 1u);
    EXPECT_EQ(device_->counters().grants_deferred, 2u);
    EXPECT_EQ(done.count(), 0u);
    // (The later one leaves in_flight once its callback has returned.)
    EXPECT_TRUE(test::eventually([&] { return device_->in_flight() == 1; }));
    backend_->unmap_kept();
    ASSERT_TRUE(done.wait_for(1));
    EXPECT_EQ(done.statuses(), std::vector<int>{-ENODEV});
    EXPECT_EQ(dom0_.grant_table().deferred_count(), 0u);
}

// The same device destroyed while the backend still maps the grants: they
// are parked in the grant table (gnttab_end_foreign_access's deferred
// list), not handed back, and end on the grant table's timer once the
// backend lets go (gnttab_handle_deferred); the request is never finished,
// as Linux's is not.
TEST_F(DataPlaneTest, ADeviceDestroyedWhileTheBackendStillMapsItsGrantsParksThem) {
    start();
    backend_->keep_mapped(true);
    IoBuffer buffer(dom0_.memory(), 2 * 4096);
    Completions done;
    submit_one(BlockOperation::write, 0, &buffer, done);
    ASSERT_TRUE(test::eventually([&] { return device_->failed(); }));
    device_.reset();
    EXPECT_EQ(done.count(), 0u);
    EXPECT_EQ(dom0_.grant_table().deferred_count(), 2u);
    backend_->unmap_kept();
    EXPECT_TRUE(test::eventually([&] { return dom0_.grant_table().deferred_count() == 0; }));
}

// Bad responses (the issue: unknown id, answered twice, wrong operation):
// the device fails with an error, every pending request completes with
// -ENODEV, so do later ones, and the process goes on.
class BadResponseTest : public DataPlaneTest {
  protected:
    void SetUp() override {
        start();
        backend_->hold();
        a_ = std::make_unique<IoBuffer>(dom0_.memory(), 4096);
        b_ = std::make_unique<IoBuffer>(dom0_.memory(), 4096);
        submit_one(BlockOperation::read, 0, a_.get(), done_a_);
        submit_one(BlockOperation::write, 8, b_.get(), done_b_);
        ASSERT_TRUE(test::eventually([&] { return backend_->held().size() == 2; }));
        held_ = backend_->held();
    }

    xen::BlkifResponse answer(const xen::BlkifRequest& request) {
        xen::BlkifResponse response{};
        response.id = request.id;
        response.operation = request.operation;
        return response;
    }

    void expect_failed(const std::string& reason_part) {
        ASSERT_TRUE(test::eventually([&] { return device_->failed(); }));
        EXPECT_NE(device_->error().find(reason_part), std::string::npos) << device_->error();
        ASSERT_TRUE(test::eventually([&] { return failures().size() == 1; }));
        EXPECT_EQ(failures()[0], device_->error());
        // Later requests are refused, and the device stays down.
        Completions later;
        submit_one(BlockOperation::read, 0, a_.get(), later);
        ASSERT_TRUE(later.wait_for(1));
        EXPECT_EQ(later.statuses(), std::vector<int>{-ENODEV});
        ASSERT_TRUE(test::eventually([&] { return device_->in_flight() == 0; }));
        EXPECT_FALSE(device_->accepting());
    }

    std::unique_ptr<IoBuffer> a_, b_;
    Completions done_a_, done_b_;
    std::vector<xen::BlkifRequest> held_;
};

TEST_F(BadResponseTest, UnknownIdFailsTheDevice) {
    xen::BlkifResponse bogus = answer(held_[0]);
    bogus.id = 1000;
    backend_->respond_raw({bogus});
    expect_failed("incorrect id 1000");
    ASSERT_TRUE(done_a_.wait_for(1) && done_b_.wait_for(1));
    EXPECT_EQ(done_a_.statuses(), std::vector<int>{-ENODEV});
    EXPECT_EQ(done_b_.statuses(), std::vector<int>{-ENODEV});
}

TEST_F(BadResponseTest, AnswerGivenTwiceFailsTheDevice) {
    backend_->respond_raw({answer(held_[0]), answer(held_[0])});
    expect_failed("references no pending request");
    ASSERT_TRUE(done_a_.wait_for(1) && done_b_.wait_for(1));
    EXPECT_EQ(done_a_.statuses(), std::vector<int>{0});  // the first answer was good
    EXPECT_EQ(done_b_.statuses(), std::vector<int>{-ENODEV});
}

TEST_F(BadResponseTest, WrongOperationFailsTheDevice) {
    xen::BlkifResponse wrong = answer(held_[0]);
    wrong.operation = xen::BlkifOp::write;
    backend_->respond_raw({wrong});
    expect_failed("wrong operation BLKIF_OP_WRITE (1) instead of BLKIF_OP_READ (0)");
    ASSERT_TRUE(done_a_.wait_for(1) && done_b_.wait_for(1));
    EXPECT_EQ(done_a_.statuses(), std::vector<int>{-ENODEV});
    EXPECT_EQ(done_b_.statuses(), std::vector<int>{-ENODEV});
}

TEST_F(BadResponseTest, ResponseProducerBeyondTheRingFailsTheDevice) {
    backend_->corrupt_rsp_prod(33);
    expect_failed("illegal number of responses");
    ASSERT_TRUE(done_a_.wait_for(1) && done_b_.wait_for(1));
    EXPECT_EQ(done_b_.statuses(), std::vector<int>{-ENODEV});
}

TEST_F(DataPlaneTest, StopAcceptingRefusesNewRequestsAndLetsTheRingDrain) {
    start();
    backend_->hold();
    IoBuffer buffer(dom0_.memory(), 4096);
    Completions on_ring;
    submit_one(BlockOperation::read, 0, &buffer, on_ring);
    submit_one(BlockOperation::read, 8, &buffer, on_ring);
    ASSERT_TRUE(test::eventually([&] { return backend_->held().size() == 2; }));
    device_->stop_accepting("backend is closing");
    EXPECT_EQ(device_->error(), "backend is closing");
    Completions refused;
    submit_one(BlockOperation::read, 0, &buffer, refused);
    ASSERT_TRUE(refused.wait_for(1));
    EXPECT_EQ(refused.statuses(), std::vector<int>{-ENODEV});
    backend_->release();
    ASSERT_TRUE(on_ring.wait_for(2));
    EXPECT_EQ(on_ring.statuses(), (std::vector<int>{0, 0}));
    EXPECT_FALSE(device_->failed());
}

TEST_F(DataPlaneTest, DisconnectCompletesWhatIsPendingWithEnodev) {
    start();
    backend_->hold();
    IoBuffer buffer(dom0_.memory(), 4096);
    Completions done;
    submit_one(BlockOperation::read, 0, &buffer, done);
    submit_one(BlockOperation::write, 8, &buffer, done);
    ASSERT_TRUE(test::eventually([&] { return backend_->held().size() == 2; }));
    device_->disconnect("backend closed");
    ASSERT_TRUE(done.wait_for(2));
    EXPECT_EQ(done.statuses(), (std::vector<int>{-ENODEV, -ENODEV}));
    EXPECT_EQ(device_->error(), "backend closed");
    device_->disconnect("again");  // idempotent
    submit_one(BlockOperation::read, 0, &buffer, done);
    ASSERT_TRUE(done.wait_for(3));
    EXPECT_EQ(done.statuses()[2], -ENODEV);
    EXPECT_TRUE(failures().empty());  // an orderly end is not a failure
}

}  // namespace
}  // namespace pvsim::frontend::blkfront
