// `pvsim block-attach`: every check a user's mistake deserves a clear
// message for, made before xenstore is touched (the guest and backend
// exist, the vdev is free, the target exists and allows the access asked
// for, the transport and features are ones pvsim serves), then libxl's
// attach, then waiting for both ends to connect.
#pragma once

#include <chrono>
#include <string>

#include "tools/cli/session.hpp"
#include "tools/toolstack/disk_spec.hpp"
#include "tools/toolstack/vbd.hpp"

namespace pvsim::tools::cli {

// Returns once frontend and backend are Connected. Throws CommandError with
// the ends' error text (after removing what it wrote) otherwise.
toolstack::VbdPaths block_attach(Session& session, const std::string& domain_name,
                                 const toolstack::DiskSpec& spec,
                                 std::chrono::milliseconds timeout = std::chrono::seconds(30));

}  // namespace pvsim::tools::cli
