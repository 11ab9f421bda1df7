#include "backend/storage/sync_engine.hpp"

namespace pvsim::backend::storage {

SyncEngine::SyncEngine(IoTarget target, unsigned queue_depth) : IoEngine(target, queue_depth) {
    staged_.reserve(queue_depth);
}

void SyncEngine::flush_submissions() {
    if (staged_.empty()) {
        return;
    }
    for (const std::uint32_t index : staged_) {
        run_now(index);
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
    const std::size_t count = take_ready(out, 0);
    if (has_ready()) {
        completion_event_.signal();  // more than fitted: stay readable
    }
    return count;
}

}  // namespace pvsim::backend::storage
