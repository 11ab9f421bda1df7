#include "frontend/workload/job.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <utility>

#include <fmt/format.h>

#include "frontend/workload/io_pages.hpp"
#include "frontend/workload/verify_block.hpp"

namespace pvsim::frontend::workload {
namespace {

constexpr std::uint64_t kSequenceStream = 0;
constexpr std::uint64_t kMixStream = 1;

// fio's names: a discard is a trim.
std::string_view operation_name(BlockOperation operation) {
    switch (operation) {
        case BlockOperation::read:
            return "read";
        case BlockOperation::write:
            return "write";
        case BlockOperation::flush:
            return "flush";
        case BlockOperation::discard:
            return "trim";
    }
    return "request";
}

// "Input/output error (-EIO)"; a refused trim says why, as the device's
// -EOPNOTSUPP means (block_device.hpp).
std::string describe_status(BlockOperation operation, int status) {
    const int error = -status;
    const char* name = ::strerrorname_np(error);
    std::string text = fmt::format("{} (-{})", std::strerror(error),
                                   name != nullptr ? std::string(name) : std::to_string(error));
    if (operation == BlockOperation::discard && status == -EOPNOTSUPP) {
        text += ": the device does not support discard";
    }
    return text;
}

std::uint64_t job_key(const JobOptions& options, const JobPlan& plan, std::uint64_t stream) {
    return derive_key(derive_key(options.seed, plan.jobnum), stream);
}

// fio's bw_avg_time and iops_avg_time defaults: a rate sample per 500 ms.
constexpr Clock::duration kSampleWindow = std::chrono::milliseconds(500);

DirectionResult direction(std::uint64_t bytes, std::uint64_t ios, const LatencyHistogram& latency,
                          Clock::duration runtime, const RateSamples& bw_kib,
                          const RateSamples& iops_samples) {
    DirectionResult result;
    result.io_bytes = bytes;
    result.total_ios = ios;
    result.clat = latency.stats();
    result.bw_kib = bw_kib;
    result.iops_samples = iops_samples;
    if (ios == 0) {
        return result;
    }
    result.runtime_ms = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(runtime).count());
    const double seconds = std::chrono::duration<double>(runtime).count();
    if (seconds > 0) {
        result.iops = static_cast<double>(ios) / seconds;
        result.bw_bytes = static_cast<double>(bytes) / seconds;
    }
    return result;
}

}  // namespace

void RateSamples::add(std::uint64_t value) {
    if (count == 0 || value < min) {
        min = value;
    }
    max = std::max(max, value);
    ++count;
    // Welford's running mean and squared deviations, as fio's add_stat_sample.
    const double delta = static_cast<double>(value) - mean;
    mean += delta / static_cast<double>(count);
    m2 += delta * (static_cast<double>(value) - mean);
}

void RateSamples::sum(const RateSamples& other) {
    if (other.count == 0) {
        return;
    }
    if (count == 0) {
        *this = other;
        return;
    }
    min += other.min;
    max += other.max;
    count += other.count;
    mean += other.mean;
    m2 += other.m2;
}

double RateSamples::stddev() const {
    return count > 1 ? std::sqrt(m2 / (static_cast<double>(count) - 1.0)) : 0.0;
}

Job::Job(BlockDevice& device, hypervisor::DomainMemory& memory, WrittenBlocks& written,
         const JobOptions& options, const JobPlan& plan, std::span<GuestBuffer> buffers,
         const std::atomic<bool>* cancel, std::function<void()> on_finished)
    : device_(device),
      memory_(memory),
      written_(written),
      options_(options),
      plan_(plan),
      cancel_(cancel),
      on_finished_(std::move(on_finished)),
      sequence_(plan.start, plan.blocks, options.bs, is_random(options.rw),
                job_key(options, plan, kSequenceStream)),
      limit_(plan.io_limit),
      mix_(job_key(options, plan, kMixStream)) {
    slots_.resize(buffers.size());
    for (std::size_t i = 0; i < buffers.size(); ++i) {
        slots_[i].buffer = &buffers[i];
        idle_.push_back(buffers.size() - 1 - i);
    }
}

void Job::start() {
    std::vector<BlockRequest> batch;
    bool finished = false;
    {
        std::lock_guard lock(mutex_);
        started_ = Clock::now();
        main_ended_ = ended_ = started_;
        window_started_ = started_;
        finished = advance_locked(batch);
    }
    submit_or_finish(batch, finished);
}

void Job::stop(const std::string& reason) {
    std::lock_guard lock(mutex_);
    if (phase_ != Phase::finished) {
        fail_locked(reason);
    }
}

void Job::complete(std::size_t index, int status) {
    const Clock::time_point now = Clock::now();
    std::vector<BlockRequest> batch;
    bool finished = false;
    {
        std::lock_guard lock(mutex_);
        Slot& slot = slots_[index];
        in_flight_offsets_.erase(slot.offset);
        idle_.push_back(index);
        account_locked(slot, status, now);
        finished = advance_locked(batch);
    }
    submit_or_finish(batch, finished);
}

void Job::submit_or_finish(std::vector<BlockRequest>& batch, bool finished) {
    // Nothing of this object is touched after these calls: once the last
    // request completed or on_finished ran, the job may be gone.
    if (!batch.empty()) {
        device_.submit(batch);
    } else if (finished) {
        auto done = std::move(on_finished_);
        done();
    }
}

void Job::remember_locked(const Slot& slot, int status) {
    const bool trim = slot.operation == BlockOperation::discard;
    if (status == 0 && options_.verify) {
        written_.record(
            BlockIdentity{slot.offset, options_.bs, options_.seed, slot.generation, trim});
    } else if (!(trim && status == -EOPNOTSUPP)) {
        // Only a completed verify write or trim is known; any other leaves
        // its range holding something no one can predict. A trim refused
        // with -EOPNOTSUPP was never carried out (BLKIF_RSP_EOPNOTSUPP):
        // what was known there still holds.
        written_.forget(slot.offset, options_.bs);
    }
}

void Job::account_locked(Slot& slot, int status, Clock::time_point now) {
    const std::uint64_t latency = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(now - slot.submitted).count());
    const std::uint64_t bs = options_.bs;
    if (slot.operation == BlockOperation::write) {
        remember_locked(slot, status);
        if (status == 0) {
            write_latency_.record(latency);
            write_bytes_ += bs;
            ++writes_;
            write_ios_.fetch_add(1, std::memory_order_relaxed);
        }
    } else if (slot.operation == BlockOperation::discard) {
        remember_locked(slot, status);
        if (status == 0) {
            trim_latency_.record(latency);
            trim_bytes_ += bs;
            ++trims_;
            trim_ios_.fetch_add(1, std::memory_order_relaxed);
            if (options_.rw == RwMode::trimwrite) {
                owed_writes_.push_back(slot.offset);
            }
        }
    } else if (status == 0) {
        // A write job's read-back counts as its reads, as fio 3.33 reports a
        // write job with verify (a read line and jobs[].read).
        read_latency_.record(latency);
        read_bytes_ += bs;
        ++reads_;
        read_ios_.fetch_add(1, std::memory_order_relaxed);
        if (options_.verify || phase_ == Phase::verify) {
            verify_read_locked(slot);
        }
    }
    if (status != 0) {
        fail_locked(
            fmt::format("{} at offset {}: {}", operation_name(slot.operation),
                        describe_offset(slot.offset), describe_status(slot.operation, status)),
            -status);
        return;
    }
    ios_.fetch_add(1, std::memory_order_relaxed);
    bytes_.fetch_add(bs, std::memory_order_relaxed);
    sample_locked(now);
}

void Job::sample_locked(Clock::time_point now) {
    const Clock::duration window = now - window_started_;
    if (window < kSampleWindow) {
        return;
    }
    // fio samples every direction the job does at one tick; a write job's
    // reads are its verify phase's, sampled then alone.
    const bool main = phase_ == Phase::main;
    const double seconds = std::chrono::duration<double>(window).count();
    struct Direction {
        bool active;
        std::uint64_t bytes, ios;
        Sampler& sampler;
    };
    for (const Direction& d : {
             Direction{main ? does_read(options_.rw) : true, read_bytes_, reads_, read_sampler_},
             Direction{main && does_write(options_.rw), write_bytes_, writes_, write_sampler_},
             Direction{main && does_trim(options_.rw), trim_bytes_, trims_, trim_sampler_},
         }) {
        if (d.active) {
            d.sampler.bw_kib.add(static_cast<std::uint64_t>(
                static_cast<double>(d.bytes - d.sampler.bytes) / 1024.0 / seconds));
            d.sampler.iops.add(
                static_cast<std::uint64_t>(static_cast<double>(d.ios - d.sampler.ios) / seconds));
        }
        d.sampler.bytes = d.bytes;
        d.sampler.ios = d.ios;
    }
    window_started_ = now;
}

void Job::verify_read_locked(const Slot& slot) {
    const std::vector<WrittenBlocks::Piece> pieces = written_.lookup(slot.offset, options_.bs);
    if (pieces.empty()) {
        // Never written with verify (or its last write failed): that it
        // could be read is all there is to check.
        ++verify_.blocks_unwritten;
        return;
    }
    ++verify_.blocks_checked;
    data_.resize(options_.bs);
    copy_from_buffer(memory_, *slot.buffer, data_);
    for (const WrittenBlocks::Piece& piece : pieces) {
        const auto found =
            std::span<const std::byte>(data_).subspan(piece.offset - slot.offset, piece.length);
        std::string problem = check_block(piece.block, piece.offset, found, expected_);
        if (!problem.empty()) {
            fail_locked("verify: " + problem, EILSEQ);
            return;
        }
    }
}

void Job::fail_locked(std::string reason, int error_number) {
    if (error_.empty()) {
        error_ = std::move(reason);
        error_number_ = error_number;
    }
    stopping_ = true;
}

bool Job::may_continue_locked(Clock::time_point now) {
    if (stopping_) {
        return false;
    }
    if (cancel_ != nullptr && cancel_->load(std::memory_order_relaxed)) {
        fail_locked("cancelled");
        return false;
    }
    return !(phase_ == Phase::main && plan_.runtime && now - started_ >= *plan_.runtime);
}

bool Job::may_issue_locked(Clock::time_point now) {
    return may_continue_locked(now) && !(limit_ && issued_ >= *limit_);
}

BlockOperation Job::choose_operation_locked() {
    if (phase_ == Phase::verify) {
        return BlockOperation::read;
    }
    if (does_trim(options_.rw)) {
        // trimwrite's writes are owed_writes_, issued apart.
        return BlockOperation::discard;
    }
    if (does_read(options_.rw) && does_write(options_.rw)) {
        return mix_.next() % 100 < options_.rwmixread ? BlockOperation::read
                                                      : BlockOperation::write;
    }
    return does_write(options_.rw) ? BlockOperation::write : BlockOperation::read;
}

void Job::issue_locked(std::vector<BlockRequest>& batch) {
    const Clock::time_point now = Clock::now();
    while (!idle_.empty() && may_continue_locked(now)) {
        std::uint64_t offset = 0;
        BlockOperation operation = BlockOperation::read;
        if (!owed_writes_.empty()) {
            // trimwrite: a trimmed block is written before any new block.
            offset = owed_writes_.front();
            if (in_flight_offsets_.contains(offset)) {
                break;
            }
            owed_writes_.pop_front();
            operation = BlockOperation::write;
        } else {
            if (!may_issue_locked(now)) {
                break;
            }
            offset = waiting_offset_ ? *waiting_offset_ : sequence_.next();
            if (in_flight_offsets_.contains(offset)) {
                // Its completion issues it.
                waiting_offset_ = offset;
                break;
            }
            waiting_offset_.reset();
            operation = choose_operation_locked();
            ++issued_;
            if (operation != BlockOperation::read) {
                ++blocks_changed_;
            }
        }
        const std::size_t index = idle_.back();
        idle_.pop_back();
        Slot& slot = slots_[index];
        slot.offset = offset;
        slot.operation = operation;
        slot.generation = 0;
        if (operation != BlockOperation::read && options_.verify) {
            slot.generation = written_.next_generation();
        }
        if (operation == BlockOperation::write && options_.verify) {
            data_.resize(options_.bs);
            make_block(BlockIdentity{offset, options_.bs, options_.seed, slot.generation}, data_);
            copy_to_buffer(memory_, *slot.buffer, data_);
        }
        in_flight_offsets_.insert(offset);
        slot.submitted = Clock::now();
        const bool trim = operation == BlockOperation::discard;
        batch.push_back(BlockRequest{
            .operation = operation,
            .sector = offset / kSectorSize,
            .buffer = trim ? nullptr : slot.buffer,
            .discard_sectors = trim ? options_.bs / kSectorSize : 0,
            .done = [this, index](int status) { complete(index, status); },
            .fua = operation == BlockOperation::write && options_.sync,
        });
    }
}

bool Job::advance_locked(std::vector<BlockRequest>& batch) {
    for (;;) {
        issue_locked(batch);
        if (!in_flight_offsets_.empty()) {
            return false;
        }
        // Writes still owed by trims when the job stopped or ran out of
        // time are not issued: those blocks stay trimmed.
        owed_writes_.clear();
        if (phase_ == Phase::main) {
            main_ended_ = Clock::now();
            if (options_.verify && !does_read(options_.rw) && error_.empty() &&
                blocks_changed_ > 0) {
                // Read back every block written or trimmed: the first
                // blocks_changed_ blocks of the (deterministic) sequence, all
                // of them after a whole pass.
                phase_ = Phase::verify;
                sequence_ =
                    OffsetSequence(plan_.start, plan_.blocks, options_.bs, is_random(options_.rw),
                                   job_key(options_, plan_, kSequenceStream));
                waiting_offset_.reset();
                limit_ = std::min(blocks_changed_, plan_.blocks);
                issued_ = 0;
                // The read-back's samples start with it.
                window_started_ = main_ended_;
                read_sampler_.bytes = read_bytes_;
                read_sampler_.ios = reads_;
                continue;
            }
        }
        phase_ = Phase::finished;
        ended_ = Clock::now();
        return true;
    }
}

bool Job::reads_back_locked() const {
    return options_.verify && !does_read(options_.rw);
}

Clock::duration Job::read_runtime_locked() const {
    // A read-back runs after the main phase: its reads' runtime is its own,
    // as fio's runtime of a write job's reads is its verify pass.
    return reads_back_locked() ? ended_ - main_ended_ : main_ended_ - started_;
}

JobResult Job::group_result(std::span<const std::unique_ptr<Job>> jobs) {
    LatencyHistogram read, write, trim;
    RateSamples read_bw, read_iops, write_bw, write_iops, trim_bw, trim_iops;
    std::uint64_t read_bytes = 0, write_bytes = 0, trim_bytes = 0;
    std::uint64_t reads = 0, writes = 0, trims = 0;
    Clock::duration runtime{0}, read_runtime{0}, elapsed{0};
    JobResult result;
    for (const auto& job : jobs) {
        std::lock_guard lock(job->mutex_);
        if (result.name.empty()) {
            result.name = job->options_.name;
        }
        read.merge(job->read_latency_);
        write.merge(job->write_latency_);
        trim.merge(job->trim_latency_);
        read_bw.sum(job->read_sampler_.bw_kib);
        read_iops.sum(job->read_sampler_.iops);
        write_bw.sum(job->write_sampler_.bw_kib);
        write_iops.sum(job->write_sampler_.iops);
        trim_bw.sum(job->trim_sampler_.bw_kib);
        trim_iops.sum(job->trim_sampler_.iops);
        read_bytes += job->read_bytes_;
        write_bytes += job->write_bytes_;
        trim_bytes += job->trim_bytes_;
        reads += job->reads_;
        writes += job->writes_;
        trims += job->trims_;
        runtime = std::max(runtime, job->main_ended_ - job->started_);
        read_runtime = std::max(read_runtime, job->read_runtime_locked());
        elapsed = std::max(elapsed, job->ended_ - job->started_);
        result.verify.blocks_checked += job->verify_.blocks_checked;
        result.verify.blocks_unwritten += job->verify_.blocks_unwritten;
        if (result.error.empty() && !job->error_.empty()) {
            result.error = fmt::format("job {}: {}", job->plan_.jobnum, job->error_);
            result.error_number = job->error_number_;
        }
        result.verify.enabled = job->options_.verify;
        result.verify.read_back = job->reads_back_locked();
    }
    result.read = direction(read_bytes, reads, read, read_runtime, read_bw, read_iops);
    result.write = direction(write_bytes, writes, write, runtime, write_bw, write_iops);
    result.trim = direction(trim_bytes, trims, trim, runtime, trim_bw, trim_iops);
    result.elapsed_ms = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count());
    return result;
}

JobResult Job::result() const {
    std::lock_guard lock(mutex_);
    JobResult result;
    result.name = options_.name;
    result.jobnum = plan_.jobnum;
    const Clock::duration runtime = main_ended_ - started_;
    result.read = direction(read_bytes_, reads_, read_latency_, read_runtime_locked(),
                            read_sampler_.bw_kib, read_sampler_.iops);
    result.write = direction(write_bytes_, writes_, write_latency_, runtime, write_sampler_.bw_kib,
                             write_sampler_.iops);
    result.trim = direction(trim_bytes_, trims_, trim_latency_, runtime, trim_sampler_.bw_kib,
                            trim_sampler_.iops);
    result.verify = verify_;
    result.verify.enabled = options_.verify;
    result.verify.read_back = reads_back_locked();
    result.elapsed_ms = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(ended_ - started_).count());
    result.error = error_;
    result.error_number = error_number_;
    return result;
}

}  // namespace pvsim::frontend::workload
