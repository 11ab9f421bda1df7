// Numbers in xenstore values, as the backends read them. Linux reads them with
// xenbus_scanf("%u"); pvsim is stricter, because anyone may write there
// (DESIGN.md §8): a value is plain decimal digits and nothing else, and one
// that is not gets an error naming it.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "common/errno_error.hpp"

namespace pvsim::xen {

// A node missing or holding a value blkback cannot use, with the errno Linux
// would give xenbus_dev_fatal (ENOENT missing, EINVAL malformed, ENOSYS not
// supported).
class NodeError : public ErrnoError {
  public:
    NodeError(int errnum, const std::string& what) : ErrnoError(errnum, what) {}
};

// `text` in single quotes, for error messages.
inline std::string in_quotes(std::string_view text) {
    return "'" + std::string(text) + "'";
}

// "0" .. `max` in decimal digits; nullopt otherwise (empty, a sign, spaces,
// hex, trailing text, too large).
std::optional<std::uint64_t> parse_node_unsigned(std::string_view text,
                                                 std::uint64_t max = UINT64_MAX);

// A node's value as read (nullopt when the node is missing) parsed as a
// 32-bit parse_node_unsigned; nullopt when missing or not such a number.
std::optional<std::uint32_t> parse_node_u32(const std::optional<std::string>& text);

}  // namespace pvsim::xen
