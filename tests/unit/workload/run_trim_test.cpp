// fio's trim modes through run_job (rw=trim, randtrim, trimwrite): what they
// issue, what a verify remembers of a trimmed block (zeros, until a later
// write), how a lost discard is caught, and a device without discard.
#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <memory>
#include <set>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/units.hpp"
#include "frontend/workload/result_json.hpp"
#include "workload_fixture.hpp"

namespace pvsim::frontend::workload {
namespace {

using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// WorkloadTest's block size (kBs), for the helpers outside the fixture.
constexpr std::uint64_t kBlock = 4096;
constexpr std::uint64_t kTrimStart = 16 * kBlock;
constexpr std::uint64_t kTrimBlocks = 32;

bool all_zero(const std::vector<std::byte>& bytes) {
    return std::all_of(bytes.begin(), bytes.end(), [](std::byte b) { return b == std::byte{0}; });
}

// The trim job of these tests: kTrimBlocks blocks from kTrimStart.
JobOptions trim_job(RwMode rw, bool verify) {
    JobOptions o;
    o.rw = rw;
    o.iodepth = 4;
    o.verify = verify;
    o.offset = kTrimStart;
    o.size = kTrimBlocks * kBlock;
    return o;
}

// Drops the first discard at one offset, once: it reports success and
// changes nothing.
test::MemoryDisk::FaultRule drop_discard_at(std::uint64_t offset) {
    auto done = std::make_shared<bool>(false);
    return [=](BlockOperation operation, std::uint64_t at) {
        if (operation != BlockOperation::discard || at != offset || *done) {
            return test::MemoryDisk::Fault::none();
        }
        *done = true;
        return test::MemoryDisk::Fault::dropped();
    };
}

TEST(RwMode, TrimModesAreFios) {
    EXPECT_EQ(parse_rw("trim"), RwMode::trim);
    EXPECT_EQ(parse_rw("randtrim"), RwMode::randtrim);
    EXPECT_EQ(parse_rw("trimwrite"), RwMode::trimwrite);
    for (const RwMode mode : {RwMode::trim, RwMode::randtrim, RwMode::trimwrite}) {
        EXPECT_EQ(parse_rw(to_string(mode)), mode);
        EXPECT_TRUE(does_trim(mode));
        EXPECT_FALSE(does_read(mode));
    }
    EXPECT_FALSE(does_write(RwMode::trim));
    EXPECT_FALSE(does_write(RwMode::randtrim));
    EXPECT_TRUE(does_write(RwMode::trimwrite));
    EXPECT_TRUE(is_random(RwMode::randtrim));
    EXPECT_FALSE(is_random(RwMode::trim));
    EXPECT_FALSE(is_random(RwMode::trimwrite));
    for (const RwMode mode : {RwMode::read, RwMode::write, RwMode::randread, RwMode::randwrite,
                              RwMode::rw, RwMode::randrw}) {
        EXPECT_FALSE(does_trim(mode));
    }
    try {
        parse_rw("discard");
        FAIL() << "accepted";
    } catch (const ParseError& e) {
        EXPECT_THAT(e.what(), HasSubstr("randtrim"));
        EXPECT_THAT(e.what(), HasSubstr("trimwrite"));
    }
}

TEST_F(WorkloadTest, SequentialTrimDiscardsEachBlockOnceInOrder) {
    const RunResult result = run(trim_job(RwMode::trim, false));
    ASSERT_TRUE(result.ok()) << result.error;
    const JobResult& job = result.jobs[0];
    EXPECT_EQ(job.trim.total_ios, kTrimBlocks);
    EXPECT_EQ(job.trim.io_bytes, kTrimBlocks * kBs);
    EXPECT_EQ(job.read.total_ios, 0u);
    EXPECT_EQ(job.write.total_ios, 0u);
    const auto log = disk_.take_log();
    ASSERT_EQ(log.size(), kTrimBlocks);
    for (std::uint64_t i = 0; i < kTrimBlocks; ++i) {
        EXPECT_EQ(log[i].operation, BlockOperation::discard);
        EXPECT_EQ(log[i].offset, kTrimStart + i * kBs);
        EXPECT_EQ(log[i].length, kBs);
    }
    EXPECT_EQ(disk_.overlaps(), 0u);
    EXPECT_EQ(memory_->free_pages(), free_pages_before_);
}

TEST_F(WorkloadTest, RandomTrimVisitsEveryBlockOnceOutOfOrder) {
    const RunResult result = run(trim_job(RwMode::randtrim, false));
    ASSERT_TRUE(result.ok()) << result.error;
    const std::vector<std::uint64_t> trimmed = offsets(disk_.take_log(), BlockOperation::discard);
    ASSERT_EQ(trimmed.size(), kTrimBlocks);
    EXPECT_EQ(std::set<std::uint64_t>(trimmed.begin(), trimmed.end()).size(), kTrimBlocks);
    EXPECT_FALSE(std::is_sorted(trimmed.begin(), trimmed.end()));
    EXPECT_EQ(*std::min_element(trimmed.begin(), trimmed.end()), kTrimStart);
    EXPECT_EQ(*std::max_element(trimmed.begin(), trimmed.end()),
              kTrimStart + (kTrimBlocks - 1) * kBs);
}

TEST_F(WorkloadTest, TrimmedBlocksReadBackAsZerosAndTheRestStillVerifies) {
    ASSERT_TRUE(run(options(RwMode::randwrite, 8, true)).ok());

    const RunResult trimmed = run(trim_job(RwMode::randtrim, true));
    ASSERT_TRUE(trimmed.ok()) << trimmed.error;
    EXPECT_EQ(trimmed.jobs[0].trim.total_ios, kTrimBlocks);
    // The trim job reads back what it trimmed, as a write job does: its
    // reads.
    EXPECT_EQ(trimmed.jobs[0].read.total_ios, kTrimBlocks);
    EXPECT_EQ(trimmed.jobs[0].verify.blocks_checked, kTrimBlocks);
    EXPECT_TRUE(all_zero(disk_.read_raw(kTrimStart, kTrimBlocks * kBs)));
    EXPECT_FALSE(all_zero(disk_.read_raw(kTrimStart - kBs, kBs)));
    const auto pieces = written_.lookup(kTrimStart, kTrimBlocks * kBs);
    ASSERT_EQ(pieces.size(), kTrimBlocks);
    for (const auto& piece : pieces) {
        EXPECT_TRUE(piece.block.zeros);
    }
    EXPECT_EQ(written_.known_bytes(), kDiskBytes);

    // A later verified read checks every block: zeros where trimmed, the
    // written data around them; also in sub-ranges and spans of blocks.
    const RunResult read = run(options(RwMode::read, 4, true));
    ASSERT_TRUE(read.ok()) << read.error;
    EXPECT_EQ(read.jobs[0].verify.blocks_checked, kBlocks);
    EXPECT_EQ(read.jobs[0].verify.blocks_unwritten, 0u);
    for (const std::uint64_t bs : {512u, 16384u}) {
        JobOptions o = options(RwMode::randread, 4, true);
        o.bs = bs;
        const RunResult other = run(o);
        EXPECT_TRUE(other.ok()) << bs << ": " << other.error;
    }
    EXPECT_EQ(memory_->free_pages(), free_pages_before_);
}

TEST_F(WorkloadTest, ALaterWriteReplacesTheZerosExpected) {
    ASSERT_TRUE(run(options(RwMode::write, 4, true)).ok());
    ASSERT_TRUE(run(trim_job(RwMode::trim, true)).ok());
    JobOptions rewrite = options(RwMode::randwrite, 4, true);
    rewrite.offset = kTrimStart;
    rewrite.size = 8 * kBs;
    ASSERT_TRUE(run(rewrite).ok());
    EXPECT_FALSE(written_.lookup(kTrimStart, kBs).at(0).block.zeros);
    EXPECT_TRUE(written_.lookup(kTrimStart + 8 * kBs, kBs).at(0).block.zeros);

    const RunResult read = run(options(RwMode::read, 4, true));
    ASSERT_TRUE(read.ok()) << read.error;
    EXPECT_EQ(read.jobs[0].verify.blocks_checked, kBlocks);

    // Trimmed data that comes back is caught: the rewritten block where
    // zeros are expected again.
    const auto rewritten = disk_.read_raw(kTrimStart, kBs);
    ASSERT_TRUE(run(trim_job(RwMode::trim, true)).ok());
    const auto trim_generation = written_.lookup(kTrimStart, kBs).at(0).block.generation;
    disk_.write_raw(kTrimStart, rewritten);
    const RunResult stale = run(options(RwMode::read, 4, true));
    EXPECT_FALSE(stale.ok());
    EXPECT_THAT(stale.error,
                StartsWith("verify: offset 0x10000 (65536): the block of generation "));
    EXPECT_THAT(stale.error,
                HasSubstr(fmt::format("found, zeros expected (trimmed at generation {}: the "
                                      "discard was lost)",
                                      trim_generation)));
}

TEST_F(WorkloadTest, ALostDiscardIsCaughtByTheTrimJobsReadBack) {
    ASSERT_TRUE(run(options(RwMode::write, 4, true)).ok());
    disk_.set_fault(drop_discard_at(kTrimStart + 5 * kBs));
    const RunResult result = run(trim_job(RwMode::randtrim, true));
    EXPECT_FALSE(result.ok());
    EXPECT_THAT(result.error,
                StartsWith("verify: offset 0x15000 (86016): the block of generation "));
    EXPECT_THAT(result.error, HasSubstr("the discard was lost"));
    EXPECT_EQ(memory_->free_pages(), free_pages_before_);
}

TEST_F(WorkloadTest, ANonZeroByteInATrimmedBlockFailsNamingIt) {
    ASSERT_TRUE(run(trim_job(RwMode::trim, true)).ok());
    const auto generation = written_.lookup(kTrimStart + 3 * kBs, kBs).at(0).block.generation;
    disk_.flip_byte(kTrimStart + 3 * kBs + 100);
    const RunResult result = run(options(RwMode::read, 4, true));
    EXPECT_FALSE(result.ok());
    EXPECT_EQ(result.error,
              fmt::format("verify: offset 0x13000 (77824): byte at 0x13064 (77924) is 0x5a, 0x00 "
                          "expected (trimmed at generation {}: zeros expected)",
                          generation));
}

TEST_F(WorkloadTest, TrimwriteTrimsEachBlockThenWritesIt) {
    JobOptions o = trim_job(RwMode::trimwrite, true);
    const RunResult result = run(o);
    ASSERT_TRUE(result.ok()) << result.error;
    const JobResult& job = result.jobs[0];
    EXPECT_EQ(job.trim.total_ios, kTrimBlocks);
    EXPECT_EQ(job.write.total_ios, kTrimBlocks);
    EXPECT_EQ(job.verify.blocks_checked, kTrimBlocks);

    // Every block: its trim, then its write (never both in flight); blocks
    // in sequence.
    const auto log = disk_.take_log();
    std::vector<std::uint64_t> trims, writes;
    for (std::size_t i = 0; i < log.size(); ++i) {
        if (log[i].operation == BlockOperation::discard) {
            trims.push_back(log[i].offset);
        } else if (log[i].operation == BlockOperation::write) {
            writes.push_back(log[i].offset);
            const auto trim = std::find_if(
                log.begin(), log.begin() + static_cast<std::ptrdiff_t>(i),
                [&](const test::MemoryDisk::Io& io) {
                    return io.operation == BlockOperation::discard && io.offset == log[i].offset;
                });
            EXPECT_NE(trim, log.begin() + static_cast<std::ptrdiff_t>(i)) << log[i].offset;
        }
    }
    ASSERT_EQ(trims.size(), kTrimBlocks);
    ASSERT_EQ(writes.size(), kTrimBlocks);
    for (std::uint64_t i = 0; i < kTrimBlocks; ++i) {
        EXPECT_EQ(trims[i], kTrimStart + i * kBs);
    }
    EXPECT_EQ(disk_.overlaps(), 0u);
    for (const auto& piece : written_.lookup(kTrimStart, kTrimBlocks * kBs)) {
        EXPECT_FALSE(piece.block.zeros);
    }
    const RunResult read = run(options(RwMode::read, 4, true));
    ASSERT_TRUE(read.ok()) << read.error;
    EXPECT_EQ(read.jobs[0].verify.blocks_checked, kTrimBlocks);
    EXPECT_EQ(read.jobs[0].verify.blocks_unwritten, kBlocks - kTrimBlocks);
    EXPECT_EQ(memory_->free_pages(), free_pages_before_);
}

TEST_F(WorkloadTest, IoSizeCountsATrimwriteBlockOnce) {
    JobOptions o = trim_job(RwMode::trimwrite, false);
    o.io_size = 2 * kTrimBlocks * kBs;
    const RunResult result = run(o);
    ASSERT_TRUE(result.ok()) << result.error;
    EXPECT_EQ(result.jobs[0].trim.total_ios, 2 * kTrimBlocks);
    EXPECT_EQ(result.jobs[0].write.total_ios, 2 * kTrimBlocks);
    EXPECT_EQ(disk_.overlaps(), 0u);
}

TEST_F(WorkloadTest, ADeviceWithoutDiscardFailsTheTrimJobAndKeepsItsData) {
    ASSERT_TRUE(run(options(RwMode::write, 4, true)).ok());
    const auto before = disk_.snapshot();
    disk_.set_discard(false);
    for (const RwMode mode : {RwMode::trim, RwMode::randtrim, RwMode::trimwrite}) {
        const RunResult result = run(trim_job(mode, true));
        EXPECT_FALSE(result.ok()) << to_string(mode);
        EXPECT_THAT(result.error, StartsWith("trim at offset 0x")) << to_string(mode);
        EXPECT_THAT(result.error, EndsWith("): Operation not supported (-EOPNOTSUPP): the device "
                                           "does not support discard"))
            << to_string(mode);
        EXPECT_EQ(result.jobs[0].trim.total_ios, 0u);
        EXPECT_EQ(result.jobs[0].write.total_ios, 0u);
        // fio's error is the errno: EOPNOTSUPP, 95 on Linux (errno-base.h).
        EXPECT_EQ(to_fio_json(result).at("jobs").at(0).at("error"), 95);
    }
    EXPECT_EQ(disk_.snapshot(), before);
    // What was known still holds, and reads back.
    EXPECT_EQ(written_.known_bytes(), kDiskBytes);
    const RunResult read = run(options(RwMode::read, 4, true));
    ASSERT_TRUE(read.ok()) << read.error;
    EXPECT_EQ(read.jobs[0].verify.blocks_checked, kBlocks);
    EXPECT_EQ(memory_->free_pages(), free_pages_before_);
}

TEST_F(WorkloadTest, AFailedOrUnverifiedTrimLeavesItsRangeUnknown) {
    ASSERT_TRUE(run(options(RwMode::write, 4, true)).ok());
    ASSERT_TRUE(run(trim_job(RwMode::trim, false)).ok());
    EXPECT_EQ(written_.known_bytes(), kDiskBytes - kTrimBlocks * kBs);

    ASSERT_TRUE(run(options(RwMode::write, 4, true)).ok());
    disk_.set_fault([](BlockOperation operation, std::uint64_t at) {
        return operation == BlockOperation::discard && at == kTrimStart
                   ? test::MemoryDisk::Fault::error(-EIO)
                   : test::MemoryDisk::Fault::none();
    });
    JobOptions o = trim_job(RwMode::trim, true);
    o.iodepth = 1;
    const RunResult failed = run(o);
    EXPECT_EQ(failed.error, "trim at offset 0x10000 (65536): Input/output error (-EIO)");
    EXPECT_TRUE(written_.lookup(kTrimStart, kBs).empty());

    const RunResult read = run(options(RwMode::read, 4, true));
    ASSERT_TRUE(read.ok()) << read.error;
    EXPECT_EQ(read.jobs[0].verify.blocks_unwritten, 1u);
}

TEST_F(WorkloadTest, AReadOnlyDeviceRefusesATrimJob) {
    test::MemoryDisk read_only(*memory_, kDiskBytes, true);
    for (const RwMode mode : {RwMode::trim, RwMode::randtrim}) {
        try {
            run_job(read_only, *memory_, written_, trim_job(mode, false));
            FAIL() << "accepted";
        } catch (const std::invalid_argument& e) {
            EXPECT_EQ(std::string(e.what()),
                      fmt::format("rw: {} trims, and the device is read-only", to_string(mode)));
        }
    }
    EXPECT_TRUE(read_only.take_log().empty());
}

TEST_F(WorkloadTest, TheJsonHasFiosTrimDirection) {
    const RunResult result = run(trim_job(RwMode::trimwrite, false));
    ASSERT_TRUE(result.ok()) << result.error;
    const nlohmann::json job = to_fio_json(result).at("jobs").at(0);
    EXPECT_EQ(job.at("trim").at("total_ios"), kTrimBlocks);
    EXPECT_EQ(job.at("trim").at("io_bytes"), kTrimBlocks * kBs);
    EXPECT_EQ(job.at("write").at("total_ios"), kTrimBlocks);
    EXPECT_EQ(job.at("read").at("total_ios"), 0u);
    EXPECT_TRUE(job.at("trim").at("clat_ns").contains("percentile"));
}

TEST_F(WorkloadTest, ProgressCountsTrims) {
    RunControl control;
    std::vector<Progress> seen;
    disk_.set_delay(std::chrono::microseconds(200));
    control.progress_interval = std::chrono::milliseconds(1);
    control.on_progress = [&](const Progress& p) { seen.push_back(p); };
    ASSERT_TRUE(run(trim_job(RwMode::trim, false), control).ok());
    ASSERT_FALSE(seen.empty());
    EXPECT_GT(seen.back().trim_ios, 0u);
    EXPECT_EQ(seen.back().read_ios + seen.back().write_ios, 0u);
}

}  // namespace
}  // namespace pvsim::frontend::workload
