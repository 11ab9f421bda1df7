// Whether a disk's target may be attached beside the disks already attached
// in the run: the sharing check of Xen's block script (tools/hotplug/Linux/
// block check_sharing, check_device_sharing, check_file_sharing; Xen 4.17),
// made by the toolstack for every disk it attaches, whatever serves it.
//
//   asking for  refused when the target is already
//   w           attached anywhere at all, in any mode
//   r           attached with mode w
//   w!          never checked (the block script's `!` mode, xm's w!: the
//               guests share the image writable on purpose, as a cluster
//               file system does)
// and, as check_sharing does for dom0 itself, when the target is a block
// device mounted in dom0 (/proc/mounts), read-write for r, at all for w.
//
// "The same target" is the same file (st_dev and st_ino, as the script's
// losetup match on device and inode) or the same block device (st_rdev, the
// script's major:minor); a path is compared by what it names, so links and
// relative spellings do not hide a second attach.
//
// Where pvsim is stricter than the script:
//   - every disk counts: a vbd of either backend type (backend/vbd,
//     backend/qdisk) and a virtio disk (backend/vhost-user-blk). The script
//     runs only for phy and sees only backend/vbd; a qdisk image is locked
//     by QEMU instead (its image locking), which pvsim's backends do not do.
//   - a disk of the same guest counts too. The script skips them (same_vm),
//     so that a domain being re-created can take its disks back while its
//     old devices linger; pvsim re-creates no domain in place, and two
//     vdevs of one guest writing one image corrupt it as surely as two
//     guests do.
// The check runs inside the transaction that writes the new disk's
// directories, so a second attach of the same target racing this one
// conflicts and is checked again: the script's claim_lock "block" for free.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "xenstore/client/client.hpp"

namespace pvsim::tools::toolstack {

// A backend directory's `mode` for an access: "r", "w", or "w!" (shared
// writable). Linux's blkback and pvsim's backends write to a disk whose
// mode holds a 'w' (backend_changed: strchr(be->mode, 'w')).
enum class DiskAccess { read_only, read_write, shared_write };
std::string_view mode_node(DiskAccess access) noexcept;
// The block script's canonicalise_mode: no 'w' is r; a 'w' and a '!' is w!;
// else w.
DiskAccess canonical_access(std::string_view mode) noexcept;

// The target is in use in a way the access asked for cannot share.
class DiskInUse : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// Throws DiskInUse naming the holder ("dom1's xvda (read-write)") when
// `target` (an absolute path) may not be attached with `access` now. Reads
// every backend directory of the run in `t`. A target that cannot be
// stat'ed is not checked here (the attach fails on it by itself).
void check_disk_sharing(xenstore::client::NodeOperations& t, const std::string& target,
                        DiskAccess access);

}  // namespace pvsim::tools::toolstack
