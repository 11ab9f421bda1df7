#include "backend/storage/sync_engine.hpp"

#include "backend/storage/blocking_io.hpp"

namespace pvsim::backend::storage {

SyncEngine::SyncEngine(IoTarget target, unsigned queue_depth) : IoEngine(target, queue_depth) {
    staged_.reserve(queue_depth);
}

void SyncEngine::flush_submissions() {
    if (staged_.empty()) {
        return;
    }
    for (const std::uint32_t index : staged_) {
        ready_.emplace_back(index, run_blocking(target(), requests()[index]));
    }
    staged_.clear();
    // The owner may be about to sleep on completion_fd() rather than reap
    // at once; it must find the fd readable.
    completion_event_.signal();
}

std::size_t SyncEngine::reap_into(std::span<IoCompletion> out) {
    if (out.empty()) {
        return 0;
    }
    completion_event_.try_consume();
    std::size_t count = 0;
    while (count < out.size() && !ready_.empty()) {
        out[count++] = complete(ready_.front().first, ready_.front().second);
        ready_.pop_front();
    }
    if (!ready_.empty()) {
        completion_event_.signal();  // more than fitted: stay readable
    }
    return count;
}

}  // namespace pvsim::backend::storage
