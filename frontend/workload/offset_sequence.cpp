#include "frontend/workload/offset_sequence.hpp"

#include <bit>
#include <stdexcept>

#include "frontend/workload/splitmix.hpp"

namespace pvsim::frontend::workload {

RandomPermutation::RandomPermutation(std::uint64_t size, std::uint64_t key) : size_(size) {
    if (size == 0) {
        throw std::invalid_argument("a permutation needs at least one element");
    }
    // Feistel halves of equal width covering [0, size): at most 4 * size
    // values, so cycle walking takes fewer than four steps on average.
    const unsigned bits = static_cast<unsigned>(std::bit_width(size - 1));
    half_bits_ = bits <= 2 ? 1 : (bits + 1) / 2;
    half_mask_ = (std::uint64_t{1} << half_bits_) - 1;
    for (int i = 0; i < kRounds; ++i) {
        round_keys_[i] = splitmix64(key, static_cast<std::uint64_t>(i));
    }
}

std::uint64_t RandomPermutation::feistel(std::uint64_t value) const noexcept {
    std::uint64_t left = value >> half_bits_;
    std::uint64_t right = value & half_mask_;
    for (const std::uint64_t round_key : round_keys_) {
        const std::uint64_t f = mix64(right ^ round_key) & half_mask_;
        const std::uint64_t next_right = left ^ f;
        left = right;
        right = next_right;
    }
    return (left << half_bits_) | right;
}

std::uint64_t RandomPermutation::operator()(std::uint64_t index) const noexcept {
    // A bijection on the whole power-of-two domain maps [0, size) back into
    // itself when every value landing outside is walked on along its cycle.
    std::uint64_t value = feistel(index);
    while (value >= size_) {
        value = feistel(value);
    }
    return value;
}

OffsetSequence::OffsetSequence(std::uint64_t start, std::uint64_t blocks, std::uint64_t block_size,
                               bool random, std::uint64_t seed)
    : start_(start),
      blocks_(blocks),
      block_size_(block_size),
      random_(random),
      seed_(seed),
      order_(blocks, derive_key(seed, 0)) {}

std::uint64_t OffsetSequence::next() noexcept {
    if (index_ == blocks_) {
        index_ = 0;
        ++pass_;
        if (random_) {
            order_ = RandomPermutation(blocks_, derive_key(seed_, pass_));
        }
    }
    const std::uint64_t block = random_ ? order_(index_) : index_;
    ++index_;
    return start_ + block * block_size_;
}

}  // namespace pvsim::frontend::workload
