// Which backend serves a Xen disk, in libxl's words (libxl_types.idl
// libxl_disk_backend, xl's DISKSPEC key backendtype=; Xen 4.17):
//   phy    Linux's blkback, in backend/vbd. The toolstack's block hotplug
//          step (block_script.hpp) names the device in physical-device,
//          making a loop device for an image file
//   qdisk  QEMU's xen-block, in backend/qdisk. It opens params
//          ("raw:<path>") itself: no hotplug step, no root, no loop device
// (tap, blktap, is refused: nothing in pvsim serves it.)
//
// The backend when none is asked for, as libxl__device_disk_set_backend
// picks one (disk_try_backend in the order phy, qdisk, tap) with pvsim's
// own rule for a file: a block device goes to phy; an image file to qdisk.
// A target that cannot be stat'ed is refused, unless qdisk was asked for
// (libxl__device_disk_set_backend stats pdev_path for an unknown or phy
// backend: "Disk vdev=%s failed to stat: %s", ERROR_INVAL; QEMU's xen-block
// then reports its own open failure). libxl on Linux would take phy for a file too
// (libxl_linux.c libxl__try_phy_backend accepts S_ISREG) and rely on the
// block script's losetup; pvsim does not, so that attaching an image never
// needs root or a loop driver (containers, CI), and so that dom0's view of
// the file stays the guest's (a loop device has a page cache of its own).
// backendtype=phy asks for libxl's way with a file: a loop device.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace pvsim::tools::toolstack {

enum class DiskBackend { phy, qdisk };

// "phy" | "qdisk": xl's backendtype and the backend directory's "type".
std::string_view to_string(DiskBackend backend) noexcept;
// "phy" | "qdisk"; nullopt for anything else.
std::optional<DiskBackend> parse_disk_backend(std::string_view text) noexcept;
// libxl__device_from_disk's backend_kind: "vbd" for phy, "qdisk" for qdisk,
// the directory under /local/domain/<backend>/backend/.
std::string_view backend_kind(DiskBackend backend) noexcept;

// The backend asked for, or the one the rule above picks for `target`.
// Throws std::invalid_argument "failed to stat <target>: <reason>" unless
// qdisk is asked for or `target` can be stat'ed.
DiskBackend select_disk_backend(std::optional<DiskBackend> asked, const std::string& target);

}  // namespace pvsim::tools::toolstack
