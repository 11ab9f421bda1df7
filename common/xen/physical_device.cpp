#include "common/xen/physical_device.hpp"

#include <sys/sysmacros.h>

#include <charconv>
#include <cstdio>

namespace pvsim::xen {
namespace physical_device {

std::optional<unsigned> parse_hex(std::string_view text) {
    if (text.starts_with("0x") || text.starts_with("0X")) {
        text.remove_prefix(2);
    }
    unsigned value = 0;
    const char* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, value, 16);
    if (text.empty() || ec != std::errc{} || ptr != end) {
        return std::nullopt;
    }
    return value;
}

}  // namespace physical_device

PhysicalDevice PhysicalDevice::of(dev_t rdev) noexcept {
    return PhysicalDevice{::major(rdev), ::minor(rdev)};
}

dev_t PhysicalDevice::rdev() const noexcept {
    return ::makedev(major, minor);
}

std::string to_node(const PhysicalDevice& device) {
    char text[32];
    std::snprintf(text, sizeof(text), "%x:%x", device.major, device.minor);
    return text;
}

std::optional<PhysicalDevice> parse_physical_device(std::string_view text) {
    const std::size_t colon = text.find(':');
    if (colon == std::string_view::npos) {
        return std::nullopt;
    }
    const auto major = physical_device::parse_hex(text.substr(0, colon));
    const auto minor = physical_device::parse_hex(text.substr(colon + 1));
    if (!major || !minor) {
        return std::nullopt;
    }
    return PhysicalDevice{*major, *minor};
}

}  // namespace pvsim::xen
