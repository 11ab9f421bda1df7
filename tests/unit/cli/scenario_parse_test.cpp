// Every scenario shipped in tools/scenarios/ parses whole, as `pvsim script`
// parses a script before its first line runs (tools/cli/script.hpp:
// parse_script). The integration suite runs them; this catches a verb or
// option a change to the parser stopped accepting, without a live run.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "tools/cli/script.hpp"

namespace pvsim::tools::cli {
namespace scenario_parse_test {

TEST(ShippedScenarios, EachParsesWhole) {
    // Scenarios name the run directory as ${PVSIM_RUN_DIR}; parsing only
    // expands it.
    ::setenv("PVSIM_RUN_DIR", "/tmp/pvsim-parse-only", 1);
    int scenarios = 0;
    for (const auto& entry : std::filesystem::directory_iterator(PVSIM_SCENARIOS)) {
        if (entry.path().extension() != ".pvsim") {
            continue;
        }
        ++scenarios;
        std::ifstream in(entry.path());
        try {
            EXPECT_FALSE(parse_script(in).empty()) << entry.path();
        } catch (const ScriptParseError& e) {
            ADD_FAILURE() << entry.path().string() << ":" << e.line() << ": " << e.what();
        }
    }
    EXPECT_GE(scenarios, 10);
    ::unsetenv("PVSIM_RUN_DIR");
}

}  // namespace scenario_parse_test
}  // namespace pvsim::tools::cli
