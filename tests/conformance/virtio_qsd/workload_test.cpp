// The workload engine, unchanged, over the virtio-blk driver and
// qemu-storage-daemon: verified random writes then verified reads, two jobs
// on two queues.
#include <gtest/gtest.h>

#include "frontend/workload/job_runner.hpp"
#include "qsd_fixture.hpp"

namespace pvsim::test {
namespace {

using frontend::workload::JobOptions;
using frontend::workload::RwMode;

TEST_F(QsdTest, VerifiedWorkloadRunsOverTwoQueues) {
    start(QsdOptions{.num_queues = 2});
    auto device = open(frontend::virtio_blk::VirtioBlkOptions{.num_queues = 2});
    ASSERT_EQ(device->queue_count(), 2u);
    frontend::workload::WrittenBlocks written;
    JobOptions options;
    options.rw = RwMode::randwrite;
    options.bs = 16384;
    options.iodepth = 32;
    options.numjobs = 2;
    options.size = 4 << 20;
    options.verify = true;
    const std::size_t free_pages = memory_->free_pages();
    const auto writes = frontend::workload::run_job(*device, *memory_, written, options);
    ASSERT_TRUE(writes.ok()) << writes.error;
    ASSERT_EQ(writes.jobs.size(), 2u);
    EXPECT_EQ(writes.jobs[0].write.total_ios, (4u << 20) / 16384);
    EXPECT_EQ(writes.jobs[0].verify.blocks_checked, (4u << 20) / 16384);

    options.rw = RwMode::randread;
    options.bs = 4096;
    const auto reads = frontend::workload::run_job(*device, *memory_, written, options);
    ASSERT_TRUE(reads.ok()) << reads.error;
    EXPECT_EQ(reads.jobs[1].read.total_ios, (4u << 20) / 4096);
    EXPECT_EQ(reads.jobs[1].verify.blocks_unwritten, 0u);
    EXPECT_EQ(memory_->free_pages(), free_pages);

    const auto counters = device->counters();
    EXPECT_EQ(counters.queues, 2u);
    EXPECT_EQ(counters.data_copies, 0u);
    EXPECT_EQ(device->error(), "");
}

}  // namespace
}  // namespace pvsim::test
