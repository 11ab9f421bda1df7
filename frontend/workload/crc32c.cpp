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
__attribute__((target("sse4.2"))) std::uint32_t sse42_update(std::uint32_t state,
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
