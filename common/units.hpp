// Parsers for the sizes and durations people type: `--memory 64M`,
// `--bs 4k`, `--size 1g`, `--runtime 30`, `wait-state ... 500ms`. They follow
// fio's conventions (kb_base=1024; a runtime without a unit is in seconds) so
// that habits carry over (DESIGN.md §7), and reject anything they do not
// understand with an error naming the offending text (DESIGN.md §8).
#pragma once

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace pvsim {

// Bad text given by a user or another process: what() names the offending
// input in quotes and says what would have been accepted.
class ParseError : public std::invalid_argument {
  public:
    using std::invalid_argument::invalid_argument;
};

// A whole number of bytes with an optional unit k, m, g or t in either case,
// each a power of 1024 (fio's default kb_base=1024, xl's memory sizes),
// optionally followed by "B" or "iB": "4096", "4k", "4KiB", "64M", "1g".
// A bare number is bytes ("512" or "512B"). Throws ParseError on empty text,
// a sign, a fraction, an unknown unit, trailing text, or a value that does
// not fit in 64 bits.
std::uint64_t parse_size(std::string_view text);

// A whole number with an optional unit: ns, us, ms, s, m or min, h (and
// fio's spellings nsec, usec, msec, sec, hour), in either case. A bare number
// is seconds, as fio's --runtime. Throws ParseError as parse_size does, and
// when the duration exceeds what std::chrono::nanoseconds holds (~292 years).
std::chrono::nanoseconds parse_duration(std::string_view text);

// For people: "0 B", "512 B", "64 MiB", "1.5 GiB" (binary units, one decimal
// when not a whole number of the unit).
std::string format_size(std::uint64_t bytes);

}  // namespace pvsim
