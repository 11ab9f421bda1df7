#include "tools/cli/local_path.hpp"

#include <poll.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>

#include <spdlog/spdlog.h>

#include "backend/storage/backing_store.hpp"
#include "backend/storage/make_engine.hpp"
#include "common/os/event_fd.hpp"
#include "common/os/shared_memory.hpp"
#include "common/xen/ring.hpp"
#include "frontend/block_device.hpp"
#include "frontend/guest/job_json.hpp"
#include "frontend/workload/job_runner.hpp"
#include "frontend/workload/result_json.hpp"
#include "tools/cli/command.hpp"
#include "tools/cli/interruption.hpp"

namespace pvsim::tools::cli {
namespace {

namespace storage = backend::storage;

// The path's io_uring engine. make_engine logs the engine it made, which a
// backend's log should say; in the CLI that line would land amid bench's
// output, and this path's engine is io_uring by definition: no info here.
std::unique_ptr<storage::IoEngine> local_engine(storage::BackingStore& store, unsigned depth) {
    const auto logger = spdlog::default_logger();
    const spdlog::level::level_enum level = logger->level();
    logger->set_level(std::max(level, spdlog::level::warn));
    try {
        auto engine =
            storage::make_engine(store.io_target(), {storage::EngineKind::io_uring, depth, 0});
        logger->set_level(level);
        return engine;
    } catch (...) {
        logger->set_level(level);
        throw;
    }
}

// frontend::BlockDevice straight over an IoEngine: each request becomes one
// engine I/O on the buffer's own pages; completions are reaped on a thread
// of their own, as a driver's completion path would run them. Written for
// the bench only: requests beyond the engine's depth wait in a queue.
class LocalDisk final : public frontend::BlockDevice {
  public:
    LocalDisk(storage::BackingStore& store, hypervisor::DomainMemory& memory, unsigned depth)
        : store_(store),
          memory_(memory),
          engine_(local_engine(store, depth)),
          reaper_([this] { reap_loop(); }) {}

    ~LocalDisk() override {
        stop_.signal();
        reaper_.join();
    }

    std::uint64_t capacity_sectors() const override { return store_.sectors(); }
    std::uint32_t sector_size() const override { return store_.logical_sector_size(); }
    bool read_only() const override { return false; }
    std::size_t in_flight() const override {
        std::lock_guard lock(mutex_);
        return requests_.size();
    }
    std::string error() const override { return {}; }

    void submit(std::span<frontend::BlockRequest> batch) override {
        std::lock_guard lock(mutex_);
        for (frontend::BlockRequest& request : batch) {
            const std::uint64_t tag = next_tag_++;
            requests_.emplace(tag, std::move(request));
            waiting_.push_back(tag);
        }
        start_waiting();
        // The engine may have served a lone read on this thread, in
        // start_waiting()'s flush (io_engine.hpp, step 3): nothing else would
        // wake the reaper for it. From the reaper itself (a completion's
        // callback submitting the next request) it looks again anyway.
        if (engine_->has_completions() && std::this_thread::get_id() != reaper_.get_id()) {
            wake_.signal();
        }
    }

  private:
    // Puts what waits on the engine while it has room (mutex held).
    void start_waiting() {
        bool started = false;
        while (!waiting_.empty() && !engine_->full()) {
            const std::uint64_t tag = waiting_.front();
            waiting_.pop_front();
            const frontend::BlockRequest& request = requests_.at(tag);
            const std::uint64_t offset = request.sector * storage::kSectorSize;
            bool ok = false;
            if (request.operation == frontend::BlockOperation::flush) {
                ok = engine_->submit_flush(tag);
            } else if (request.operation == frontend::BlockOperation::discard) {
                ok = engine_->submit_discard(tag, offset,
                                             request.discard_sectors * storage::kSectorSize);
            } else {
                std::vector<iovec> iov;
                std::size_t left = request.buffer->length;
                for (const hypervisor::Gfn gfn : request.buffer->pages) {
                    if (left == 0) {
                        break;
                    }
                    const std::size_t length = std::min<std::size_t>(left, xen::kXenPageSize);
                    iov.push_back({memory_.page(gfn).data(), length});
                    left -= length;
                }
                ok = request.operation == frontend::BlockOperation::read
                         ? engine_->submit_read(tag, offset, iov)
                         : engine_->submit_write(tag, offset, iov);
            }
            if (!ok) {
                waiting_.push_front(tag);
                break;
            }
            started = true;
        }
        if (started) {
            engine_->flush_submissions();
        }
    }

    void reap_loop() {
        pollfd fds[3] = {{-1, POLLIN, 0}, {stop_.fd(), POLLIN, 0}, {wake_.fd(), POLLIN, 0}};
        for (;;) {
            {
                // Asked for before each sleep (io_engine.hpp), which resets it.
                std::lock_guard lock(mutex_);
                fds[0].fd = engine_->completion_fd();
            }
            if (::poll(fds, 3, 100) < 0 && errno != EINTR) {
                return;
            }
            if ((fds[1].revents & POLLIN) != 0) {
                return;
            }
            if ((fds[2].revents & POLLIN) != 0) {
                (void)wake_.try_consume();
            }
            std::vector<std::pair<frontend::BlockCompletion, int>> done;
            {
                std::lock_guard lock(mutex_);
                engine_->reap([&](const storage::IoCompletion& completion) {
                    auto found = requests_.find(completion.tag);
                    const int status =
                        completion.result < 0 ? static_cast<int>(completion.result) : 0;
                    done.emplace_back(std::move(found->second.done), status);
                    requests_.erase(found);
                });
                start_waiting();
            }
            for (auto& [callback, status] : done) {
                callback(status);
            }
        }
    }

    storage::BackingStore& store_;
    hypervisor::DomainMemory& memory_;
    std::unique_ptr<storage::IoEngine> engine_;
    mutable std::mutex mutex_;
    std::unordered_map<std::uint64_t, frontend::BlockRequest> requests_;
    std::deque<std::uint64_t> waiting_;
    std::uint64_t next_tag_ = 1;
    os::EventFd stop_;
    // Signalled by submit() for a completion made on the submitting thread.
    os::EventFd wake_{os::EventFd::Options{.nonblocking = true}};
    std::thread reaper_;
};

}  // namespace

IoOutcome run_local_job(const IoOptions& job, const std::filesystem::path& image,
                        Interruption* stop) {
    frontend::workload::JobOptions options;
    try {
        options = frontend::guest::parse_job(job_json(job));
    } catch (const std::invalid_argument& e) {
        throw CommandError(std::string("local: ") + e.what());
    }
    storage::BackingStore store = storage::BackingStore::open(image);
    // The buffers of every job's requests in flight, and room to spare.
    const std::uint64_t bs = options.bs;
    const std::uint64_t buffers = std::uint64_t{job.iodepth} * job.numjobs * bs;
    const std::size_t pages =
        static_cast<std::size_t>((2 * buffers + (16u << 20)) / xen::kXenPageSize);
    hypervisor::DomainMemory memory(
        os::SharedMemory::create(
            os::shm_name("pvsimbench" + std::to_string(::getpid()), "local.memory"),
            pages * xen::kXenPageSize),
        1);
    frontend::workload::WrittenBlocks written;
    frontend::workload::RunResult result;
    {
        const unsigned depth =
            std::clamp<unsigned>(job.iodepth * job.numjobs, 1, storage::kMaxQueueDepth);
        LocalDisk disk(store, memory, depth);
        // The job runs in this process: a stop signal sets its cancel flag
        // (the waiting thread's action), and run_job stops the jobs.
        std::atomic<bool> cancel{false};
        std::shared_ptr<void> cancel_on_stop;
        if (stop != nullptr) {
            cancel_on_stop = stop->on_stop([&cancel] { cancel.store(true); });
        }
        frontend::workload::RunControl control;
        control.cancel = &cancel;
        try {
            result = frontend::workload::run_job(disk, memory, written, options, control);
        } catch (const std::exception& e) {
            throw CommandError(std::string("local: ") + e.what());
        }
    }
    IoOutcome outcome;
    outcome.result = frontend::workload::to_fio_json(result);
    outcome.error = result.error;
    for (const auto& j : outcome.result.value("jobs", nlohmann::json::array())) {
        for (const char* direction : {"read", "write"}) {
            outcome.counts.ios +=
                j.value(direction, nlohmann::json::object()).value("total_ios", std::uint64_t{0});
        }
    }
    return outcome;
}

}  // namespace pvsim::tools::cli
