// The "physical-device" node of a vbd's backend directory: the block device
// blkback serves, as major:minor in lowercase hex with no prefix. Xen's
// block hotplug script writes it (tools/hotplug/Linux/block, write_dev:
// `stat -L -c %t:%T`, Xen 4.17) and Linux's blkback reads it
// (drivers/block/xen-blkback/xenbus.c, backend_changed: xenbus_scanf
// "%x:%x", Linux 6.1). pvsim's toolstack writes it and pvsim-backend reads
// it with these two functions.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>

namespace pvsim::xen {

struct PhysicalDevice {
    unsigned major = 0;
    unsigned minor = 0;

    static PhysicalDevice of(dev_t rdev) noexcept;
    dev_t rdev() const noexcept;
    bool operator==(const PhysicalDevice&) const = default;
};

// "8:1a": printf "%x:%x".
std::string to_node(const PhysicalDevice& device);

// What sscanf "%x:%x" takes, less its leniency (pvsim is strict about what
// anyone may write, DESIGN.md §8): hex digits, one colon, hex digits, an
// optional 0x before each number; nullopt for anything else.
std::optional<PhysicalDevice> parse_physical_device(std::string_view text);

}  // namespace pvsim::xen
