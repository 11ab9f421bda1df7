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
#include <map>
#include <mutex>
#include <vector>

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
    // before.
    void record(const BlockIdentity& block);

    // [offset, offset + length) holds something unknown now.
    void forget(std::uint64_t offset, std::uint64_t length);

    // The known parts of [offset, offset + length), in order.
    std::vector<Piece> lookup(std::uint64_t offset, std::uint64_t length) const;

    // Bytes known, and the number of separate known pieces.
    std::uint64_t known_bytes() const;
    std::size_t pieces() const;

    // Forgets everything (e.g. the vdev's image was replaced).
    void clear();

  private:
    struct Extent {
        std::uint64_t end = 0;
        BlockIdentity block;
    };

    void erase_locked(std::uint64_t begin, std::uint64_t end);

    mutable std::mutex mutex_;
    std::uint64_t last_generation_ = 0;
    std::map<std::uint64_t, Extent> extents_;  // by start; never overlapping
};

}  // namespace pvsim::frontend::workload
