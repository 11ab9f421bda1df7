#include "frontend/workload/written_blocks.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>
#include <string>

namespace pvsim::frontend::workload {

std::uint64_t WrittenBlocks::next_generation() {
    std::lock_guard lock(mutex_);
    return ++last_generation_;
}

void WrittenBlocks::record(const BlockIdentity& block) {
    if (block.length == 0) {
        return;
    }
    if (block.length > std::numeric_limits<std::uint32_t>::max()) {
        throw std::invalid_argument("a verified block of " + std::to_string(block.length) +
                                    " bytes is longer than 4 GiB - 1");
    }
    std::lock_guard lock(mutex_);
    erase_locked(block.offset, block.offset + block.length);
    const Extent extent{.start = block.offset,
                        .generation = block.generation,
                        .length = static_cast<std::uint32_t>(block.length),
                        .head = 0,
                        .block_length = static_cast<std::uint32_t>(block.length),
                        .seed_and_zeros = (seed_index(block.seed) << 1) | (block.zeros ? 1u : 0u)};
    // Nothing overlaps the block now: it goes before the first extent that
    // ends after it starts.
    insert_at(first_ending_after(block.offset), extent);
}

void WrittenBlocks::forget(std::uint64_t offset, std::uint64_t length) {
    if (length == 0) {
        return;
    }
    std::lock_guard lock(mutex_);
    erase_locked(offset, offset + length);
}

std::uint32_t WrittenBlocks::seed_index(std::uint64_t seed) {
    if (last_seed_ < seeds_.size() && seeds_[last_seed_] == seed) {
        return last_seed_;
    }
    const auto [it, added] =
        seed_indexes_.try_emplace(seed, static_cast<std::uint32_t>(seeds_.size()));
    if (added) {
        if (seeds_.size() >= (std::uint32_t{1} << 31)) {
            seed_indexes_.erase(it);
            throw std::length_error("more than 2^31 verify seeds recorded for one disk");
        }
        seeds_.push_back(seed);
    }
    last_seed_ = it->second;
    return last_seed_;
}

BlockIdentity WrittenBlocks::block_of(const Extent& extent) const {
    return BlockIdentity{.offset = extent.start - extent.head,
                         .length = extent.block_length,
                         .seed = seeds_[extent.seed_and_zeros >> 1],
                         .generation = extent.generation,
                         .zeros = (extent.seed_and_zeros & 1u) != 0};
}

WrittenBlocks::Position WrittenBlocks::first_ending_after(std::uint64_t offset) const {
    // No two extents overlap, so their ends are in the order of their starts
    // and both searches are binary.
    const auto chunk = std::partition_point(
        chunks_.begin(), chunks_.end(),
        [offset](const std::unique_ptr<Chunk>& c) { return c->back().end() <= offset; });
    if (chunk == chunks_.end()) {
        return {chunks_.size(), 0};
    }
    const auto extent =
        std::partition_point((*chunk)->begin(), (*chunk)->end(),
                             [offset](const Extent& e) { return e.end() <= offset; });
    return {static_cast<std::size_t>(chunk - chunks_.begin()),
            static_cast<std::size_t>(extent - (*chunk)->begin())};
}

void WrittenBlocks::insert_at(Position at, const Extent& extent) {
    if (chunks_.empty()) {
        chunks_.push_back(std::make_unique<Chunk>(1, extent));
        return;
    }
    if (at.chunk == chunks_.size()) {
        at = {chunks_.size() - 1, chunks_.back()->size()};
    } else if (at.index == 0 && at.chunk > 0 && chunks_[at.chunk - 1]->size() < kChunkExtents) {
        // Between two chunks: the end of the one before has room.
        at = {at.chunk - 1, chunks_[at.chunk - 1]->size()};
    }
    Chunk& chunk = *chunks_[at.chunk];
    if (chunk.size() < kChunkExtents) {
        chunk.insert(chunk.begin() + static_cast<std::ptrdiff_t>(at.index), extent);
        return;
    }
    // Full: split it. Near its end, where a job writing in order records
    // (give or take the completions that overtake each other), the new chunk
    // takes only what follows the new extent, so that chunks filled in order
    // stay full; elsewhere each half takes half.
    const std::size_t split =
        at.index + kChunkExtents / 8 >= kChunkExtents ? at.index : kChunkExtents / 2;
    const auto split_at = chunk.begin() + static_cast<std::ptrdiff_t>(split);
    auto next = std::make_unique<Chunk>(split_at, chunk.end());
    chunk.erase(split_at, chunk.end());
    if (at.index < split) {
        chunk.insert(chunk.begin() + static_cast<std::ptrdiff_t>(at.index), extent);
    } else {
        next->insert(next->begin() + static_cast<std::ptrdiff_t>(at.index - split), extent);
    }
    chunks_.insert(chunks_.begin() + static_cast<std::ptrdiff_t>(at.chunk) + 1, std::move(next));
}

bool WrittenBlocks::merge_into_previous(std::size_t chunk) {
    // Chunks a quarter full or less are merged where they fit, so that
    // forgetting scattered ranges does not leave a chunk per extent.
    if (chunk == 0 || chunk >= chunks_.size()) {
        return false;
    }
    Chunk& previous = *chunks_[chunk - 1];
    Chunk& current = *chunks_[chunk];
    const bool sparse = std::min(previous.size(), current.size()) <= kChunkExtents / 4;
    if (!sparse || previous.size() + current.size() > kChunkExtents) {
        return false;
    }
    previous.insert(previous.end(), current.begin(), current.end());
    chunks_.erase(chunks_.begin() + static_cast<std::ptrdiff_t>(chunk));
    return true;
}

void WrittenBlocks::erase_locked(std::uint64_t begin, std::uint64_t end) {
    Position at = first_ending_after(begin);
    while (at.chunk < chunks_.size()) {
        Chunk& chunk = *chunks_[at.chunk];
        const Extent first = chunk[at.index];
        if (first.start >= end) {
            break;
        }
        if (first.start < begin) {
            // It starts before the range: its head stays.
            chunk[at.index].length = static_cast<std::uint32_t>(begin - first.start);
            if (first.end() > end) {
                // The range lies inside it: its tail stays too.
                Extent tail = first;
                tail.start = end;
                tail.head = first.head + static_cast<std::uint32_t>(end - first.start);
                tail.length = static_cast<std::uint32_t>(first.end() - end);
                insert_at({at.chunk, at.index + 1}, tail);
                return;
            }
            if (++at.index == chunk.size()) {
                at = {at.chunk + 1, 0};
            }
            continue;
        }
        // Those the range covers whole go; one that runs past its end keeps
        // its tail.
        const auto from = chunk.begin() + static_cast<std::ptrdiff_t>(at.index);
        const auto to =
            std::find_if(from, chunk.end(), [end](const Extent& e) { return e.end() > end; });
        chunk.erase(from, to);
        if (at.index < chunk.size()) {
            Extent& last = chunk[at.index];
            if (last.start < end) {
                const std::uint32_t cut = static_cast<std::uint32_t>(end - last.start);
                last.start = end;
                last.head += cut;
                last.length -= cut;
            }
            merge_into_previous(at.chunk + 1);
            merge_into_previous(at.chunk);
            return;
        }
        if (chunk.empty()) {
            chunks_.erase(chunks_.begin() + static_cast<std::ptrdiff_t>(at.chunk));
        } else if (!merge_into_previous(at.chunk)) {
            ++at.chunk;
        }
        at.index = 0;
    }
    // Where the range ended: the chunk there and the one before it may have
    // lost extents.
    merge_into_previous(at.chunk);
}

std::vector<WrittenBlocks::Piece> WrittenBlocks::lookup(std::uint64_t offset,
                                                        std::uint64_t length) const {
    std::vector<Piece> pieces;
    const std::uint64_t end = offset + length;
    std::lock_guard lock(mutex_);
    for (Position at = first_ending_after(offset); at.chunk < chunks_.size();
         at = {at.chunk + 1, 0}) {
        const Chunk& chunk = *chunks_[at.chunk];
        for (; at.index < chunk.size(); ++at.index) {
            const Extent& extent = chunk[at.index];
            if (extent.start >= end) {
                return pieces;
            }
            const std::uint64_t begin = std::max(extent.start, offset);
            const std::uint64_t stop = std::min(extent.end(), end);
            pieces.push_back(Piece{begin, stop - begin, block_of(extent)});
        }
    }
    return pieces;
}

std::uint64_t WrittenBlocks::known_bytes() const {
    std::lock_guard lock(mutex_);
    std::uint64_t bytes = 0;
    for (const auto& chunk : chunks_) {
        for (const Extent& extent : *chunk) {
            bytes += extent.length;
        }
    }
    return bytes;
}

std::size_t WrittenBlocks::pieces() const {
    std::lock_guard lock(mutex_);
    std::size_t count = 0;
    for (const auto& chunk : chunks_) {
        count += chunk->size();
    }
    return count;
}

std::size_t WrittenBlocks::memory_bytes() const {
    std::lock_guard lock(mutex_);
    return chunks_.capacity() * sizeof(std::unique_ptr<Chunk>) + chunks_.size() * sizeof(Chunk) +
           seeds_.capacity() * sizeof(std::uint64_t) +
           seed_indexes_.size() * (sizeof(std::uint64_t) + sizeof(std::uint32_t));
}

void WrittenBlocks::clear() {
    std::lock_guard lock(mutex_);
    chunks_.clear();
    seeds_.clear();
    seed_indexes_.clear();
    last_seed_ = 0;
}

}  // namespace pvsim::frontend::workload
