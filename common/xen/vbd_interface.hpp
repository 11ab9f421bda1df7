// Virtual-device numbers, the `virtual-device` key of a vbd (Xen's
// docs/misc/vbd-interface.txt): how the toolstack turns a disk name into the
// number both ends of a vbd use, and how a guest or a message names a number
// again. xvd disks 0-15 are 202 << 8 | disk << 4 | partition, larger ones
// (and partitions past 15) 1 << 28 | disk << 8 | partition; sd disks 0-15
// are 8 << 8 | disk << 4 | partition; hd disks 0-1 are 3 << 8 | disk << 6 |
// partition and 2-3 are 22 << 8 | (disk - 2) << 6 | partition. Disk letters
// count as Linux's (a..z, aa..zz, ...).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace pvsim::xen {

// The number of a disk name ("xvda" 51712, "xvdb3" 51731, "xvdtq37"
// (1 << 28 | 536 << 8 | 37), "sdb3", "hdc2", "d0p1", or a number in
// decimal, hex or octal written as is). Throws ParseError (common/units.hpp)
// naming the text and what is accepted.
std::uint32_t vdev_number(std::string_view vdev);

// "xvda", "xvdb3", "sdc", "hdc2"; empty for a number of no known form.
std::string vdev_name(std::uint32_t devid);

// "51712 (xvda)", or "51712" alone when vdev_name knows no name for it.
std::string describe_devid(std::uint32_t devid);

}  // namespace pvsim::xen
