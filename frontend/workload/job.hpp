// One job of a run (fio's thread_data): its region, its `iodepth` slots each
// with a buffer, and the loop that keeps them in flight. The first batch is
// submitted in one BlockDevice::submit; after that each completion callback
// accounts for its request and submits the next ones itself (allowed on a
// device's completion thread, which then never blocks: blkfront_queue.hpp),
// so the loop runs on the device's thread, not the caller's. Two requests of
// a job never overlap: a block still in flight is waited for.
//
// Phases: the main phase issues the job's reads, writes and trims until its
// I/O count or runtime is reached; a job that does not read (write, trim,
// trimwrite) with verify then reads back every block it wrote or trimmed
// (fio's do_verify), which are its reads, as fio reports them (a job that
// does not read has no others; the read-back has its own runtime and rate
// samples). trimwrite trims each
// block and, once the trim completed, writes it (fio's TD_DDIR_TRIMWRITE):
// that write goes before any new block, and a block's trim and write count
// as one I/O of the job's limit.
// An I/O error, a verify mismatch or a cancel stops issuing; what is in
// flight drains, and the job finishes with the first error.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <unordered_set>
#include <vector>

#include "frontend/block_device.hpp"
#include "frontend/workload/job_options.hpp"
#include "frontend/workload/job_result.hpp"
#include "frontend/workload/latency_histogram.hpp"
#include "frontend/workload/offset_sequence.hpp"
#include "frontend/workload/splitmix.hpp"
#include "frontend/workload/written_blocks.hpp"
#include "hypervisor/client/domain_memory.hpp"

namespace pvsim::frontend::workload {

using Clock = std::chrono::steady_clock;

// What run_job derives for one job.
struct JobPlan {
    std::uint32_t jobnum = 0;
    std::uint64_t start = 0;                // bytes: the job's region
    std::uint64_t blocks = 0;               // of options.bs
    std::optional<std::uint64_t> io_limit;  // I/Os; none: time based
    // --runtime: the main phase ends this long after the job's own start,
    // as fio's runtime_exceeded() measures from the job's epoch, so that the
    // runtime a job reports is never short of it.
    std::optional<Clock::duration> runtime;
};

class Job {
  public:
    // `buffers` (options.bs bytes each) are the job's slots. `on_finished`
    // runs once, as the last thing the job does, on whichever thread
    // finished it; the job may be destroyed as soon as it was called.
    Job(BlockDevice& device, hypervisor::DomainMemory& memory, WrittenBlocks& written,
        const JobOptions& options, const JobPlan& plan, std::span<GuestBuffer> buffers,
        const std::atomic<bool>* cancel, std::function<void()> on_finished);
    Job(const Job&) = delete;
    Job& operator=(const Job&) = delete;

    // Submits the first batch.
    void start();
    // Stops issuing with `reason` as the job's error (unless it already has
    // one); what is in flight drains.
    void stop(const std::string& reason);

    // Completed so far, for progress; any thread.
    std::uint64_t ios_done() const noexcept { return ios_.load(std::memory_order_relaxed); }
    std::uint64_t bytes_done() const noexcept { return bytes_.load(std::memory_order_relaxed); }
    std::uint64_t read_ios_done() const noexcept {
        return read_ios_.load(std::memory_order_relaxed);
    }
    std::uint64_t write_ios_done() const noexcept {
        return write_ios_.load(std::memory_order_relaxed);
    }
    std::uint64_t trim_ios_done() const noexcept {
        return trim_ios_.load(std::memory_order_relaxed);
    }

    // Once finished.
    JobResult result() const;
    // Once every job has finished: fio's group_reporting, `jobs` reported
    // as one job (histograms merged, counts summed, the longest runtime).
    static JobResult group_result(std::span<const std::unique_ptr<Job>> jobs);

  private:
    enum class Phase { main, verify, finished };

    struct Slot {
        GuestBuffer* buffer = nullptr;
        BlockOperation operation = BlockOperation::read;
        std::uint64_t offset = 0;
        std::uint64_t generation = 0;
        Clock::time_point submitted;
    };

    void complete(std::size_t slot, int status);
    // A direction's bw and iops samples and where its counts stood at the
    // last sample.
    struct Sampler {
        RateSamples bw_kib, iops;
        std::uint64_t bytes = 0, ios = 0;
    };

    void account_locked(Slot& slot, int status, Clock::time_point now);
    // Takes a rate sample of each direction in this phase once a sample
    // window has passed since the last.
    void sample_locked(Clock::time_point now);
    // What a completed write or trim leaves known in written_.
    void remember_locked(const Slot& slot, int status);
    void verify_read_locked(const Slot& slot);
    // `error_number` is fio's errno for it (JobResult::error_number).
    void fail_locked(std::string reason, int error_number = 0);
    // Whether the job's reads are its verify pass, and how long its reads ran.
    bool reads_back_locked() const;
    Clock::duration read_runtime_locked() const;
    // Whether the job may go on issuing (no error, cancel or deadline), and
    // whether it may also start another block (its I/O limit).
    bool may_continue_locked(Clock::time_point now);
    bool may_issue_locked(Clock::time_point now);
    void issue_locked(std::vector<BlockRequest>& batch);
    // Issues what it can; when nothing is in flight and nothing more may be
    // issued, ends the phase (starting the next). True when the job is done.
    bool advance_locked(std::vector<BlockRequest>& batch);
    // Submits `batch`, or runs on_finished when the job has finished (the
    // last thing it does: the job may be gone after).
    void submit_or_finish(std::vector<BlockRequest>& batch, bool finished);
    BlockOperation choose_operation_locked();

    BlockDevice& device_;
    hypervisor::DomainMemory& memory_;
    WrittenBlocks& written_;
    const JobOptions options_;
    const JobPlan plan_;
    const std::atomic<bool>* cancel_;
    std::function<void()> on_finished_;

    mutable std::mutex mutex_;
    Phase phase_ = Phase::main;
    std::vector<Slot> slots_;
    std::vector<std::size_t> idle_;
    std::unordered_set<std::uint64_t> in_flight_offsets_;
    OffsetSequence sequence_;
    std::optional<std::uint64_t> waiting_offset_;  // next, still in flight
    std::deque<std::uint64_t> owed_writes_;        // trimwrite: trimmed, to be written
    std::optional<std::uint64_t> limit_;           // I/Os in this phase
    std::uint64_t issued_ = 0;                     // in this phase
    std::uint64_t blocks_changed_ = 0;             // written or trimmed, in the main phase
    bool stopping_ = false;
    SplitMix64 mix_;
    std::string error_;
    int error_number_ = 0;
    std::vector<std::byte> data_, expected_;  // a block's bytes, for verify

    LatencyHistogram read_latency_, write_latency_, trim_latency_;
    std::uint64_t read_bytes_ = 0, write_bytes_ = 0, trim_bytes_ = 0;
    std::uint64_t reads_ = 0, writes_ = 0, trims_ = 0;
    VerifyResult verify_;
    Clock::time_point started_, main_ended_, ended_;
    Clock::time_point window_started_;  // of the current rate sample
    Sampler read_sampler_, write_sampler_, trim_sampler_;

    std::atomic<std::uint64_t> ios_{0}, bytes_{0}, read_ios_{0}, write_ios_{0}, trim_ios_{0};
};

}  // namespace pvsim::frontend::workload
