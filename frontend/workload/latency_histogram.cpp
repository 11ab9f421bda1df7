#include "frontend/workload/latency_histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace pvsim::frontend::workload {

// Values below 2 * kSub are their own bucket. Above, with e the index of the
// top bit and s = e - kSubBits, bucket s * kSub + (v >> s) holds the values
// sharing v's top kSubBits + 1 bits, a width of 2^s.
std::size_t LatencyHistogram::bucket_of(std::uint64_t ns) noexcept {
    if (ns < 2 * kSub) {
        return static_cast<std::size_t>(ns);
    }
    const unsigned shift = static_cast<unsigned>(std::bit_width(ns)) - 1 - kSubBits;
    return static_cast<std::size_t>(shift * kSub + (ns >> shift));
}

std::uint64_t LatencyHistogram::bucket_low(std::size_t bucket) noexcept {
    if (bucket < 2 * kSub) {
        return bucket;
    }
    const std::uint64_t shift = bucket / kSub - 1;
    const std::uint64_t mantissa = bucket - shift * kSub;
    return mantissa << shift;
}

std::uint64_t LatencyHistogram::bucket_width(std::size_t bucket) noexcept {
    return bucket < 2 * kSub ? 1 : std::uint64_t{1} << (bucket / kSub - 1);
}

void LatencyHistogram::record(std::uint64_t ns) {
    if (buckets_.empty()) {
        buckets_.assign(kBuckets, 0);
    }
    ++buckets_[bucket_of(ns)];
    if (count_ == 0) {
        min_ = max_ = ns;
    } else {
        min_ = std::min(min_, ns);
        max_ = std::max(max_, ns);
    }
    ++count_;
    const double value = static_cast<double>(ns);
    const double delta = value - mean_;
    mean_ += delta / static_cast<double>(count_);
    m2_ += delta * (value - mean_);
}

void LatencyHistogram::merge(const LatencyHistogram& other) {
    if (other.count_ == 0) {
        return;
    }
    if (count_ == 0) {
        *this = other;
        return;
    }
    for (std::size_t i = 0; i < kBuckets; ++i) {
        buckets_[i] += other.buckets_[i];
    }
    // Chan et al.'s pairwise combination of mean and squared deviations.
    const double n_a = static_cast<double>(count_);
    const double n_b = static_cast<double>(other.count_);
    const double delta = other.mean_ - mean_;
    const double n = n_a + n_b;
    mean_ += delta * n_b / n;
    m2_ += other.m2_ + delta * delta * n_a * n_b / n;
    count_ += other.count_;
    min_ = std::min(min_, other.min_);
    max_ = std::max(max_, other.max_);
}

std::uint64_t LatencyHistogram::percentile(double percent) const {
    if (count_ == 0) {
        return 0;
    }
    // The rank of the sample wanted, 1-based: ceil(count * percent / 100).
    const double exact = static_cast<double>(count_) * std::clamp(percent, 0.0, 100.0) / 100.0;
    const std::uint64_t rank =
        std::clamp<std::uint64_t>(static_cast<std::uint64_t>(std::ceil(exact)), 1, count_);
    // The extremes are known exactly.
    if (rank == count_) {
        return max_;
    }
    if (rank == 1) {
        return min_;
    }
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < kBuckets; ++i) {
        seen += buckets_[i];
        if (seen >= rank) {
            const std::uint64_t mid = bucket_low(i) + bucket_width(i) / 2;
            return std::clamp(mid, min_, max_);
        }
    }
    return max_;
}

LatencyStats LatencyHistogram::stats() const {
    LatencyStats stats;
    for (const double percent : kFioPercentiles) {
        stats.percentiles[percent] = percentile(percent);
    }
    if (count_ == 0) {
        return stats;
    }
    stats.min = min_;
    stats.max = max_;
    stats.count = count_;
    stats.mean = mean_;
    stats.stddev = count_ > 1 ? std::sqrt(m2_ / static_cast<double>(count_ - 1)) : 0.0;
    return stats;
}

}  // namespace pvsim::frontend::workload
