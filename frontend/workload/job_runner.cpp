#include "frontend/workload/job_runner.hpp"

#include <algorithm>
#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "frontend/workload/io_pages.hpp"
#include "frontend/workload/job.hpp"

namespace pvsim::frontend::workload {
namespace {

// How often the waiting thread looks at the cancel flag when nothing
// completes (a completion looks at it too).
constexpr std::chrono::milliseconds kCancelPoll{50};
// The longest a finished run waits for its last callbacks to return.
constexpr std::chrono::seconds kDrainLimit{5};

struct Finished {
    std::mutex mutex;
    std::condition_variable changed;
    std::uint32_t jobs = 0;
};

void check_device(const BlockDevice& device, const JobOptions& options) {
    const std::uint32_t sector_size = device.sector_size();
    if (sector_size != 0 && options.bs % sector_size != 0) {
        throw std::invalid_argument(fmt::format(
            "bs: {} is not a multiple of the device's {}-byte sectors", options.bs, sector_size));
    }
    if ((does_write(options.rw) || does_trim(options.rw)) && device.read_only()) {
        throw std::invalid_argument(fmt::format("rw: {} {}, and the device is read-only",
                                                to_string(options.rw),
                                                does_write(options.rw) ? "writes" : "trims"));
    }
}

Progress progress_of(const std::vector<std::unique_ptr<Job>>& jobs, Clock::time_point started) {
    Progress progress;
    progress.elapsed = Clock::now() - started;
    for (const auto& job : jobs) {
        progress.ios += job->ios_done();
        progress.bytes += job->bytes_done();
        progress.read_ios += job->read_ios_done();
        progress.write_ios += job->write_ios_done();
        progress.trim_ios += job->trim_ios_done();
    }
    return progress;
}

}  // namespace

RunResult run_job(BlockDevice& device, hypervisor::DomainMemory& memory, WrittenBlocks& written,
                  const JobOptions& options, const RunControl& control) {
    const std::uint64_t capacity = device.capacity_sectors() * kSectorSize;
    validate(options, capacity);
    check_device(device, options);

    const std::uint64_t size = job_size(options, capacity);
    const std::uint64_t blocks = size / options.bs;
    const std::optional<std::uint64_t> io_limit = job_io_limit(options, capacity);
    // More slots than blocks (or than I/Os) could never all be in flight.
    const std::size_t slots = static_cast<std::size_t>(
        std::min<std::uint64_t>({options.iodepth, blocks, io_limit.value_or(options.iodepth)}));
    IoPages pages(memory, slots * options.numjobs, options.bs);

    Finished finished;
    const auto on_finished = [&finished] {
        std::lock_guard lock(finished.mutex);
        ++finished.jobs;
        finished.changed.notify_all();
    };

    // fio's startdelay: nothing is issued before it has passed, and a
    // cancel ends the wait (the jobs then start cancelled and finish at once).
    const Clock::time_point start_at = Clock::now() + options.startdelay;
    while (Clock::now() < start_at && !(control.cancel != nullptr && control.cancel->load())) {
        std::this_thread::sleep_until(std::min(start_at, Clock::now() + kCancelPoll));
    }
    const Clock::time_point started = Clock::now();
    std::optional<Clock::duration> runtime;
    if (options.runtime) {
        runtime = std::chrono::duration_cast<Clock::duration>(*options.runtime);
    }
    std::vector<std::unique_ptr<Job>> jobs;
    jobs.reserve(options.numjobs);
    for (std::uint32_t j = 0; j < options.numjobs; ++j) {
        const JobPlan plan{
            .jobnum = j,
            .start = options.offset + j * size,
            .blocks = blocks,
            .io_limit = io_limit,
            .runtime = runtime,
        };
        GuestBuffer* first = &pages[j * slots];
        jobs.push_back(std::make_unique<Job>(device, memory, written, options, plan,
                                             std::span<GuestBuffer>(first, slots), control.cancel,
                                             on_finished));
    }
    for (const auto& job : jobs) {
        job->start();
    }

    // Wait for every job, reporting progress and passing a cancel on.
    const auto interval = std::max(control.progress_interval, std::chrono::milliseconds{1});
    Clock::time_point next_progress = started + interval;
    bool cancelled = false;
    std::exception_ptr progress_failure;
    std::unique_lock lock(finished.mutex);
    while (finished.jobs < options.numjobs) {
        const Clock::time_point now = Clock::now();
        if (!cancelled && control.cancel != nullptr && control.cancel->load()) {
            cancelled = true;
            lock.unlock();
            for (const auto& job : jobs) {
                job->stop("cancelled");
            }
            lock.lock();
            continue;
        }
        if (control.on_progress && !progress_failure && now >= next_progress) {
            lock.unlock();
            try {
                control.on_progress(progress_of(jobs, started));
            } catch (...) {
                // The jobs still own requests in flight: drain them before
                // passing the exception on.
                if (!progress_failure) {
                    progress_failure = std::current_exception();
                    for (const auto& job : jobs) {
                        job->stop("stopped: the progress callback failed");
                    }
                }
            }
            lock.lock();
            next_progress = std::max(next_progress + interval, now);
            continue;
        }
        Clock::time_point wake = now + kCancelPoll;
        if (control.on_progress) {
            wake = std::min(wake, next_progress);
        }
        finished.changed.wait_until(lock, wake);
    }
    lock.unlock();
    // A job finishes from its last request's callback, and the device counts
    // a request in flight until its callback has returned: the run ends once
    // that tail has run, so that the device is idle for whoever looks next.
    const Clock::time_point drain_deadline = Clock::now() + kDrainLimit;
    while (device.in_flight() != 0 && Clock::now() < drain_deadline) {
        std::this_thread::sleep_for(std::chrono::microseconds{50});
    }
    if (progress_failure) {
        std::rethrow_exception(progress_failure);
    }

    RunResult run;
    run.elapsed_ms = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count());
    if (options.group_reporting && jobs.size() > 1) {
        run.jobs.push_back(Job::group_result(jobs));
        run.error = run.jobs.back().error;
        return run;
    }
    for (const auto& job : jobs) {
        JobResult result = job->result();
        if (run.error.empty() && !result.error.empty()) {
            run.error = options.numjobs > 1 ? fmt::format("job {}: {}", result.jobnum, result.error)
                                            : result.error;
        }
        run.jobs.push_back(std::move(result));
    }
    return run;
}

}  // namespace pvsim::frontend::workload
