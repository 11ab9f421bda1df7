// The counter-based generator behind every pseudo-random choice of a job
// (block order, read/write mix, verify patterns): SplitMix64 (Steele, Lea
// and Flood, "Fast splittable pseudorandom number generators", OOPSLA 2014;
// the finaliser is Stafford's Mix13). Counter-based means value i is a pure
// function of (key, i), so any word of a pattern can be recomputed alone.
#pragma once

#include <cstdint>

namespace pvsim::frontend::workload {

inline constexpr std::uint64_t kGoldenGamma = 0x9e3779b97f4a7c15;

constexpr std::uint64_t mix64(std::uint64_t z) noexcept {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
    z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
    return z ^ (z >> 31);
}

// Value `index` of the stream `key`.
constexpr std::uint64_t splitmix64(std::uint64_t key, std::uint64_t index) noexcept {
    return mix64(key + (index + 1) * kGoldenGamma);
}

// A key derived from two values, for sub-streams (per job, per pass, ...).
constexpr std::uint64_t derive_key(std::uint64_t key, std::uint64_t value) noexcept {
    return mix64(key ^ mix64(value + kGoldenGamma));
}

// A sequential generator over one stream.
class SplitMix64 {
  public:
    explicit constexpr SplitMix64(std::uint64_t key) noexcept : key_(key) {}
    constexpr std::uint64_t next() noexcept { return splitmix64(key_, counter_++); }

  private:
    std::uint64_t key_;
    std::uint64_t counter_ = 0;
};

}  // namespace pvsim::frontend::workload
