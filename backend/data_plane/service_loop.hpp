// The loop of every backend data-plane thread, written once for blkback's
// rings and the vhost-user-blk device's virtqueues: Linux's
// xen_blkif_schedule (xen-blkback/blkback.c) and QEMU's iothread running
// virtio_blk_handle_vq under aio_poll (util/aio-posix.c) are one shape:
//
//   reap the I/O completions        (an answer, or a second stage: the flush)
//   take requests off the ring      (while serving; at most a PassBudget of
//                                    data, pass_budget.hpp)
//   reap again                      (what the engine finished as it started it)
//   publish the answers             (one push, one notification check)
//   stopped and nothing in flight?  leave
//   did any of that?                again
//   poll adaptively                 (common/adaptive_poll.hpp, DESIGN.md §10;
//                                    not while more threads are runnable
//                                    than CPUs: common/os/cpu_contention.hpp)
//   arm notifications, look once more, then sleep on
//     {I/O completions, stop, the ring's notification fd}
//
// It is generic over the device it serves, as Seastar's vring<> is over its
// transport, so every call below inlines: no virtual call per request. The
// loop owns the thread, the I/O engine (one slot per ring slot), the polling
// window, the stop and failure flags, and the completion triage (the bytes
// expected, -EOPNOTSUPP, short I/O); the device owns its ring and its
// requests. A Device supplies, each called on the loop's thread only:
//
//   bool take_requests()          takes what the ring offers and starts it
//                                 (engine().flush_submissions() included);
//                                 whether it took any. Called while serving.
//   bool has_requests() const     the ring holds requests it would take now,
//                                 without a system call. Called while serving.
//   void publish()                pushes this pass's answers, notifying the
//                                 other end when the ring says so.
//   void suppress_notifications() while the loop polls, while serving.
//   Arm arm_and_recheck()         asks for a notification at the next
//                                 request, then looks once more (blkback's
//                                 RING_FINAL_CHECK_FOR_REQUESTS, virtio's
//                                 avail_event). Called while serving.
//   int notify_fd() const         readable when the other end notified.
//   int sleep_timeout_ms() const  how long the loop may sleep with nothing
//                                 to do before the device has timed work
//                                 (-1: for ever); after such a wake the loop
//                                 makes a pass (blkback: the persistent-grant
//                                 purge, xen_blkif_schedule's LRU_INTERVAL).
//   bool consume_notification()   takes it; whether there was one.
//   IoExpectation expect(slot)    what the slot's current I/O stage moves.
//   bool stage_done(slot)         that stage did all it was asked: counted;
//                                 true when a flush must follow before the
//                                 answer (the loop submits it).
//   void complete(slot, IoOutcome)  answers the request (or holds the answer
//                                 until completions_reaped()).
//   std::string describe(slot)    "request 5 (read)", for the warnings.
//   void completions_reaped()     after each reap pass.
//   void abandon(slot)            after a failure: the I/O is done, the
//                                 request is not answered; its buffers go.
//   void release_after_failure()  after a failure, once no I/O is in flight.
//   void on_failure(reason)       the ring or queue stops for good: log it
//                                 and tell the control plane. Once; must not
//                                 block.
//
// A failure is either the device's (a ring it cannot trust: fail()) or the
// loop's (an exception, such as poll(2) failing: DESIGN.md §10). Either way
// nothing more is taken from that ring, the I/O in flight finishes before
// its buffers are released, the reason goes to on_failure(), and every other
// ring and queue of the process keeps running.
#pragma once

#include <poll.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include "backend/data_plane/late_eoi.hpp"
#include "backend/storage/backing_store.hpp"
#include "backend/storage/io_engine.hpp"
#include "backend/storage/make_engine.hpp"
#include "common/adaptive_poll.hpp"
#include "common/os/cpu_contention.hpp"
#include "common/os/event_fd.hpp"
#include "common/os/ring_thread_scheduling.hpp"

namespace pvsim::backend::data_plane {

// What a completed I/O stage should have given.
struct IoExpectation {
    // The bytes a read or write stage moves; 0 for flush, discard and
    // write-zeroes.
    std::int64_t bytes = 0;
    // -EOPNOTSUPP is an answer of its own (blkif's BLKIF_RSP_EOPNOTSUPP,
    // virtio's VIRTIO_BLK_S_UNSUPP) rather than an error: discard and
    // write-zeroes, which the store may not do.
    bool may_be_unsupported = false;
};

enum class IoOutcome { ok, unsupported, error };

enum class Arm {
    armed,       // the loop may sleep on notify_fd()
    not_armed,   // nothing can be taken now (no free slot): sleep without it
    work_found,  // requests arrived meanwhile: no sleep
};

// The counters the loop itself keeps, in the device's counter set.
// Each bumps one counter (common/counter_set.hpp's LiveCounters); called at
// most once a pass, never per request.
struct LoopCounters {
    std::function<void()> notifications_received;
    std::function<void()> poll_hits;
    std::function<void()> sleeps;
    // Times the loop asked its peer for an event before sleeping
    // (arm_and_recheck: RING_FINAL_CHECK_FOR_REQUESTS moving req_event, or
    // a virtqueue's notifications enabled again). A peer notifies only past
    // such a request, so its notifications are at most these plus the first.
    std::function<void()> events_armed;
    // Notifications after which the ring held no request (Linux xenbus's
    // spurious_events), with LoopOptions::late_eoi only.
    std::function<void()> spurious_events;
};

struct LoopOptions {
    // The polling window's upper bound; 0: no polling.
    std::chrono::microseconds poll_max{50};
    // Where the loop learns that more threads are runnable than the
    // machine has CPUs, when it does not poll (common/os/cpu_contention.hpp).
    os::CpuContention::Options contention;
    storage::EngineKind engine = storage::EngineKind::automatic;
    // Slots of the I/O engine: one per ring slot, so the engine never
    // refuses a request the other end may have outstanding.
    unsigned queue_depth = 0;
    // Takes notifications late after spurious ones (late_eoi.hpp): Linux
    // blkback's event channel does (XSA-332); QEMU's virtqueue ioeventfd
    // does not.
    bool late_eoi = false;
};

// Blocks in poll(2) until one of fds[0..count) is ready or `timeout_ms`
// passed (-1: no timeout); retries on EINTR. Throws std::system_error
// ("poll: ...") on any other failure.
void wait_for_events(pollfd* fds, nfds_t count, int timeout_ms = -1);
// A failed I/O stage, logged as "<name>: <what>: <strerror>" or "<name>:
// <what>: N of M bytes".
void warn_io_failed(std::string_view name, const std::string& what, std::int64_t result,
                    std::int64_t expected);
// After a failure: blocks until the engine has a completion (one poll(2) on
// its fd), falling back to a 1 ms pause when even that poll fails, since the
// buffers of the I/O in flight cannot be released before it is done. Throws
// what the engine's completion_fd() throws.
void wait_for_completion(const storage::IoEngine& engine, std::string_view name);
void log_error(std::string_view name, std::string_view what) noexcept;
// The ring's events begin to be taken late (late_eoi.hpp), after `spurious`
// spurious ones: a warning the first time for the ring, debug after.
void report_late_events(std::string_view name, unsigned spurious, bool first);
std::unique_ptr<storage::IoEngine> make_loop_engine(const storage::BackingStore& store,
                                                    const LoopOptions& options);

template <typename Device>
class ServiceLoop {
  public:
    using Clock = std::chrono::steady_clock;

    // Creates the I/O engine on `store` (which must outlive the loop).
    // Throws std::system_error when the engine cannot be set up. The thread
    // starts with start(), once the device is ready for its calls.
    ServiceLoop(Device& device, const storage::BackingStore& store, LoopOptions options,
                LoopCounters counters, std::string name)
        : device_(device),
          counters_(counters),
          name_(std::move(name)),
          poll_(options.poll_max),
          contention_(options.contention),
          engine_(make_loop_engine(store, options)) {
        if (options.late_eoi) {
            late_eoi_.emplace();
        }
    }
    ~ServiceLoop() { stop(); }
    ServiceLoop(const ServiceLoop&) = delete;
    ServiceLoop& operator=(const ServiceLoop&) = delete;

    void start() {
        thread_ = std::thread([this] { run(); });
    }

    // Takes no more requests, lets the I/O in flight finish and answers it,
    // joins the thread. False when it was stopped already.
    bool stop() {
        if (!thread_.joinable()) {
            return false;
        }
        stop_requested_.store(true, std::memory_order_release);
        stop_event_.signal();
        thread_.join();
        return true;
    }

    // The ring or queue stops for good: the device calls this on a ring it
    // cannot trust. Only the first reason is reported.
    void fail(const std::string& reason) {
        if (failed_.exchange(true, std::memory_order_acq_rel)) {
            return;
        }
        device_.on_failure(reason);
    }

    bool failed() const noexcept { return failed_.load(std::memory_order_acquire); }
    // Requests may be taken: not failed, not stopping.
    bool serving() const noexcept {
        return !failed_.load(std::memory_order_relaxed) &&
               !stop_requested_.load(std::memory_order_relaxed);
    }
    storage::IoEngine& engine() noexcept { return *engine_; }
    const storage::IoEngine& engine() const noexcept { return *engine_; }
    const std::string& name() const noexcept { return name_; }

  private:
    static void count(const std::function<void()>& counter) noexcept {
        if (counter) {
            counter();
        }
    }

    void run() noexcept {
        // A kernel that refuses leaves the default policy: more context
        // switches with many domains on few CPUs, nothing wrong.
        (void)os::schedule_as_ring_thread();
        try {
            loop();
            return;
        } catch (const std::exception& e) {
            fail(std::string("the data-plane loop failed: ") + e.what());
        } catch (...) {
            fail("the data-plane loop failed");
        }
        drain_after_failure();
    }

    void loop() {
        // A notification sent before the loop started is stale (bind left
        // the port pending, a kick came before the queue started): the
        // first pass looks at the ring anyway.
        (void)device_.consume_notification();
        for (;;) {
            bool worked = reap_completions();
            const bool took = serving() && device_.take_requests();
            if (took) {
                // What the engine finished as it started it (the sync
                // engine's reads, io_uring's page-cache hits) is answered
                // in this pass, not after the next one's requests.
                (void)reap_completions();
            }
            worked = took || worked;
            took_since_eoi_ = took_since_eoi_ || took;
            device_.publish();
            if (stop_requested_.load(std::memory_order_acquire) && engine_->in_flight() == 0) {
                return;
            }
            if (worked) {
                continue;
            }
            if (poll_for_work()) {
                continue;
            }
            sleep();
        }
    }

    // The end of a notification, where Linux's xen_blkif_schedule() calls
    // xen_irq_lateeoi(): the loop found no more work and goes back to its
    // notification fd. The notification was spurious if no request was
    // taken since the last end (late_eoi.hpp).
    void end_of_event() {
        if (!late_eoi_ || !event_pending_) {
            return;
        }
        event_pending_ = false;
        const bool took = took_since_eoi_;
        took_since_eoi_ = false;
        if (!took) {
            count(counters_.spurious_events);
        }
        const auto delay = late_eoi_->event_handled(took, Clock::now());
        if (delay.count() == 0 || late_eoi_->spurious_in_a_row() != LateEoi::kThreshold + 1) {
            return;
        }
        // Once per storm, when the delays begin; a warning the first time.
        report_late_events(name_, late_eoi_->spurious_in_a_row(), !storm_reported_);
        storm_reported_ = true;
    }

    bool has_work() const noexcept {
        if (engine_->has_completions() || stop_requested_.load(std::memory_order_relaxed)) {
            return true;
        }
        return serving() && device_.has_requests();
    }

    bool reap_completions() {
        if (!engine_->has_completions()) {
            return false;
        }
        resubmitted_ = false;
        const std::size_t reaped =
            engine_->reap([this](const storage::IoCompletion& c) { on_completion(c); });
        if (resubmitted_) {
            engine_->flush_submissions();
        }
        device_.completions_reaped();
        return reaped != 0;
    }

    void on_completion(const storage::IoCompletion& completion) {
        const auto slot = static_cast<std::uint32_t>(completion.tag);
        const IoExpectation expected = device_.expect(slot);
        if (completion.result != expected.bytes) {
            if (expected.may_be_unsupported && completion.result == -EOPNOTSUPP) {
                // Linux dispatch_discard_io: "err == -EOPNOTSUPP" ->
                // BLKIF_RSP_EOPNOTSUPP; QEMU: VIRTIO_BLK_S_UNSUPP.
                device_.complete(slot, IoOutcome::unsupported);
                return;
            }
            warn_io_failed(name_, device_.describe(slot), completion.result, expected.bytes);
            device_.complete(slot, IoOutcome::error);
            return;
        }
        if (device_.stage_done(slot)) {
            if (engine_->submit_flush(slot)) {
                resubmitted_ = true;
                return;
            }
            device_.complete(slot, IoOutcome::error);
            return;
        }
        device_.complete(slot, IoOutcome::ok);
    }

    bool poll_for_work() {
        poll_start_ = Clock::now();
        // A spin while other threads wait for a CPU takes it from them,
        // often from the peer this loop waits for: sleep instead.
        if (!poll_.enabled() || poll_.window() == AdaptivePoll::Duration::zero() ||
            contention_.contended(poll_start_)) {
            return false;
        }
        if (serving()) {
            device_.suppress_notifications();
        }
        if (!spin_until<Clock>(poll_start_ + poll_.window(), [this] { return has_work(); })) {
            return false;
        }
        poll_.record(Clock::now() - poll_start_);
        count(counters_.poll_hits);
        return true;
    }

    void sleep() {
        end_of_event();
        const Arm arm = serving() ? device_.arm_and_recheck() : Arm::not_armed;
        if (arm != Arm::not_armed) {
            count(counters_.events_armed);
        }
        if (arm == Arm::work_found || engine_->has_completions()) {
            return;
        }
        bool armed = arm == Arm::armed;
        int timeout_ms = device_.sleep_timeout_ms();
        if (armed && late_eoi_) {
            // Events wait out the delay: the ring's thread sleeps without
            // its notification fd (the unmask Linux puts off), then looks.
            const auto held = late_eoi_->holding(Clock::now());
            if (held.count() > 0) {
                armed = false;
                const int held_ms = static_cast<int>(held.count());
                timeout_ms = timeout_ms < 0 ? held_ms : std::min(timeout_ms, held_ms);
            }
        }
        pollfd fds[3] = {
            {engine_->completion_fd(), POLLIN, 0},
            {stop_event_.fd(), POLLIN, 0},
            {device_.notify_fd(), POLLIN, 0},
        };
        count(counters_.sleeps);
        wait_for_events(fds, armed ? 3 : 2, timeout_ms);
        poll_.record(Clock::now() - poll_start_);
        if (armed && (fds[2].revents & POLLIN) != 0 && device_.consume_notification()) {
            count(counters_.notifications_received);
            event_pending_ = true;
        }
        if ((fds[1].revents & POLLIN) != 0) {
            (void)stop_event_.try_consume();
        }
    }

    // After a failure the loop's state is not trusted, so nothing more is
    // answered; the I/O in flight still finishes before its buffers go.
    void drain_after_failure() noexcept {
        try {
            while (engine_->in_flight() != 0) {
                if (!engine_->has_completions()) {
                    wait_for_completion(*engine_, name_);
                }
                engine_->reap([this](const storage::IoCompletion& c) {
                    device_.abandon(static_cast<std::uint32_t>(c.tag));
                });
            }
            device_.release_after_failure();
        } catch (const std::exception& e) {
            log_error(name_, std::string("draining after a failure: ") + e.what());
        }
    }

    Device& device_;
    const LoopCounters counters_;
    const std::string name_;
    AdaptivePoll poll_;
    os::CpuContention contention_;
    std::unique_ptr<storage::IoEngine> engine_;

    // The loop thread's own.
    bool resubmitted_ = false;
    Clock::time_point poll_start_{};
    // Late EOI (late_eoi.hpp): a notification taken and not ended yet, and
    // whether requests were taken since the last end.
    bool event_pending_ = false;
    bool took_since_eoi_ = false;
    std::optional<LateEoi> late_eoi_;
    bool storm_reported_ = false;

    std::atomic<bool> stop_requested_{false};
    std::atomic<bool> failed_{false};
    os::EventFd stop_event_{os::EventFd::Options{.nonblocking = true}};
    std::thread thread_;
};

}  // namespace pvsim::backend::data_plane
