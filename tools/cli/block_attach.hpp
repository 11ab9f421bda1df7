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

// The target must exist, be a regular file or a block device, and allow
// the access asked for, checked as the backend (same user here) will open
// it; returns its absolute path. Throws CommandError naming what is wrong.
std::string checked_target(const toolstack::DiskSpec& spec);

// A Xen vbd (specification=xen; virtio_attach.hpp has virtio's).
// Returns once frontend and backend are Connected. Throws CommandError with
// the ends' error text (after removing what it wrote) otherwise.
toolstack::VbdPaths block_attach(Session& session, const std::string& domain_name,
                                 const toolstack::DiskSpec& spec,
                                 std::chrono::milliseconds timeout = std::chrono::seconds(30));

}  // namespace pvsim::tools::cli
