// xl's DISKSPEC as `pvsim block-attach` and `pvsim vbd-add` read it
// (tools/toolstack/disk_spec.hpp: "target=...,vdev=xvda,access=rw,..."),
// on arbitrary text: it parses, or is refused with ParseError naming the
// item; nothing else may come out, and it never looks at the file system.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/units.hpp"
#include "tests/fuzz/fuzz_input.hpp"
#include "tools/toolstack/disk_spec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        (void)pvsim::tools::toolstack::parse_disk_spec(pvsim::fuzz::FuzzInput::text({data, size}));
    } catch (const pvsim::ParseError&) {
    }
    return 0;
}
