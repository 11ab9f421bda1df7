#include "common/xen/xs_permissions.hpp"

#include <charconv>
#include <limits>

namespace pvsim::xen::xs {

std::optional<Permission> parse_permission(std::string_view text) {
    if (text.size() < 2) {
        return std::nullopt;
    }
    Permission permission;
    switch (text.front()) {
        case 'n':
        case 'r':
        case 'w':
        case 'b':
            permission.access = static_cast<Access>(text.front());
            break;
        default:
            return std::nullopt;
    }
    const std::string_view digits = text.substr(1);
    unsigned long domid = 0;
    const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), domid);
    if (error != std::errc{} || end != digits.data() + digits.size() ||
        domid > std::numeric_limits<DomId>::max()) {
        return std::nullopt;
    }
    permission.domid = static_cast<DomId>(domid);
    return permission;
}

std::string format_permission(Permission permission) {
    return static_cast<char>(permission.access) + std::to_string(permission.domid);
}

std::optional<Permissions> parse_permissions(std::string_view payload) {
    Permissions permissions;
    while (!payload.empty()) {
        const std::size_t nul = payload.find('\0');
        const std::string_view entry = payload.substr(0, nul);
        const auto permission = parse_permission(entry);
        if (!permission) {
            return std::nullopt;
        }
        permissions.push_back(*permission);
        if (nul == std::string_view::npos) {
            break;
        }
        payload.remove_prefix(nul + 1);
    }
    if (permissions.empty()) {
        return std::nullopt;
    }
    return permissions;
}

std::string format_permissions(const Permissions& permissions) {
    std::string out;
    for (const Permission& permission : permissions) {
        out += format_permission(permission);
        out += '\0';
    }
    return out;
}

}  // namespace pvsim::xen::xs
