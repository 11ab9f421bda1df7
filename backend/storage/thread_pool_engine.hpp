// IoEngine on a few worker threads making blocking calls (preadv(2),
// pwritev(2), fdatasync(2), fallocate(2), BLKDISCARD/BLKZEROOUT): the
// fallback where io_uring cannot be set up (DESIGN.md §5), as QEMU falls back
// from io_uring/linux-aio to its thread pool. At most `threads` I/Os run at
// once; the rest of the queue depth waits in order. A read or write
// handed over alone is first tried on the owner's thread without waiting
// (IoEngine::served_without_waiting()), and is handed over only if the page
// cache cannot serve it: a hand-off costs a worker's wake-up, 25 to 35 µs
// at depth 1 here against 2 µs for the read (tests/bench/storage).
//
// Hand-written on std::thread rather than Boost.Asio's thread_pool: the
// queue must hand a burst over under one lock and wake the owner through an
// eventfd only when its completion list goes from empty to non-empty, which
// a generic executor would not do.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "backend/storage/io_engine.hpp"
#include "common/os/event_fd.hpp"

namespace pvsim::backend::storage {

class ThreadPoolEngine final : public IoEngine {
  public:
    // `threads` workers (at least 1).
    ThreadPoolEngine(IoTarget target, unsigned queue_depth, unsigned threads);
    // Drops the I/Os not yet started and waits for those running.
    ~ThreadPoolEngine() override;

    std::string_view name() const noexcept override { return "threads"; }
    unsigned threads() const noexcept { return static_cast<unsigned>(workers_.size()); }

    void flush_submissions() override;
    // Reset when asked for, then readable if a completion waits (see
    // thread_pool_engine.cpp): ask each time before sleeping.
    int completion_fd() const override;
    bool has_completions() const noexcept override {
        return has_ready() || completed_count_.load(std::memory_order_acquire) > 0;
    }
    std::size_t reap_into(std::span<IoCompletion> out) override;

  private:
    void prepare(std::uint32_t index) override { staged_.push_back(index); }
    void work();

    // Signalled by a worker whose completion makes the list non-empty;
    // reset by completion_fd() (const: asking for the fd before sleeping is
    // what resets it).
    mutable os::EventFd completion_event_{os::EventFd::Options{.nonblocking = true}};
    // Submitted since the last flush_submissions(); the owner's alone.
    std::vector<std::uint32_t> staged_;

    std::mutex queue_mutex_;
    std::condition_variable queue_ready_;
    std::deque<std::uint32_t> queue_;  // slots waiting for a worker
    bool stopping_ = false;

    std::mutex completed_mutex_;
    std::deque<std::pair<std::uint32_t, std::int64_t>> completed_;  // {slot, result}
    std::atomic<std::size_t> completed_count_{0};

    std::vector<std::thread> workers_;
};

}  // namespace pvsim::backend::storage
