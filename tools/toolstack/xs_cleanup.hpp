// Removing a device's directories as libxl does (libxl__xs_path_cleanup in
// tools/libs/light/libxl_xshelp.c), inside the caller's transaction.
#pragma once

#include <string>

#include "xenstore/client/client.hpp"

namespace pvsim::tools::toolstack {

// XS_RM of `path` when it exists (XS_RM fails with ENOENT when the parent
// is missing too).
void rm_if_present(xenstore::client::Transaction& t, const std::string& path);

// Removes `path`, then its parent when that is left empty (the per-domain
// directory; the device-kind directory above it stays).
void remove_with_empty_parent(xenstore::client::Transaction& t, const std::string& path);

}  // namespace pvsim::tools::toolstack
