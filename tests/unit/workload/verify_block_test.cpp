// The verify block format: crc32c, header, pattern, and what a check says.
#include "frontend/workload/verify_block.hpp"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "frontend/workload/crc32c.hpp"

namespace pvsim::frontend::workload {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

std::vector<std::byte> block_of(const BlockIdentity& identity) {
    std::vector<std::byte> bytes(identity.length);
    make_block(identity, bytes);
    return bytes;
}

std::string check(const BlockIdentity& expected, std::uint64_t at,
                  const std::vector<std::byte>& found) {
    std::vector<std::byte> scratch;
    return check_block(expected, at, found, scratch);
}

// The best engine over `data` in two updates, split at `split`, against
// the table over it whole.
void expect_engines_agree(std::span<const std::byte> data, std::size_t split) {
    Crc32c best;
    best.update(data.first(split));
    best.update(data.subspan(split));
    Crc32c table(Crc32c::Engine::table);
    table.update(data);
    EXPECT_EQ(best.value(), table.value()) << data.size() << " split at " << split;
}

TEST(Crc32c, MatchesTheStandardCheckValue) {
    const std::string text = "123456789";
    EXPECT_EQ(crc32c(std::as_bytes(std::span(text.data(), text.size()))), 0xE3069283u);
    // Incremental updates give the same.
    Crc32c crc;
    crc.update(std::as_bytes(std::span(text.data(), 4)));
    crc.update(std::as_bytes(std::span(text.data() + 4, 5)));
    EXPECT_EQ(crc.value(), 0xE3069283u);
    Crc32c table(Crc32c::Engine::table);
    table.update(std::as_bytes(std::span(text.data(), text.size())));
    EXPECT_EQ(table.value(), 0xE3069283u);
}

// The SSE4.2 engine (where this CPU has it) and the table give the same
// value for every length around its eight-byte steps and any split.
TEST(Crc32c, BothEnginesAgreeOnEveryLengthAndSplit) {
    std::vector<std::byte> data(97);
    for (std::size_t i = 0; i < data.size(); ++i) {
        data[i] = static_cast<std::byte>(i * 131 + 7);
    }
    const std::span<const std::byte> all(data);
    for (std::size_t length = 0; length <= data.size(); ++length) {
        for (std::size_t split = 0; split <= length; split += 5) {
            expect_engines_agree(all.first(length), split);
        }
    }
}

// Past 4032 bytes the SSE4.2 engine checksums three streams of 1344 bytes
// at once and joins them: the same value as the table, for lengths around
// one and two rounds of three streams and a 4 KiB block, whole or split,
// from the initial register or after an earlier update.
TEST(Crc32c, BothEnginesAgreeOverTheThreeStreamLengths) {
    std::vector<std::byte> data(3 * 4032 + 200);
    for (std::size_t i = 0; i < data.size(); ++i) {
        data[i] = static_cast<std::byte>((i * 2654435761u) >> 13);
    }
    const std::span<const std::byte> all(data);
    for (const std::size_t length :
         {4031u, 4032u, 4033u, 4039u, 4040u, 4064u, 4096u, 8063u, 8064u, 8065u, 8192u, 12296u}) {
        for (const std::size_t split : {std::size_t{0}, std::size_t{1}, std::size_t{8},
                                        std::size_t{13}, length / 2, length}) {
            expect_engines_agree(all.first(length), split);
        }
    }
}

TEST(VerifyBlock, TheHeaderCarriesTheIdentityAndTheCrcCoversTheBlock) {
    const BlockIdentity id{0x3000, 4096, 99, 7};
    const auto bytes = block_of(id);
    const VerifyHeader header = read_header(bytes);
    EXPECT_EQ(header.magic, kVerifyMagic);
    EXPECT_EQ(header.version, kVerifyVersion);
    EXPECT_EQ(header.header_size, kVerifyHeaderSize);
    EXPECT_EQ(header.offset, 0x3000u);
    EXPECT_EQ(header.length, 4096u);
    EXPECT_EQ(header.seed, 99u);
    EXPECT_EQ(header.generation, 7u);
    EXPECT_EQ(header.crc32c, block_crc(bytes));
    std::vector<std::byte> zeroed = bytes;
    std::memset(zeroed.data() + kVerifyCrcOffset, 0, 4);
    EXPECT_EQ(header.crc32c, crc32c(zeroed));
    EXPECT_EQ(check(id, 0x3000, bytes), "");
}

TEST(VerifyBlock, ThePatternIsAPureFunctionOfSeedOffsetAndGeneration) {
    const auto a = block_of({0, 4096, 1, 1});
    EXPECT_EQ(a, block_of({0, 4096, 1, 1}));
    const auto data = [](const std::vector<std::byte>& b) {
        return std::vector<std::byte>(b.begin() + kVerifyHeaderSize, b.end());
    };
    EXPECT_NE(data(a), data(block_of({0, 4096, 2, 1})));
    EXPECT_NE(data(a), data(block_of({4096, 4096, 1, 1})));
    EXPECT_NE(data(a), data(block_of({0, 4096, 1, 2})));
    // A longer block of the same identity starts with the same pattern.
    const auto longer = block_of({0, 8192, 1, 1});
    EXPECT_TRUE(
        std::equal(a.begin() + kVerifyHeaderSize, a.end(), longer.begin() + kVerifyHeaderSize));
}

TEST(VerifyBlock, AnySubRangeCanBeChecked) {
    const BlockIdentity id{8192, 8192, 5, 3};
    const auto bytes = block_of(id);
    const std::vector<std::byte> middle(bytes.begin() + 1000, bytes.begin() + 5000);
    EXPECT_EQ(check(id, 8192 + 1000, middle), "");
    std::vector<std::byte> bad = middle;
    bad[10] ^= std::byte{1};
    EXPECT_EQ(check(id, 8192 + 1000, bad),
              "offset 0x2000 (8192): byte at 0x23f2 (9202) is " +
                  fmt::format("{:#04x}, {:#04x} expected (corrupted)",
                              static_cast<unsigned>(bad[10]), static_cast<unsigned>(middle[10])));
    EXPECT_THROW(check(id, 0, middle), std::invalid_argument);
}

TEST(VerifyBlock, MismatchesAreExplained) {
    const BlockIdentity expected{0x1000, 4096, 9, 5};
    EXPECT_EQ(check(expected, 0x1000, block_of({0x1000, 4096, 9, 3})),
              "offset 0x1000 (4096): generation 3 found, 5 expected (stale data)");
    EXPECT_EQ(check(expected, 0x1000, block_of({0x1000, 4096, 9, 8})),
              "offset 0x1000 (4096): generation 8 found, 5 expected (newer than the last "
              "recorded write)");
    EXPECT_EQ(check(expected, 0x1000, block_of({0x5000, 4096, 9, 5})),
              "offset 0x1000 (4096): the block of offset 0x5000 (20480) found (misdirected "
              "write)");
    EXPECT_EQ(check(expected, 0x1000, block_of({0x1000, 4096, 10, 5})),
              "offset 0x1000 (4096): seed 0xa found, 0x9 expected");
    EXPECT_THAT(check(expected, 0x1000, std::vector<std::byte>(4096)),
                StartsWith("offset 0x1000 (4096): no verify header (magic 0x00000000"));

    auto corrupted = block_of(expected);
    corrupted[3000] ^= std::byte{0x10};
    EXPECT_THAT(check(expected, 0x1000, corrupted), StartsWith("offset 0x1000 (4096): crc32c 0x"));
    EXPECT_THAT(check(expected, 0x1000, corrupted), HasSubstr("(corrupted)"));
}

TEST(VerifyBlock, ATrimmedBlockMustReadBackAsZeros) {
    const BlockIdentity trimmed{0x4000, 4096, 9, 6, true};
    EXPECT_TRUE(
        std::ranges::all_of(block_of(trimmed), [](std::byte b) { return b == std::byte{0}; }));
    EXPECT_EQ(check(trimmed, 0x4000, std::vector<std::byte>(4096)), "");
    EXPECT_EQ(check(trimmed, 0x4200, std::vector<std::byte>(512)), "");

    // The block written before the trim, still there.
    EXPECT_EQ(check(trimmed, 0x4000, block_of({0x4000, 4096, 9, 4})),
              "offset 0x4000 (16384): the block of generation 4 found, zeros expected (trimmed at "
              "generation 6: the discard was lost)");
    // Anything else non-zero, in the whole block or a part of it.
    std::vector<std::byte> dirty(1024);
    dirty[700] = std::byte{0x42};
    EXPECT_EQ(check(trimmed, 0x4400, dirty),
              "offset 0x4000 (16384): byte at 0x46bc (18108) is 0x42, 0x00 expected (trimmed at "
              "generation 6: zeros expected)");
    EXPECT_THAT(check(trimmed, 0x4000, std::vector<std::byte>(4096, std::byte{0xff})),
                HasSubstr("byte at 0x4000 (16384) is 0xff"));
    EXPECT_THROW(check(trimmed, 0x3e00, dirty), std::invalid_argument);
}

}  // namespace
}  // namespace pvsim::frontend::workload
