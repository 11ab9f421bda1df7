// Completion latency percentiles from the log-linear histogram.
#include "frontend/workload/latency_histogram.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

#include <gtest/gtest.h>

#include "frontend/workload/splitmix.hpp"

namespace pvsim::frontend::workload {
namespace {

// The rank-based percentile of the exact samples (what the histogram
// approximates).
std::uint64_t exact_percentile(std::vector<std::uint64_t> sorted, double percent) {
    const auto rank =
        static_cast<std::size_t>(std::ceil(static_cast<double>(sorted.size()) * percent / 100.0));
    return sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1];
}

TEST(LatencyHistogram, PercentilesAreWithinTwoPercentOfExact) {
    // Latency-like data: log-uniform from 2 us to 20 ms, plus a fast cluster.
    SplitMix64 random(11);
    std::vector<std::uint64_t> samples;
    LatencyHistogram histogram;
    for (int i = 0; i < 200000; ++i) {
        const double u = static_cast<double>(random.next() >> 11) / 9007199254740992.0;
        const auto ns =
            static_cast<std::uint64_t>(i % 5 == 0 ? 30 + 90 * u : 2000.0 * std::pow(10000.0, u));
        samples.push_back(ns);
        histogram.record(ns);
    }
    std::sort(samples.begin(), samples.end());
    for (const double percent : kFioPercentiles) {
        const double exact = static_cast<double>(exact_percentile(samples, percent));
        const double reported = static_cast<double>(histogram.percentile(percent));
        EXPECT_NEAR(reported, exact, exact * 0.02) << "p" << percent;
    }
    const LatencyStats stats = histogram.stats();
    EXPECT_EQ(stats.min, samples.front());
    EXPECT_EQ(stats.max, samples.back());
    const double mean =
        std::accumulate(samples.begin(), samples.end(), 0.0) / static_cast<double>(samples.size());
    EXPECT_NEAR(stats.mean, mean, 1.0);
    double squares = 0;
    for (const auto s : samples) {
        squares += (static_cast<double>(s) - mean) * (static_cast<double>(s) - mean);
    }
    EXPECT_NEAR(stats.stddev, std::sqrt(squares / static_cast<double>(samples.size() - 1)),
                stats.stddev * 1e-6);
    EXPECT_EQ(stats.percentiles.size(), kFioPercentiles.size());
    EXPECT_EQ(stats.percentiles.count(99.99), 1u);
}

TEST(LatencyHistogram, SmallValuesAreExactAndHugeOnesFit) {
    LatencyHistogram histogram;
    for (std::uint64_t v = 1; v <= 100; ++v) {
        histogram.record(v);
    }
    EXPECT_EQ(histogram.percentile(50), 50u);
    EXPECT_EQ(histogram.percentile(100), 100u);
    EXPECT_EQ(histogram.percentile(1), 1u);
    histogram.record(UINT64_MAX);
    EXPECT_EQ(histogram.percentile(100), UINT64_MAX);
    EXPECT_EQ(histogram.count(), 101u);
}

TEST(LatencyHistogram, MergingEqualsRecordingEverything) {
    LatencyHistogram a, b, all;
    for (std::uint64_t v = 0; v < 5000; ++v) {
        const std::uint64_t ns = 1000 + v * 37 % 9000;
        (v % 3 == 0 ? a : b).record(ns);
        all.record(ns);
    }
    a.merge(b);
    EXPECT_EQ(a.count(), all.count());
    const LatencyStats merged = a.stats(), direct = all.stats();
    EXPECT_EQ(merged.percentiles, direct.percentiles);
    EXPECT_EQ(merged.min, direct.min);
    EXPECT_EQ(merged.max, direct.max);
    EXPECT_NEAR(merged.mean, direct.mean, 1.0);
    EXPECT_NEAR(merged.stddev, direct.stddev, 1e-6 * direct.stddev);
}

TEST(LatencyHistogram, EmptyMeansZeros) {
    const LatencyStats stats = LatencyHistogram{}.stats();
    EXPECT_EQ(stats.min, 0u);
    EXPECT_EQ(stats.max, 0u);
    EXPECT_EQ(stats.mean, 0.0);
    EXPECT_EQ(stats.percentiles.at(50), 0u);
}

}  // namespace
}  // namespace pvsim::frontend::workload
