// Xenstore node permissions as they travel in XS_GET_PERMS replies and
// XS_SET_PERMS requests (docs/misc/xenstore.txt, "PERMS"; libxenstore's
// xs_strings_to_perms / xs_perm_to_string): each entry is one letter and a
// domid, "r0", "b5". The first entry names the node's owner, and its letter
// is the access every domain not listed afterwards gets.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/xen/grant_table.hpp"

namespace pvsim::xen::xs {

// XS_PERM_NONE / READ / WRITE / BOTH, by the letter the wire uses.
enum class Access : char { none = 'n', read = 'r', write = 'w', both = 'b' };

constexpr bool allows_read(Access access) {
    return access == Access::read || access == Access::both;
}
constexpr bool allows_write(Access access) {
    return access == Access::write || access == Access::both;
}

struct Permission {
    Access access = Access::none;
    DomId domid = 0;
    friend bool operator==(const Permission&, const Permission&) = default;
};

// A node's permission list: entry 0 is the owner and the default access.
using Permissions = std::vector<Permission>;

// "r0" -> {read, 0}. nullopt for an unknown letter, a missing, signed or
// non-decimal domid, or one above 65535 (libxenstore rejects those too).
std::optional<Permission> parse_permission(std::string_view text);
std::string format_permission(Permission permission);

// The nul-separated list of a GET_PERMS reply ("w0\0r1\0") to entries;
// nullopt if any entry is malformed or the list is empty.
std::optional<Permissions> parse_permissions(std::string_view payload);
// Entries to "w0\0r1\0", each nul-terminated, as a GET_PERMS reply carries.
std::string format_permissions(const Permissions& permissions);

}  // namespace pvsim::xen::xs
