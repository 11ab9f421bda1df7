// blkfront with trusted=0 (Linux 5.19+, XSA-403: talk_to_blkback's
// info->bounce) against a real pvsim-hypervisor and the in-process test
// backend (test_backend.hpp): the backend is granted pages of blkfront's own
// pool, never a frame of the caller's I/O buffer - which the frames the
// hypervisor hands the backend's maps show - and the data still arrives
// intact both ways, with persistent grants and without, plain and indirect.
// Trusted (the default), the caller's pages are granted as before and
// nothing is copied.
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "frontend/blkfront/blkfront_queue.hpp"
#include "frontend/blkfront/ring_page.hpp"
#include "tests/integration/blkfront/blkfront_fixture.hpp"
#include "tests/integration/blkfront/test_backend.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/hypervisor_process.hpp"

namespace pvsim::frontend::blkfront {
// This file's own names, apart from those of the other files of its folder,
// which compiles as one translation unit.
namespace bounce_test {

using test::IoBuffer;

constexpr std::uint64_t kSectors = 16384;  // 8 MiB
constexpr std::size_t kIoBytes = 256 * 1024;
constexpr unsigned kSegments = kIoBytes / xen::kXenPageSize;

struct Case {
    bool trusted = true;
    bool persistent = false;  // negotiated (both ends)
    unsigned indirect = 0;    // negotiated segments (0: plain requests)
};

class BounceTest : public ::testing::Test {
  protected:
    void start(const Case& c) {
        DataPlaneConfig config = test::xvda_config(kSectors);
        config.disk.feature_persistent = c.persistent;
        config.disk.max_indirect_segments = c.indirect;
        config.trusted = c.trusted;
        ring_ = std::make_unique<RingPage>(dom0_, 0);
        hypervisor::EventChannel channel = dom0_.alloc_unbound(0);
        backend_ = std::make_unique<test::TestBackend>(dom0_, 0, ring_->ref(), channel.port(),
                                                       kSectors, 256);
        backend_->set_persistent(c.persistent);
        device_ = std::make_unique<BlkfrontQueue>(dom0_, ring_->area(), RingPage::bytes(),
                                                  std::move(channel), std::move(config));
    }

    int run_one(BlockOperation op, std::uint64_t sector, const IoBuffer& buffer) {
        return test::run_one(*device_, op, sector, &buffer);
    }

    std::vector<std::byte> disk_bytes(std::uint64_t sector, std::size_t length) {
        return backend_->disk_bytes(sector, length);
    }

    // The frames of `buffer` the backend mapped.
    std::set<std::uint64_t> mapped_of(const IoBuffer& buffer) {
        const std::set<std::uint64_t> mapped = backend_->mapped_frames();
        std::set<std::uint64_t> found;
        for (const hypervisor::Gfn gfn : buffer.guest().pages) {
            if (mapped.contains(gfn)) {
                found.insert(gfn);
            }
        }
        return found;
    }

    test::HypervisorProcess hv_;
    hypervisor::Hypervisor dom0_ = hv_.connect_dom0();
    std::unique_ptr<RingPage> ring_;
    std::unique_ptr<test::TestBackend> backend_;
    std::unique_ptr<BlkfrontQueue> device_;  // destroyed first
};

class UntrustedBounceTest : public BounceTest, public ::testing::WithParamInterface<Case> {};

TEST_P(UntrustedBounceTest, NoFrameOfTheCallersBufferIsGrantedAndTheDataArrivesIntact) {
    const Case c = GetParam();
    start({.trusted = false, .persistent = c.persistent, .indirect = c.indirect});
    IoBuffer out(dom0_.memory(), kIoBytes);
    out.fill(21);
    ASSERT_EQ(run_one(BlockOperation::write, 512, out), 0);
    EXPECT_EQ(disk_bytes(512, kIoBytes), out.bytes());
    IoBuffer in(dom0_.memory(), kIoBytes);
    ASSERT_EQ(run_one(BlockOperation::read, 512, in), 0);
    EXPECT_EQ(in.bytes(), out.bytes());
    // A read into a buffer that already holds data: the backend's answer
    // replaces it, copied out of the pool pages.
    test::IoBuffer again(dom0_.memory(), kIoBytes);
    again.fill(99);
    ASSERT_EQ(run_one(BlockOperation::read, 512, again), 0);
    EXPECT_EQ(again.bytes(), out.bytes());

    // The backend mapped grants (segments, and indirect frames when
    // indirect), and none of them named a page of the caller's.
    EXPECT_GE(backend_->mapped_frames().size(), c.persistent ? kSegments : 1u);
    EXPECT_TRUE(mapped_of(out).empty());
    EXPECT_TRUE(mapped_of(in).empty());
    EXPECT_TRUE(mapped_of(again).empty());
    const BlkfrontCounters counters = device_->counters();
    EXPECT_EQ(counters.data_copies, 3u * kSegments);  // in for the write, out for each read
    EXPECT_GE(counters.pool_pages, kSegments);
    // in_flight() counts a request until its callback has returned, which
    // may be just after run_one() saw the callback's status.
    EXPECT_TRUE(test::eventually([&] { return device_->in_flight() == 0; }));
    if (c.persistent) {
        // Kept for the next request: the backend maps them for good.
        EXPECT_EQ(counters.persistent_grants, counters.pool_pages);
    } else {
        // Each request's grants ended when it was answered; the pages stay.
        EXPECT_EQ(counters.persistent_grants, 0u);
        EXPECT_EQ(dom0_.grant_table().deferred_count(), 0u);
    }
}

INSTANTIATE_TEST_SUITE_P(PersistentAndIndirect, UntrustedBounceTest,
                         ::testing::Values(Case{.persistent = false, .indirect = 0},
                                           Case{.persistent = true, .indirect = 0},
                                           Case{.persistent = false, .indirect = 32},
                                           Case{.persistent = true, .indirect = 32}),
                         [](const ::testing::TestParamInfo<Case>& named) {
                             return std::string(named.param.persistent ? "Persistent"
                                                                       : "PerRequest") +
                                    (named.param.indirect != 0 ? "Indirect" : "Plain");
                         });

// The default: the caller's own pages are granted, nothing is copied, and no
// pool page is taken.
TEST_F(BounceTest, TrustedGrantsTheCallersOwnPagesAndCopiesNothing) {
    start({.trusted = true, .persistent = false});
    IoBuffer out(dom0_.memory(), kIoBytes);
    out.fill(22);
    ASSERT_EQ(run_one(BlockOperation::write, 0, out), 0);
    EXPECT_EQ(disk_bytes(0, kIoBytes), out.bytes());
    IoBuffer in(dom0_.memory(), kIoBytes);
    ASSERT_EQ(run_one(BlockOperation::read, 0, in), 0);
    EXPECT_EQ(in.bytes(), out.bytes());
    EXPECT_EQ(mapped_of(out).size(), kSegments);
    EXPECT_EQ(mapped_of(in).size(), kSegments);
    const BlkfrontCounters counters = device_->counters();
    EXPECT_EQ(counters.data_copies, 0u);
    EXPECT_EQ(counters.pool_pages, 0u);
    EXPECT_EQ(counters.requests, 2u * ((kSegments + 10) / 11));
    EXPECT_EQ(counters.segments, 2u * kSegments);
}

}  // namespace bounce_test
}  // namespace pvsim::frontend::blkfront
