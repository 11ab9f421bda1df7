// One queue of a block driver, generic over its transport (a Xen blkif ring
// or a virtio-blk virtqueue), in the manner of Seastar's vring<>: everything
// that is not the transport lives here once, so that Xen PV and virtio are
// compared on the transport alone. In Linux terms it is the part of a blk-mq
// driver around queue_rq and the completion interrupt that xen-blkfront.c
// (blkif_queue_rq, blkif_interrupt, blkif_completion) and virtio_blk.c
// (virtio_queue_rq, virtio_commit_rqs, virtblk_done) each write for
// themselves.
//
// The engine owns:
//  - submission: each request is checked (request_check.hpp), split by the
//    transport into parts, and each part put on the ring; a whole batch is
//    published with one notify decision (RING_PUSH_REQUESTS_AND_CHECK_NOTIFY
//    / virtqueue_kick_prepare), so the other end is notified at most once per
//    batch. A full ring blocks the submitter, after publishing what it put,
//    until completions free room; on the completion thread itself (a
//    callback that submits) the rest waits in the queue and is issued as
//    room frees, since that thread is the one that frees it;
//  - completion: one thread takes completions from the transport, finishes
//    the parts of each request (pending_io.hpp) and runs the callbacks,
//    outside the lock. Before sleeping it polls adaptively
//    (common/adaptive_poll.hpp, DESIGN.md §10) while requests are out and
//    no more threads are runnable than there are CPUs
//    (common/os/cpu_contention.hpp), and only then arms the transport's
//    notification and looks once more, so no completion is slept through;
//  - stop and failure: stop_accepting() (new and waiting requests complete
//    with -ENODEV, those on the ring still complete), fail() or a
//    completion the transport cannot trust (everything pending completes
//    with -ENODEV, the FailureHandler is told once, from the completion
//    thread), disconnect() (the last completions, then -ENODEV for the rest
//    and the ring let go), wait_idle() or when_idle() (its callback form,
//    for a control plane that must not block), the hold / take_unfinished pair
//    that blkif_recover uses to move requests to new rings, and the
//    requeue / resume pair of a vhost-user reconnect (QEMU's reconnect=),
//    which keeps the ring and issues the unfinished requests on it again.
//
// A Transport is one ring seen from the driver. The engine calls each of its
// methods under the queue lock, except where marked:
//   using Plan;                        one transport request
//   std::vector<Plan> plan(const BlockRequest&);
//                                      split a checked request (throws
//                                      std::invalid_argument if it cannot)
//   bool supports_discard() const;     false: a discard fails -EOPNOTSUPP
//   bool supports_fua() const;         true: a write with fua goes to the
//                                      ring as it is (plan() carries it);
//                                      false: the engine sequences it as
//                                      blk-flush.c does (write, then flush)
//   bool flush_reaches_device() const; false: a flush completes at once with
//                                      0 (the device writes through)
//   bool put(Plan&, const std::shared_ptr<PendingIo>&, FinishedIo&);
//                                      put one part on the ring; false when
//                                      there is no room. A part that cannot
//                                      be issued at all (no grant, no
//                                      memory) is finished with its error in
//                                      FinishedIo, and put returns true
//   bool has_room() const;
//   Publish publish();                 make what was put visible; whether the
//                                      other end wants a notification
//   void notify();                     send it (may throw)
//   std::optional<std::string> take_completions(FinishedIo&, bool& worked);
//                                      finish the parts the other end
//                                      answered; why, when an answer cannot
//                                      be trusted
//   bool completions_pending() const;  lock-free peek, completion thread only
//   bool arm();                        re-enable notifications, then look
//                                      once more: true if work came meanwhile
//   void disarm();                     awake: the other end need not notify
//   int notify_fd() const;             readable when the other end notified
//   bool take_notification();          consume it; true if there was one
//   int hangup_fd() const;             -1, or a socket whose hangup fails the
//                                      queue (the vhost-user connection), or
//                                      holds it (QueueOptions::on_hangup)
//   std::string hangup_reason() const; the error() that hangup gives
//   std::uint32_t sector_size() const; bool read_only() const;
//                                      as the other end published them
//   std::size_t on_ring() const;       parts issued and not yet answered
//   std::optional<std::chrono::milliseconds> retry_interval() const;
//   bool retry(FinishedIo&);           work the transport deferred (grants
//                                      the backend still maps) or does on
//                                      a timer (blkfront's persistent-grant
//                                      purge), on the completion thread at
//                                      least every retry_interval
//   void fail_all(FinishedIo&, int status);
//                                      finish every part still out with
//                                      `status`; nothing of the ring is
//                                      trusted any more
//   template <class F> void take_back(F&& take, FinishedIo&);
//                                      blkif_recover: hand every request on
//                                      the ring to `take` without finishing it
//                                      (for requeue(): and leave the ring
//                                      empty and usable)
//   void close();                      the ring is let go (after fail_all or
//                                      take_back)
//   Counters counters() const;         lock-free snapshot (common/counter_set.hpp)
//   LiveCounters<Counters>& live_counters();
//                                      where the engine counts
//                                      notifications_{sent,suppressed,received}
// The engine is instantiated explicitly for each transport, in the
// transport's own .cpp (request_engine_impl.hpp).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/adaptive_poll.hpp"
#include "common/os/cpu_contention.hpp"
#include "common/os/event_fd.hpp"
#include "frontend/block_device.hpp"
#include "frontend/pending_io.hpp"

namespace pvsim::frontend {

// What a transport's publish() found.
enum class Publish {
    nothing,     // nothing new on the ring
    notify,      // the other end sleeps: notify it
    suppressed,  // the other end is awake or polling (its event index says so)
};

struct QueueOptions {
    std::string name;                    // in logs and errors, e.g. "blkfront device/vbd/51712"
    std::uint64_t capacity = 0;          // sectors; set_capacity() changes it
    std::chrono::microseconds poll{50};  // the polling window's maximum; 0 = off
    // Where the queue learns that more threads are runnable than the
    // machine has CPUs, when it does not poll (common/os/cpu_contention.hpp).
    os::CpuContention::Options contention;
    std::function<void(const std::string& reason)> on_failure;  // told once
    // Set: the other end hanging up (Transport::hangup_fd) does not fail the
    // queue; the queue holds (hold()) and tells this, from the completion
    // thread, so that the control plane connects again (QEMU's
    // vhost_user_blk_event, CHR_EVENT_CLOSED) and then requeue()s and
    // resume()s. Only hand the news on: it may be told more than once.
    std::function<void()> on_hangup;
};

template <class Transport>
class RequestEngine : public BlockDevice {
  public:
    using Plan = typename Transport::Plan;
    using Counters = typename Transport::Counters;

    // The transport is built in place from `args`. No thread yet: start()
    // once the other end has the ring.
    template <class... Args>
    explicit RequestEngine(QueueOptions options, Args&&... args);
    // disconnect("device closed"), then stop(). Not from a completion
    // callback.
    ~RequestEngine() override;
    RequestEngine(const RequestEngine&) = delete;
    RequestEngine& operator=(const RequestEngine&) = delete;

    // Starts the completion thread. Idempotent.
    void start();
    // Stops the completion thread once the callbacks due have run;
    // callbacks of later submits run in submit() itself. Idempotent. Not
    // from a completion callback.
    void stop();

    // BlockDevice. A read, write or discard past the capacity completes with
    // -EIO, a malformed request with -EINVAL, a discard the transport does
    // not support with -EOPNOTSUPP, a flush it does not carry at once with
    // 0, any request once stopped with -ENODEV. in_flight() counts a request
    // from submit() until its callback has returned.
    std::uint64_t capacity_sectors() const override;
    std::uint32_t sector_size() const override { return transport_.sector_size(); }
    bool read_only() const override { return transport_.read_only(); }
    void submit(std::span<BlockRequest> batch) override;
    std::size_t in_flight() const override { return in_flight_.load(std::memory_order_acquire); }
    std::string error() const override;

    // The transport's counters, the notifications counted here among them.
    Counters counters() const;
    // The other end announced a new size (Linux's blkfront_connect resize,
    // virtio's config change).
    void set_capacity(std::uint64_t sectors);
    // The polling window's maximum ("poll-us"), and a new one.
    std::chrono::microseconds poll() const;
    void set_poll(std::chrono::microseconds window);

    // New requests, and those waiting for room, complete with -ENODEV;
    // those on the ring still complete. `reason` becomes error().
    void stop_accepting(const std::string& reason);
    // Fails the queue as an untrusted completion would, without telling the
    // FailureHandler (for errors the control plane finds).
    void fail(const std::string& reason);
    // The other end has let go of the ring: takes the last completions,
    // completes whatever is still pending with -ENODEV and closes the
    // transport; the ring is not used once this returns. Idempotent.
    void disconnect(const std::string& reason);
    // Waits until nothing is on the ring (or the queue failed); false if
    // `timeout` passed first.
    bool wait_idle(std::chrono::milliseconds timeout);
    // wait_idle without waiting: runs `then` once nothing is on the ring
    // (or the queue failed or let go of it), at once if that is so now,
    // else on the thread that frees the ring, under the queue lock - so it
    // must only hand the news on (post it to an executor), never block or
    // call into the queue. Dropped unrun if the queue goes first. How a
    // control plane waits for a drain without blocking its executor.
    void when_idle(std::function<void()> then);

    // blkif_recover, first half: nothing more goes on the ring (new requests
    // and those waiting for room stay queued); completions are still taken.
    // Wakes submitters waiting for room.
    void hold();
    // blkif_recover, second half (once no submit() is running): takes back
    // every request not yet completed (on the ring or queued), without
    // running its callback, and closes the transport. The requests come back
    // whole, with their callbacks, to be issued again on a new ring.
    struct Unfinished {
        std::vector<BlockRequest> requests;
        // Of them, those with a part on the ring: issued once already, so
        // issued again (blkif_recover's). The rest waited in the queue (a
        // submit that came as hold() did) and were never issued.
        std::size_t were_on_ring = 0;
    };
    Unfinished take_unfinished();

    // A device that went away and is connected to again (QEMU's
    // vhost_user_blk_disconnect / vhost_user_blk_connect with reconnect=):
    // the queue holds (as hold()) and stops watching the hangup fd; the
    // last completions are taken, then every request not yet completed (on
    // the ring or queued) is taken back from the ring (whose take_back
    // leaves it empty and usable) and queued again, whole and re-split, as
    // blkif_recover issues its requests again. Reads, writes, flushes and
    // discards may be issued twice: each leaves the disk as once does. Their
    // callbacks run once, with the outcome of the last issue. Returns how
    // many requests were taken back; none once the queue failed.
    std::size_t requeue();
    // After requeue(), once the other end has the ring again: the hangup fd
    // is watched again and what is queued is issued. The first batch put on
    // the ring from then on notifies whatever the ring's event index says:
    // the index there is the one the old device left (with EVENT_IDX, one
    // behind entries it had not taken says no kick is needed), and the new
    // device has written none yet - as libvhost-user kicks its own queue
    // when it resubmits after a reconnect (vu_check_queue_inflights).
    void resume();

    bool accepting() const;
    // True once an untrusted completion (or fail()) failed the queue.
    bool failed() const;
    // Parts on the ring now (issued, not yet answered).
    std::size_t on_ring() const;
    // The thread that takes this queue's completions and runs its
    // callbacks: a submit from it never waits for room (it is the one that
    // frees it), so a callback's submit must come back to this queue
    // (queue_map.hpp).
    std::thread::id completion_thread() const noexcept { return thread_.get_id(); }
    const std::string& name() const noexcept { return options_.name; }

  protected:
    Transport& transport() noexcept { return transport_; }
    const Transport& transport() const noexcept { return transport_; }

  private:
    using Clock = std::chrono::steady_clock;

    struct Queued {  // a part waiting for room on the ring
        Plan plan;
        std::shared_ptr<PendingIo> io;
    };

    void issue_locked(std::unique_lock<std::mutex>& lock, Plan plan,
                      const std::shared_ptr<PendingIo>& io, bool on_completion_thread);
    bool issue_queued_locked();
    void publish_locked();
    void take_completions_locked(bool& worked);
    void stop_accepting_locked(const std::string& reason);
    // Every request not yet completed, from the ring and the queue, each
    // once, marked recovered; the queue is left empty. `on_ring` is set to
    // how many of them came off the ring.
    std::vector<std::shared_ptr<PendingIo>> take_back_locked(std::size_t* on_ring = nullptr);
    void fail_locked(const std::string& reason, bool report);
    void detach_locked();
    // Wakes wait_idle and runs when_idle's callbacks.
    void notify_idle_locked();

    // The completion thread.
    void run();
    bool serve_locked();
    // A write with fua on a transport without FUA (blk_flush_policy), or
    // fua on anything but a write (dropped).
    void sequence_fua(PendingIo& io);
    void run_callbacks(std::vector<std::shared_ptr<PendingIo>>& done);
    // Polls the ring (and the flag set when local work arrives) until the
    // window since `idle_since` ends; true if work showed up.
    bool poll_for_work(Clock::time_point idle_since);
    // Arms the transport's notification; true if work is there after all.
    bool arm_or_find_work();
    void sleep();
    void wake();

    const QueueOptions options_;
    std::atomic<std::uint64_t> capacity_;
    std::atomic<std::int64_t> poll_max_ns_;

    mutable std::mutex mutex_;       // the queue lock: everything below up to the counters
    std::condition_variable space_;  // room freed, or the queue stopped accepting or holds
    std::condition_variable idle_;   // nothing on the ring any more, or the ring let go
    std::vector<std::function<void()>> idle_callbacks_;  // when_idle's, until then
    Transport transport_;
    std::deque<Queued> queued_;
    FinishedIo finished_;  // callbacks to run
    bool accepting_ = true;
    bool live_ = true;     // the ring is served (not failed, disconnected or taken back)
    bool failed_ = false;  // an untrusted completion or fail()
    bool holding_ = false;
    bool failure_unreported_ = false;
    bool hung_up_ = false;  // on_hangup: the other end went; the hangup fd is not watched
    bool hangup_unreported_ = false;
    std::uint64_t connection_ = 0;  // resume()s: a hangup seen on an older one is stale
    bool notify_next_ = false;      // resume(): the next batch notifies whatever publish() says
    bool detach_requested_ = false;
    bool stopping_ = false;
    bool joined_ = false;  // stop() is done: no completion thread any more
    std::string error_;
    std::string detach_reason_;

    std::atomic<bool> local_work_{false};
    std::atomic<std::size_t> in_flight_{0};

    os::EventFd wake_{os::EventFd::Options{.nonblocking = true}};
    AdaptivePoll poll_;             // the completion thread's own
    os::CpuContention contention_;  // the completion thread's own
    std::thread thread_;
};

}  // namespace pvsim::frontend
