// What a harness of tests/fuzz/ reads its input with: the fuzzer's bytes
// taken from the front, a value at a time, as libFuzzer's own
// FuzzedDataProvider does but without its clang-only header, so that a GCC
// build can compile every harness with the replay main (replay_main.cpp).
// Past the end, values read as zero and byte spans come back short: every
// input, however short, is a whole run.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string_view>
#include <type_traits>

namespace pvsim::fuzz {

class FuzzInput {
  public:
    FuzzInput(const std::uint8_t* data, std::size_t size) : rest_(data, size) {}

    bool empty() const noexcept { return rest_.empty(); }
    std::size_t remaining() const noexcept { return rest_.size(); }

    // A trivially copyable value from the next sizeof(T) bytes (fewer at the
    // end: the missing bytes are zero).
    template <typename T>
    T take() noexcept {
        static_assert(std::is_trivially_copyable_v<T>);
        T value{};
        copy(&value, take_bytes(sizeof(T)));
        return value;
    }

    bool take_bool() noexcept { return (take<std::uint8_t>() & 1) != 0; }

    // The next `count` bytes, or what is left.
    std::span<const std::uint8_t> take_bytes(std::size_t count) noexcept {
        const std::size_t n = std::min(count, rest_.size());
        const auto bytes = rest_.first(n);
        rest_ = rest_.subspan(n);
        return bytes;
    }

    // Everything left.
    std::span<const std::uint8_t> take_rest() noexcept { return take_bytes(rest_.size()); }

    // memcpy of `bytes` to `out`, which may be an empty span with no data
    // (memcpy's arguments must not be null even for 0 bytes).
    static void copy(void* out, std::span<const std::uint8_t> bytes) noexcept {
        if (!bytes.empty()) {
            std::memcpy(out, bytes.data(), bytes.size());
        }
    }

    static std::string_view text(std::span<const std::uint8_t> bytes) noexcept {
        return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
    }

  private:
    std::span<const std::uint8_t> rest_;
};

// A harness's own check of what the code under test promises: a failure
// aborts, which libFuzzer reports as a crash with the input that caused it.
inline void require(bool condition) noexcept {
    if (!condition) {
        std::abort();
    }
}

}  // namespace pvsim::fuzz
