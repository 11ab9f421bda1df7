// `pvsim block-resize NAME VDEV [SIZE]`: online resize of a Xen vbd, the
// way a real dom0 does it. xl has no such command: an administrator grows
// the disk's target itself (truncate, qemu-img resize, lvextend) and Linux
// blkback notices within its check period (xen_blkif_schedule ->
// xen_vbd_resize, backend/blkback/vbd_resize.hpp) and tells the frontend.
// With SIZE, the image file is set to that size first (as `virsh
// blockresize` does); without, the target is taken as it is now (a block
// device resized by its own tools). A phy disk on an image file is served
// through the block hotplug step's loop device, which is told the file's
// size (LOOP_SET_CAPACITY, `losetup -c`). Either way the command returns once
// the backend has published the target's size in `sectors` and the
// guest's blkfront reports it as its capacity.
//
// Refused, with nothing changed: an unknown guest or vdev, a vdev that is
// not Connected, a SIZE that is not a positive whole number of 512-byte
// sectors, a SIZE for a target that is not a regular file, and a virtio
// disk (pvsim's vhost-user path has no back-end request channel, so the
// device could not send VHOST_USER_BACKEND_CONFIG_CHANGE_MSG for the
// driver's config interrupt).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "tools/cli/session.hpp"

namespace pvsim::tools::cli {

struct ResizeOptions {
    std::string name;
    std::string vdev;
    std::optional<std::uint64_t> bytes;  // SIZE
};

// Returns the capacity published, in 512-byte sectors. Throws CommandError.
std::uint64_t block_resize(Session& session, const ResizeOptions& options);

}  // namespace pvsim::tools::cli
