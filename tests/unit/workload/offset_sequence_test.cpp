// Block orders: sequential wraps, random visits every block once per pass.
#include "frontend/workload/offset_sequence.hpp"

#include <algorithm>
#include <cstdint>
#include <set>
#include <vector>

#include <gtest/gtest.h>

namespace pvsim::frontend::workload {
namespace {

std::vector<std::uint64_t> take(OffsetSequence& sequence, std::size_t n) {
    std::vector<std::uint64_t> out;
    for (std::size_t i = 0; i < n; ++i) {
        out.push_back(sequence.next());
    }
    return out;
}

TEST(RandomPermutation, IsABijectionForEverySize) {
    for (const std::uint64_t size : {1u, 2u, 3u, 4u, 5u, 7u, 16u, 17u, 1000u, 4097u, 65536u}) {
        const RandomPermutation permutation(size, 42);
        std::vector<bool> seen(size, false);
        for (std::uint64_t i = 0; i < size; ++i) {
            const std::uint64_t v = permutation(i);
            ASSERT_LT(v, size);
            ASSERT_FALSE(seen[v]) << "size " << size << " index " << i;
            seen[v] = true;
        }
    }
}

TEST(RandomPermutation, DependsOnTheKeyAndIsNotTheIdentity) {
    const RandomPermutation a(1000, 1), b(1000, 2), a_again(1000, 1);
    std::size_t differ = 0, fixed = 0;
    for (std::uint64_t i = 0; i < 1000; ++i) {
        differ += a(i) != b(i) ? 1 : 0;
        fixed += a(i) == i ? 1 : 0;
        EXPECT_EQ(a(i), a_again(i));
    }
    EXPECT_GT(differ, 900u);
    EXPECT_LT(fixed, 20u);
}

TEST(OffsetSequence, SequentialWalksFromTheStartInBsStepsAndWraps) {
    OffsetSequence sequence(8192, 3, 4096, false, 7);
    EXPECT_EQ(take(sequence, 7),
              (std::vector<std::uint64_t>{8192, 12288, 16384, 8192, 12288, 16384, 8192}));
    EXPECT_EQ(sequence.passes(), 2u);
}

TEST(OffsetSequence, RandomVisitsEveryBlockOncePerPassInANewOrderEachPass) {
    constexpr std::uint64_t kBlocks = 1000;
    OffsetSequence sequence(1 << 20, kBlocks, 512, true, 0x89abcdef);
    std::vector<std::vector<std::uint64_t>> passes;
    for (int pass = 0; pass < 3; ++pass) {
        passes.push_back(take(sequence, kBlocks));
        const std::set<std::uint64_t> distinct(passes.back().begin(), passes.back().end());
        ASSERT_EQ(distinct.size(), kBlocks);
        EXPECT_EQ(*distinct.begin(), 1u << 20);
        EXPECT_EQ(*distinct.rbegin(), (1u << 20) + (kBlocks - 1) * 512);
    }
    EXPECT_NE(passes[0], passes[1]);
    EXPECT_NE(passes[1], passes[2]);
}

TEST(OffsetSequence, RandomOrderIsReproducibleAndDependsOnTheSeed) {
    OffsetSequence a(0, 100, 4096, true, 1), a_again(0, 100, 4096, true, 1),
        b(0, 100, 4096, true, 2);
    const auto first = take(a, 100);
    EXPECT_EQ(first, take(a_again, 100));
    EXPECT_NE(first, take(b, 100));
    std::vector<std::uint64_t> sorted(first);
    std::sort(sorted.begin(), sorted.end());
    EXPECT_NE(first, sorted);
}

}  // namespace
}  // namespace pvsim::frontend::workload
