// One BlockRequest in flight in a driver's queue, whatever the transport
// (Linux: the struct request that blk-mq hands a driver, with the driver's
// per-request data). A request may be split into several transport requests
// (blkif requests on a Xen ring, virtio-blk chains on a virtqueue); it
// completes, with the first error any part met, once nothing of it is
// outstanding. Not thread-safe: the queue guards it with its lock.
#pragma once

#include <memory>
#include <utility>
#include <vector>

#include "frontend/block_device.hpp"

namespace pvsim::frontend {

struct PendingIo {
    explicit PendingIo(BlockCompletion completion) : done(std::move(completion)) {}
    // Keeps what blkif_recover needs to issue `whole` again (its completion
    // is `done`).
    explicit PendingIo(BlockRequest&& whole) : done(std::move(whole.done)), request(whole) {
        request.done = nullptr;
    }

    BlockCompletion done;
    BlockRequest request;  // as submitted, without its completion
    // Parts not yet finished: transport requests unanswered, and (blkfront)
    // grants the backend still maps after answering.
    unsigned outstanding = 0;
    int status = 0;
    // Taken back to be issued again on another ring (blkif_recover): parts
    // still answered on the old one are ignored.
    bool recovered = false;

    // Records one part's outcome; true when that was the last part (never
    // for a recovered request).
    bool finish_part(int part_status) noexcept {
        if (status == 0 && part_status != 0) {
            status = part_status;
        }
        return --outstanding == 0 && !recovered;
    }
};

// Where a transport reports each part's outcome; the requests whose last
// part finished wait here for the completion thread to run their callbacks.
class FinishedIo {
  public:
    void part_done(const std::shared_ptr<PendingIo>& io, int status) {
        if (io->finish_part(status)) {
            ready_.push_back(io);
        }
    }
    // A request that never reached the transport, finished whole.
    void finished(std::shared_ptr<PendingIo> io, int status) {
        io->status = status;
        ready_.push_back(std::move(io));
    }

    std::size_t size() const noexcept { return ready_.size(); }
    bool empty() const noexcept { return ready_.empty(); }
    // Hands the finished requests over (to run their callbacks).
    void take(std::vector<std::shared_ptr<PendingIo>>& out) { out.swap(ready_); }

  private:
    std::vector<std::shared_ptr<PendingIo>> ready_;
};

}  // namespace pvsim::frontend
