#include "frontend/workload/written_blocks.hpp"

#include <algorithm>
#include <iterator>

namespace pvsim::frontend::workload {

std::uint64_t WrittenBlocks::next_generation() {
    std::lock_guard lock(mutex_);
    return ++last_generation_;
}

void WrittenBlocks::record(const BlockIdentity& block) {
    if (block.length == 0) {
        return;
    }
    std::lock_guard lock(mutex_);
    erase_locked(block.offset, block.offset + block.length);
    extents_.emplace(block.offset, Extent{block.offset + block.length, block});
}

void WrittenBlocks::forget(std::uint64_t offset, std::uint64_t length) {
    if (length == 0) {
        return;
    }
    std::lock_guard lock(mutex_);
    erase_locked(offset, offset + length);
}

void WrittenBlocks::erase_locked(std::uint64_t begin, std::uint64_t end) {
    auto it = extents_.lower_bound(begin);
    if (it != extents_.begin()) {
        auto before = std::prev(it);
        if (before->second.end > begin) {
            it = before;
        }
    }
    while (it != extents_.end() && it->first < end) {
        const std::uint64_t start = it->first;
        const Extent extent = it->second;
        it = extents_.erase(it);
        if (start < begin) {
            extents_.emplace(start, Extent{begin, extent.block});
        }
        if (extent.end > end) {
            it = extents_.emplace(end, Extent{extent.end, extent.block}).first;
            break;
        }
    }
}

std::vector<WrittenBlocks::Piece> WrittenBlocks::lookup(std::uint64_t offset,
                                                        std::uint64_t length) const {
    std::vector<Piece> pieces;
    const std::uint64_t end = offset + length;
    std::lock_guard lock(mutex_);
    auto it = extents_.lower_bound(offset);
    if (it != extents_.begin() && std::prev(it)->second.end > offset) {
        it = std::prev(it);
    }
    for (; it != extents_.end() && it->first < end; ++it) {
        const std::uint64_t begin = std::max(it->first, offset);
        const std::uint64_t stop = std::min(it->second.end, end);
        pieces.push_back(Piece{begin, stop - begin, it->second.block});
    }
    return pieces;
}

std::uint64_t WrittenBlocks::known_bytes() const {
    std::lock_guard lock(mutex_);
    std::uint64_t bytes = 0;
    for (const auto& [start, extent] : extents_) {
        bytes += extent.end - start;
    }
    return bytes;
}

std::size_t WrittenBlocks::pieces() const {
    std::lock_guard lock(mutex_);
    return extents_.size();
}

void WrittenBlocks::clear() {
    std::lock_guard lock(mutex_);
    extents_.clear();
}

}  // namespace pvsim::frontend::workload
