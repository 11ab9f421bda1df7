// The content of a block written with --verify=crc32c, and the check of what
// a read found against it (fio's verify: a header in each block, then a
// pattern, then a checksum; fio's "verify_header" carries magic, length,
// offset, generation and a crc of its own).
//
// Layout (little-endian, 48 bytes, then pattern to the end of the block):
//   u32 magic, u16 version, u16 header size, u64 offset (bytes, where the
//   block was written), u64 length (bs), u64 seed, u64 generation,
//   u32 crc32c (of the whole block with this field zeroed), u32 reserved (0)
// The pattern is counter-based: 64-bit word w of the block is a pure
// function of (seed, offset, generation, w), so the expected bytes of any
// sub-range can be recomputed without reading anything else.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace pvsim::frontend::workload {

static_assert(std::endian::native == std::endian::little,
              "the verify header is stored in host order, which is little-endian here");

inline constexpr std::uint32_t kVerifyMagic = 0x6b627670;  // "pvbk" in the block's first bytes
inline constexpr std::uint16_t kVerifyVersion = 1;
inline constexpr std::size_t kVerifyHeaderSize = 48;
inline constexpr std::size_t kVerifyCrcOffset = 40;

// Which write a block's bytes come from. A trim (discard) is a write of
// zeros: a discarded range reads back as zeros (Linux's
// write_zeroes/discard_zeroes_data; pvsim's backends punch a hole or issue
// BLKDISCARD), so `zeros` blocks have no header and no pattern, and their
// generation orders them among the writes.
struct BlockIdentity {
    std::uint64_t offset = 0;  // bytes, where the block starts on the device
    std::uint64_t length = 0;  // bytes, a multiple of 8 and at least the header
    std::uint64_t seed = 0;
    std::uint64_t generation = 0;
    bool zeros = false;  // trimmed: every byte reads back as zero

    friend bool operator==(const BlockIdentity&, const BlockIdentity&) = default;
};

struct VerifyHeader {
    std::uint32_t magic = 0;
    std::uint16_t version = 0;
    std::uint16_t header_size = 0;
    std::uint64_t offset = 0;
    std::uint64_t length = 0;
    std::uint64_t seed = 0;
    std::uint64_t generation = 0;
    std::uint32_t crc32c = 0;
};

// `out` (block.length bytes) gets the whole block (all zeros for a `zeros`
// block).
void make_block(const BlockIdentity& block, std::span<std::byte> out);

// The header at the start of `bytes` (at least kVerifyHeaderSize).
VerifyHeader read_header(std::span<const std::byte> bytes);

// The crc of a whole block with its crc field taken as zero.
std::uint32_t block_crc(std::span<const std::byte> block);

// Checks `found`, the device's bytes at [at, at + found.size()), against
// what `expected` wrote there (the range lies inside the block). When the
// range holds the block's header its fields are checked, so that a
// mismatch is explained (stale data, a misdirected write); a whole block is
// then checked by its crc, as fio's verify_io_u() does (corruption), and
// any other range byte by byte against the pattern made again. Returns ""
// when all match, else the reason, naming the block's offset in hex and
// decimal: "offset 0x1000 (4096): generation 3 found, 5 expected (stale
// data)". A `zeros` block must read back as zeros; a verify block found
// there instead is named as a lost trim ("offset 0x1000 (4096): the block
// of generation 3 found, zeros expected (trimmed at generation 5: the
// discard was lost)"). `scratch` is reused between calls.
std::string check_block(const BlockIdentity& expected, std::uint64_t at,
                        std::span<const std::byte> found, std::vector<std::byte>& scratch);

// "0x1000 (4096)".
std::string describe_offset(std::uint64_t offset);

}  // namespace pvsim::frontend::workload
