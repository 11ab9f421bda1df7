// The definitions of RequestEngine (request_engine.hpp). Included only by the
// .cpp of each transport, which instantiates the engine for it explicitly
// (`template class RequestEngine<Transport>;`), so the engine is compiled
// once per transport and its calls into the transport are direct.
#pragma once

#include <poll.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <stdexcept>

#include <spdlog/spdlog.h>

#include "common/os/ring_thread_scheduling.hpp"
#include "frontend/request_check.hpp"
#include "frontend/request_engine.hpp"

namespace pvsim::frontend {

template <class Transport>
template <class... Args>
RequestEngine<Transport>::RequestEngine(QueueOptions options, Args&&... args)
    : options_(std::move(options)),
      capacity_(options_.capacity),
      poll_max_ns_(std::chrono::nanoseconds(options_.poll).count()),
      transport_(std::forward<Args>(args)...),
      poll_(options_.poll),
      contention_(options_.contention) {}

template <class Transport>
RequestEngine<Transport>::~RequestEngine() {
    disconnect("device closed");
    stop();
}

template <class Transport>
void RequestEngine<Transport>::start() {
    std::lock_guard lock(mutex_);
    if (!thread_.joinable() && !joined_) {
        thread_ = std::thread([this] { run(); });
    }
}

template <class Transport>
void RequestEngine<Transport>::stop() {
    if (thread_.joinable()) {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        wake();
        thread_.join();
    }
    // No completion thread from here on: callbacks still due run here, and
    // those of later submits in submit() itself.
    std::vector<std::shared_ptr<PendingIo>> done;
    {
        std::lock_guard lock(mutex_);
        joined_ = true;
        finished_.take(done);
    }
    run_callbacks(done);
}

template <class Transport>
std::uint64_t RequestEngine<Transport>::capacity_sectors() const {
    return capacity_.load(std::memory_order_relaxed);
}

template <class Transport>
std::string RequestEngine<Transport>::error() const {
    std::lock_guard lock(mutex_);
    return error_;
}

template <class Transport>
bool RequestEngine<Transport>::accepting() const {
    std::lock_guard lock(mutex_);
    return accepting_;
}

template <class Transport>
bool RequestEngine<Transport>::failed() const {
    std::lock_guard lock(mutex_);
    return failed_;
}

template <class Transport>
std::size_t RequestEngine<Transport>::on_ring() const {
    std::lock_guard lock(mutex_);
    return live_ ? transport_.on_ring() : 0;
}

template <class Transport>
typename RequestEngine<Transport>::Counters RequestEngine<Transport>::counters() const {
    return transport_.counters();
}

template <class Transport>
void RequestEngine<Transport>::set_capacity(std::uint64_t sectors) {
    capacity_.store(sectors, std::memory_order_relaxed);
}

template <class Transport>
std::chrono::microseconds RequestEngine<Transport>::poll() const {
    return std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::nanoseconds(poll_max_ns_.load(std::memory_order_relaxed)));
}

template <class Transport>
void RequestEngine<Transport>::set_poll(std::chrono::microseconds window) {
    poll_max_ns_.store(std::chrono::nanoseconds(window).count(), std::memory_order_relaxed);
}

template <class Transport>
void RequestEngine<Transport>::wake() {
    local_work_.store(true, std::memory_order_release);
    wake_.signal();
}

// ---------------------------------------------------------------------------
// Submission

template <class Transport>
void RequestEngine<Transport>::submit(std::span<BlockRequest> batch) {
    if (batch.empty()) {
        return;
    }
    const bool on_completion_thread = std::this_thread::get_id() == thread_.get_id();
    std::unique_lock lock(mutex_);
    const std::size_t finished_before = finished_.size();
    in_flight_.fetch_add(batch.size(), std::memory_order_acq_rel);
    const std::uint64_t capacity = capacity_.load(std::memory_order_relaxed);
    for (BlockRequest& request : batch) {
        auto io = std::make_shared<PendingIo>(std::move(request));
        if (io->request.fua &&
            (io->request.operation != BlockOperation::write || !transport_.supports_fua())) {
            sequence_fua(*io);
        }
        const BlockRequest& whole = io->request;
        int status = 0;
        std::vector<Plan> plans;
        if (!accepting_) {
            status = -ENODEV;
        } else if (whole.operation == BlockOperation::discard && !transport_.supports_discard()) {
            status = -EOPNOTSUPP;
        } else if (std::string why; (status = check_request(whole, capacity, why)) != 0) {
            spdlog::warn("{}: request refused: {}", options_.name, why);
        } else if (whole.operation != BlockOperation::flush || transport_.flush_reaches_device()) {
            try {
                plans = transport_.plan(whole);
            } catch (const std::invalid_argument& e) {
                spdlog::warn("{}: request refused: {}", options_.name, e.what());
                status = -EINVAL;
            }
        }
        if (plans.empty()) {
            finished_.finished(std::move(io), status);
            continue;
        }
        io->outstanding = static_cast<unsigned>(plans.size());
        for (Plan& plan : plans) {
            issue_locked(lock, std::move(plan), io, on_completion_thread);
        }
    }
    publish_locked();
    if (joined_) {
        // Stopped: no completion thread will run these.
        std::vector<std::shared_ptr<PendingIo>> done;
        finished_.take(done);
        lock.unlock();
        run_callbacks(done);
        return;
    }
    if (finished_.size() != finished_before || !queued_.empty()) {
        lock.unlock();
        wake();
    }
}

template <class Transport>
void RequestEngine<Transport>::issue_locked(std::unique_lock<std::mutex>& lock, Plan plan,
                                            const std::shared_ptr<PendingIo>& io,
                                            bool on_completion_thread) {
    for (;;) {
        if (!accepting_) {
            finished_.part_done(io, -ENODEV);
            return;
        }
        if (holding_) {
            // blkif_recover takes it back with the rest.
            queued_.push_back(Queued{std::move(plan), io});
            return;
        }
        if (queued_.empty() && transport_.put(plan, io, finished_)) {
            return;
        }
        // Let the other end see what is there before waiting for it.
        publish_locked();
        if (on_completion_thread) {
            queued_.push_back(Queued{std::move(plan), io});
            return;
        }
        // Only the completion thread's queue is ahead of us: it issues that
        // as room frees, and so may we.
        if (!queued_.empty() && transport_.put(plan, io, finished_)) {
            return;
        }
        space_.wait(lock);
    }
}

template <class Transport>
bool RequestEngine<Transport>::issue_queued_locked() {
    bool issued = false;
    while (!queued_.empty() && accepting_ && !holding_) {
        if (!transport_.put(queued_.front().plan, queued_.front().io, finished_)) {
            break;
        }
        queued_.pop_front();
        issued = true;
    }
    if (issued) {
        publish_locked();
    }
    return issued;
}

template <class Transport>
void RequestEngine<Transport>::publish_locked() {
    if (!live_) {
        return;
    }
    Publish published = transport_.publish();
    if (notify_next_ && published != Publish::nothing) {
        // The first batch after resume(): the other end's event index is
        // the old device's, not the new one's.
        notify_next_ = false;
        published = Publish::notify;
    }
    switch (published) {
        case Publish::nothing:
            return;
        case Publish::suppressed:
            transport_.live_counters().add(&Counters::notifications_suppressed);
            return;
        case Publish::notify:
            break;
    }
    try {
        transport_.notify();
        transport_.live_counters().add(&Counters::notifications_sent);
    } catch (const std::exception& e) {
        fail_locked(std::string("sending a notification: ") + e.what(), true);
    }
}

// ---------------------------------------------------------------------------
// Completion

template <class Transport>
void RequestEngine<Transport>::take_completions_locked(bool& worked) {
    bool freed = false;
    if (auto why = transport_.take_completions(finished_, freed)) {
        fail_locked(*why, true);
        worked = true;
        return;
    }
    if (freed) {
        worked = true;
        space_.notify_all();
        if (transport_.on_ring() == 0) {
            notify_idle_locked();
        }
    }
}

template <class Transport>
void RequestEngine<Transport>::stop_accepting_locked(const std::string& reason) {
    if (accepting_) {
        accepting_ = false;
        if (error_.empty()) {
            error_ = reason;
        }
    }
    for (Queued& queued : queued_) {
        finished_.part_done(queued.io, -ENODEV);
    }
    queued_.clear();
    space_.notify_all();
}

template <class Transport>
void RequestEngine<Transport>::fail_locked(const std::string& reason, bool report) {
    if (failed_ || !live_) {
        return;
    }
    if (report) {
        spdlog::error("{}: {}; device disabled for further use", options_.name, reason);
    }
    failed_ = true;
    live_ = false;  // nothing more is read from this ring
    stop_accepting_locked(reason);
    error_ = reason;
    transport_.fail_all(finished_, -ENODEV);
    failure_unreported_ = report;
    notify_idle_locked();
    wake();  // the completion thread runs the callbacks and reports it
}

template <class Transport>
void RequestEngine<Transport>::detach_locked() {
    bool worked = false;
    take_completions_locked(worked);
    stop_accepting_locked(detach_reason_);
    detach_requested_ = false;
    if (live_) {  // unless the last completions failed the queue
        transport_.fail_all(finished_, -ENODEV);
        live_ = false;
    }
    transport_.close();
    notify_idle_locked();
}

template <class Transport>
void RequestEngine<Transport>::stop_accepting(const std::string& reason) {
    {
        std::lock_guard lock(mutex_);
        stop_accepting_locked(reason);
    }
    wake();
}

template <class Transport>
void RequestEngine<Transport>::fail(const std::string& reason) {
    {
        std::lock_guard lock(mutex_);
        fail_locked(reason, false);
    }
    wake();
}

template <class Transport>
void RequestEngine<Transport>::disconnect(const std::string& reason) {
    std::unique_lock lock(mutex_);
    if (!live_) {
        // Failed or taken back already: the ring is not read any more, but
        // the transport may still hold its channel.
        transport_.close();
        return;
    }
    detach_reason_ = reason;
    if (!thread_.joinable() || std::this_thread::get_id() == thread_.get_id()) {
        // No completion thread, or from a callback: this thread is the one
        // that would do it.
        detach_locked();
        return;
    }
    detach_requested_ = true;
    lock.unlock();
    wake();
    lock.lock();
    idle_.wait(lock, [this] { return !live_; });
}

template <class Transport>
bool RequestEngine<Transport>::wait_idle(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return idle_.wait_for(lock, timeout, [this] { return !live_ || transport_.on_ring() == 0; });
}

template <class Transport>
void RequestEngine<Transport>::when_idle(std::function<void()> then) {
    {
        std::lock_guard lock(mutex_);
        if (live_ && transport_.on_ring() != 0) {
            idle_callbacks_.push_back(std::move(then));
            return;
        }
    }
    then();
}

template <class Transport>
void RequestEngine<Transport>::notify_idle_locked() {
    idle_.notify_all();
    for (auto& then : std::exchange(idle_callbacks_, {})) {
        then();
    }
}

template <class Transport>
void RequestEngine<Transport>::hold() {
    {
        std::lock_guard lock(mutex_);
        holding_ = true;
        publish_locked();
        space_.notify_all();
    }
    wake();
}

template <class Transport>
std::vector<std::shared_ptr<PendingIo>> RequestEngine<Transport>::take_back_locked(
    std::size_t* on_ring) {
    std::vector<std::shared_ptr<PendingIo>> taken;
    const auto take = [&taken](const std::shared_ptr<PendingIo>& io) {
        if (!io->recovered) {
            io->recovered = true;
            taken.push_back(io);
        }
    };
    // blkif_recover: what the driver remembers is the truth; whatever
    // the old backend did with it, it is issued again.
    if (live_) {
        transport_.take_back(take, finished_);
    }
    if (on_ring != nullptr) {
        *on_ring = taken.size();
    }
    for (Queued& queued : queued_) {
        take(queued.io);
    }
    queued_.clear();
    return taken;
}

template <class Transport>
typename RequestEngine<Transport>::Unfinished RequestEngine<Transport>::take_unfinished() {
    std::vector<std::shared_ptr<PendingIo>> taken;
    Unfinished unfinished;
    {
        std::lock_guard lock(mutex_);
        holding_ = true;
        taken = take_back_locked(&unfinished.were_on_ring);
        accepting_ = false;
        live_ = false;
        if (error_.empty()) {
            error_ = "ring taken back for a reconnect";
        }
        transport_.close();
        space_.notify_all();
        notify_idle_locked();
    }
    wake();
    unfinished.requests.reserve(taken.size());
    for (const std::shared_ptr<PendingIo>& io : taken) {
        BlockRequest request = io->request;
        request.done = std::move(io->done);
        unfinished.requests.push_back(std::move(request));
    }
    in_flight_.fetch_sub(taken.size(), std::memory_order_acq_rel);
    return unfinished;
}

template <class Transport>
std::size_t RequestEngine<Transport>::requeue() {
    std::size_t taken = 0;
    {
        std::lock_guard lock(mutex_);
        holding_ = true;
        hung_up_ = true;
        space_.notify_all();
        if (!live_) {
            return 0;
        }
        // What the device answered before it went is done.
        bool worked = false;
        take_completions_locked(worked);
        if (!live_) {
            return 0;
        }
        std::vector<std::shared_ptr<PendingIo>> unfinished = take_back_locked();
        taken = unfinished.size();
        for (std::shared_ptr<PendingIo>& io : unfinished) {
            io->recovered = false;
            io->status = 0;
            std::vector<Plan> plans;
            try {
                plans = transport_.plan(io->request);
            } catch (const std::invalid_argument& e) {
                // Planned once already with the same limits: not expected.
                spdlog::warn("{}: request refused: {}", options_.name, e.what());
            }
            if (plans.empty()) {
                finished_.finished(std::move(io), -EINVAL);
                continue;
            }
            io->outstanding = static_cast<unsigned>(plans.size());
            for (Plan& plan : plans) {
                queued_.push_back(Queued{std::move(plan), io});
            }
        }
        notify_idle_locked();
    }
    wake();
    return taken;
}

template <class Transport>
void RequestEngine<Transport>::resume() {
    {
        std::lock_guard lock(mutex_);
        holding_ = false;
        hung_up_ = false;
        notify_next_ = true;
        ++connection_;
        space_.notify_all();
    }
    wake();  // the completion thread issues what is queued
}

// ---------------------------------------------------------------------------
// The completion thread

template <class Transport>
bool RequestEngine<Transport>::serve_locked() {
    bool worked = false;
    if (live_) {
        take_completions_locked(worked);
    }
    worked = transport_.retry(finished_) || worked;
    if (live_ && !queued_.empty()) {
        worked = issue_queued_locked() || worked;
    }
    if (live_ && detach_requested_) {
        detach_locked();
        worked = true;
    }
    return worked;
}

template <class Transport>
void RequestEngine<Transport>::sequence_fua(PendingIo& io) {
    // blk_flush_policy (Linux 6.1 block/blk-flush.c): with no write cache
    // (no flush reaches the device) FUA means nothing and the write goes
    // plain; with one but no FUA, the write is followed by a flush
    // (REQ_FSEQ_POSTFLUSH) and the request completes with the flush. FUA
    // on anything but a write means nothing: it is dropped, so that no
    // transport turns a read into a barrier.
    io.request.fua = false;
    if (io.request.operation != BlockOperation::write || !transport_.flush_reaches_device()) {
        return;
    }
    io.done = [this, done = std::move(io.done)](int status) mutable {
        if (status != 0) {
            done(status);
            return;
        }
        // On the completion thread: submit() queues it if the ring is full.
        // The write is still counted in flight until this returns, so
        // wait_idle() cannot see a gap before the flush.
        BlockRequest flush{.operation = BlockOperation::flush, .done = std::move(done)};
        submit(std::span(&flush, 1));
    };
}

template <class Transport>
void RequestEngine<Transport>::run_callbacks(std::vector<std::shared_ptr<PendingIo>>& done) {
    for (const std::shared_ptr<PendingIo>& io : done) {
        if (io->done) {
            try {
                io->done(io->status);
            } catch (const std::exception& e) {
                spdlog::error("{}: completion callback threw: {}", options_.name, e.what());
            }
        }
        in_flight_.fetch_sub(1, std::memory_order_acq_rel);
    }
    done.clear();
}

template <class Transport>
bool RequestEngine<Transport>::poll_for_work(Clock::time_point idle_since) {
    // Only this thread consumes completions, so peeking at them without the
    // lock is safe; the producer index is shared.
    return spin_until<Clock>(idle_since + poll_.window(), [this] {
        return transport_.completions_pending() || local_work_.load(std::memory_order_acquire);
    });
}

template <class Transport>
bool RequestEngine<Transport>::arm_or_find_work() {
    std::lock_guard lock(mutex_);
    if (!finished_.empty() || stopping_ || failure_unreported_ || hangup_unreported_ ||
        (live_ && detach_requested_)) {
        return true;
    }
    if (!live_) {
        return false;
    }
    if (!queued_.empty() && accepting_ && !holding_ && transport_.has_room()) {
        return true;
    }
    // RING_FINAL_CHECK_FOR_RESPONSES / virtqueue_enable_cb: arm, then look
    // once more, so a completion published meanwhile is not slept through.
    return transport_.arm();
}

template <class Transport>
void RequestEngine<Transport>::sleep() {
    int notify_fd = -1;
    int hangup_fd = -1;
    int timeout_ms = -1;
    std::uint64_t connection = 0;
    {
        std::lock_guard lock(mutex_);
        if (live_) {
            notify_fd = transport_.notify_fd();
            if (!hung_up_) {
                hangup_fd = transport_.hangup_fd();
            }
        }
        connection = connection_;
        if (const auto retry = transport_.retry_interval()) {
            timeout_ms = static_cast<int>(retry->count());
        }
    }
    pollfd fds[3] = {{wake_.fd(), POLLIN, 0}, {notify_fd, POLLIN, 0}, {hangup_fd, POLLRDHUP, 0}};
    int ready = 0;
    while ((ready = ::poll(fds, 3, timeout_ms)) < 0 && errno == EINTR) {
    }
    const int poll_errno = errno;
    wake_.try_consume();
    std::lock_guard lock(mutex_);
    if (ready < 0) {
        // The fds are the queue's own, so this is no passing trouble (EINVAL,
        // ENOMEM): this queue cannot wait for its ring any more. It fails,
        // saying why; the process and its other queues go on.
        fail_locked(std::string("waiting for the ring: poll: ") + std::strerror(poll_errno), true);
        return;
    }
    if (!live_) {
        return;
    }
    if ((fds[1].revents & POLLIN) != 0 && transport_.take_notification()) {
        transport_.live_counters().add(&Counters::notifications_received);
    }
    if ((fds[2].revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0 && !hung_up_ &&
        connection == connection_) {
        if (!options_.on_hangup) {
            fail_locked(transport_.hangup_reason(), true);
            return;
        }
        // Held until the control plane has connected again (requeue,
        // resume); the hangup is not watched meanwhile, or poll would not
        // wait.
        spdlog::warn("{}: {}; requests held", options_.name, transport_.hangup_reason());
        hung_up_ = true;
        holding_ = true;
        hangup_unreported_ = true;
        space_.notify_all();
        return;
    }
    // Awake now: the other end need not notify while this thread works and
    // polls.
    transport_.disarm();
}

template <class Transport>
void RequestEngine<Transport>::run() {
    // A kernel that refuses leaves the default policy: more context
    // switches with many domains on few CPUs, nothing wrong.
    (void)os::schedule_as_ring_thread();
    std::vector<std::shared_ptr<PendingIo>> done;
    Clock::time_point idle_since = Clock::now();
    {
        std::lock_guard lock(mutex_);
        if (live_) {
            transport_.disarm();
        }
    }
    for (;;) {
        bool worked = false;
        bool busy = false;
        bool stopping = false;
        std::optional<std::string> report;
        bool hangup = false;
        {
            std::lock_guard lock(mutex_);
            local_work_.store(false, std::memory_order_relaxed);
            worked = serve_locked();
            if (failure_unreported_) {
                failure_unreported_ = false;
                report = error_;
            }
            hangup = std::exchange(hangup_unreported_, false);
            finished_.take(done);
            busy = live_ && transport_.on_ring() > 0;
            stopping = stopping_;
        }
        if (report && options_.on_failure) {
            try {
                options_.on_failure(*report);
            } catch (const std::exception& e) {
                spdlog::error("{}: failure handler: {}", options_.name, e.what());
            }
        }
        if (hangup) {
            try {
                options_.on_hangup();
            } catch (const std::exception& e) {
                spdlog::error("{}: hangup handler: {}", options_.name, e.what());
            }
            worked = true;
        }
        if (!done.empty()) {
            run_callbacks(done);
            worked = true;
        }
        if (stopping) {
            return;
        }
        if (worked) {
            idle_since = Clock::now();
            continue;
        }
        poll_.set_max(std::chrono::nanoseconds(poll_max_ns_.load(std::memory_order_relaxed)));
        // A spin while other threads wait for a CPU takes it from them,
        // often from the backend this queue waits for: sleep instead.
        if (busy && poll_.enabled() && !contention_.contended(Clock::now()) &&
            poll_for_work(idle_since)) {
            continue;
        }
        if (arm_or_find_work()) {
            continue;
        }
        sleep();
        if (busy) {
            poll_.record(Clock::now() - idle_since);
        }
    }
}

}  // namespace pvsim::frontend
