// Runs an fio-like job inside a guest over any BlockDevice (blkfront, or the
// virtio-blk driver): `numjobs` jobs at once, each with `iodepth` requests
// in flight over a region of its own (job j covers [offset + j * size,
// + size), fio's offset_increment = size, so that verify stays exact), with
// buffers in the guest's own memory. The loop of each job is in job.hpp.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>

#include "frontend/block_device.hpp"
#include "frontend/workload/job_options.hpp"
#include "frontend/workload/job_result.hpp"
#include "frontend/workload/written_blocks.hpp"
#include "hypervisor/client/domain_memory.hpp"

namespace pvsim::frontend::workload {

struct RunControl {
    // Called about every `progress_interval` from the thread running the job.
    std::function<void(const Progress&)> on_progress;
    std::chrono::milliseconds progress_interval{500};
    // Once set: stop issuing, drain, and fail every job with "cancelled".
    std::atomic<bool>* cancel = nullptr;
};

// Waits out options.startdelay (or until a cancel), then blocks until every
// job is done and every callback of its requests has
// returned (the device's in_flight() is 0 again, waited for up to 5 s
// after the last job finished). The buffers are pages of `memory`, all
// returned at the end, also on error. Writes and trims record what they
// left in `written`, and verifying reads check against it. Throws
// std::invalid_argument for bad options (validate()) or a write or trim job
// on a read-only device, std::runtime_error when the guest is short of
// memory (saying how much is needed). I/O errors and verify mismatches are
// not thrown: they are in the result; a trim on a device without discard
// fails its job with -EOPNOTSUPP, as fio's does.
RunResult run_job(BlockDevice& device, hypervisor::DomainMemory& memory, WrittenBlocks& written,
                  const JobOptions& options, const RunControl& control = {});

}  // namespace pvsim::frontend::workload
