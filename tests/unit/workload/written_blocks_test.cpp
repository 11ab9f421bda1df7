// What the guest remembers of a vdev: ranges, their blocks, forgetting.
#include "frontend/workload/written_blocks.hpp"

#include <algorithm>
#include <optional>
#include <random>
#include <stdexcept>
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

TEST(WrittenBlocks, ABlockLongerThanItsRecordCanHoldIsRefused) {
    WrittenBlocks written;
    EXPECT_THROW(written.record(BlockIdentity{0, std::uint64_t{1} << 32, 1, 1}),
                 std::invalid_argument);
    written.record(BlockIdentity{0, 4u << 20, 1, 1});  // kMaxBlockSize
    EXPECT_EQ(written.known_bytes(), 4u << 20);
}

// A 64 MiB disk written in 4 KiB blocks is 16384 extents of 32 bytes.
// Recorded in order its chunks stay full; in the order a depth-32 job
// completes them (shuffled within each 32) the splits near a chunk's end
// keep them so; in random order they are about two thirds full, as a
// B-tree's nodes are. A std::map took 96 bytes a block.
TEST(WrittenBlocks, ADiskWrittenAboutInOrderTakesAbout32BytesABlock) {
    static constexpr std::uint64_t kBlocks = 16384;
    const auto bytes_per_block = [](const std::vector<std::uint64_t>& order) {
        WrittenBlocks written;
        for (const std::uint64_t block : order) {
            written.record(BlockIdentity{block * 4096, 4096, 7, written.next_generation()});
        }
        EXPECT_EQ(written.pieces(), kBlocks);
        EXPECT_EQ(written.known_bytes(), kBlocks * 4096);
        return written.memory_bytes() / kBlocks;
    };
    std::vector<std::uint64_t> order(kBlocks);
    for (std::uint64_t i = 0; i < kBlocks; ++i) {
        order[i] = i;
    }
    EXPECT_LE(bytes_per_block(order), 33u);
    std::mt19937_64 random(32);
    for (std::size_t i = 0; i < order.size(); i += 32) {
        std::shuffle(order.begin() + static_cast<std::ptrdiff_t>(i),
                     order.begin() + static_cast<std::ptrdiff_t>(i + 32), random);
    }
    EXPECT_LE(bytes_per_block(order), 33u);
    std::shuffle(order.begin(), order.end(), random);
    EXPECT_LE(bytes_per_block(order), 56u);
}

// Against a model that keeps one entry per 512-byte unit: thousands of
// overlapping writes, trims and forgets, so that extents are split, chunks
// fill, split and empty, and every lookup agrees with the model.
TEST(WrittenBlocks, AgreesWithAByteMapOverThousandsOfOverlappingWritesAndForgets) {
    constexpr std::uint64_t kUnit = 512;
    constexpr std::size_t kUnits = 4096;
    std::vector<std::optional<BlockIdentity>> model(kUnits);
    WrittenBlocks written;
    std::mt19937_64 random(20261207);
    const auto pieces_of_model = [&](std::size_t first, std::size_t last) {
        std::vector<WrittenBlocks::Piece> pieces;
        for (std::size_t unit = first; unit < last; ++unit) {
            if (!model[unit]) {
                continue;
            }
            if (!pieces.empty() && pieces.back().offset + pieces.back().length == unit * kUnit &&
                pieces.back().block == *model[unit]) {
                pieces.back().length += kUnit;
            } else {
                pieces.push_back({unit * kUnit, kUnit, *model[unit]});
            }
        }
        return pieces;
    };
    const auto expect_same = [&](std::size_t first, std::size_t last, int step) {
        const auto expected = pieces_of_model(first, last);
        const auto got = written.lookup(first * kUnit, (last - first) * kUnit);
        ASSERT_EQ(got.size(), expected.size()) << "step " << step;
        for (std::size_t i = 0; i < got.size(); ++i) {
            EXPECT_EQ(got[i].offset, expected[i].offset) << "step " << step;
            EXPECT_EQ(got[i].length, expected[i].length) << "step " << step;
            EXPECT_EQ(got[i].block, expected[i].block) << "step " << step;
        }
    };
    for (int step = 0; step < 20000; ++step) {
        // Mostly short ranges, so that there are hundreds of extents; now and
        // then a long one that spans many chunks.
        const std::size_t units = random() % 50 == 0 ? 1 + random() % 1024 : 1 + random() % 8;
        const std::size_t first = random() % (kUnits - units + 1);
        const std::uint64_t kind = random() % 10;
        if (kind < 7) {
            const BlockIdentity block{first * kUnit, units * kUnit, random() % 3,
                                      written.next_generation(), kind == 6};
            written.record(block);
            std::fill_n(model.begin() + static_cast<std::ptrdiff_t>(first), units, block);
        } else {
            written.forget(first * kUnit, units * kUnit);
            std::fill_n(model.begin() + static_cast<std::ptrdiff_t>(first), units, std::nullopt);
        }
        const std::size_t from = random() % kUnits;
        expect_same(from, std::min(kUnits, from + 1 + random() % 64), step);
        if (step % 1000 == 999) {
            expect_same(0, kUnits, step);
            const auto all = pieces_of_model(0, kUnits);
            EXPECT_EQ(written.pieces(), all.size());
            std::uint64_t bytes = 0;
            for (const auto& piece : all) {
                bytes += piece.length;
            }
            EXPECT_EQ(written.known_bytes(), bytes);
        }
        if (HasFatalFailure()) {
            return;
        }
    }
    written.clear();
    EXPECT_EQ(written.pieces(), 0u);
    EXPECT_TRUE(written.lookup(0, kUnits * kUnit).empty());
}

}  // namespace
}  // namespace pvsim::frontend::workload
