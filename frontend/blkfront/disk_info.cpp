#include "frontend/blkfront/disk_info.hpp"

#include <charconv>
#include <limits>
#include <stdexcept>

namespace pvsim::frontend::blkfront {
namespace {

std::invalid_argument bad_value(std::string_view key, std::string_view text, std::string_view why) {
    return std::invalid_argument("backend node '" + std::string(key) + "' = '" + std::string(text) +
                                 "': " + std::string(why));
}

std::string required(const BackendNodeReader& read, std::string_view key) {
    std::optional<std::string> value = read(key);
    if (!value) {
        throw std::invalid_argument("backend node '" + std::string(key) + "' is missing");
    }
    return std::move(*value);
}

}  // namespace

std::optional<xen::BlkifOp> DiskInfo::flush_operation() const noexcept {
    if (feature_flush_cache) {
        return xen::BlkifOp::flush_diskcache;
    }
    if (feature_barrier) {
        return xen::BlkifOp::write_barrier;
    }
    return std::nullopt;
}

std::uint64_t parse_node_number(std::string_view key, std::string_view text, std::uint64_t max) {
    if (text.empty()) {
        throw bad_value(key, text, "not a number");
    }
    for (char c : text) {
        if (c < '0' || c > '9') {
            throw bad_value(key, text, "not a decimal number");
        }
    }
    std::uint64_t value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size() || value > max) {
        throw bad_value(key, text, "out of range (at most " + std::to_string(max) + ")");
    }
    return value;
}

bool parse_node_flag(std::string_view key, const std::optional<std::string>& text, bool fallback) {
    if (!text) {
        return fallback;
    }
    return parse_node_number(key, *text, std::numeric_limits<std::uint32_t>::max()) != 0;
}

DiskInfo read_disk_info(const BackendNodeReader& read) {
    constexpr std::uint64_t kU32 = std::numeric_limits<std::uint32_t>::max();
    DiskInfo disk;
    disk.sectors = parse_node_number("sectors", required(read, "sectors"),
                                     std::numeric_limits<std::uint64_t>::max());
    disk.info = static_cast<std::uint32_t>(parse_node_number("info", required(read, "info"), kU32));

    const std::string sector_size = required(read, "sector-size");
    disk.sector_size =
        static_cast<std::uint32_t>(parse_node_number("sector-size", sector_size, kU32));
    // blkif.h: "a power of two with a minimum value of 512".
    if (disk.sector_size < xen::kBlkifSectorSize ||
        (disk.sector_size & (disk.sector_size - 1)) != 0) {
        throw bad_value("sector-size", sector_size, "not a power of two of at least 512");
    }
    disk.physical_sector_size = disk.sector_size;
    if (const auto physical = read("physical-sector-size")) {
        disk.physical_sector_size =
            static_cast<std::uint32_t>(parse_node_number("physical-sector-size", *physical, kU32));
        // blkif.h: "an integer multiple of sector-size".
        if (disk.physical_sector_size == 0 || disk.physical_sector_size % disk.sector_size != 0) {
            throw bad_value("physical-sector-size", *physical, "not a multiple of sector-size");
        }
    }

    disk.feature_flush_cache = parse_node_flag("feature-flush-cache", read("feature-flush-cache"));
    disk.feature_barrier = parse_node_flag("feature-barrier", read("feature-barrier"));
    disk.feature_discard = parse_node_flag("feature-discard", read("feature-discard"));
    disk.feature_persistent = parse_node_flag("feature-persistent", read("feature-persistent"));
    if (disk.feature_discard) {
        // blkfront_setup_discard: xenbus_read_unsigned(..., 0) for each.
        if (const auto granularity = read("discard-granularity")) {
            disk.discard_granularity = static_cast<std::uint32_t>(
                parse_node_number("discard-granularity", *granularity, kU32));
        }
        if (const auto alignment = read("discard-alignment")) {
            disk.discard_alignment = static_cast<std::uint32_t>(
                parse_node_number("discard-alignment", *alignment, kU32));
        }
        disk.feature_secdiscard = parse_node_flag("discard-secure", read("discard-secure"));
    }
    if (const auto indirect = read("feature-max-indirect-segments")) {
        disk.max_indirect_segments = static_cast<std::uint32_t>(
            parse_node_number("feature-max-indirect-segments", *indirect, kU32));
    }
    return disk;
}

}  // namespace pvsim::frontend::blkfront
