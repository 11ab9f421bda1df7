#include "common/units.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <limits>
#include <span>

#include <fmt/format.h>

namespace pvsim {
namespace {

constexpr std::string_view kSizeAccepted =
    "expected a whole number of bytes with an optional unit k, m, g or t (powers of 1024) and "
    "an optional B or iB, e.g. 512, 4k, 64MiB";

constexpr std::string_view kDurationAccepted =
    "expected a whole number with an optional unit ns, us, ms, s, m (or min) or h; a number "
    "without a unit is seconds, e.g. 30, 100ms, 2m";

struct Unit {
    std::string_view suffix;  // lower case
    std::uint64_t factor;
};

constexpr std::uint64_t kKiB = 1024;

constexpr Unit kSizeUnits[] = {
    {"", 1},
    {"b", 1},
    {"k", kKiB},
    {"kb", kKiB},
    {"kib", kKiB},
    {"m", kKiB* kKiB},
    {"mb", kKiB* kKiB},
    {"mib", kKiB* kKiB},
    {"g", kKiB* kKiB* kKiB},
    {"gb", kKiB* kKiB* kKiB},
    {"gib", kKiB* kKiB* kKiB},
    {"t", kKiB* kKiB* kKiB* kKiB},
    {"tb", kKiB* kKiB* kKiB* kKiB},
    {"tib", kKiB* kKiB* kKiB* kKiB},
};

constexpr std::uint64_t kSecond = 1'000'000'000;

constexpr Unit kDurationUnits[] = {
    {"", kSecond},
    {"ns", 1},
    {"nsec", 1},
    {"us", 1'000},
    {"usec", 1'000},
    {"ms", 1'000'000},
    {"msec", 1'000'000},
    {"s", kSecond},
    {"sec", kSecond},
    {"m", 60 * kSecond},
    {"min", 60 * kSecond},
    {"h", 3600 * kSecond},
    {"hour", 3600 * kSecond},
};

[[noreturn]] void fail(std::string_view kind, std::string_view text, std::string_view reason,
                       std::string_view accepted) {
    throw ParseError(fmt::format("invalid {} \"{}\": {}; {}", kind, text, reason, accepted));
}

std::string lower(std::string_view text) {
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

// The common grammar: digits, then a unit from `units`; returns the number
// times the unit's factor, or fails naming `kind` with the reason.
std::uint64_t parse_scaled(std::string_view kind, std::string_view text,
                           std::span<const Unit> units, std::uint64_t limit,
                           std::string_view accepted) {
    if (text.empty()) {
        fail(kind, text, "empty", accepted);
    }
    if (text.front() == '-') {
        fail(kind, text, "negative", accepted);
    }
    const char* const begin = text.data();
    const char* const end = text.data() + text.size();
    const char* digits_end = begin;
    while (digits_end != end && std::isdigit(static_cast<unsigned char>(*digits_end))) {
        ++digits_end;
    }
    if (digits_end == begin) {
        fail(kind, text, "no number", accepted);
    }
    std::uint64_t value = 0;
    const auto [ptr, ec] = std::from_chars(begin, digits_end, value);
    if (ec == std::errc::result_out_of_range) {
        fail(kind, text, "too large", accepted);
    }
    if (ec != std::errc() || ptr != digits_end) {
        fail(kind, text, "no number", accepted);  // not reached: only digits were passed
    }
    const std::string_view suffix(digits_end, static_cast<std::size_t>(end - digits_end));
    if (suffix.size() > 1 && suffix.front() == '.' &&
        std::isdigit(static_cast<unsigned char>(suffix[1]))) {
        fail(kind, text, "fractions are not supported (use a smaller unit)", accepted);
    }
    const std::string key = lower(suffix);
    const auto unit =
        std::find_if(units.begin(), units.end(), [&](const Unit& u) { return u.suffix == key; });
    if (unit == units.end()) {
        fail(kind, text, fmt::format("unknown unit \"{}\"", suffix), accepted);
    }
    if (value > limit / unit->factor) {
        fail(kind, text, "too large", accepted);
    }
    return value * unit->factor;
}

}  // namespace

std::uint64_t parse_size(std::string_view text) {
    return parse_scaled("size", text, kSizeUnits, std::numeric_limits<std::uint64_t>::max(),
                        kSizeAccepted);
}

std::chrono::nanoseconds parse_duration(std::string_view text) {
    constexpr auto limit = static_cast<std::uint64_t>(std::chrono::nanoseconds::max().count());
    const std::uint64_t ns =
        parse_scaled("duration", text, kDurationUnits, limit, kDurationAccepted);
    return std::chrono::nanoseconds(static_cast<std::chrono::nanoseconds::rep>(ns));
}

std::string format_size(std::uint64_t bytes) {
    constexpr std::array<std::string_view, 7> kNames = {"B",   "KiB", "MiB", "GiB",
                                                        "TiB", "PiB", "EiB"};
    std::size_t index = 0;
    std::uint64_t unit = 1;
    while (index + 1 < kNames.size() && bytes / unit >= kKiB) {
        unit *= kKiB;
        ++index;
    }
    if (bytes % unit == 0) {
        return fmt::format("{} {}", bytes / unit, kNames[index]);
    }
    return fmt::format("{:.1f} {}", static_cast<double>(bytes) / static_cast<double>(unit),
                       kNames[index]);
}

}  // namespace pvsim
