// blkfront's half of persistent-grant expiry (Linux 4.19+ xen-blkfront.c:
// blkfront_delay_work every HZ * 10, purge_persistent_grants), against
// pvsim's own blkback data plane (backend/blkback/data_plane.hpp) in this
// process over a real pvsim-hypervisor: blkback drops the grants a ring has
// not used for its timeout (purge_persistent_gnt, pgrant_timeout) on its
// ring thread's timed wake (xen_blkif_schedule, every LRU_INTERVAL) with no
// request coming, and blkfront then ends those it no longer maps, freeing
// their grant-table entries; while blkback maps them it ends none. Both
// periods are short here, as the options allow.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <vector>

#include "backend/blkback/data_plane.hpp"
#include "backend/blkback/ring_connection.hpp"
#include "backend/storage/backing_store.hpp"
#include "frontend/blkfront/blkfront_queue.hpp"
#include "frontend/blkfront/ring_page.hpp"
#include "tests/integration/blkfront/blkfront_fixture.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/hypervisor_process.hpp"

namespace pvsim::frontend::blkfront {
// This file's own names, apart from those of the other files of its folder,
// which compiles as one translation unit.
namespace persistent_purge_test {

namespace storage = backend::storage;
using backend::blkback::DataPlane;
using backend::blkback::DataPlaneOptions;
using backend::blkback::RingConnection;
using backend::blkback::VbdCounters;
using backend::blkback::VbdLimits;
using test::IoBuffer;

constexpr std::uint64_t kSectors = 8192;  // 4 MiB
constexpr std::size_t kIoBytes = 64 * 1024;
constexpr std::chrono::milliseconds kBackendTimeout{1000};
constexpr std::chrono::milliseconds kFrontendInterval{50};

class PersistentPurgeTest : public ::testing::Test {
  protected:
    PersistentPurgeTest() {
        image_ = hv_.temp_path() / "disk.img";
        const int fd = ::open(image_.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
        EXPECT_GE(fd, 0);
        EXPECT_EQ(::ftruncate(fd, kSectors * 512), 0);
        ::close(fd);
        storage::OpenOptions open;
        open.access = storage::Access::read_write;
        store_.emplace(storage::BackingStore::open(image_, open));

        // Both ends are dom0, each over its own connection; the frontend
        // grants to domain 0.
        ring_ = std::make_unique<RingPage>(front_, 0);
        hypervisor::EventChannel channel = front_.alloc_unbound(0);
        VbdLimits limits;
        limits.sectors = kSectors;
        DataPlaneOptions options;
        options.persistent = true;
        options.persistent_timeout = kBackendTimeout;
        options.engine = storage::EngineKind::sync;
        plane_ = std::make_unique<DataPlane>(
            RingConnection::connect(back_, 0, ring_->ref(), channel.port()), *store_, limits,
            options, metrics_, nullptr, "purge-vbd");
        DataPlaneConfig config = test::xvda_config(kSectors);
        config.disk.feature_persistent = true;
        config.purge_interval = kFrontendInterval;
        device_ = std::make_unique<BlkfrontQueue>(front_, ring_->area(), RingPage::bytes(),
                                                  std::move(channel), std::move(config));
    }
    ~PersistentPurgeTest() override {
        device_.reset();
        plane_.reset();
    }

    int run_one(BlockOperation op, std::uint64_t sector, const IoBuffer& buffer) {
        return test::run_one(*device_, op, sector, &buffer);
    }

    // Writes `seed`'s pattern over kIoBytes at `sector` and reads it back.
    void write_and_verify(std::uint64_t sector, std::uint32_t seed) {
        IoBuffer out(front_.memory(), kIoBytes);
        out.fill(seed);
        ASSERT_EQ(run_one(BlockOperation::write, sector, out), 0);
        IoBuffer in(front_.memory(), kIoBytes);
        ASSERT_EQ(run_one(BlockOperation::read, sector, in), 0);
        EXPECT_EQ(in.bytes(), out.bytes());
    }

    test::HypervisorProcess hv_;
    hypervisor::Hypervisor front_ = hv_.connect_dom0();
    hypervisor::Hypervisor back_ = hv_.connect_dom0();
    std::filesystem::path image_;
    std::optional<storage::BackingStore> store_;
    std::shared_ptr<LiveCounters<VbdCounters>> metrics_ =
        std::make_shared<LiveCounters<VbdCounters>>();
    std::unique_ptr<RingPage> ring_;
    std::unique_ptr<DataPlane> plane_;
    std::unique_ptr<BlkfrontQueue> device_;
};

TEST_F(PersistentPurgeTest, GrantsTheIdleBackendDroppedAreEndedAndNoneItStillMapsIs) {
    write_and_verify(0, 31);
    const std::uint64_t pool = device_->counters().persistent_grants;
    ASSERT_GE(pool, kIoBytes / xen::kXenPageSize);
    EXPECT_EQ(metrics_->snapshot().persistent_grants, pool);
    const std::size_t free_before = front_.grant_table().free_count();

    // I/O has stopped. Four purge turns pass (counted, not slept for) while
    // blkback still maps every grant: blkfront ends none of them. What
    // blkfront did is read before what blkback maps, so a blkback that
    // still maps them all mapped them all through those turns.
    const std::uint64_t passes = device_->counters().purge_passes;
    ASSERT_TRUE(test::eventually([&] { return device_->counters().purge_passes >= passes + 4; }));
    EXPECT_EQ(device_->counters().persistent_purged, 0u);
    EXPECT_EQ(device_->counters().persistent_grants, pool);
    EXPECT_EQ(front_.grant_table().free_count(), free_before);
    ASSERT_EQ(metrics_->snapshot().persistent_grants, pool)
        << "blkback's timeout (" << kBackendTimeout.count() << " ms) passed within four of "
        << "blkfront's turns";

    // With no request at all, blkback's ring thread wakes every
    // LRU_INTERVAL (Linux 6.1 xen_blkif_schedule's timed wait, then
    // purge_persistent_gnt) and drops every grant idle past its timeout.
    ASSERT_TRUE(test::eventually([&] { return metrics_->snapshot().persistent_grants == 0; }))
        << metrics_->snapshot().persistent_grants;
    EXPECT_EQ(metrics_->snapshot().persistent_purged, pool);

    // blkfront's next turn ends what blkback let go: their grant-table
    // entries are free again.
    ASSERT_TRUE(test::eventually([&] { return device_->counters().persistent_purged == pool; }))
        << device_->counters().persistent_purged;
    EXPECT_EQ(device_->counters().persistent_grants, 0u);
    EXPECT_EQ(front_.grant_table().free_count(), free_before + pool);

    // I/O afterwards grants the pages afresh, and the data verifies.
    write_and_verify(2048, 32);
    EXPECT_EQ(device_->counters().persistent_grants, pool);
    EXPECT_EQ(metrics_->snapshot().persistent_grants, pool);
}

}  // namespace persistent_purge_test
}  // namespace pvsim::frontend::blkfront
