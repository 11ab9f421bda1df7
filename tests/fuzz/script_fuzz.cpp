// `pvsim script FILE` as it reads a script before running any line
// (tools/cli/script.hpp: parse_script): shell-like words, quotes,
// backslashes and $VARIABLES, then every command and scenario verb with its
// options through the CLI's own parser. Arbitrary text either parses into
// commands (which the harness does not run) or is refused with
// ScriptParseError naming the line.
#include <stdlib.h>

#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

#include <spdlog/spdlog.h>

#include "tests/fuzz/fuzz_input.hpp"
#include "tools/cli/script.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    // libFuzzer's model: one process, inputs one after another. The
    // parsers log nothing worth reading here, and a script names its run
    // directory as ${PVSIM_RUN_DIR}, which run_script sets before parsing
    // (nothing is created there: parsing does not touch the file system).
    static const bool setup = [] {
        spdlog::set_level(spdlog::level::off);
        return ::setenv("PVSIM_RUN_DIR", "/tmp/pvsim-fuzz-run", 1) == 0;
    }();
    (void)setup;
    std::istringstream in(std::string(pvsim::fuzz::FuzzInput::text({data, size})));
    try {
        (void)pvsim::tools::cli::parse_script(in);
    } catch (const pvsim::tools::cli::ScriptParseError&) {
    }
    return 0;
}
