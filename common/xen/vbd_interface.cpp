#include "common/xen/vbd_interface.hpp"

#include <charconv>
#include <optional>

#include "common/units.hpp"

namespace pvsim::xen {
namespace {

struct DiskPartition {
    std::uint32_t disk = 0;
    std::uint32_t partition = 0;
};

// A decimal number without sign or leading zero (but "0"), at most `max`.
std::optional<std::uint32_t> decimal(std::string_view text, std::uint32_t max) {
    if (text.empty() || (text.size() > 1 && text.front() == '0') || text.front() < '0' ||
        text.front() > '9') {
        return std::nullopt;
    }
    std::uint32_t value = 0;
    const char* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (ec != std::errc{} || ptr != end || value > max) {
        return std::nullopt;
    }
    return value;
}

// libxl's device_virtdisk_matches: `prefix`, then the disk as letters in
// bijective base 26 ("a" 0, "z" 25, "aa" 26), then an optional partition
// number without leading zeros.
std::optional<DiskPartition> virtdisk(std::string_view text, std::string_view prefix,
                                      std::uint32_t max_disk, std::uint32_t max_partition) {
    if (!text.starts_with(prefix)) {
        return std::nullopt;
    }
    text.remove_prefix(prefix.size());
    std::uint64_t index = 0;
    std::size_t letters = 0;
    while (letters < text.size() && text[letters] >= 'a' && text[letters] <= 'z') {
        index = index * 26 + static_cast<std::uint64_t>(text[letters] - 'a') + 1;
        if (index - 1 > max_disk) {
            return std::nullopt;
        }
        ++letters;
    }
    if (letters == 0) {
        return std::nullopt;
    }
    DiskPartition out{static_cast<std::uint32_t>(index - 1), 0};
    text.remove_prefix(letters);
    if (text.empty()) {
        return out;
    }
    if (text.front() == '0') {
        return std::nullopt;  // "leading zeroes not permitted in partition number"
    }
    const auto partition = decimal(text, max_partition);
    if (!partition) {
        return std::nullopt;
    }
    out.partition = *partition;
    return out;
}

// "d<disk>" or "d<disk>p<partition>".
std::optional<DiskPartition> d_form(std::string_view text) {
    if (!text.starts_with("d")) {
        return std::nullopt;
    }
    text.remove_prefix(1);
    const std::size_t p = text.find('p');
    const auto disk = decimal(text.substr(0, p), (1u << 20) - 1);
    if (!disk) {
        return std::nullopt;
    }
    if (p == std::string_view::npos) {
        return DiskPartition{*disk, 0};
    }
    const auto partition = decimal(text.substr(p + 1), 255);
    if (!partition) {
        return std::nullopt;
    }
    return DiskPartition{*disk, *partition};
}

// A number as strtoul(..., 0) reads it: 0x hex, leading-0 octal, decimal.
std::optional<std::uint32_t> plain_number(std::string_view text) {
    if (text.empty() || text.front() < '0' || text.front() > '9') {
        return std::nullopt;
    }
    int base = 10;
    if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
        base = 16;
        text.remove_prefix(2);
    } else if (text.size() > 1 && text[0] == '0') {
        base = 8;
        text.remove_prefix(1);
    }
    std::uint32_t value = 0;
    const char* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, value, base);
    if (text.empty() || ec != std::errc{} || ptr != end) {
        return std::nullopt;
    }
    return value;
}

// vbd-interface.txt's xvd encodings.
std::uint32_t xvd_number(DiskPartition d) {
    if (d.disk < 16 && d.partition < 16) {
        return (202u << 8) | (d.disk << 4) | d.partition;
    }
    return (1u << 28) | (d.disk << 8) | d.partition;
}

constexpr std::uint32_t kExtendedFlag = 1u << 28;
constexpr std::uint32_t kXvdMajor = 202;
constexpr std::uint32_t kSdMajor = 8;
constexpr std::uint32_t kHdMajorFirst = 3;    // hda, hdb
constexpr std::uint32_t kHdMajorSecond = 22;  // hdc, hdd

// Linux's disk letters (sd_format_disk_name): bijective base 26.
std::string disk_letters(std::uint32_t disk) {
    std::string letters;
    std::uint64_t n = static_cast<std::uint64_t>(disk) + 1;
    while (n > 0) {
        --n;
        letters.insert(letters.begin(), static_cast<char>('a' + n % 26));
        n /= 26;
    }
    return letters;
}

std::string disk_name(const char* prefix, std::uint32_t disk, std::uint32_t partition) {
    std::string name = prefix + disk_letters(disk);
    if (partition != 0) {
        name += std::to_string(partition);
    }
    return name;
}

}  // namespace

std::uint32_t vdev_number(std::string_view vdev) {
    if (const auto number = plain_number(vdev)) {
        return *number;
    }
    if (const auto d = virtdisk(vdev, "xvd", (1u << 20) - 1, 255)) {
        return xvd_number(*d);
    }
    if (const auto d = virtdisk(vdev, "hd", 3, 63)) {
        return ((d->disk < 2 ? 3u : 22u) << 8) | ((d->disk & 1u) << 6) | d->partition;
    }
    if (const auto d = virtdisk(vdev, "sd", 15, 15)) {
        return (8u << 8) | (d->disk << 4) | d->partition;
    }
    if (const auto d = d_form(vdev)) {
        return xvd_number(*d);
    }
    throw ParseError("virtual device \"" + std::string(vdev) +
                     "\" is not one of xvd<letters>[<partition>] (disks up to 2^20-1, "
                     "partitions up to 255), sd[a-p][1-15], hd[a-d][1-63], d<disk>[p<partition>] "
                     "or a number (docs/misc/vbd-interface.txt)");
}

std::string vdev_name(std::uint32_t devid) {
    if ((devid & kExtendedFlag) != 0) {
        if ((devid >> 29) != 0) {
            return {};
        }
        return disk_name("xvd", (devid >> 8) & 0xfffff, devid & 0xff);
    }
    const std::uint32_t major = devid >> 8;
    const std::uint32_t minor = devid & 0xff;
    switch (major) {
        case kXvdMajor:
            return disk_name("xvd", minor >> 4, minor & 0xf);
        case kSdMajor:
            return disk_name("sd", minor >> 4, minor & 0xf);
        case kHdMajorFirst:
            return disk_name("hd", minor >> 6, minor & 0x3f);
        case kHdMajorSecond:
            return disk_name("hd", 2 + (minor >> 6), minor & 0x3f);
        default:
            return {};
    }
}

std::string describe_devid(std::uint32_t devid) {
    const std::string name = vdev_name(devid);
    return name.empty() ? std::to_string(devid) : std::to_string(devid) + " (" + name + ")";
}

}  // namespace pvsim::xen
