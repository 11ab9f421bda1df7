// run_job over an in-memory BlockDevice: orders, stop conditions, queue
// depth, jobs, errors, progress, cancel, and guest pages.
#include <cerrno>
#include <chrono>
#include <map>
#include <set>
#include <stdexcept>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "workload_fixture.hpp"

namespace pvsim::frontend::workload {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::StartsWith;

TEST_F(WorkloadTest, SequentialReadCoversTheDeviceOnceInOrder) {
    const RunResult result = run(options(RwMode::read));
    ASSERT_TRUE(result.ok()) << result.error;
    ASSERT_EQ(result.jobs.size(), 1u);
    const JobResult& job = result.jobs[0];
    EXPECT_EQ(job.name, "pvsim");
    EXPECT_EQ(job.read.total_ios, kBlocks);
    EXPECT_EQ(job.read.io_bytes, kDiskBytes);
    EXPECT_EQ(job.write.total_ios, 0u);
    const auto log = disk_.take_log();
    ASSERT_EQ(log.size(), kBlocks);
    for (std::uint64_t i = 0; i < kBlocks; ++i) {
        EXPECT_EQ(log[i].offset, i * kBs);
        EXPECT_EQ(log[i].length, kBs);
    }
    EXPECT_EQ(memory_->free_pages(), free_pages_before_);
}

TEST_F(WorkloadTest, SequentialWrapsAtTheEndOfItsRegion) {
    JobOptions o = options(RwMode::write);
    o.offset = 64 * 1024;
    o.size = 3 * kBs;
    o.io_size = 7 * kBs;
    const RunResult result = run(o);
    ASSERT_TRUE(result.ok()) << result.error;
    EXPECT_EQ(result.jobs[0].write.total_ios, 7u);
    const std::uint64_t s = 64 * 1024;
    EXPECT_EQ(offsets(disk_.take_log(), BlockOperation::write),
              (std::vector<std::uint64_t>{s, s + kBs, s + 2 * kBs, s, s + kBs, s + 2 * kBs, s}));
}

TEST_F(WorkloadTest, RandomVisitsEveryBlockOncePerPassAndDependsOnTheSeed) {
    JobOptions o = options(RwMode::randread, 4);
    o.io_size = 2 * kDiskBytes;
    ASSERT_TRUE(run(o).ok());
    const auto first = offsets(disk_.take_log(), BlockOperation::read);
    ASSERT_EQ(first.size(), 2 * kBlocks);
    for (int pass = 0; pass < 2; ++pass) {
        const std::set<std::uint64_t> visited(first.begin() + pass * kBlocks,
                                              first.begin() + (pass + 1) * kBlocks);
        EXPECT_EQ(visited.size(), kBlocks) << "pass " << pass;
    }
    EXPECT_NE(std::vector(first.begin(), first.begin() + kBlocks),
              std::vector(first.begin() + kBlocks, first.end()));

    ASSERT_TRUE(run(o).ok());
    EXPECT_EQ(offsets(disk_.take_log(), BlockOperation::read), first);
    o.seed = 1234;
    ASSERT_TRUE(run(o).ok());
    EXPECT_NE(offsets(disk_.take_log(), BlockOperation::read), first);
}

TEST_F(WorkloadTest, IodepthIsReachedAndNeverExceeded) {
    disk_.set_delay(200us);
    JobOptions o = options(RwMode::randread, 16);
    const RunResult result = run(o);
    ASSERT_TRUE(result.ok()) << result.error;
    EXPECT_EQ(disk_.max_in_flight(), 16u);
    EXPECT_EQ(disk_.overlaps(), 0u);
    EXPECT_EQ(result.jobs[0].read.total_ios, kBlocks);
    // The first batch went in one submit, then one per completion at most.
    EXPECT_LE(disk_.batches(), kBlocks - 16 + 1);
}

TEST_F(WorkloadTest, InFlightRequestsOfAJobNeverOverlapEvenWhenTheRegionIsSmall) {
    disk_.set_delay(50us);
    for (const RwMode rw : {RwMode::read, RwMode::randrw}) {
        JobOptions o = options(rw, 8);
        o.size = 3 * kBs;
        o.io_size = 60 * kBs;
        const RunResult result = run(o);
        ASSERT_TRUE(result.ok()) << result.error;
        EXPECT_EQ(result.jobs[0].read.total_ios + result.jobs[0].write.total_ios, 60u);
        EXPECT_EQ(disk_.overlaps(), 0u);
        EXPECT_LE(disk_.max_in_flight(), 3u);
    }
}

TEST_F(WorkloadTest, IoSizeStopsAJobBeforeItsRuntime) {
    JobOptions o = options(RwMode::randwrite, 4);
    o.io_size = 10 * kBs;
    o.runtime = 30s;
    const auto started = std::chrono::steady_clock::now();
    const RunResult result = run(o);
    ASSERT_TRUE(result.ok()) << result.error;
    EXPECT_EQ(result.jobs[0].write.total_ios, 10u);
    EXPECT_EQ(result.jobs[0].write.io_bytes, 10 * kBs);
    EXPECT_LT(std::chrono::steady_clock::now() - started, 10s);
}

TEST_F(WorkloadTest, RuntimeStopsATimeBasedJob) {
    disk_.set_delay(1ms);
    JobOptions o = options(RwMode::read, 2);
    o.runtime = 150ms;
    const auto started = std::chrono::steady_clock::now();
    const RunResult result = run(o);
    const auto took = std::chrono::steady_clock::now() - started;
    ASSERT_TRUE(result.ok()) << result.error;
    EXPECT_GE(took, 150ms);
    EXPECT_LT(took, 5s);
    EXPECT_GT(result.jobs[0].read.total_ios, 0u);
    EXPECT_GE(result.jobs[0].read.runtime_ms, 150u);
    EXPECT_GE(result.elapsed_ms, 150u);
}

// fio's startdelay: nothing reaches the device before it has passed, and
// the runtime counts from the start, so a time-based job runs it whole
// after the delay (were it counted from the call, the run would end with
// the delay, 200 ms in).
TEST_F(WorkloadTest, AStartDelayHoldsEveryRequestBackAndLeavesTheRuntimeWhole) {
    JobOptions o = options(RwMode::read, 2);
    o.runtime = 100ms;
    o.startdelay = 200ms;
    const auto started = std::chrono::steady_clock::now();
    const RunResult result = run(o);
    const auto took = std::chrono::steady_clock::now() - started;
    ASSERT_TRUE(result.ok()) << result.error;
    EXPECT_GE(disk_.first_submit() - started, 200ms);
    EXPECT_GE(took, 300ms);
    EXPECT_GE(result.jobs[0].read.runtime_ms, 100u);
    EXPECT_GT(result.jobs[0].read.total_ios, 0u);
}

// A cancel during the delay ends the wait: the job starts cancelled and
// issues nothing.
TEST_F(WorkloadTest, ACancelDuringTheStartDelayEndsTheRunWithNothingIssued) {
    std::atomic<bool> cancel{true};
    RunControl control;
    control.cancel = &cancel;
    JobOptions o = options(RwMode::read, 2);
    o.runtime = 1s;
    o.startdelay = 60s;
    const auto started = std::chrono::steady_clock::now();
    const RunResult result = run(o, control);
    EXPECT_LT(std::chrono::steady_clock::now() - started, 10s);
    EXPECT_EQ(result.error, "cancelled");
    EXPECT_TRUE(disk_.take_log().empty());
    EXPECT_EQ(memory_->free_pages(), free_pages_before_);
}

TEST_F(WorkloadTest, ATimeBasedJobLoopsOverItsRegion) {
    JobOptions o = options(RwMode::read, 4);
    o.size = 4 * kBs;
    o.runtime = 100ms;
    const RunResult result = run(o);
    ASSERT_TRUE(result.ok()) << result.error;
    EXPECT_GT(result.jobs[0].read.total_ios, 8u);
}

TEST_F(WorkloadTest, RuntimeStopsAJobBeforeItsIoSize) {
    disk_.set_delay(1ms);
    JobOptions o = options(RwMode::write);
    o.io_size = 1000 * kDiskBytes;
    o.runtime = 100ms;
    const RunResult result = run(o);
    ASSERT_TRUE(result.ok()) << result.error;
    EXPECT_LT(result.jobs[0].write.total_ios, 1000 * kBlocks);
    EXPECT_GT(result.jobs[0].write.total_ios, 0u);
}

TEST_F(WorkloadTest, JobsRunAtOnceOverDisjointRegions) {
    disk_.set_delay(100us);
    JobOptions o = options(RwMode::randwrite, 4, true);
    o.numjobs = 4;
    o.offset = 8 * kBs;
    const RunResult result = run(o);
    ASSERT_TRUE(result.ok()) << result.error;
    ASSERT_EQ(result.jobs.size(), 4u);
    const std::uint64_t size = (kDiskBytes - 8 * kBs) / 4;
    std::map<std::uint32_t, std::set<std::uint64_t>> by_job;
    for (const std::uint64_t offset : offsets(disk_.take_log(), BlockOperation::write)) {
        ASSERT_GE(offset, 8 * kBs);
        by_job[static_cast<std::uint32_t>((offset - 8 * kBs) / size)].insert(offset);
    }
    for (std::uint32_t j = 0; j < 4; ++j) {
        EXPECT_EQ(result.jobs[j].jobnum, j);
        EXPECT_EQ(result.jobs[j].write.total_ios, size / kBs);
        EXPECT_EQ(result.jobs[j].verify.blocks_checked, size / kBs);
        EXPECT_EQ(by_job[j].size(), size / kBs);
    }
    // All four at once: more than one job's depth was in flight.
    EXPECT_GT(disk_.max_in_flight(), 4u);
    EXPECT_LE(disk_.max_in_flight(), 16u);
    EXPECT_EQ(disk_.overlaps(), 0u);
}

TEST_F(WorkloadTest, MixedModesFollowRwmixread) {
    JobOptions o = options(RwMode::randrw, 8);
    o.rwmixread = 75;
    o.io_size = 8 * kDiskBytes;
    const RunResult result = run(o);
    ASSERT_TRUE(result.ok()) << result.error;
    const double reads = static_cast<double>(result.jobs[0].read.total_ios);
    const double total = reads + static_cast<double>(result.jobs[0].write.total_ios);
    EXPECT_EQ(total, 8.0 * kBlocks);
    EXPECT_NEAR(reads / total, 0.75, 0.03);
    o.rwmixread = 0;
    const RunResult writes_only = run(o);
    EXPECT_EQ(writes_only.jobs[0].read.total_ios, 0u);
}

TEST_F(WorkloadTest, AnIoErrorFailsTheJobNamingTheOffsetAndFreesEveryPage) {
    disk_.set_fault([](BlockOperation operation, std::uint64_t offset) {
        return test::MemoryDisk::Fault::error(
            operation == BlockOperation::read && offset == 0x7000 ? -EIO : 0);
    });
    const RunResult result = run(options(RwMode::read, 8));
    EXPECT_FALSE(result.ok());
    EXPECT_EQ(result.error, "read at offset 0x7000 (28672): Input/output error (-EIO)");
    EXPECT_EQ(result.jobs[0].error, result.error);
    EXPECT_LT(result.jobs[0].read.total_ios, kBlocks);
    EXPECT_EQ(memory_->free_pages(), free_pages_before_);
}

TEST_F(WorkloadTest, BadOptionsThrowBeforeAnyIo) {
    JobOptions o = options(RwMode::read);
    o.bs = 1000;
    EXPECT_THROW(run(o), std::invalid_argument);
    o = options(RwMode::read);
    o.size = 2 * kDiskBytes;
    EXPECT_THROW(run(o), std::invalid_argument);
    EXPECT_TRUE(disk_.take_log().empty());
    EXPECT_EQ(memory_->free_pages(), free_pages_before_);
}

TEST_F(WorkloadTest, AReadOnlyDeviceRefusesAWriteJobAndServesReads) {
    test::MemoryDisk read_only(*memory_, kDiskBytes, true);
    for (const RwMode rw : {RwMode::write, RwMode::randwrite, RwMode::rw, RwMode::randrw}) {
        try {
            run_job(read_only, *memory_, written_, options(rw));
            FAIL() << "a write job ran on a read-only device";
        } catch (const std::invalid_argument& e) {
            EXPECT_THAT(e.what(), HasSubstr("read-only"));
        }
    }
    EXPECT_TRUE(read_only.take_log().empty());
    EXPECT_TRUE(run_job(read_only, *memory_, written_, options(RwMode::randread)).ok());
}

TEST_F(WorkloadTest, ShortGuestMemorySaysHowMuchAndLeavesNothingAllocated) {
    JobOptions o = options(RwMode::read, 64);
    o.bs = 64 * 1024;  // 64 buffers of 16 pages: more than the guest has
    try {
        run(o);
        FAIL() << "ran without the memory";
    } catch (const std::runtime_error& e) {
        EXPECT_THAT(e.what(), HasSubstr("short of memory"));
        EXPECT_THAT(e.what(), HasSubstr("need 256 pages (1 MiB)"));
    }
    EXPECT_EQ(memory_->free_pages(), free_pages_before_);
}

TEST_F(WorkloadTest, ProgressIsReportedWhileItRuns) {
    disk_.set_delay(1ms);
    JobOptions o = options(RwMode::read, 1);
    o.runtime = 200ms;
    std::vector<Progress> seen;
    RunControl control;
    control.progress_interval = 20ms;
    control.on_progress = [&seen](const Progress& p) { seen.push_back(p); };
    const RunResult result = run(o, control);
    ASSERT_TRUE(result.ok());
    ASSERT_GE(seen.size(), 3u);
    for (std::size_t i = 1; i < seen.size(); ++i) {
        EXPECT_GT(seen[i].elapsed, seen[i - 1].elapsed);
        EXPECT_GE(seen[i].ios, seen[i - 1].ios);
    }
    EXPECT_GT(seen.back().ios, 0u);
    EXPECT_EQ(seen.back().ios, seen.back().read_ios);
    EXPECT_EQ(seen.back().bytes, seen.back().ios * kBs);
    EXPECT_LE(seen.back().ios, result.jobs[0].read.total_ios);
}

TEST_F(WorkloadTest, CancelStopsIssuingDrainsAndFails) {
    disk_.set_delay(1ms);
    std::atomic<bool> cancel{false};
    RunControl control;
    control.cancel = &cancel;
    control.progress_interval = 20ms;
    control.on_progress = [&cancel](const Progress&) { cancel = true; };
    JobOptions o = options(RwMode::randwrite, 4);
    o.runtime = 60s;
    const auto started = std::chrono::steady_clock::now();
    const RunResult result = run(o, control);
    EXPECT_LT(std::chrono::steady_clock::now() - started, 10s);
    EXPECT_EQ(result.error, "cancelled");
    EXPECT_EQ(disk_.in_flight(), 0u);
    EXPECT_EQ(memory_->free_pages(), free_pages_before_);
}

}  // namespace
}  // namespace pvsim::frontend::workload
