// Which of a device's queues a submitting thread uses, the same for
// blkfront's rings and virtio-blk's virtqueues (Linux blk-mq's
// blk_mq_map_queues: each CPU is mapped to one hardware queue). Here a
// thread stands for a CPU: it is given a queue round-robin the first time it
// submits and keeps it, so a workload job stays on one queue. A queue's own
// completion thread (a callback that submits, as a workload keeps its depth)
// always goes back to that queue, as blk-mq completes and resubmits on the
// CPU of the hardware queue: given another queue it would wait there for
// room on a full ring while that queue's completion thread, which frees the
// room, may be waiting the same way on this one, and both would stop for
// good. Not thread-safe: the owner guards it.
#pragma once

#include <cstddef>
#include <map>
#include <thread>

namespace pvsim::frontend {

class QueueMap {
  public:
    // The queue (0 .. count-1) for `thread`; `completion_thread(i)` names
    // queue i's completion thread. `count` must be at least 1.
    template <class CompletionThread>
    std::size_t queue_for(std::thread::id thread, std::size_t count,
                          CompletionThread&& completion_thread) {
        for (std::size_t i = 0; i < count; ++i) {
            if (completion_thread(i) == thread) {
                return i;
            }
        }
        return assigned(thread, count);
    }

    // Forgets every thread's queue (the queues changed).
    void clear() noexcept {
        threads_.clear();
        next_ = 0;
    }

  private:
    std::size_t assigned(std::thread::id thread, std::size_t count);

    std::map<std::thread::id, std::size_t> threads_;
    std::size_t next_ = 0;
};

}  // namespace pvsim::frontend
