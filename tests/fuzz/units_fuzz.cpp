// The size and duration parsers (common/units.hpp) on arbitrary text: what
// `--memory`, `--bs`, `--size`, `--runtime` and wait-state timeouts accept
// from a user or a script. A value either parses or is refused with
// ParseError; nothing else may come out. A size that parses formats
// (format_size) whatever it is.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/units.hpp"
#include "tests/fuzz/fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text = pvsim::fuzz::FuzzInput::text({data, size});
    try {
        const std::uint64_t bytes = pvsim::parse_size(text);
        (void)pvsim::format_size(bytes);
    } catch (const pvsim::ParseError&) {
    }
    try {
        (void)pvsim::parse_duration(text);
    } catch (const pvsim::ParseError&) {
    }
    return 0;
}
