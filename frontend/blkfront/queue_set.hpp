// The BlockDevice over all of a blkfront device's rings (Linux
// xen-blkfront.c with blk-mq: one hardware queue per ring,
// blkfront_info.rinfo[]). Work is spread by submitting thread, as blk-mq
// maps each CPU to a hardware queue (queue_map.hpp).
//
// It is also what stays while the rings change under it (blkif_recover):
// hold() stops requests reaching the rings, take_back() takes every
// unfinished request back from them and drops them, and attach() brings new
// rings and issues again what was held, re-split for the new rings'
// features. A caller sees none of it: each callback runs once, with the
// outcome of the last issue.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "frontend/blkfront/blkfront_queue.hpp"
#include "frontend/block_device.hpp"
#include "frontend/queue_map.hpp"

namespace pvsim::frontend::blkfront {

class QueueSet final : public BlockDevice {
  public:
    QueueSet() = default;
    // Drops the rings (their destructors disconnect them). Not from a
    // completion callback.
    ~QueueSet() override;
    QueueSet(const QueueSet&) = delete;
    QueueSet& operator=(const QueueSet&) = delete;

    // New rings (at least one), after none or after take_back(): what is
    // held is issued on them, spread over them in order.
    void attach(std::vector<std::unique_ptr<BlkfrontQueue>> queues);
    // True while rings are attached.
    bool attached() const;
    // New requests are held here, and each ring puts nothing more on its
    // shared ring (BlkfrontQueue::hold()).
    void hold();
    // After hold(): waits until no submit() is inside a ring, takes back
    // every unfinished request from every ring (to be issued by the next
    // attach()) and drops the rings. Returns how many were taken back,
    // those a submit queued in a ring as it was held included.
    std::size_t take_back();
    // Requests on the shared rings now (issued, not yet answered).
    std::size_t on_ring() const;
    // Runs `then` once no ring has a request on it (or each failed), at
    // once if so now (BlkfrontQueue::when_idle: `then` only hands the news
    // on, from whichever thread frees the last ring).
    void when_idle(std::function<void()> then);

    // BlockDevice (capacity, sector size and read-only are the first ring's:
    // every ring serves the same disk).
    std::uint64_t capacity_sectors() const override;
    std::uint32_t sector_size() const override;
    bool read_only() const override;
    void submit(std::span<BlockRequest> batch) override;
    std::size_t in_flight() const override;
    std::string error() const override;

    // Counters summed over the rings (those of rings dropped by take_back()
    // included); persistent_grants, queues and ring_pages are now's.
    BlkfrontCounters counters() const;
    // The first ring's (its disk, negotiated features, name).
    const DataPlaneConfig& config() const;
    std::size_t queue_count() const;
    // The queue the calling thread submits to (assigning one if it has
    // none yet).
    std::size_t queue_of_this_thread();

    // Forwarded to every ring.
    void set_capacity(std::uint64_t sectors);
    std::chrono::microseconds poll() const;
    void set_poll(std::chrono::microseconds window);
    // Also completes what is held with -ENODEV.
    void stop_accepting(const std::string& reason);
    void disconnect(const std::string& reason);
    void fail(const std::string& reason);
    bool failed() const;

  private:
    std::size_t queue_locked(std::thread::id thread);
    void complete_held_locked(int status);

    mutable std::mutex mutex_;
    std::condition_variable idle_;  // active_submits_ reached 0
    std::vector<std::unique_ptr<BlkfrontQueue>> queues_;
    std::unique_ptr<DataPlaneConfig> config_;  // the last attached first ring's
    QueueMap queue_map_;
    std::size_t active_submits_ = 0;
    bool holding_ = false;
    bool accepting_ = true;
    std::string stop_reason_;
    std::vector<BlockRequest> held_;
    BlkfrontCounters retired_ = counts_only(BlkfrontCounters{});  // rings dropped by take_back()
    std::atomic<std::size_t> in_flight_{0};
};

}  // namespace pvsim::frontend::blkfront
