// The data plane of one virtqueue: a thread that takes requests off the
// avail ring, serves them asynchronously on the backing store's I/O engine
// and returns them on the used ring (libvhost-user's vu_queue_pop /
// vu_queue_push / vu_queue_notify loop, QEMU's virtio_blk_handle_vq), as
// blkback's data_plane.cpp does for a ring:
//   - every chain is walked and validated (desc_chain.hpp) and read as a
//     request (blk_request.hpp) before it is used; a malformed chain is
//     returned with nothing written, a bad request answered IOERR / UNSUPP;
//   - a malformed queue (avail index too far ahead, head out of range)
//     breaks the queue: nothing more is taken, the I/O in flight is still
//     completed and returned, and the reason is logged;
//   - the used entries of one pass are published together and the driver is
//     notified only when vring_need_event (or NO_INTERRUPT) says so;
//   - before sleeping the loop polls adaptively (common/adaptive_poll.hpp,
//     DESIGN.md §10) with kicks suppressed, then arms avail_event and looks
//     once more, so nothing published is slept through.
// It never touches the vhost-user socket: the message dispatch starts and
// stops it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "backend/storage/backing_store.hpp"
#include "backend/storage/io_engine.hpp"
#include "backend/storage/make_engine.hpp"
#include "backend/vhost_user_blk/blk_request.hpp"
#include "backend/vhost_user_blk/desc_chain.hpp"
#include "backend/vhost_user_blk/device_config.hpp"
#include "backend/vhost_user_blk/device_metrics.hpp"
#include "backend/vhost_user_blk/memory_table.hpp"
#include "backend/vhost_user_blk/vring.hpp"
#include "common/adaptive_poll.hpp"
#include "common/os/event_fd.hpp"

namespace pvsim::backend::vhost_user_blk {

// The call eventfd of a queue: SET_VRING_CALL may replace it (or take it
// away) while the queue runs.
class CallNotifier {
  public:
    void set(std::optional<os::EventFd> fd) {
        std::lock_guard lock(mutex_);
        fd_ = std::move(fd);
    }
    // False when there is no call fd to signal.
    bool notify() {
        std::lock_guard lock(mutex_);
        if (!fd_) {
            return false;
        }
        fd_->signal();
        return true;
    }

  private:
    std::mutex mutex_;
    std::optional<os::EventFd> fd_;
};

// What every queue of one device shares; outlives its queues.
struct QueueContext {
    const storage::BackingStore& store;
    const DeviceConfig& config;
    DeviceMetrics& metrics;
    // wce in the config space (VIRTIO_BLK_F_CONFIG_WCE): false makes every
    // write followed by a flush before it is returned (writethrough).
    std::atomic<bool>& writeback;
    std::chrono::microseconds poll_max{50};
    storage::EngineKind engine = storage::EngineKind::automatic;
};

struct QueueStart {
    unsigned index = 0;
    Vring ring;
    std::shared_ptr<const MemoryTable> memory;
    std::shared_ptr<os::EventFd> kick;
    std::shared_ptr<CallNotifier> call;
    std::uint64_t features = 0;  // negotiated
};

class QueueWorker {
  public:
    // Creates the I/O engine (one slot per queue entry) and starts the
    // thread. Throws std::system_error when the engine cannot be set up.
    // `name` prefixes log lines.
    QueueWorker(const QueueContext& context, QueueStart start, std::string name);
    ~QueueWorker();
    QueueWorker(const QueueWorker&) = delete;
    QueueWorker& operator=(const QueueWorker&) = delete;

    // Takes no more requests, lets the I/O in flight finish and returns it
    // on the used ring, joins the thread. Returns the next avail index to
    // take (GET_VRING_BASE's answer). Idempotent.
    std::uint16_t stop();

    bool broken() const noexcept { return broken_.load(std::memory_order_acquire); }

  private:
    struct Pending {
        std::uint16_t head = 0;
        BlkRequest request;
        bool flush_stage = false;  // the data is written; now the flush
    };

    void run() noexcept;
    void loop();
    bool serving() const noexcept {
        return !broken_.load(std::memory_order_relaxed) &&
               !stop_requested_.load(std::memory_order_relaxed);
    }
    bool has_work() const noexcept;
    bool take_requests();
    // One chain from the avail ring: served, answered or dropped.
    void take_one(std::uint16_t head);
    bool submit(std::uint32_t slot);
    bool reap_completions();
    void on_completion(const storage::IoCompletion& completion);
    void complete(std::uint32_t slot, virtio::BlkStatus status, std::uint32_t used_len);
    void count_status(virtio::BlkStatus status);
    void publish_used();
    bool poll_for_work();
    void sleep();
    void break_queue(const std::string& reason);

    const QueueContext& context_;
    const std::string name_;
    Vring ring_;
    const std::shared_ptr<const MemoryTable> memory_;
    const std::shared_ptr<os::EventFd> kick_;
    const std::shared_ptr<CallNotifier> call_;
    const std::uint64_t features_;
    const ChainLimits chain_limits_;
    std::unique_ptr<storage::IoEngine> engine_;
    AdaptivePoll poll_;

    // The queue thread's own.
    std::vector<Pending> pending_;
    std::vector<std::uint32_t> free_;
    DescChain chain_;
    bool resubmitted_ = false;
    std::chrono::steady_clock::time_point poll_start_{};

    std::atomic<bool> stop_requested_{false};
    std::atomic<bool> broken_{false};
    os::EventFd stop_event_{os::EventFd::Options{.nonblocking = true}};
    std::thread thread_;
    std::uint16_t final_avail_idx_ = 0;
};

}  // namespace pvsim::backend::vhost_user_blk
