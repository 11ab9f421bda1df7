#include "common/xen/node_values.hpp"

#include <charconv>

namespace pvsim::xen {

std::optional<std::uint64_t> parse_node_unsigned(std::string_view text, std::uint64_t max) {
    if (text.empty() || text.front() < '0' || text.front() > '9') {
        return std::nullopt;
    }
    std::uint64_t value = 0;
    const char* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (ec != std::errc{} || ptr != end || value > max) {
        return std::nullopt;
    }
    return value;
}

std::optional<std::uint32_t> parse_node_u32(const std::optional<std::string>& text) {
    const auto value = text ? parse_node_unsigned(*text, UINT32_MAX) : std::nullopt;
    return value ? std::optional<std::uint32_t>(static_cast<std::uint32_t>(*value)) : std::nullopt;
}

}  // namespace pvsim::xen
