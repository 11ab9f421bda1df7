// `pvsim block-attach NAME ...,specification=virtio`: a virtio-blk disk
// (DESIGN.md §6). With a target, pvsim-backend serves it as a
// vhost-user-blk device listening in the run directory
// (toolstack/virtio_disk.hpp): the device's directory first, then, once the
// device says hotplug-status=connected, the guest's; with vhost-user=SOCK
// the guest's alone, naming a device already listening there
// (qemu-storage-daemon's export). Returns once the guest reports the disk
// open; otherwise removes what it wrote and throws CommandError with the
// reason.
#pragma once

#include <chrono>
#include <string>

#include "tools/cli/session.hpp"
#include "tools/toolstack/disk_spec.hpp"
#include "tools/toolstack/virtio_disk.hpp"

namespace pvsim::tools::cli {

toolstack::VirtioDiskPaths virtio_block_attach(
    Session& session, const std::string& domain_name, const toolstack::DiskSpec& spec,
    std::chrono::milliseconds timeout = std::chrono::seconds(30));

}  // namespace pvsim::tools::cli
