#include "frontend/workload/job_options.hpp"

#include <array>
#include <stdexcept>
#include <utility>

#include <fmt/format.h>

#include "common/units.hpp"

namespace pvsim::frontend::workload {
namespace {

constexpr std::array<std::pair<std::string_view, RwMode>, 10> kRwNames{{
    {"read", RwMode::read},
    {"write", RwMode::write},
    {"randread", RwMode::randread},
    {"randwrite", RwMode::randwrite},
    {"rw", RwMode::rw},
    {"readwrite", RwMode::rw},
    {"randrw", RwMode::randrw},
    {"trim", RwMode::trim},
    {"randtrim", RwMode::randtrim},
    {"trimwrite", RwMode::trimwrite},
}};

[[noreturn]] void reject(std::string_view option, const std::string& reason) {
    throw std::invalid_argument(fmt::format("{}: {}", option, reason));
}

std::uint64_t default_size(const JobOptions& options, std::uint64_t capacity_bytes) noexcept {
    const std::uint64_t per_job = (capacity_bytes - options.offset) / options.numjobs;
    return per_job - per_job % options.bs;
}

}  // namespace

RwMode parse_rw(std::string_view text) {
    for (const auto& [name, mode] : kRwNames) {
        if (text == name) {
            return mode;
        }
    }
    throw ParseError(fmt::format(
        "invalid rw mode \"{}\": expected read, write, randread, randwrite, rw (or readwrite), "
        "randrw, trim, randtrim or trimwrite",
        text));
}

std::string_view to_string(RwMode mode) {
    switch (mode) {
        case RwMode::read:
            return "read";
        case RwMode::write:
            return "write";
        case RwMode::randread:
            return "randread";
        case RwMode::randwrite:
            return "randwrite";
        case RwMode::rw:
            return "rw";
        case RwMode::randrw:
            return "randrw";
        case RwMode::trim:
            return "trim";
        case RwMode::randtrim:
            return "randtrim";
        case RwMode::trimwrite:
            return "trimwrite";
    }
    return "unknown";
}

bool is_random(RwMode mode) noexcept {
    return mode == RwMode::randread || mode == RwMode::randwrite || mode == RwMode::randrw ||
           mode == RwMode::randtrim;
}

bool does_read(RwMode mode) noexcept {
    return mode == RwMode::read || mode == RwMode::randread || mode == RwMode::rw ||
           mode == RwMode::randrw;
}

bool does_write(RwMode mode) noexcept {
    return mode == RwMode::write || mode == RwMode::randwrite || mode == RwMode::rw ||
           mode == RwMode::randrw || mode == RwMode::trimwrite;
}

bool does_trim(RwMode mode) noexcept {
    return mode == RwMode::trim || mode == RwMode::randtrim || mode == RwMode::trimwrite;
}

void validate(const JobOptions& options, std::uint64_t capacity_bytes) {
    if (options.name.empty()) {
        reject("name", "the job name may not be empty");
    }
    if (options.bs == 0 || options.bs % kSectorSize != 0) {
        reject("bs", fmt::format("{} bytes is not a non-zero multiple of the {}-byte sector size",
                                 options.bs, kSectorSize));
    }
    if (options.bs > kMaxBlockSize) {
        reject("bs", fmt::format("{} is larger than the maximum, {}", format_size(options.bs),
                                 format_size(kMaxBlockSize)));
    }
    if (options.iodepth < 1 || options.iodepth > kMaxIodepth) {
        reject("iodepth", fmt::format("{} is outside 1..{}", options.iodepth, kMaxIodepth));
    }
    if (options.numjobs < 1 || options.numjobs > kMaxNumjobs) {
        reject("numjobs", fmt::format("{} is outside 1..{}", options.numjobs, kMaxNumjobs));
    }
    if (options.rwmixread > 100) {
        reject("rwmixread", fmt::format("{} is not a percentage (0..100)", options.rwmixread));
    }
    if (options.runtime && options.runtime->count() <= 0) {
        reject("runtime", "must be positive");
    }
    if (capacity_bytes < options.bs) {
        reject("bs", fmt::format("{} is larger than the device ({})", format_size(options.bs),
                                 format_size(capacity_bytes)));
    }
    if (options.offset % kSectorSize != 0) {
        reject("offset", fmt::format("{} is not a multiple of the {}-byte sector size",
                                     options.offset, kSectorSize));
    }
    if (options.offset >= capacity_bytes) {
        reject("offset", fmt::format("{} lies past the end of the device ({} bytes)",
                                     options.offset, capacity_bytes));
    }
    if (options.size) {
        const std::uint64_t size = *options.size;
        if (size == 0 || size % options.bs != 0) {
            reject("size",
                   fmt::format("{} bytes is not a non-zero multiple of bs ({})", size, options.bs));
        }
        const std::uint64_t room = capacity_bytes - options.offset;
        if (size > room / options.numjobs) {
            reject("size",
                   fmt::format("{} jobs of {} from offset {} do not fit in the device ({} bytes)",
                               options.numjobs, format_size(size), options.offset, capacity_bytes));
        }
    } else if (default_size(options, capacity_bytes) == 0) {
        reject("size",
               fmt::format("from offset {}, the device ({} bytes) leaves less than bs ({}) for "
                           "each of {} jobs",
                           options.offset, capacity_bytes, options.bs, options.numjobs));
    }
    if (options.io_size && (*options.io_size == 0 || *options.io_size % options.bs != 0)) {
        reject("io_size", fmt::format("{} bytes is not a non-zero multiple of bs ({})",
                                      *options.io_size, options.bs));
    }
}

std::uint64_t job_size(const JobOptions& options, std::uint64_t capacity_bytes) noexcept {
    return options.size ? *options.size : default_size(options, capacity_bytes);
}

std::optional<std::uint64_t> job_io_limit(const JobOptions& options,
                                          std::uint64_t capacity_bytes) noexcept {
    if (options.io_size) {
        return *options.io_size / options.bs;
    }
    if (options.runtime) {
        return std::nullopt;
    }
    return job_size(options, capacity_bytes) / options.bs;
}

}  // namespace pvsim::frontend::workload
