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
//   - before sleeping the loop polls adaptively (DESIGN.md §10) with kicks
//     suppressed, then arms avail_event and looks once more, so nothing
//     published is slept through.
// The thread is the backends' service loop (backend/data_plane/
// service_loop.hpp), which blkback's rings run too; this class is the
// queue's part of it. A loop that fails (poll(2) failing: DESIGN.md §10)
// breaks the queue as a malformed one does. It never touches the
// vhost-user socket: the message dispatch starts and stops it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "backend/data_plane/service_loop.hpp"
#include "backend/storage/backing_store.hpp"
#include "backend/storage/make_engine.hpp"
#include "backend/vhost_user_blk/blk_request.hpp"
#include "backend/vhost_user_blk/desc_chain.hpp"
#include "backend/vhost_user_blk/device_config.hpp"
#include "backend/vhost_user_blk/device_counters.hpp"
#include "backend/vhost_user_blk/memory_table.hpp"
#include "backend/vhost_user_blk/vring.hpp"
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
    LiveCounters<DeviceCounters>& metrics;
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

    bool broken() const noexcept { return loop_.failed(); }

  private:
    struct Pending {
        std::uint16_t head = 0;
        BlkRequest request;
        bool flush_stage = false;  // the data is written; now the flush
    };

    friend class data_plane::ServiceLoop<QueueWorker>;
    using Loop = data_plane::ServiceLoop<QueueWorker>;

    // The device's part of the service loop (backend/data_plane/service_loop.hpp).
    bool take_requests();
    bool has_requests() const noexcept { return !free_.empty() && ring_.has_available(); }
    void publish();
    // VRING_USED_F_NO_NOTIFY / avail_event left behind: the driver saves a
    // system call per request while the queue polls.
    void suppress_notifications() { ring_.disable_notify(); }
    data_plane::Arm arm_and_recheck();
    int notify_fd() const noexcept { return kick_->fd(); }
    int sleep_timeout_ms() const noexcept { return -1; }  // no timed work
    bool consume_notification() { return kick_->try_consume() != 0; }
    data_plane::IoExpectation expect(std::uint32_t slot) const noexcept;
    bool stage_done(std::uint32_t slot);
    void complete(std::uint32_t slot, data_plane::IoOutcome outcome);
    std::string describe(std::uint32_t slot) const;
    void completions_reaped() noexcept {}
    void abandon(std::uint32_t) noexcept {}
    void release_after_failure() noexcept {}
    void on_failure(const std::string& reason);

    // One chain from the avail ring: served, answered or dropped. Returns
    // the data bytes it started I/O for (pass_budget.hpp).
    std::uint64_t take_one(std::uint16_t head);
    bool submit(std::uint32_t slot);
    void complete(std::uint32_t slot, virtio::BlkStatus status, std::uint32_t used_len);
    void count_status(virtio::BlkStatus status);
    void break_queue(const std::string& reason) { loop_.fail(reason); }

    const QueueContext& context_;
    const std::string name_;
    Vring ring_;
    const std::shared_ptr<const MemoryTable> memory_;
    const std::shared_ptr<os::EventFd> kick_;
    const std::shared_ptr<CallNotifier> call_;
    const std::uint64_t features_;
    const ChainLimits chain_limits_;
    Loop loop_;

    // The queue thread's own.
    std::vector<Pending> pending_;
    std::vector<std::uint32_t> free_;
    DescChain chain_;

    std::uint16_t final_avail_idx_ = 0;
};

}  // namespace pvsim::backend::vhost_user_blk
