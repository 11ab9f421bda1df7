// A disk's target as the commands that serve or attach one check it, before
// anything starts: it exists, is a regular file or a block device, and
// allows the access asked for, checked with access(2) as the process that
// will open it (the same user) sees it: an immutable file or a read-only
// file system refuses a write even to root.
#pragma once

#include <string>
#include <string_view>

namespace pvsim::tools::cli {

// Returns `target`'s absolute path. Throws CommandError "<label> <target>:
// <reason>", with `writable_hint` after the reason when read-write access
// was asked for (how to serve it read-only instead).
std::string checked_target(std::string_view label, const std::string& target, bool read_only,
                           std::string_view writable_hint);

}  // namespace pvsim::tools::cli
