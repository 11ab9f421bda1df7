// Completion latencies of one job and direction, kept as a log-linear
// histogram (the scheme of fio's stat.c "plat" buckets and of HdrHistogram):
// exact below 128 ns, then 64 buckets per power of two, so a reported
// percentile is within 1/128 (0.8%) of a true sample value, in bounded memory
// (about 30 KiB, allocated on first use) whatever the number of I/Os.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <vector>

namespace pvsim::frontend::workload {

// fio's clat_ns: nanoseconds; `count` is fio's N.
struct LatencyStats {
    std::uint64_t min = 0, max = 0, count = 0;
    double mean = 0, stddev = 0;
    std::map<double, std::uint64_t> percentiles;  // fio's percentile_list
};

// fio's default percentile_list.
inline constexpr std::array<double, 17> kFioPercentiles{1,  5,  10, 20, 30,   40,   50,    60,   70,
                                                        80, 90, 95, 99, 99.5, 99.9, 99.95, 99.99};

class LatencyHistogram {
  public:
    void record(std::uint64_t ns);
    void merge(const LatencyHistogram& other);

    std::uint64_t count() const noexcept { return count_; }
    // The smallest recorded value v such that at least `percent` % of the
    // values are <= v, to the bucket's precision (its midpoint, kept within
    // [min, max]); the lowest and highest ranks are min and max exactly. 0
    // when empty.
    std::uint64_t percentile(double percent) const;
    // min, max, mean, stddev and kFioPercentiles; all zero when empty.
    LatencyStats stats() const;

  private:
    static constexpr unsigned kSubBits = 6;  // 64 buckets per power of two
    static constexpr std::uint64_t kSub = std::uint64_t{1} << kSubBits;
    static constexpr std::size_t kBuckets = (64 - kSubBits) * kSub + kSub;

    static std::size_t bucket_of(std::uint64_t ns) noexcept;
    static std::uint64_t bucket_low(std::size_t bucket) noexcept;
    static std::uint64_t bucket_width(std::size_t bucket) noexcept;

    std::vector<std::uint64_t> buckets_;
    std::uint64_t count_ = 0;
    std::uint64_t min_ = 0, max_ = 0;
    double mean_ = 0, m2_ = 0;  // Welford's running mean and squared deviations
};

}  // namespace pvsim::frontend::workload
