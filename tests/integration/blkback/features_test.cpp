// blkback's data plane with the blkif features on (blkif.h; Linux
// xen-blkback/blkback.c): indirect descriptors, persistent grants,
// multi-page rings, discard, write barriers and grant copy mode, each with
// data verified in the image and in the frontend's pages, against a real
// pvsim-hypervisor and a frontend in the test process
// (test_frontend.hpp). The counts the design fixes are checked too: a
// 1 MiB I/O is one indirect request; persistent grants in steady state
// make no map or unmap hypercall; copy mode maps nothing but the ring. A
// frontend speaking x86_32-abi is served from its 108-byte slots.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "backend/blkback/data_plane.hpp"
#include "backend/blkback/ring_connection.hpp"
#include "backend/data_plane/pass_budget.hpp"
#include "backend/storage/backing_store.hpp"
#include "tests/integration/blkback/test_frontend.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/hypervisor_process.hpp"

namespace pvsim::backend::blkback {
// This file's own names, apart from those of the other files of its folder,
// which compiles as one translation unit.
namespace features_test {

using test::pattern;
using test::TestFrontend;
using xen::BlkifOp;
using xen::BlkifStatus;

constexpr std::uint64_t kImageSectors = 8192;  // 4 MiB
constexpr std::size_t kDataPages = 300;

class FeaturesTest : public ::testing::Test {
  protected:
    explicit FeaturesTest(unsigned ring_order = 0,
                          xen::BlkifProtocol protocol = xen::BlkifProtocol::x86_64)
        : front_(fe_hv_, 0, kDataPages, ring_order, protocol) {
        image_ = hv_.temp_path() / "disk.img";
        const int fd = ::open(image_.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
        EXPECT_GE(fd, 0);
        EXPECT_EQ(::ftruncate(fd, kImageSectors * 512), 0);
        ::close(fd);
    }
    ~FeaturesTest() override { plane_.reset(); }

    VbdLimits limits() {
        VbdLimits l;
        l.sectors = store_->sectors();
        l.logical_sector_size = store_->logical_sector_size();
        l.flush = store_->write_cache();
        l.barrier = store_->write_cache();
        l.discard = store_->discard_supported();
        l.max_indirect_segments = 256;
        return l;
    }
    void open_store() {
        if (!store_) {
            storage::OpenOptions open;
            open.access = storage::Access::read_write;
            store_.emplace(storage::BackingStore::open(image_, open));
        }
    }
    void start(DataPlaneOptions options, std::optional<VbdLimits> given = std::nullopt) {
        open_store();
        const VbdLimits l = given.value_or(limits());
        if (options.grant_mode == xen::BlkifGrantMode::copy) {
            // Both connections are dom0, each with its own page allocator
            // over the same memory: keep the backend's copy pages clear of
            // the frontend's.
            while (be_.memory().allocate_page() <= front_.page(kDataPages - 1).gfn) {
            }
        }
        options.engine = storage::EngineKind::sync;
        plane_ = std::make_unique<DataPlane>(
            RingConnection::connect(be_, 0, front_.ring_refs(), front_.port(),
                                    front_.ring().protocol()),
            *store_, l, options, metrics_, nullptr, "test-vbd");
    }
    std::vector<std::byte> image_bytes(std::uint64_t offset, std::size_t length) {
        std::vector<std::byte> out(length);
        const int fd = ::open(image_.c_str(), O_RDONLY | O_CLOEXEC);
        EXPECT_EQ(::pread(fd, out.data(), length, static_cast<off_t>(offset)),
                  static_cast<ssize_t>(length));
        ::close(fd);
        return out;
    }
    // Pages first..first+count-1 of the frontend, as one segment each.
    std::vector<xen::BlkifRequestSegment> segments(std::size_t first, std::size_t count) {
        std::vector<xen::BlkifRequestSegment> out;
        for (std::size_t i = 0; i < count; ++i) {
            out.push_back(front_.segment(first + i));
        }
        return out;
    }
    void fill(std::size_t first, const std::vector<std::byte>& data) {
        for (std::size_t i = 0; i * 4096 < data.size(); ++i) {
            std::memcpy(front_.page(first + i).data, data.data() + i * 4096, 4096);
        }
    }
    bool pages_hold(std::size_t first, const std::vector<std::byte>& data) {
        for (std::size_t i = 0; i * 4096 < data.size(); ++i) {
            if (std::memcmp(front_.page(first + i).data, data.data() + i * 4096, 4096) != 0) {
                return false;
            }
        }
        return true;
    }
    void clear(std::size_t first, std::size_t count) {
        for (std::size_t i = 0; i < count; ++i) {
            std::memset(front_.page(first + i).data, 0, 4096);
        }
    }
    BlkifStatus one(const xen::BlkifRequest& request) {
        front_.queue(request);
        front_.push();
        return front_.wait_responses(1).at(0).status;
    }

    test::HypervisorProcess hv_;
    hypervisor::Hypervisor fe_hv_ = hv_.connect_dom0();
    hypervisor::Hypervisor be_ = hv_.connect_dom0();
    TestFrontend front_;
    std::filesystem::path image_;
    std::optional<storage::BackingStore> store_;
    std::shared_ptr<LiveCounters<VbdCounters>> metrics_ =
        std::make_shared<LiveCounters<VbdCounters>>();
    std::unique_ptr<DataPlane> plane_;
};

// Pages 0..255 carry the data, page 256 the segments.
constexpr std::size_t kIndirectPage = 256;

TEST_F(FeaturesTest, AOneMiBIndirectRequestIsOneRequestBothWays) {
    start({});
    const auto data = pattern(1 << 20, 3);
    fill(0, data);
    EXPECT_EQ(one(front_.indirect(BlkifOp::write, 1, 64, segments(0, 256), {kIndirectPage})),
              BlkifStatus::okay);
    EXPECT_EQ(image_bytes(64 * 512, data.size()), data);
    clear(0, 256);
    const xen::BlkifRequest read =
        front_.indirect(BlkifOp::read, 2, 64, segments(0, 256), {kIndirectPage});
    front_.queue(read);
    front_.push();
    const auto response = front_.wait_responses(1).at(0);
    EXPECT_EQ(response.status, BlkifStatus::okay);
    EXPECT_EQ(response.operation, BlkifOp::read);  // req_operation, as Linux answers
    EXPECT_TRUE(pages_hold(0, data));
    plane_.reset();
    const VbdCounters c = metrics_->snapshot();
    EXPECT_EQ(c.requests, 2u);
    EXPECT_EQ(c.indirect_requests, 2u);
    EXPECT_EQ(c.segments, 512u);
    EXPECT_EQ(c.bytes(), 2u << 20);
    EXPECT_EQ(be_.mapping_count(), 0u);
}

// An indirect request's size is known only once its indirect pages are
// read, after the pass has taken it; the pass budget (pass_budget.hpp)
// counts a whole page per segment, so a ring of them is answered a budget at
// a time, not all at the end. 8 reads of 32 segments (128 KiB, Linux
// blkfront's default max_indirect_segments) pushed at once come back in 4
// pushes with the sync engine, 2 requests a pass.
TEST_F(FeaturesTest, ARingOfIndirectReadsIsAnsweredAPassBudgetAtATime) {
    start({});
    constexpr std::uint64_t kRequests = 8;
    constexpr std::size_t kSegments = 32;
    for (std::uint64_t id = 0; id < kRequests; ++id) {
        front_.queue(front_.indirect(BlkifOp::read, id, id * kSegments * 8,
                                     segments(id * kSegments, kSegments),
                                     {kIndirectPage + 1 + id}));
    }
    front_.push();
    for (const auto& r : front_.wait_responses(kRequests)) {
        EXPECT_EQ(r.status, BlkifStatus::okay) << r.id;
    }
    plane_.reset();
    const VbdCounters c = metrics_->snapshot();
    EXPECT_EQ(c.indirect_requests, kRequests);
    EXPECT_EQ(c.bytes_read, kRequests * kSegments * 4096);
    const std::uint64_t request_bytes = kSegments * 4096;
    const std::uint64_t per_pass = data_plane::PassBudget::kBytes / request_bytes;
    ASSERT_EQ(per_pass, 2u);
    EXPECT_EQ(c.notifications_sent + c.notifications_suppressed, kRequests / per_pass)
        << c.to_json().dump();
}

TEST_F(FeaturesTest, BadIndirectRequestsAreAnsweredAlone) {
    start({});
    // More segments than offered; an indirect_op that is not read/write; a
    // bad segment inside the indirect page; a grant that does not map as
    // the indirect page.
    auto too_many = front_.indirect(BlkifOp::read, 1, 0, segments(0, 1), {kIndirectPage});
    reinterpret_cast<xen::BlkifRequestIndirect*>(&too_many)->nr_segments = 257;
    front_.queue(too_many);
    front_.queue(front_.indirect(BlkifOp::flush_diskcache, 2, 0, segments(0, 2), {kIndirectPage}));
    auto bad_segs = segments(0, 20);
    bad_segs[13].last_sect = 9;
    front_.queue(front_.indirect(BlkifOp::read, 3, 0, bad_segs, {kIndirectPage + 1}));
    auto unmapped = front_.indirect(BlkifOp::read, 4, 0, segments(0, 2), {kIndirectPage + 2});
    reinterpret_cast<xen::BlkifRequestIndirect*>(&unmapped)->indirect_grefs[0] = 4000;
    front_.queue(unmapped);
    front_.queue(front_.indirect(BlkifOp::read, 5, 0, segments(0, 12), {kIndirectPage + 3}));
    front_.push();
    const auto r = TestFrontend::by_id(front_.wait_responses(5));
    for (std::uint64_t id : {1, 2, 3, 4}) {
        EXPECT_EQ(r.at(id).status, BlkifStatus::error) << id;
    }
    EXPECT_EQ(r.at(5).status, BlkifStatus::okay);
    plane_.reset();
    EXPECT_EQ(be_.mapping_count(), 0u);
    // Not offered: EOPNOTSUPP.
    VbdLimits none = limits();
    none.max_indirect_segments = 0;
    start({}, none);
    EXPECT_EQ(one(front_.indirect(BlkifOp::read, 6, 0, segments(0, 12), {kIndirectPage})),
              BlkifStatus::eopnotsupp);
}

TEST_F(FeaturesTest, PersistentGrantsInSteadyStateMakeNoMapOrUnmapHypercall) {
    DataPlaneOptions options;
    options.persistent = true;
    start(options);
    std::uint64_t id = 0;
    VbdCounters after_first{};
    for (int round = 0; round < 10; ++round) {
        const auto data = pattern(32 * 4096, static_cast<unsigned>(round));
        fill(0, data);
        for (std::size_t i = 0; i < 32; ++i) {
            front_.queue(TestFrontend::rw(BlkifOp::write, id++, i * 8, {front_.segment(i)}));
        }
        front_.push();
        for (const auto& response : front_.wait_responses(32)) {
            ASSERT_EQ(response.status, BlkifStatus::okay);
        }
        clear(0, 32);
        for (std::size_t i = 0; i < 32; ++i) {
            front_.queue(TestFrontend::rw(BlkifOp::read, id++, i * 8, {front_.segment(i)}));
        }
        front_.push();
        for (const auto& response : front_.wait_responses(32)) {
            ASSERT_EQ(response.status, BlkifStatus::okay);
        }
        EXPECT_TRUE(pages_hold(0, data)) << round;
        if (round == 0) {
            after_first = metrics_->snapshot();
            EXPECT_EQ(after_first.persistent_grants, 32u);
            EXPECT_EQ(be_.mapping_count(), 33u);  // and the ring
        }
    }
    const VbdCounters steady = metrics_->snapshot();
    EXPECT_EQ(steady.map_hypercalls, after_first.map_hypercalls);
    EXPECT_EQ(steady.unmap_hypercalls, after_first.unmap_hypercalls);
    EXPECT_EQ(steady.grant_maps, 32u);
    EXPECT_EQ(steady.grant_unmaps, 0u);
    plane_.reset();
    const VbdCounters end = metrics_->snapshot();
    EXPECT_EQ(end.persistent_grants, 0u);
    EXPECT_EQ(end.grant_unmaps, 32u);
    EXPECT_EQ(be_.mapping_count(), 0u);
}

TEST_F(FeaturesTest, PersistentGrantsAreBoundedAndTheLeastRecentlyUsedPurged) {
    DataPlaneOptions options;
    options.persistent = true;
    options.max_persistent_grants = 8;
    start(options);
    const auto data = pattern(16 * 4096, 7);
    fill(0, data);
    std::uint64_t id = 0;
    for (std::size_t i = 0; i < 16; ++i) {
        front_.queue(TestFrontend::rw(BlkifOp::write, id++, i * 8, {front_.segment(i)}));
    }
    front_.push();
    for (const auto& response : front_.wait_responses(16)) {
        ASSERT_EQ(response.status, BlkifStatus::okay);
    }
    EXPECT_EQ(metrics_->snapshot().persistent_grants, 8u);
    // The table overflowed: the next pass after LRU_INTERVAL purges (the
    // ring thread wakes for it with no request, as xen_blkif_schedule's
    // timed wait does).
    ASSERT_TRUE(test::eventually([&] { return metrics_->snapshot().persistent_purged >= 1; }))
        << metrics_->snapshot().to_json().dump();
    EXPECT_EQ(one(TestFrontend::rw(BlkifOp::read, id++, 0, {front_.segment(20)})),
              BlkifStatus::okay);
    const VbdCounters c = metrics_->snapshot();
    EXPECT_GE(c.persistent_purged, 1u);
    EXPECT_LE(c.persistent_grants, 8u);
    EXPECT_EQ(image_bytes(0, data.size()), data);
    plane_.reset();
    EXPECT_EQ(be_.mapping_count(), 0u);
    EXPECT_EQ(metrics_->snapshot().grant_maps, metrics_->snapshot().grant_unmaps);
}

TEST_F(FeaturesTest, AGrantInUseByTwoRequestsAtOnceIsMappedForTheSecondAlone) {
    DataPlaneOptions options;
    options.persistent = true;
    start(options);
    const auto data = pattern(4096, 1);
    fill(0, data);
    front_.queue(TestFrontend::rw(BlkifOp::write, 1, 0, {front_.segment(0)}));
    front_.queue(TestFrontend::rw(BlkifOp::write, 2, 8, {front_.segment(0)}));
    front_.push();
    const auto r = TestFrontend::by_id(front_.wait_responses(2));
    EXPECT_EQ(r.at(1).status, BlkifStatus::okay);
    EXPECT_EQ(r.at(2).status, BlkifStatus::okay);
    EXPECT_EQ(image_bytes(0, 4096), data);
    EXPECT_EQ(image_bytes(8 * 512, 4096), data);
    EXPECT_EQ(metrics_->snapshot().persistent_grants, 1u);
    EXPECT_EQ(be_.mapping_count(), 2u);  // the persistent one and the ring
    plane_.reset();
    EXPECT_EQ(be_.mapping_count(), 0u);
}

TEST_F(FeaturesTest, DiscardedRangesReadBackAsZeros) {
    open_store();
    ASSERT_TRUE(store_->discard_supported());
    start({});
    const auto data = pattern(8 * 4096, 2);
    fill(0, data);
    EXPECT_EQ(one(TestFrontend::rw(BlkifOp::write, 1, 0, segments(0, 8))), BlkifStatus::okay);
    EXPECT_EQ(one(TestFrontend::discard(2, 16, 32)), BlkifStatus::okay);
    // BLKIF_DISCARD_SECURE without "discard-secure" (pvsim writes 0) is a
    // plain discard: Linux dispatch_discard_io ignores the flag then.
    EXPECT_EQ(one(TestFrontend::discard(3, 56, 8, /*secure=*/true)), BlkifStatus::okay);
    EXPECT_EQ(one(TestFrontend::discard(4, kImageSectors - 8, 16)), BlkifStatus::error);
    const auto image = image_bytes(0, data.size());
    EXPECT_EQ(std::memcmp(image.data(), data.data(), 16 * 512), 0);
    for (std::size_t i = 16 * 512; i < 48 * 512; ++i) {
        ASSERT_EQ(image[i], std::byte{0}) << i;
    }
    EXPECT_EQ(std::memcmp(image.data() + 48 * 512, data.data() + 48 * 512, 8 * 512), 0);
    for (std::size_t i = 56 * 512; i < 64 * 512; ++i) {
        ASSERT_EQ(image[i], std::byte{0}) << i;
    }
    plane_.reset();
    // Served ones: the plain and the secure-flagged one; the out-of-range one
    // was refused.
    EXPECT_EQ(metrics_->snapshot().discards, 2u);
    // Not offered, and on a read-only vbd.
    VbdLimits none = limits();
    none.discard = false;
    start({}, none);
    EXPECT_EQ(one(TestFrontend::discard(5, 0, 8)), BlkifStatus::eopnotsupp);
    plane_.reset();
    VbdLimits ro = limits();
    ro.read_only = true;
    start({}, ro);
    EXPECT_EQ(one(TestFrontend::discard(6, 0, 8)), BlkifStatus::error);
    EXPECT_EQ(one(TestFrontend::rw(BlkifOp::write_barrier, 7, 0, {front_.segment(0)})),
              BlkifStatus::error);
}

TEST_F(FeaturesTest, ABarrierIsAnsweredAfterEveryEarlierWriteAndItsDataLands) {
    open_store();
    ASSERT_TRUE(store_->write_cache());
    start({});
    const auto data = pattern(20 * 4096, 4);
    fill(0, data);
    for (std::size_t i = 0; i < 16; ++i) {
        front_.queue(TestFrontend::rw(BlkifOp::write, i, i * 8, {front_.segment(i)}));
    }
    front_.queue(TestFrontend::rw(BlkifOp::write_barrier, 100, 16 * 8, segments(16, 2)));
    front_.queue(TestFrontend::rw(BlkifOp::write, 101, 18 * 8, segments(18, 2)));
    front_.queue(TestFrontend::rw(BlkifOp::write_barrier, 102, 0, {}));
    front_.push();
    const auto responses = front_.wait_responses(19);
    // Every earlier write was answered before the barrier (a later one may
    // overtake it, as in Linux, which drains only what came before).
    std::size_t barrier_at = 0;
    std::size_t last_earlier = 0;
    for (std::size_t i = 0; i < responses.size(); ++i) {
        EXPECT_EQ(responses[i].status, BlkifStatus::okay) << responses[i].id;
        if (responses[i].id == 100) {
            barrier_at = i;
        } else if (responses[i].id < 16) {
            last_earlier = i;
        }
    }
    EXPECT_GT(barrier_at, last_earlier);
    EXPECT_EQ(responses.back().id, 102u);
    EXPECT_EQ(image_bytes(0, data.size()), data);
    plane_.reset();
    EXPECT_EQ(metrics_->snapshot().barriers, 2u);
    EXPECT_EQ(be_.mapping_count(), 0u);
    // Not offered: EOPNOTSUPP.
    VbdLimits none = limits();
    none.barrier = false;
    start({}, none);
    EXPECT_EQ(one(TestFrontend::rw(BlkifOp::write_barrier, 103, 0, {})), BlkifStatus::eopnotsupp);
}

TEST_F(FeaturesTest, CopyModeMapsNothingButTheRing) {
    DataPlaneOptions options;
    options.grant_mode = xen::BlkifGrantMode::copy;
    start(options);
    const auto data = pattern(32 * 4096, 9);
    fill(0, data);
    for (std::size_t i = 0; i < 32; ++i) {
        front_.queue(TestFrontend::rw(BlkifOp::write, i, i * 8, {front_.segment(i)}));
    }
    front_.push();
    for (const auto& response : front_.wait_responses(32)) {
        ASSERT_EQ(response.status, BlkifStatus::okay);
    }
    EXPECT_EQ(image_bytes(0, data.size()), data);
    clear(0, 32);
    // A partial segment and an indirect read.
    EXPECT_EQ(one(TestFrontend::rw(BlkifOp::read, 40, 2, {front_.segment(40, 2, 5)})),
              BlkifStatus::okay);
    EXPECT_EQ(std::memcmp(front_.page(40).data + 2 * 512, data.data() + 2 * 512, 4 * 512), 0);
    EXPECT_EQ(one(front_.indirect(BlkifOp::read, 41, 0, segments(0, 32), {kIndirectPage})),
              BlkifStatus::okay);
    EXPECT_TRUE(pages_hold(0, data));
    EXPECT_EQ(be_.mapping_count(), 1u);  // the ring alone
    plane_.reset();
    const VbdCounters c = metrics_->snapshot();
    EXPECT_EQ(c.grant_maps, 0u);
    EXPECT_EQ(c.map_hypercalls, 0u);
    EXPECT_EQ(c.grant_copies, 32u + 1u + 1u + 32u);
    // One copy hypercall per burst and direction: the writes (one burst or
    // a few), the partial read, the indirect page and the indirect read.
    EXPECT_LE(c.copy_hypercalls, 8u);
    EXPECT_EQ(be_.mapping_count(), 0u);
}

class MultiPageRingTest : public FeaturesTest {
  protected:
    MultiPageRingTest() : FeaturesTest(2) {}
};

TEST_F(MultiPageRingTest, AFourPageRingHolds128RequestsInFlight) {
    start({});
    ASSERT_EQ(plane_->connection().ring_refs().size(), 4u);
    const auto data = pattern(128 * 4096, 5);
    fill(0, data);
    for (std::size_t i = 0; i < 128; ++i) {
        front_.queue(TestFrontend::rw(BlkifOp::write, i, i * 8, {front_.segment(i)}));
    }
    front_.push();
    for (const auto& response : front_.wait_responses(128)) {
        ASSERT_EQ(response.status, BlkifStatus::okay);
    }
    EXPECT_EQ(image_bytes(0, data.size()), data);
    plane_.reset();
    EXPECT_EQ(metrics_->snapshot().requests, 128u);
    EXPECT_EQ(be_.mapping_count(), 0u);
}

// A 32-bit x86 guest's ring (protocol x86_32-abi): Linux xen-blkback/common.h
// struct blkif_x86_32_request (108 bytes, __packed) and struct blkif_response
// __packed (12 bytes), 32 slots of 108 bytes after the 64-byte header.
class X86_32RingTest : public FeaturesTest {
  protected:
    X86_32RingTest() : FeaturesTest(0, xen::BlkifProtocol::x86_32) {}

    // The slot of ring index `idx`, as bytes.
    const std::byte* slot(xen::RingIdx idx) {
        return reinterpret_cast<const std::byte*>(&front_.shared()) + 64 + (idx % 32) * 108;
    }
    template <class T>
    T at(xen::RingIdx idx, std::size_t offset) {
        T value;
        std::memcpy(&value, slot(idx) + offset, sizeof value);
        return value;
    }
};

TEST_F(X86_32RingTest, ReadsWritesAndFlushesTravelInThe32BitLayoutBothWays) {
    start({});
    const auto data = pattern(11 * 4096, 7);
    fill(0, data);
    front_.queue(TestFrontend::rw(BlkifOp::write, 0x1122334455667788, 40, segments(0, 11)));
    // blkif_x86_32_request_rw: nr_segments at 1, id at 4, sector_number at
    // 12, seg[] at 20 (8 bytes each).
    EXPECT_EQ(at<std::uint8_t>(0, 0), 1u);
    EXPECT_EQ(at<std::uint8_t>(0, 1), 11u);
    EXPECT_EQ(at<std::uint64_t>(0, 4), 0x1122334455667788u);
    EXPECT_EQ(at<std::uint64_t>(0, 12), 40u);
    EXPECT_EQ(at<xen::GrantRef>(0, 20 + 10 * 8), front_.page(10).ref);
    EXPECT_EQ(at<std::uint8_t>(0, 20 + 10 * 8 + 5), 7u);  // seg[10].last_sect
    front_.queue(TestFrontend::rw(BlkifOp::flush_diskcache, 2, 0, {}));
    front_.push();
    const auto written = front_.wait_responses(2);
    EXPECT_EQ(written.at(0).id, 0x1122334455667788u);
    EXPECT_EQ(written.at(0).status, BlkifStatus::okay);
    EXPECT_EQ(written.at(1).operation, BlkifOp::flush_diskcache);
    EXPECT_EQ(written.at(1).status, BlkifStatus::okay);
    // struct blkif_response __packed: id at 0, operation at 8, status at 10;
    // the response to the request in slot 1 starts 108 bytes into the slots.
    EXPECT_EQ(at<std::uint64_t>(1, 0), 2u);
    EXPECT_EQ(at<std::uint8_t>(1, 8), 3u);
    EXPECT_EQ(at<std::int16_t>(1, 10), 0);
    EXPECT_EQ(image_bytes(40 * 512, data.size()), data);

    clear(20, 11);
    EXPECT_EQ(one(TestFrontend::rw(BlkifOp::read, 3, 40, segments(20, 11))), BlkifStatus::okay);
    EXPECT_TRUE(pages_hold(20, data));
    const auto c = metrics_->snapshot();
    EXPECT_EQ(c.writes, 1u);
    EXPECT_EQ(c.reads, 1u);
    EXPECT_EQ(c.flushes, 1u);
}

TEST_F(X86_32RingTest, IndirectRequestsDiscardsAndUnknownOperationsAreTranslated) {
    open_store();
    ASSERT_TRUE(store_->discard_supported());
    start({});
    const auto data = pattern(256 * 4096, 8);
    fill(0, data);
    front_.queue(front_.indirect(BlkifOp::write, 1, 64, segments(0, 256), {kIndirectPage}));
    // blkif_x86_32_request_indirect: indirect_op at 1, nr_segments at 2, id
    // at 4, handle at 20, indirect_grefs[] at 24.
    EXPECT_EQ(at<std::uint8_t>(0, 1), 1u);
    EXPECT_EQ(at<std::uint16_t>(0, 2), 256u);
    EXPECT_EQ(at<std::uint64_t>(0, 4), 1u);
    EXPECT_EQ(at<xen::GrantRef>(0, 24), front_.page(kIndirectPage).ref);
    front_.push();
    EXPECT_EQ(front_.wait_responses(1).at(0).status, BlkifStatus::okay);
    EXPECT_EQ(image_bytes(64 * 512, data.size()), data);
    clear(0, 256);
    EXPECT_EQ(one(front_.indirect(BlkifOp::read, 2, 64, segments(0, 256), {kIndirectPage})),
              BlkifStatus::okay);
    EXPECT_TRUE(pages_hold(0, data));

    // blkif_x86_32_request_discard: sector_number at 12, nr_sectors at 20.
    front_.queue(TestFrontend::discard(3, 64, 32));
    EXPECT_EQ(at<std::uint64_t>(2, 12), 64u);
    EXPECT_EQ(at<std::uint64_t>(2, 20), 32u);
    front_.push();
    EXPECT_EQ(front_.wait_responses(1).at(0).status, BlkifStatus::okay);
    const auto image = image_bytes(64 * 512, 48 * 512);
    for (std::size_t i = 0; i < 32 * 512; ++i) {
        ASSERT_EQ(image[i], std::byte{0}) << i;
    }
    EXPECT_EQ(std::memcmp(image.data() + 32 * 512, data.data() + 32 * 512, 16 * 512), 0);

    // An operation blkif_get_x86_32_req does not know: only u.other.id is
    // read, and the answer is BLKIF_RSP_EOPNOTSUPP with that id.
    xen::BlkifRequest unknown{};
    unknown.operation = static_cast<BlkifOp>(0x42);
    unknown.id = 0xabcdef0123;
    front_.queue(unknown);
    front_.push();
    const auto answer = front_.wait_responses(1).at(0);
    EXPECT_EQ(answer.id, 0xabcdef0123u);
    EXPECT_EQ(answer.status, BlkifStatus::eopnotsupp);
    const auto c = metrics_->snapshot();
    EXPECT_EQ(c.indirect_requests, 2u);
    EXPECT_EQ(c.discards, 1u);
}

TEST(PersistentGrantsTable, BoundedPurgesTheLeastRecentlyUsedAndNeverAnActiveOne) {
    PersistentGrants table(4, std::chrono::seconds(60));
    const auto t0 = PersistentGrants::Clock::now();
    std::byte page{};
    for (xen::GrantRef ref = 1; ref <= 4; ++ref) {
        ASSERT_TRUE(table.has_room());
        table.add(ref, ref + 100, &page);
    }
    EXPECT_EQ(table.active(), 4u);
    std::byte* found = nullptr;
    EXPECT_EQ(table.get(1, &found), PersistentGrants::Lookup::in_use);
    EXPECT_EQ(table.get(9, &found), PersistentGrants::Lookup::absent);
    table.put(2, t0 + std::chrono::milliseconds(1));
    table.put(1, t0 + std::chrono::milliseconds(2));
    table.put(3, t0 + std::chrono::milliseconds(3));
    // Full but not overflowed: nothing to purge.
    EXPECT_TRUE(table.purge(t0 + std::chrono::seconds(1)).empty());
    EXPECT_FALSE(table.has_room());  // overflows
    // Not due yet (LRU_INTERVAL).
    EXPECT_TRUE(table.purge(t0 + std::chrono::milliseconds(1050)).empty());
    // The least recently used idle grant goes; the active one (4) never.
    EXPECT_EQ(table.purge(t0 + std::chrono::seconds(2)), std::vector<xen::GrantHandle>{102});
    EXPECT_EQ(table.size(), 3u);
    EXPECT_EQ(table.get(1, &found), PersistentGrants::Lookup::found);
    EXPECT_EQ(found, &page);
    table.put(1);
    // Everything idle goes at the end; the active one stays with its request.
    auto all = table.take_all();
    std::sort(all.begin(), all.end());
    EXPECT_EQ(all, (std::vector<xen::GrantHandle>{101, 103}));
    table.put(4);
    EXPECT_EQ(table.take_all(), std::vector<xen::GrantHandle>{104});
}

// Linux purge_persistent_gnt: the first pass drops every inactive grant
// unused for pgrant_timeout (60 s by default), even when the table is far
// below its bound and never overflowed.
TEST(PersistentGrantsTable, GrantsIdleForTheTimeoutArePurgedEvenBelowTheBound) {
    PersistentGrants table(1056, std::chrono::seconds(60));
    const auto t0 = PersistentGrants::Clock::now();
    std::byte page{};
    for (xen::GrantRef ref = 1; ref <= 3; ++ref) {
        table.add(ref, ref + 100, &page);
    }
    table.put(1, t0);
    table.put(2, t0 + std::chrono::seconds(30));
    // 3 stays active.
    EXPECT_TRUE(table.purge(t0 + std::chrono::seconds(59)).empty());
    EXPECT_EQ(table.purge(t0 + std::chrono::seconds(60)), std::vector<xen::GrantHandle>{101});
    EXPECT_EQ(table.purge(t0 + std::chrono::seconds(120)), std::vector<xen::GrantHandle>{102});
    EXPECT_TRUE(table.purge(t0 + std::chrono::seconds(600)).empty());
    EXPECT_EQ(table.size(), 1u);
}

}  // namespace features_test
}  // namespace pvsim::backend::blkback
