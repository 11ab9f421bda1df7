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
}

int SyncEngine::completion_fd() const {
    // Every completion is made in flush_submissions(), on the owner's
    // thread, so the fd need be readable only for an owner about to sleep
    // with completions waiting: made so here, when it asks for the fd.
    // A loop that reaps what has_completions() shows before it sleeps (the
    // data-plane loop) never does, and a round then costs no eventfd write
    // and read, two system calls that were most of a 4 KiB read's cost
    // beside the read itself.
    if (has_ready() && !signalled_) {
        completion_event_.signal();
        signalled_ = true;
    }
    return completion_event_.fd();
}

std::size_t SyncEngine::reap_into(std::span<IoCompletion> out) {
    if (out.empty()) {
        return 0;
    }
    const std::size_t count = take_ready(out, 0);
    if (signalled_ && !has_ready()) {
        completion_event_.try_consume();
        signalled_ = false;
    }
    return count;
}

}  // namespace pvsim::backend::storage
