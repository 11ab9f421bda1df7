// The virtio-blk driver's data plane for one virtqueue (Linux virtio_blk.c:
// virtio_queue_rq / virtio_commit_rqs, virtblk_done), as blkfront_device.hpp
// is blkfront's for one ring. It never speaks vhost-user: the control plane
// (virtio_blk.cpp) hands the queue's addresses and eventfds to the device
// and then start()s it.
//
// Submission: each BlockRequest is split into virtio-blk requests
// (request_builder.hpp); each gets a request slot in guest memory holding
// its header, discard range and status byte, and goes on the queue as one
// chain (virtqueue_driver.hpp: indirect when negotiated). A whole batch is
// followed by one kick decision, so the device is kicked at most once per
// batch and not at all while its avail_event says it is awake. A full queue
// blocks the submitter until used entries free room; on the completion
// thread itself (a callback that submits) the rest is queued and issued as
// room frees, since that thread is the one that frees it.
//
// Completion: one thread takes used entries, reads each request's status
// byte and runs the callbacks. It polls adaptively before sleeping
// (adaptive_poll.hpp, DESIGN.md §10) with the device's notifications
// disabled, then re-enables them (used_event) and looks once more before
// waiting on the call eventfd. It also watches the vhost-user socket: the
// device hanging up fails the queue.
//
// Failure (a used entry the device could not have written, the device gone,
// or fail()): error() says why, every request in flight completes with
// -ENODEV, later ones too; the FailureHandler is told once, from the
// completion thread.
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
#include <vector>

#include "common/adaptive_poll.hpp"
#include "common/os/event_fd.hpp"
#include "frontend/block_device.hpp"
#include "frontend/virtio_blk/counters.hpp"
#include "frontend/virtio_blk/guest_page.hpp"
#include "frontend/virtio_blk/negotiate.hpp"
#include "frontend/virtio_blk/request_builder.hpp"
#include "frontend/virtio_blk/virtqueue_driver.hpp"
#include "hypervisor/client/domain_memory.hpp"

namespace pvsim::frontend::virtio_blk {

struct QueueConfig {
    std::string name;  // in logs and errors, e.g. "vhost-user-blk /run/x.sock queue 0"
    std::uint32_t queue_size = VirtqueueDriver::kMaxQueueSize;
    DiskConfig disk;                     // negotiated features, capacity, limits
    std::chrono::microseconds poll{50};  // the polling window's maximum; 0 = off
    int hangup_fd = -1;                  // the vhost-user socket (watched, never read)
};

class VirtioBlkQueue {
  public:
    using FailureHandler = std::function<void(const std::string& reason)>;

    // Lays the queue and its request slots out in `memory` (which must
    // outlive this) and creates its kick and call eventfds. No thread yet.
    VirtioBlkQueue(hypervisor::DomainMemory& memory, QueueConfig config,
                   FailureHandler on_failure = {});
    // fail("device closed") and stop(). Not from a completion callback.
    ~VirtioBlkQueue();
    VirtioBlkQueue(const VirtioBlkQueue&) = delete;
    VirtioBlkQueue& operator=(const VirtioBlkQueue&) = delete;

    // For the handshake: where the queue lies, and the eventfds to send.
    const VirtqueueDriver& virtqueue() const noexcept { return vq_; }
    int kick_fd() const noexcept { return kick_.fd(); }
    int call_fd() const noexcept { return call_.fd(); }
    // Takes what the call eventfd holds (the device signals it once on
    // SET_VRING_CALL, as libvhost-user does "in case of I/O hang after
    // reconnecting").
    void drain_call() { call_.try_consume(); }
    // Starts the completion thread (once the device has the queue).
    void start();

    // BlockDevice's submit, for this queue: read/write/discard past the
    // capacity complete with -EIO, malformed requests with -EINVAL, a
    // discard without VIRTIO_BLK_F_DISCARD with -EOPNOTSUPP, a flush without
    // VIRTIO_BLK_F_FLUSH at once with 0 (as blkfront's without a flush
    // feature: such a device writes through). A write to a read-only device
    // goes to the device, which refuses it (VIRTIO_BLK_S_IOERR: -EIO), as
    // blkfront lets it reach blkback. Callbacks run on the completion thread.
    void submit(std::span<BlockRequest> batch);
    // Requests submitted here whose callbacks have not returned yet.
    std::size_t in_flight() const noexcept { return in_flight_.load(std::memory_order_acquire); }

    // New requests, and those waiting for room, complete with -ENODEV;
    // those on the queue still complete.
    void stop_accepting(const std::string& reason);
    // Waits until no request is on the queue (or the queue failed); false
    // if `timeout` passed first.
    bool wait_idle(std::chrono::milliseconds timeout);
    // Fails the queue (without calling the FailureHandler): everything
    // pending completes with -ENODEV.
    void fail(const std::string& reason);
    bool failed() const;
    std::string error() const;
    // Runs the callbacks still due and joins the completion thread.
    // Idempotent. Not from a completion callback.
    void stop();

    VirtioBlkCounters counters() const;
    std::thread::id completion_thread() const noexcept { return thread_.get_id(); }

  private:
    using Clock = std::chrono::steady_clock;

    struct PendingIo {  // one BlockRequest, perhaps split in several requests
        BlockCompletion done;
        unsigned outstanding = 0;
        int status = 0;
        bool finish_part(int part_status) noexcept {
            if (status == 0 && part_status != 0) {
                status = part_status;
            }
            return --outstanding == 0;
        }
    };
    struct Queued {  // a request waiting for room on the queue
        VirtioBlkRequestPlan plan;
        std::shared_ptr<PendingIo> io;
    };
    struct Slot {  // a request on the queue, by token
        std::shared_ptr<PendingIo> io;
        virtio::BlkReqType type = virtio::BlkReqType::in;
    };

    // Where request slot `token`'s header, discard range and status live.
    std::byte* slot_bytes(std::uint32_t token) const;
    std::uint64_t slot_gpa(std::uint32_t token, std::size_t offset) const;

    void issue_locked(std::unique_lock<std::mutex>& lock, VirtioBlkRequestPlan plan,
                      const std::shared_ptr<PendingIo>& io, bool on_completion_thread);
    // Writes the slot and adds the chain; false when the queue has no room.
    bool put_on_queue_locked(const VirtioBlkRequestPlan& plan,
                             const std::shared_ptr<PendingIo>& io);
    void kick_locked();
    void finish_part_locked(const std::shared_ptr<PendingIo>& io, int status);
    bool take_used_locked();
    bool issue_queued_locked();
    void fail_locked(const std::string& reason, bool report);
    void stop_accepting_locked(const std::string& reason);

    void run();
    void run_callbacks(std::vector<std::shared_ptr<PendingIo>>& done);
    bool poll_for_work(Clock::time_point idle_since);
    bool arm_or_find_work();
    void sleep();
    void wake();

    hypervisor::DomainMemory& memory_;
    const QueueConfig config_;
    const FailureHandler on_failure_;

    mutable std::mutex mutex_;       // the queue lock: everything below up to the counters
    std::condition_variable space_;  // room freed, or the queue stopped accepting
    std::condition_variable idle_;   // nothing on the queue any more
    VirtqueueDriver vq_;
    std::vector<GuestPage> slot_pages_;
    std::vector<Slot> slots_;  // by token
    std::vector<std::uint32_t> free_tokens_;
    std::deque<Queued> queued_;
    std::vector<std::shared_ptr<PendingIo>> ready_;  // finished, callbacks to run
    bool accepting_ = true;
    bool live_ = true;  // the device still serves the queue
    bool failure_unreported_ = false;
    bool stopping_ = false;
    bool joined_ = false;  // stop() is done: no completion thread any more
    std::string error_;

    std::atomic<bool> local_work_{false};
    std::atomic<std::size_t> in_flight_{0};
    std::atomic<std::uint64_t> requests_{0}, completions_{0}, bytes_{0}, flushes_{0}, discards_{0},
        sent_{0}, suppressed_{0}, received_{0}, indirect_{0};

    os::EventFd kick_{os::EventFd::Options{.nonblocking = true}};
    os::EventFd call_{os::EventFd::Options{.nonblocking = true}};
    os::EventFd wake_{os::EventFd::Options{.nonblocking = true}};
    AdaptivePoll poll_;
    std::thread thread_;
};

}  // namespace pvsim::frontend::virtio_blk
