#include "common/xen/xenbus.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace pvsim::xen {

std::optional<XenbusState> xenbus_state_from_node(std::string_view text) {
    std::uint32_t value = 0;
    const char* end = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (text.empty() || ec != std::errc{} || ptr != end || value >= kXenbusStateNames.size()) {
        return std::nullopt;
    }
    return static_cast<XenbusState>(value);
}

std::optional<XenbusState> xenbus_state_from_name(std::string_view text) {
    if (auto numeric = xenbus_state_from_node(text)) {
        return numeric;
    }
    auto same = [text](std::string_view candidate) {
        return std::equal(text.begin(), text.end(), candidate.begin(), candidate.end(),
                          [](char a, char b) {
                              return std::tolower(static_cast<unsigned char>(a)) ==
                                     std::tolower(static_cast<unsigned char>(b));
                          });
    };
    for (std::size_t i = 0; i < kXenbusStateNames.size(); ++i) {
        if (same(kXenbusStateNames[i])) {
            return static_cast<XenbusState>(i);
        }
    }
    return std::nullopt;
}

}  // namespace pvsim::xen
