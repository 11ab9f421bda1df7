// `pvsim script FILE` as it reads a script before running any line
// (tools/cli/script.hpp: parse_script): shell-like words, quotes,
// backslashes and $VARIABLES, then every command and scenario verb with its
// options through the CLI's own parser. Arbitrary text either parses into
// commands (which the harness does not run) or is refused with
// ScriptParseError naming the line. At most the input's first four lines
// are parsed (below); the seeds are the scenarios of tools/scenarios/ cut
// into pieces of four lines.
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
    // Lines are parsed each on its own (only their numbers carry over), so
    // a longer input adds cost, not coverage: each builds a CLI11 parser of
    // its own (of the one subcommand it names, CommandFilter). The first
    // kMaxLines lines are kept.
    constexpr std::size_t kMaxLines = 4;
    std::string text(pvsim::fuzz::FuzzInput::text({data, size}));
    std::size_t kept = 0;  // bytes of the lines kept so far
    for (std::size_t lines = 0; lines < kMaxLines && kept < text.size(); ++lines) {
        const std::size_t newline = text.find('\n', kept);
        kept = newline == std::string::npos ? text.size() : newline + 1;
    }
    text.resize(kept);
    std::istringstream in(std::move(text));
    try {
        (void)pvsim::tools::cli::parse_script(in);
    } catch (const pvsim::tools::cli::ScriptParseError&) {
    }
    return 0;
}
