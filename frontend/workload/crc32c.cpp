#include "frontend/workload/crc32c.hpp"

#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace pvsim::frontend::workload {
namespace {

#if defined(__x86_64__)
// Compiled for SSE4.2 alone, so that the rest of the program keeps the
// baseline x86-64 target; called only where the CPU has it (best()).
__attribute__((target("sse4.2"))) std::uint32_t sse42_one_stream(std::uint32_t state,
                                                                 const std::byte* at,
                                                                 std::size_t size) noexcept {
    std::uint64_t wide = state;
    for (; size >= 8; at += 8, size -= 8) {
        std::uint64_t word;
        std::memcpy(&word, at, sizeof word);
        wide = _mm_crc32_u64(wide, word);
    }
    auto narrow = static_cast<std::uint32_t>(wide);
    for (; size > 0; ++at, --size) {
        narrow = _mm_crc32_u8(narrow, static_cast<std::uint8_t>(*at));
    }
    return narrow;
}

// The crc32 instruction takes three cycles to give its result and can start
// one each cycle, so one chain of them runs at a third of its speed. Long
// buffers are therefore cut into three streams of kStream bytes, each
// checksummed from its own register in one loop (three independent chains,
// as Linux's crc32c-intel does in crc_pcl), and joined after: the CRC
// register is linear, so for streams A, B and C
//   crc(s, A B C) = shift(shift(crc(s, A)) ^ crc(0, B)) ^ crc(0, C)
// where shift(r) is the register after kStream zero bytes from r. shift is
// linear in r too, so it is four table lookups, one per byte of r
// (ZeroShift). 3 x 1344 bytes covers a 4 KiB verified block but its header.
constexpr std::size_t kStream = 1344;

// shift() for kStream zero bytes: the contribution of each byte of the
// register, each table made by running the instruction itself over the
// zeros (1024 x 168 steps, once per process).
class ZeroShift {
  public:
    __attribute__((target("sse4.2"))) ZeroShift() noexcept {
        static constexpr std::byte kZeros[kStream] = {};
        for (unsigned byte = 0; byte < 4; ++byte) {
            for (std::uint32_t value = 0; value < 256; ++value) {
                table_[byte][value] = sse42_one_stream(value << (8 * byte), kZeros, kStream);
            }
        }
    }
    std::uint32_t operator()(std::uint32_t r) const noexcept {
        return table_[0][r & 0xff] ^ table_[1][(r >> 8) & 0xff] ^ table_[2][(r >> 16) & 0xff] ^
               table_[3][r >> 24];
    }

  private:
    std::uint32_t table_[4][256];
};

__attribute__((target("sse4.2"))) std::uint32_t sse42_update(std::uint32_t state,
                                                             const std::byte* at,
                                                             std::size_t size) noexcept {
    if (size < 3 * kStream) {
        return sse42_one_stream(state, at, size);
    }
    static const ZeroShift shift;  // immutable once made; C++11 makes it once
    for (; size >= 3 * kStream; at += 3 * kStream, size -= 3 * kStream) {
        std::uint64_t a = state;
        std::uint64_t b = 0;
        std::uint64_t c = 0;
        for (std::size_t i = 0; i < kStream; i += 8) {
            std::uint64_t wa;
            std::uint64_t wb;
            std::uint64_t wc;
            std::memcpy(&wa, at + i, sizeof wa);
            std::memcpy(&wb, at + kStream + i, sizeof wb);
            std::memcpy(&wc, at + 2 * kStream + i, sizeof wc);
            a = _mm_crc32_u64(a, wa);
            b = _mm_crc32_u64(b, wb);
            c = _mm_crc32_u64(c, wc);
        }
        const std::uint32_t ab =
            shift(static_cast<std::uint32_t>(a)) ^ static_cast<std::uint32_t>(b);
        state = shift(ab) ^ static_cast<std::uint32_t>(c);
    }
    return sse42_one_stream(state, at, size);
}
#endif

}  // namespace

Crc32c::Engine Crc32c::best() noexcept {
#if defined(__x86_64__)
    return __builtin_cpu_supports("sse4.2") ? Engine::sse42 : Engine::table;
#else
    return Engine::table;
#endif
}

void Crc32c::update(std::span<const std::byte> data) noexcept {
#if defined(__x86_64__)
    if (engine_ == Engine::sse42) {
        state_ = sse42_update(state_, data.data(), data.size());
        return;
    }
#endif
    table_.process_bytes(data.data(), data.size());
}

std::uint32_t Crc32c::value() const noexcept {
    return engine_ == Engine::sse42 ? ~state_ : table_.checksum();
}

}  // namespace pvsim::frontend::workload
