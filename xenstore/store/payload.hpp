// Splitting a request payload into its arguments as C xenstored does
// (tools/xenstored/core.c: onearg, get_strings; xenstore_count_strings):
// arguments are nul-terminated strings, and bytes after the last nul are no
// argument at all (XS_WRITE's value is the exception and is cut by hand).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace pvsim::xenstore::store {

// The payload's only argument: it must hold exactly one nul, at its end.
std::optional<std::string_view> one_arg(std::string_view payload);

// Every nul-terminated string of the payload, in order.
std::vector<std::string_view> args(std::string_view payload);

// A plain unsigned decimal number no larger than `max`: digits only, no sign,
// no blanks. libxenstore formats numbers with "%u"; C xenstored reads them
// with atoi(), which turns garbage into 0; pvsim refuses garbage instead.
std::optional<std::uint64_t> parse_decimal(std::string_view text, std::uint64_t max);

}  // namespace pvsim::xenstore::store
