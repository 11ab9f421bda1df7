// The order in which a job visits the blocks of its region. Sequential modes
// walk it from its start in bs steps, wrapping. Random modes visit every
// block exactly once per pass in a seeded order, a new order each pass, as
// fio's randommap does; but instead of fio's bitmap (memory per block) the
// order is a keyed bijection: a balanced Feistel network over the next even
// power of two, cycle-walked back into range (Black and Rogaway, "Ciphers
// with Arbitrary Finite Domains", CT-RSA 2002).
#pragma once

#include <array>
#include <cstdint>

namespace pvsim::frontend::workload {

// A pseudo-random permutation of [0, size), chosen by `key`.
class RandomPermutation {
  public:
    // size >= 1.
    RandomPermutation(std::uint64_t size, std::uint64_t key);

    std::uint64_t size() const noexcept { return size_; }
    // The image of `index` (< size).
    std::uint64_t operator()(std::uint64_t index) const noexcept;

  private:
    static constexpr int kRounds = 4;

    std::uint64_t feistel(std::uint64_t value) const noexcept;

    std::uint64_t size_;
    unsigned half_bits_;
    std::uint64_t half_mask_;
    std::array<std::uint64_t, kRounds> round_keys_;
};

class OffsetSequence {
  public:
    // `blocks` (>= 1) blocks of `block_size` bytes from byte `start`.
    OffsetSequence(std::uint64_t start, std::uint64_t blocks, std::uint64_t block_size, bool random,
                   std::uint64_t seed);

    // The byte offset of the next block to visit.
    std::uint64_t next() noexcept;

    // Whole passes over the region completed so far.
    std::uint64_t passes() const noexcept { return pass_; }

  private:
    std::uint64_t start_;
    std::uint64_t blocks_;
    std::uint64_t block_size_;
    bool random_;
    std::uint64_t seed_;
    std::uint64_t pass_ = 0;
    std::uint64_t index_ = 0;  // within the pass
    RandomPermutation order_;
};

}  // namespace pvsim::frontend::workload
