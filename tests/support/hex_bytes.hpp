// A value's bytes as the hex text pvsim_test_domain's write-hex, read-hex,
// map-write-hex and map-read-hex verbs carry (two digits a byte, in memory
// order), and back: how a test lays out a ring's structures byte by byte
// in a guest's page, or reads what the other end put there.
#pragma once

#include <cstddef>
#include <string>

namespace pvsim::test {

template <typename T>
std::string hex_of(const T& value) {
    static constexpr char kDigits[] = "0123456789abcdef";
    const auto* bytes = reinterpret_cast<const unsigned char*>(&value);
    std::string hex;
    for (std::size_t i = 0; i < sizeof(T); ++i) {
        hex += kDigits[bytes[i] >> 4];
        hex += kDigits[bytes[i] & 0xf];
    }
    return hex;
}

template <typename T>
T from_hex(const std::string& hex) {
    T value{};
    auto* bytes = reinterpret_cast<unsigned char*>(&value);
    for (std::size_t i = 0; i < sizeof(T) && 2 * i + 1 < hex.size(); ++i) {
        bytes[i] = static_cast<unsigned char>(std::stoul(hex.substr(2 * i, 2), nullptr, 16));
    }
    return value;
}

}  // namespace pvsim::test
