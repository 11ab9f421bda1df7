// Request payload arguments (tools/xenstored/core.c: onearg, get_strings).
#include "xenstore/store/payload.hpp"

#include <charconv>

namespace pvsim::xenstore::store {

std::optional<std::string_view> one_arg(std::string_view payload) {
    if (payload.empty() || payload.find('\0') != payload.size() - 1) {
        return std::nullopt;
    }
    return payload.substr(0, payload.size() - 1);
}

std::vector<std::string_view> args(std::string_view payload) {
    std::vector<std::string_view> out;
    for (std::size_t nul = payload.find('\0'); nul != std::string_view::npos;
         nul = payload.find('\0')) {
        out.push_back(payload.substr(0, nul));
        payload.remove_prefix(nul + 1);
    }
    return out;
}

std::optional<std::uint64_t> parse_decimal(std::string_view text, std::uint64_t max) {
    if (text.empty() || text.front() < '0' || text.front() > '9') {
        return std::nullopt;
    }
    std::uint64_t value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc{} || end != text.data() + text.size() || value > max) {
        return std::nullopt;
    }
    return value;
}

}  // namespace pvsim::xenstore::store
