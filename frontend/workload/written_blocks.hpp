// What a guest remembers of one vdev across `pvsim io` runs (it lives in the
// guest agent, keyed by vdev, across detach and re-attach): for every byte
// range last written with verify, the block it belongs to (origin offset,
// length, seed, generation), so that the expected bytes of any sub-range can
// be recomputed (verify_block.hpp). This is what lets a read verify, in the
// same run or a later one, tell stale data from a lost write apart from a
// block that was simply never written (fio keeps the same knowledge only
// within one run, in its io_piece log).
//
// A trim (discard) with verify is remembered as a block of zeros
// (BlockIdentity::zeros), so that later reads check that the range reads
// back as zeros, until a later write replaces it.
//
// A write or trim without verify, or one that failed, leaves its range
// unknown: afterwards it is only checked for being readable. Thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include <boost/container/static_vector.hpp>

#include "frontend/workload/verify_block.hpp"

namespace pvsim::frontend::workload {

class WrittenBlocks {
  public:
    // A part of a looked-up range that is known, and the block it belongs to.
    struct Piece {
        std::uint64_t offset = 0;
        std::uint64_t length = 0;
        BlockIdentity block;
    };

    // The generation of the next write: 1, 2, ... across the object's life,
    // so that a later write always carries a larger one.
    std::uint64_t next_generation();

    // `block` was written (or, a `zeros` block, trimmed) and completed
    // successfully: its whole range now holds it, whatever was known there
    // before. A block longer than 4 GiB - 1 is refused (std::invalid_argument);
    // a job's blocks are at most 4 MiB.
    void record(const BlockIdentity& block);

    // [offset, offset + length) holds something unknown now.
    void forget(std::uint64_t offset, std::uint64_t length);

    // The known parts of [offset, offset + length), in order.
    std::vector<Piece> lookup(std::uint64_t offset, std::uint64_t length) const;

    // Bytes known, and the number of separate known pieces.
    std::uint64_t known_bytes() const;
    std::size_t pieces() const;
    // About the bytes the record itself takes: its chunks (exactly) and its
    // seed table (by the seeds' keys and values, without the hash nodes'
    // overhead; a job has one seed, so that part is a few bytes).
    std::size_t memory_bytes() const;

    // Forgets everything (e.g. the vdev's image was replaced).
    void clear();

  private:
    // One known extent in 32 bytes (a std::map node with the whole
    // BlockIdentity took 96 with malloc's header, and a guest keeps one per
    // block written with verify: 16384 for a 64 MiB disk in 4 KiB blocks).
    // The block is kept as distances from the extent, which fit 32 bits since
    // a block is at most a job's bs (kMaxBlockSize, 4 MiB), and its seed as an
    // index into seeds_ (a job has one seed).
    struct Extent {
        std::uint64_t start = 0;
        std::uint64_t generation = 0;
        std::uint32_t length = 0;          // bytes of the extent
        std::uint32_t head = 0;            // start - the block's offset
        std::uint32_t block_length = 0;    // bytes of the whole block
        std::uint32_t seed_and_zeros = 0;  // seeds_ index << 1 | zeros

        std::uint64_t end() const { return start + length; }
    };
    static_assert(sizeof(Extent) == 32);

    // The extents in order, in chunks of up to kChunkExtents: a B-tree of one
    // level. Written by hand because no ordered container in pvsim's
    // dependencies stores small values densely (std::map and Boost's trees
    // spend a node and an allocation on each); a chunk is a Boost
    // static_vector, so it is one allocation of 2 KiB.
    static constexpr std::size_t kChunkExtents = 64;
    using Chunk = boost::container::static_vector<Extent, kChunkExtents>;
    // An extent's place: chunks_[chunk], index in it (chunk ==
    // chunks_.size() is past the last).
    struct Position {
        std::size_t chunk = 0;
        std::size_t index = 0;
    };

    Position first_ending_after(std::uint64_t offset) const;
    void insert_at(Position at, const Extent& extent);
    bool merge_into_previous(std::size_t chunk);
    void erase_locked(std::uint64_t begin, std::uint64_t end);
    std::uint32_t seed_index(std::uint64_t seed);
    BlockIdentity block_of(const Extent& extent) const;

    mutable std::mutex mutex_;
    std::uint64_t last_generation_ = 0;
    std::vector<std::unique_ptr<Chunk>> chunks_;  // none empty; ordered, never overlapping
    std::vector<std::uint64_t> seeds_;            // every seed recorded, first seen first
    std::unordered_map<std::uint64_t, std::uint32_t> seed_indexes_;
    std::uint32_t last_seed_ = 0;  // the index record() found last
};

}  // namespace pvsim::frontend::workload
