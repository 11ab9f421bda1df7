#include "frontend/workload/verify_block.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

#include "frontend/workload/crc32c.hpp"
#include "frontend/workload/splitmix.hpp"

namespace pvsim::frontend::workload {
namespace {

constexpr std::size_t kMagicAt = 0;
constexpr std::size_t kVersionAt = 4;
constexpr std::size_t kHeaderSizeAt = 6;
constexpr std::size_t kOffsetAt = 8;
constexpr std::size_t kLengthAt = 16;
constexpr std::size_t kSeedAt = 24;
constexpr std::size_t kGenerationAt = 32;
static_assert(kVerifyCrcOffset == 40 && kVerifyHeaderSize == 48);

template <typename T>
void put(std::span<std::byte> out, std::size_t at, T value) {
    std::memcpy(out.data() + at, &value, sizeof value);
}

template <typename T>
T get(std::span<const std::byte> in, std::size_t at) {
    T value;
    std::memcpy(&value, in.data() + at, sizeof value);
    return value;
}

std::uint64_t pattern_key(const BlockIdentity& block) {
    return derive_key(derive_key(block.seed, block.offset), block.generation);
}

std::string header_problem(const BlockIdentity& expected, const VerifyHeader& header) {
    if (header.magic != kVerifyMagic || header.version != kVerifyVersion ||
        header.header_size != kVerifyHeaderSize) {
        return fmt::format(
            "no verify header (magic {:#010x} version {} found, {:#010x} version {} "
            "expected; generation {} was written there)",
            header.magic, header.version, kVerifyMagic, kVerifyVersion, expected.generation);
    }
    if (header.offset != expected.offset) {
        return fmt::format("the block of offset {} found (misdirected write)",
                           describe_offset(header.offset));
    }
    if (header.length != expected.length) {
        return fmt::format("block length {} found, {} expected", header.length, expected.length);
    }
    if (header.seed != expected.seed) {
        return fmt::format("seed {:#x} found, {:#x} expected", header.seed, expected.seed);
    }
    if (header.generation < expected.generation) {
        return fmt::format("generation {} found, {} expected (stale data)", header.generation,
                           expected.generation);
    }
    if (header.generation > expected.generation) {
        return fmt::format("generation {} found, {} expected (newer than the last recorded write)",
                           header.generation, expected.generation);
    }
    return {};
}

// What is wrong with `found` (the bytes at `at`) where `expected`, a
// trimmed block, should read back as zeros; "" when they do.
std::string zeros_problem(const BlockIdentity& expected, std::uint64_t at,
                          std::span<const std::byte> found) {
    const auto nonzero =
        std::find_if(found.begin(), found.end(), [](std::byte b) { return b != std::byte{0}; });
    if (nonzero == found.end()) {
        return {};
    }
    if (at == expected.offset && found.size() >= kVerifyHeaderSize) {
        const VerifyHeader header = read_header(found);
        if (header.magic == kVerifyMagic && header.version == kVerifyVersion &&
            header.header_size == kVerifyHeaderSize) {
            return fmt::format(
                "the block of generation {} found, zeros expected (trimmed at generation {}: the "
                "discard was lost)",
                header.generation, expected.generation);
        }
    }
    const std::uint64_t byte = at + static_cast<std::uint64_t>(nonzero - found.begin());
    return fmt::format(
        "byte at {} is {:#04x}, 0x00 expected (trimmed at generation {}: zeros "
        "expected)",
        describe_offset(byte), static_cast<unsigned>(*nonzero), expected.generation);
}

}  // namespace

std::string describe_offset(std::uint64_t offset) {
    return fmt::format("{:#x} ({})", offset, offset);
}

void make_block(const BlockIdentity& block, std::span<std::byte> out) {
    if (out.size() != block.length || block.length < kVerifyHeaderSize || block.length % 8 != 0) {
        throw std::invalid_argument(
            fmt::format("a verify block of {} bytes in a buffer of {}", block.length, out.size()));
    }
    if (block.zeros) {
        std::fill(out.begin(), out.end(), std::byte{0});
        return;
    }
    const std::uint64_t key = pattern_key(block);
    for (std::size_t word = kVerifyHeaderSize / 8; word < block.length / 8; ++word) {
        put(out, word * 8, splitmix64(key, word));
    }
    put(out, kMagicAt, kVerifyMagic);
    put(out, kVersionAt, kVerifyVersion);
    put(out, kHeaderSizeAt, static_cast<std::uint16_t>(kVerifyHeaderSize));
    put(out, kOffsetAt, block.offset);
    put(out, kLengthAt, block.length);
    put(out, kSeedAt, block.seed);
    put(out, kGenerationAt, block.generation);
    put(out, kVerifyCrcOffset, std::uint32_t{0});
    put(out, kVerifyCrcOffset + 4, std::uint32_t{0});
    put(out, kVerifyCrcOffset, block_crc(out));
}

VerifyHeader read_header(std::span<const std::byte> bytes) {
    if (bytes.size() < kVerifyHeaderSize) {
        throw std::invalid_argument("a verify header needs 48 bytes");
    }
    VerifyHeader header;
    header.magic = get<std::uint32_t>(bytes, kMagicAt);
    header.version = get<std::uint16_t>(bytes, kVersionAt);
    header.header_size = get<std::uint16_t>(bytes, kHeaderSizeAt);
    header.offset = get<std::uint64_t>(bytes, kOffsetAt);
    header.length = get<std::uint64_t>(bytes, kLengthAt);
    header.seed = get<std::uint64_t>(bytes, kSeedAt);
    header.generation = get<std::uint64_t>(bytes, kGenerationAt);
    header.crc32c = get<std::uint32_t>(bytes, kVerifyCrcOffset);
    return header;
}

std::uint32_t block_crc(std::span<const std::byte> block) {
    static constexpr std::array<std::byte, 4> kZero{};
    Crc32c crc;
    crc.update(block.first(kVerifyCrcOffset));
    crc.update(kZero);
    crc.update(block.subspan(kVerifyCrcOffset + 4));
    return crc.value();
}

std::string check_block(const BlockIdentity& expected, std::uint64_t at,
                        std::span<const std::byte> found, std::vector<std::byte>& scratch) {
    if (at < expected.offset || found.size() > expected.length ||
        at - expected.offset > expected.length - found.size()) {
        throw std::invalid_argument(fmt::format("bytes {}+{} lie outside the block at {}+{}", at,
                                                found.size(), expected.offset, expected.length));
    }
    // Only a mismatch is described, so the prefix is made only then.
    const auto where = [&] { return fmt::format("offset {}: ", describe_offset(expected.offset)); };
    const std::uint64_t skip = at - expected.offset;
    if (expected.zeros) {
        std::string problem = zeros_problem(expected, at, found);
        return problem.empty() ? problem : where() + problem;
    }
    if (skip == 0 && found.size() >= kVerifyHeaderSize) {
        const VerifyHeader header = read_header(found);
        if (std::string problem = header_problem(expected, header); !problem.empty()) {
            return where() + problem;
        }
        if (found.size() == expected.length) {
            // A whole block whose header names the expected write is checked
            // as fio's verify_io_u() checks one (verify_header(), then the
            // checksum over the data): its crc32c. Its pattern is a pure
            // function of the header's fields, so a block the crc passes is
            // that write's, and the pattern need not be made again (which
            // cost more than the read itself at 4 KiB).
            const std::uint32_t computed = block_crc(found);
            if (computed == header.crc32c) {
                return {};
            }
            return where() + fmt::format(
                                 "crc32c {:#010x} in the header, {:#010x} computed over the "
                                 "data (corrupted)",
                                 header.crc32c, computed);
        }
    }
    scratch.resize(expected.length);
    make_block(expected, scratch);
    const std::span<const std::byte> wanted = std::span(scratch).subspan(skip, found.size());
    // Equal bytes are the common case, and memcmp finds them at memory speed;
    // a block that differs is then described: its checksum first (the header
    // is right and the data under it is not), else its first wrong byte.
    // The expected block carries a valid checksum, so a block equal to it
    // cannot fail the checksum, and the order of the checks is unchanged.
    if (found.empty() || std::memcmp(found.data(), wanted.data(), found.size()) == 0) {
        return {};
    }
    const auto [found_at, wanted_at] = std::mismatch(found.begin(), found.end(), wanted.begin());
    const std::uint64_t byte = at + static_cast<std::uint64_t>(found_at - found.begin());
    return where() + fmt::format("byte at {} is {:#04x}, {:#04x} expected (corrupted)",
                                 describe_offset(byte), static_cast<unsigned>(*found_at),
                                 static_cast<unsigned>(*wanted_at));
}

}  // namespace pvsim::frontend::workload
