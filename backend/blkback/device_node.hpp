// The block device a vbd's physical-device names, as a path pvsim-backend
// can open. Linux's blkback opens the device by its number
// (xen_vbd_create: blkdev_get_by_dev(MKDEV(major, minor)), Linux 6.1); a
// process opens a path, so the number is looked up where the kernel names
// it: /sys/dev/block/<major>:<minor>/uevent's DEVNAME under /dev, else
// /dev/block/<major>:<minor> (udev's link). The path found must be a block
// device with that number, so a stale or hand-made name never opens
// another device.
#pragma once

#include <filesystem>

#include "common/xen/physical_device.hpp"

namespace pvsim::backend::blkback {

// Throws std::runtime_error naming the number when no such block device
// can be found.
std::filesystem::path device_node_of(const xen::PhysicalDevice& device);

}  // namespace pvsim::backend::blkback
