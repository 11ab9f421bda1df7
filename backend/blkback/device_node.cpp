#include "backend/blkback/device_node.hpp"

#include <sys/stat.h>

#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>

namespace pvsim::backend::blkback {
namespace device_node {

bool is_device(const std::filesystem::path& path, const xen::PhysicalDevice& device) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 && S_ISBLK(st.st_mode) && st.st_rdev == device.rdev();
}

// DEVNAME= of the device's uevent in sysfs (decimal numbers there).
std::optional<std::filesystem::path> sysfs_name(const xen::PhysicalDevice& device) {
    std::ifstream uevent("/sys/dev/block/" + std::to_string(device.major) + ":" +
                         std::to_string(device.minor) + "/uevent");
    for (std::string line; std::getline(uevent, line);) {
        if (line.starts_with("DEVNAME=")) {
            return std::filesystem::path("/dev") / line.substr(8);
        }
    }
    return std::nullopt;
}

}  // namespace device_node

std::filesystem::path device_node_of(const xen::PhysicalDevice& device) {
    if (const auto named = device_node::sysfs_name(device);
        named && device_node::is_device(*named, device)) {
        return *named;
    }
    const std::filesystem::path link =
        "/dev/block/" + std::to_string(device.major) + ":" + std::to_string(device.minor);
    if (device_node::is_device(link, device)) {
        return link;
    }
    throw std::runtime_error("no block device " + xen::to_node(device) + " (major " +
                             std::to_string(device.major) + ", minor " +
                             std::to_string(device.minor) + ") under /dev");
}

}  // namespace pvsim::backend::blkback
