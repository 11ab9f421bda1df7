// blkfront's negotiated features in its data plane, against a real
// pvsim-hypervisor and the in-process test backend (test_backend.hpp), each
// with both ends on, the frontend on but the backend not offering it, and
// the frontend off: indirect descriptors (one BLKIF_OP_INDIRECT request per
// 1 MiB I/O), persistent grants (no grant made, ended or mapped per request
// in steady state; data copied in and out), discard, and blkif_recover's
// taking back of unfinished requests.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include "frontend/blkfront/blkfront_queue.hpp"
#include "frontend/blkfront/ring_page.hpp"
#include "tests/integration/blkfront/blkfront_fixture.hpp"
#include "tests/integration/blkfront/test_backend.hpp"
#include "tests/support/hypervisor_process.hpp"

namespace pvsim::frontend::blkfront {
// This file's own names, apart from those of the other files of its folder,
// which compiles as one translation unit.
namespace features_test {

using test::Completions;
using test::IoBuffer;
using test::make_request;

constexpr std::uint64_t kSectors = 16384;  // 8 MiB
constexpr std::size_t kMiB = 1 << 20;

struct Ends {
    unsigned frontend_indirect = 0;  // negotiated segments (0: off)
    unsigned backend_indirect = 0;
    bool persistent = false;  // negotiated (both on)
    bool backend_persistent = false;
    bool discard = false;  // negotiated
    bool backend_discard = false;
};

class FeaturesTest : public ::testing::Test {
  protected:
    void start(const Ends& ends) {
        DataPlaneConfig config = test::xvda_config(kSectors);
        config.disk.max_indirect_segments = ends.frontend_indirect;
        config.disk.feature_persistent = ends.persistent;
        config.disk.feature_discard = ends.discard;
        ring_ = std::make_unique<RingPage>(dom0_, 0);
        hypervisor::EventChannel channel = dom0_.alloc_unbound(0);
        backend_ =
            std::make_unique<test::TestBackend>(dom0_, 0, ring_->ref(), channel.port(), kSectors,
                                                ends.backend_indirect, ends.backend_discard);
        backend_->set_persistent(ends.backend_persistent);
        device_ = std::make_unique<BlkfrontQueue>(dom0_, ring_->area(), RingPage::bytes(),
                                                  std::move(channel), std::move(config));
    }

    int run_one(BlockOperation op, std::uint64_t sector, const IoBuffer* buffer,
                std::uint64_t discard_sectors = 0) {
        return test::run_one(*device_, op, sector, buffer, discard_sectors);
    }

    std::vector<std::byte> disk_bytes(std::uint64_t sector, std::size_t length) {
        return backend_->disk_bytes(sector, length);
    }

    test::HypervisorProcess hv_;
    hypervisor::Hypervisor dom0_ = hv_.connect_dom0();
    std::unique_ptr<RingPage> ring_;
    std::unique_ptr<test::TestBackend> backend_;
    std::unique_ptr<BlkfrontQueue> device_;  // destroyed first
};

TEST_F(FeaturesTest, IndirectBothOnCarriesOneMiBInOneRequest) {
    start({.frontend_indirect = 256, .backend_indirect = 256});
    IoBuffer out(dom0_.memory(), kMiB);
    out.fill(7);
    ASSERT_EQ(run_one(BlockOperation::write, 2048, &out), 0);
    EXPECT_EQ(disk_bytes(2048, kMiB), out.bytes());
    IoBuffer in(dom0_.memory(), kMiB);
    ASSERT_EQ(run_one(BlockOperation::read, 2048, &in), 0);
    EXPECT_EQ(in.bytes(), out.bytes());

    const BlkfrontCounters c = device_->counters();
    EXPECT_EQ(c.requests, 2u);  // one per 1 MiB I/O
    EXPECT_EQ(c.indirect_requests, 2u);
    EXPECT_EQ(c.segments, 512u);
    EXPECT_EQ(backend_->stats().indirect_requests, 2u);
    const auto seen = backend_->seen();
    ASSERT_EQ(seen.size(), 2u);
    EXPECT_EQ(seen[0].operation, xen::BlkifOp::indirect);
    const auto indirect = xen::blkif_request_as<xen::BlkifRequestIndirect>(seen[0]);
    EXPECT_EQ(indirect.indirect_op, xen::BlkifOp::write);
    EXPECT_EQ(indirect.nr_segments, 256);
    EXPECT_EQ(indirect.sector_number, 2048u);
    // Every per-request grant (indirect frames too) ended once answered.
    EXPECT_TRUE(test::eventually([&] { return device_->in_flight() == 0; }));
    EXPECT_EQ(dom0_.grant_table().deferred_count(), 0u);
}

TEST_F(FeaturesTest, IndirectLimitSplitsLargerIo) {
    start({.frontend_indirect = 32, .backend_indirect = 256});
    IoBuffer out(dom0_.memory(), kMiB);
    out.fill(8);
    ASSERT_EQ(run_one(BlockOperation::write, 0, &out), 0);
    EXPECT_EQ(disk_bytes(0, kMiB), out.bytes());
    EXPECT_EQ(device_->counters().requests, 8u);  // 256 / 32
    EXPECT_EQ(device_->counters().indirect_requests, 8u);
}

TEST_F(FeaturesTest, IndirectBackendNotOfferingFallsBackToElevenSegments) {
    // The control plane negotiates min(ours, backend's) = 0: plain requests.
    start({.frontend_indirect = 0, .backend_indirect = 0});
    IoBuffer out(dom0_.memory(), kMiB);
    out.fill(9);
    ASSERT_EQ(run_one(BlockOperation::write, 64, &out), 0);
    IoBuffer in(dom0_.memory(), kMiB);
    ASSERT_EQ(run_one(BlockOperation::read, 64, &in), 0);
    EXPECT_EQ(in.bytes(), out.bytes());
    const BlkfrontCounters c = device_->counters();
    EXPECT_EQ(c.requests, 2u * 24);  // ceil(256 / 11) each
    EXPECT_EQ(c.indirect_requests, 0u);
    EXPECT_EQ(backend_->stats().indirect_requests, 0u);
}

TEST_F(FeaturesTest, PersistentBothOnMakesNoGrantPerRequestInSteadyState) {
    start({.frontend_indirect = 256,
           .backend_indirect = 256,
           .persistent = true,
           .backend_persistent = true});
    IoBuffer out(dom0_.memory(), 64 * 1024);
    IoBuffer in(dom0_.memory(), 64 * 1024);
    // Warm-up: the pool and the backend's mappings fill.
    out.fill(1);
    ASSERT_EQ(run_one(BlockOperation::write, 0, &out), 0);
    ASSERT_EQ(run_one(BlockOperation::read, 0, &in), 0);
    const auto maps_before = backend_->stats().grant_maps;
    const auto free_before = dom0_.grant_table().free_count();
    const auto pool_before = device_->counters().persistent_grants;
    EXPECT_GT(pool_before, 0u);
    for (std::uint32_t round = 2; round < 12; ++round) {
        out.fill(round);
        ASSERT_EQ(run_one(BlockOperation::write, round * 128, &out), 0);
        ASSERT_EQ(run_one(BlockOperation::read, round * 128, &in), 0);
        ASSERT_EQ(in.bytes(), out.bytes()) << "round " << round;
        EXPECT_EQ(disk_bytes(round * 128, out.guest().length), out.bytes());
    }
    // Steady state: no map on the backend's side, no grant made or ended on
    // ours, the pool unchanged.
    EXPECT_EQ(backend_->stats().grant_maps, maps_before);
    EXPECT_EQ(dom0_.grant_table().free_count(), free_before);
    const BlkfrontCounters c = device_->counters();
    EXPECT_EQ(c.persistent_grants, pool_before);
    EXPECT_EQ(c.data_copies, 11u * 2 * 16);  // 11 writes and 11 reads of 16 segments
}

TEST_F(FeaturesTest, PersistentOffGrantsEveryRequest) {
    start({.frontend_indirect = 0,
           .backend_indirect = 0,
           .persistent = false,
           .backend_persistent = false});
    IoBuffer out(dom0_.memory(), 16 * 1024);
    out.fill(3);
    ASSERT_EQ(run_one(BlockOperation::write, 0, &out), 0);
    const auto maps = backend_->stats().grant_maps;
    ASSERT_EQ(run_one(BlockOperation::write, 0, &out), 0);
    EXPECT_EQ(backend_->stats().grant_maps, maps + 4);
    const BlkfrontCounters c = device_->counters();
    EXPECT_EQ(c.persistent_grants, 0u);
    EXPECT_EQ(c.data_copies, 0u);
}

TEST_F(FeaturesTest, DiscardBothOnZeroesTheRange) {
    start({.discard = true, .backend_discard = true});
    IoBuffer out(dom0_.memory(), 8 * 4096);
    out.fill(4);
    ASSERT_EQ(run_one(BlockOperation::write, 0, &out), 0);
    ASSERT_EQ(run_one(BlockOperation::discard, 8, nullptr, 16), 0);
    IoBuffer in(dom0_.memory(), 8 * 4096);
    ASSERT_EQ(run_one(BlockOperation::read, 0, &in), 0);
    std::vector<std::byte> expected = out.bytes();
    std::fill_n(expected.begin() + 8 * 512, 16 * 512, std::byte{0});
    EXPECT_EQ(in.bytes(), expected);
    EXPECT_EQ(device_->counters().discards, 1u);
    const auto seen = backend_->seen();
    const auto discard = xen::blkif_request_as<xen::BlkifRequestDiscard>(seen.at(1));
    EXPECT_EQ(discard.operation, xen::BlkifOp::discard);
    EXPECT_EQ(discard.sector_number, 8u);
    EXPECT_EQ(discard.nr_sectors, 16u);
}

TEST_F(FeaturesTest, DiscardNotNegotiatedFailsWithEopnotsuppAndSendsNothing) {
    start({.discard = false, .backend_discard = true});
    EXPECT_EQ(run_one(BlockOperation::discard, 8, nullptr, 16), -EOPNOTSUPP);
    EXPECT_EQ(backend_->stats().requests, 0u);
}

// Linux blkif_interrupt, BLKIF_OP_DISCARD: an EOPNOTSUPP answer fails the
// request (BLK_STS_NOTSUPP) and sets feature_discard = 0, so the next
// discard is refused before it reaches the ring.
TEST_F(FeaturesTest, ADiscardTheBackendRefusesFailsAndTurnsDiscardOff) {
    start({.discard = true, .backend_discard = false});
    EXPECT_EQ(run_one(BlockOperation::discard, 8, nullptr, 16), -EOPNOTSUPP);
    EXPECT_EQ(backend_->stats().requests, 1u);
    EXPECT_EQ(run_one(BlockOperation::discard, 8, nullptr, 16), -EOPNOTSUPP);
    EXPECT_EQ(backend_->stats().requests, 1u);
}

// blkif_recover's second half: the four requests on the ring and a fifth
// submitted after hold(), which waited in the queue, all come back whole
// without their callbacks running; only the four count as issued before
// (BlkfrontCounters::recovered), the fifth never reached the ring.
TEST_F(FeaturesTest, TakeUnfinishedHandsBackEveryRequestWithoutRunningItsCallback) {
    start({.frontend_indirect = 256,
           .backend_indirect = 256,
           .persistent = true,
           .backend_persistent = true});
    backend_->hold();
    Completions done;
    std::vector<std::unique_ptr<IoBuffer>> buffers;
    std::vector<BlockRequest> batch;
    const auto request = [&](int i) {
        buffers.push_back(std::make_unique<IoBuffer>(dom0_.memory(), 128 * 1024));
        buffers.back()->fill(static_cast<std::uint32_t>(20 + i));
        return make_request(BlockOperation::write, static_cast<std::uint64_t>(i) * 256,
                            &buffers.back()->guest(), done.callback());
    };
    for (int i = 0; i < 4; ++i) {
        batch.push_back(request(i));
    }
    device_->submit(batch);
    ASSERT_TRUE(test::eventually([&] { return backend_->held().size() == 4; }));
    device_->hold();
    std::vector<BlockRequest> late{request(4)};
    device_->submit(late);
    BlkfrontQueue::Unfinished unfinished = device_->take_unfinished();
    EXPECT_EQ(unfinished.were_on_ring, 4u);
    EXPECT_EQ(backend_->held().size(), 4u);
    std::vector<BlockRequest>& taken = unfinished.requests;
    ASSERT_EQ(taken.size(), 5u);
    EXPECT_EQ(done.count(), 0u);
    EXPECT_EQ(device_->in_flight(), 0u);
    for (std::size_t i = 0; i < taken.size(); ++i) {
        EXPECT_EQ(taken[i].sector, i * 256);
        EXPECT_EQ(taken[i].buffer, &buffers[i]->guest());
    }
    // Issued again on a new ring and backend: each completes once.
    device_.reset();
    backend_.reset();
    ring_.reset();
    start({.frontend_indirect = 256,
           .backend_indirect = 256,
           .persistent = true,
           .backend_persistent = true});
    device_->submit(taken);
    ASSERT_TRUE(done.wait_for(5));
    EXPECT_EQ(done.statuses(), (std::vector<int>{0, 0, 0, 0, 0}));
    for (int i = 0; i < 5; ++i) {
        EXPECT_EQ(disk_bytes(static_cast<std::uint64_t>(i) * 256, 128 * 1024),
                  buffers[static_cast<std::size_t>(i)]->bytes());
    }
}

}  // namespace features_test
}  // namespace pvsim::frontend::blkfront
