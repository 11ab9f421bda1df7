#include "frontend/queue_map.hpp"

namespace pvsim::frontend {

std::size_t QueueMap::assigned(std::thread::id thread, std::size_t count) {
    const auto [it, added] = threads_.try_emplace(thread, next_);
    if (added) {
        next_ = (next_ + 1) % count;
    }
    return it->second % count;
}

}  // namespace pvsim::frontend
