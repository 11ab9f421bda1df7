// What the run_job tests share: a guest's memory, an in-memory disk of
// 1 MiB behind the BlockDevice API, what the guest remembers of it, and
// options for a job over it.
#pragma once

#include <cstdint>
#include <set>
#include <vector>

#include <gtest/gtest.h>

#include "frontend/workload/job_runner.hpp"
#include "frontend/workload/written_blocks.hpp"
#include "guest_memory.hpp"
#include "memory_disk.hpp"

namespace pvsim::frontend::workload {

class WorkloadTest : public ::testing::Test {
  protected:
    static constexpr std::uint64_t kDiskBytes = 1024 * 1024;
    static constexpr std::uint64_t kBs = 4096;
    static constexpr std::uint64_t kBlocks = kDiskBytes / kBs;

    static JobOptions options(RwMode rw, std::uint32_t iodepth = 1, bool verify = false) {
        JobOptions o;
        o.rw = rw;
        o.iodepth = iodepth;
        o.verify = verify;
        return o;
    }

    RunResult run(const JobOptions& o, const RunControl& control = {}) {
        return run_job(disk_, *memory_, written_, o, control);
    }

    // Offsets of the I/Os of one operation in the disk's log, in order.
    static std::vector<std::uint64_t> offsets(const std::vector<test::MemoryDisk::Io>& log,
                                              BlockOperation operation) {
        std::vector<std::uint64_t> out;
        for (const auto& io : log) {
            if (io.operation == operation) {
                out.push_back(io.offset);
            }
        }
        return out;
    }

    test::GuestMemory memory_{256};
    test::MemoryDisk disk_{*memory_, kDiskBytes};
    WrittenBlocks written_;
    const std::size_t free_pages_before_ = memory_->free_pages();
};

}  // namespace pvsim::frontend::workload
