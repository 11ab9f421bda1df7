// --verify=crc32c through run_job: good data passes; corruption, lost,
// stale and misdirected writes fail naming the block's offset, in the same
// run or a later one; never-written blocks need only be readable.
#include <cerrno>
#include <optional>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "workload_fixture.hpp"

namespace pvsim::frontend::workload {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// Drops, fails or redirects the first write to one offset, once.
test::MemoryDisk::FaultRule once_at(std::uint64_t offset, test::MemoryDisk::Fault fault) {
    auto done = std::make_shared<bool>(false);
    return [=](BlockOperation operation, std::uint64_t at) {
        if (operation != BlockOperation::write || at != offset || *done) {
            return test::MemoryDisk::Fault::none();
        }
        *done = true;
        return fault;
    };
}

TEST_F(WorkloadTest, VerifiedWritesReadBackAndReadAgainInALaterRun) {
    const RunResult written = run(options(RwMode::randwrite, 8, true));
    ASSERT_TRUE(written.ok()) << written.error;
    EXPECT_EQ(written.jobs[0].write.total_ios, kBlocks);
    // The read-back is the write job's reads, as fio 3.33 reports a write
    // job with verify=crc32c (its jobs[].read: total_ios 256 of 256 writes).
    EXPECT_EQ(written.jobs[0].read.total_ios, kBlocks);
    EXPECT_TRUE(written.jobs[0].verify.read_back);
    EXPECT_EQ(written.jobs[0].verify.blocks_checked, kBlocks);
    EXPECT_EQ(offsets(disk_.take_log(), BlockOperation::read).size(), kBlocks);
    EXPECT_EQ(written_.known_bytes(), kDiskBytes);

    const RunResult read = run(options(RwMode::read, 4, true));
    ASSERT_TRUE(read.ok()) << read.error;
    EXPECT_EQ(read.jobs[0].read.total_ios, kBlocks);
    EXPECT_EQ(read.jobs[0].verify.blocks_checked, kBlocks);
    EXPECT_EQ(read.jobs[0].verify.blocks_unwritten, 0u);

    // Another block size reads sub-ranges and spans of the blocks written.
    JobOptions big = options(RwMode::randread, 4, true);
    big.bs = 16384;
    EXPECT_TRUE(run(big).ok());
    JobOptions small = options(RwMode::randread, 4, true);
    small.bs = 512;
    EXPECT_TRUE(run(small).ok());
    EXPECT_EQ(memory_->free_pages(), free_pages_before_);
}

TEST_F(WorkloadTest, MixedVerifiedWorkloadsCheckTheirOwnWrites) {
    JobOptions o = options(RwMode::randrw, 8, true);
    o.io_size = 6 * kDiskBytes;
    const RunResult result = run(o);
    ASSERT_TRUE(result.ok()) << result.error;
    EXPECT_GT(result.jobs[0].verify.blocks_checked, 0u);
    EXPECT_EQ(result.jobs[0].verify.blocks_checked + result.jobs[0].verify.blocks_unwritten,
              result.jobs[0].read.total_ios);
}

TEST_F(WorkloadTest, ACorruptedByteFailsNamingItsBlock) {
    ASSERT_TRUE(run(options(RwMode::write, 4, true)).ok());
    disk_.flip_byte(5 * kBs + 100);
    const RunResult result = run(options(RwMode::randread, 4, true));
    EXPECT_FALSE(result.ok());
    EXPECT_THAT(result.error, StartsWith("verify: offset 0x5000 (20480): crc32c "));
    EXPECT_THAT(result.error, HasSubstr("(corrupted)"));
    EXPECT_EQ(memory_->free_pages(), free_pages_before_);
}

TEST_F(WorkloadTest, ADroppedWriteIsCaughtByTheWriteJobsReadBack) {
    disk_.set_fault(once_at(9 * kBs, test::MemoryDisk::Fault::dropped()));
    const RunResult result = run(options(RwMode::randwrite, 4, true));
    EXPECT_FALSE(result.ok());
    // Nothing was ever written there: no header at all.
    EXPECT_THAT(result.error, StartsWith("verify: offset 0x9000 (36864): no verify header"));
}

TEST_F(WorkloadTest, ALostWriteIsCaughtAsStaleDataInALaterRun) {
    ASSERT_TRUE(run(options(RwMode::write, 4, true)).ok());
    const auto first = written_.lookup(12 * kBs, kBs).at(0).block.generation;
    disk_.set_fault(once_at(12 * kBs, test::MemoryDisk::Fault::dropped()));
    // A mixed job with no reads writes without a read-back of its own.
    JobOptions o = options(RwMode::randrw, 4, true);
    o.rwmixread = 0;
    ASSERT_TRUE(run(o).ok());
    const auto second = written_.lookup(12 * kBs, kBs).at(0).block.generation;
    ASSERT_GT(second, first);

    JobOptions later = options(RwMode::read, 2, true);
    later.bs = 8192;
    const RunResult result = run(later);
    EXPECT_FALSE(result.ok());
    EXPECT_EQ(result.error, fmt::format("verify: offset 0xc000 (49152): generation {} found, {} "
                                        "expected (stale data)",
                                        first, second));
}

TEST_F(WorkloadTest, AStaleBlockFailsNamingItsOffset) {
    ASSERT_TRUE(run(options(RwMode::write, 4, true)).ok());
    const auto old_block = disk_.read_raw(7 * kBs, kBs);
    ASSERT_TRUE(run(options(RwMode::randwrite, 4, true)).ok());
    disk_.write_raw(7 * kBs, old_block);
    const RunResult result = run(options(RwMode::randread, 8, true));
    EXPECT_FALSE(result.ok());
    EXPECT_THAT(result.error, StartsWith("verify: offset 0x7000 (28672): generation "));
    EXPECT_THAT(result.error, HasSubstr("(stale data)"));
}

TEST_F(WorkloadTest, ABlockWrittenAtTheWrongOffsetFailsNamingWhereItWasFound) {
    ASSERT_TRUE(run(options(RwMode::write, 1, true)).ok());
    // The second pass's write of block 9 lands on block 3.
    disk_.set_fault(once_at(9 * kBs, test::MemoryDisk::Fault::redirected(3 * kBs)));
    const RunResult result = run(options(RwMode::write, 1, true));
    EXPECT_FALSE(result.ok());
    EXPECT_EQ(result.error,
              "verify: offset 0x3000 (12288): the block of offset 0x9000 (36864) found "
              "(misdirected write)");
}

TEST_F(WorkloadTest, NeverWrittenBlocksNeedOnlyBeReadable) {
    std::vector<std::byte> garbage(kDiskBytes);
    for (std::size_t i = 0; i < garbage.size(); ++i) {
        garbage[i] = static_cast<std::byte>(i * 7 + 3);
    }
    disk_.write_raw(0, garbage);
    JobOptions half = options(RwMode::randwrite, 4, true);
    half.size = kDiskBytes / 2;
    ASSERT_TRUE(run(half).ok());
    const RunResult result = run(options(RwMode::randread, 4, true));
    ASSERT_TRUE(result.ok()) << result.error;
    EXPECT_EQ(result.jobs[0].verify.blocks_checked, kBlocks / 2);
    EXPECT_EQ(result.jobs[0].verify.blocks_unwritten, kBlocks / 2);
}

TEST_F(WorkloadTest, AFailedWriteMakesItsRangeUnknown) {
    ASSERT_TRUE(run(options(RwMode::write, 4, true)).ok());
    disk_.set_fault(once_at(6 * kBs, test::MemoryDisk::Fault::error(-EIO)));
    const RunResult failed = run(options(RwMode::write, 1, true));
    EXPECT_EQ(failed.error, "write at offset 0x6000 (24576): Input/output error (-EIO)");
    EXPECT_TRUE(written_.lookup(6 * kBs, kBs).empty());
    EXPECT_EQ(memory_->free_pages(), free_pages_before_);

    // Whatever is there now is only required to be readable.
    disk_.flip_byte(6 * kBs + 10);
    const RunResult read = run(options(RwMode::read, 4, true));
    ASSERT_TRUE(read.ok()) << read.error;
    EXPECT_EQ(read.jobs[0].verify.blocks_unwritten, 1u);
    EXPECT_EQ(read.jobs[0].verify.blocks_checked, kBlocks - 1);
}

TEST_F(WorkloadTest, AWriteWithoutVerifyMakesItsRangeUnknown) {
    ASSERT_TRUE(run(options(RwMode::write, 4, true)).ok());
    JobOptions plain = options(RwMode::write, 4);
    plain.size = 4 * kBs;
    ASSERT_TRUE(run(plain).ok());
    const RunResult read = run(options(RwMode::read, 4, true));
    ASSERT_TRUE(read.ok()) << read.error;
    EXPECT_EQ(read.jobs[0].verify.blocks_unwritten, 4u);
}

TEST_F(WorkloadTest, ReadsWithoutVerifyCheckNothing) {
    ASSERT_TRUE(run(options(RwMode::write, 4, true)).ok());
    disk_.flip_byte(100);
    const RunResult read = run(options(RwMode::read, 4));
    ASSERT_TRUE(read.ok()) << read.error;
    EXPECT_EQ(read.jobs[0].verify.blocks_checked, 0u);
}

}  // namespace
}  // namespace pvsim::frontend::workload
