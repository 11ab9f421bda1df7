// What the guest remembers of a vdev: ranges, their blocks, forgetting.
#include "frontend/workload/written_blocks.hpp"

#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace pvsim::frontend::workload {
namespace {

TEST(WrittenBlocks, GenerationsGrowOnePerWrite) {
    WrittenBlocks written;
    EXPECT_EQ(written.next_generation(), 1u);
    EXPECT_EQ(written.next_generation(), 2u);
    written.clear();
    EXPECT_EQ(written.next_generation(), 3u);
}

TEST(WrittenBlocks, ALookupReturnsTheKnownPiecesInOrder) {
    WrittenBlocks written;
    const BlockIdentity a{0, 4096, 1, 1}, b{8192, 4096, 1, 2};
    written.record(a);
    written.record(b);
    EXPECT_EQ(written.known_bytes(), 8192u);
    const auto pieces = written.lookup(2048, 8192);
    ASSERT_EQ(pieces.size(), 2u);
    EXPECT_EQ(pieces[0].offset, 2048u);
    EXPECT_EQ(pieces[0].length, 2048u);
    EXPECT_EQ(pieces[0].block, a);
    EXPECT_EQ(pieces[1].offset, 8192u);
    EXPECT_EQ(pieces[1].length, 2048u);
    EXPECT_EQ(pieces[1].block, b);
    EXPECT_TRUE(written.lookup(4096, 4096).empty());
}

TEST(WrittenBlocks, ANewerWriteReplacesWhatItCoversAndKeepsTheRest) {
    WrittenBlocks written;
    const BlockIdentity big{0, 16384, 1, 1}, small{4096, 4096, 1, 2};
    written.record(big);
    written.record(small);
    const auto pieces = written.lookup(0, 16384);
    ASSERT_EQ(pieces.size(), 3u);
    EXPECT_EQ(pieces[0].block, big);
    EXPECT_EQ(pieces[0].length, 4096u);
    EXPECT_EQ(pieces[1].block, small);
    EXPECT_EQ(pieces[2].block, big);
    EXPECT_EQ(pieces[2].offset, 8192u);
    EXPECT_EQ(pieces[2].length, 8192u);
    EXPECT_EQ(written.known_bytes(), 16384u);
    written.record(BlockIdentity{0, 16384, 1, 3});
    EXPECT_EQ(written.pieces(), 1u);
}

TEST(WrittenBlocks, ForgettingMakesARangeUnknown) {
    WrittenBlocks written;
    written.record(BlockIdentity{0, 8192, 1, 1});
    written.forget(2048, 1024);
    const auto pieces = written.lookup(0, 8192);
    ASSERT_EQ(pieces.size(), 2u);
    EXPECT_EQ(pieces[0].length, 2048u);
    EXPECT_EQ(pieces[1].offset, 3072u);
    EXPECT_EQ(written.known_bytes(), 8192u - 1024);
    written.forget(0, 1 << 20);
    EXPECT_EQ(written.known_bytes(), 0u);
}

TEST(WrittenBlocks, IsSafeToShareBetweenThreads) {
    WrittenBlocks written;
    std::vector<std::thread> threads;
    for (std::uint64_t t = 0; t < 4; ++t) {
        threads.emplace_back([&written, t] {
            for (std::uint64_t i = 0; i < 1000; ++i) {
                const std::uint64_t offset = (t * 1000 + i) * 512;
                written.record(BlockIdentity{offset, 512, t, written.next_generation()});
                if (i % 2 == 1) {
                    written.forget(offset, 512);
                }
            }
        });
    }
    for (auto& thread : threads) {
        thread.join();
    }
    EXPECT_EQ(written.known_bytes(), 2000u * 512);
    EXPECT_EQ(written.next_generation(), 4001u);
}

}  // namespace
}  // namespace pvsim::frontend::workload
