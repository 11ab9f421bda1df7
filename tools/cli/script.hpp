// `pvsim script FILE` (DESIGN.md §7): one pvsim command per line without the
// leading "pvsim", '#' comments, words split as a shell would (quotes,
// backslash, $VARIABLES), plus the scenario verbs (script_verbs.cpp). Every line is
// parsed before the first runs, so an unknown verb or a bad option is
// reported with its line number and nothing happens. The script runs in a
// fresh run directory (or in --run-dir when given), started before its
// first line; every xenbus state change is printed as it happens; the
// first failing line stops it with its line number and reason; the run is
// torn down either way.
#pragma once

#include <cstddef>
#include <filesystem>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "common/units.hpp"
#include "tools/cli/command.hpp"
#include "tools/toolstack/run.hpp"

namespace pvsim::tools::cli {

struct ScriptOptions {
    std::optional<std::filesystem::path> run_dir;  // else a fresh temporary one
    toolstack::UpOptions up;
};

// Replaces $NAME and ${NAME} with the environment's value (the script's
// PVSIM_RUN_DIR is its run directory); \$ is a literal '$'. Throws
// ParseError for an unknown variable.
std::string expand_variables(const std::string& line);

// Splits a line into words; throws ParseError for an unclosed quote.
std::vector<std::string> split_words(const std::string& line);

// A script line's words: split_words, with $NAME and ${NAME} expanded as the
// shell does, outside single quotes only (a value is never split or
// unquoted again). Throws ParseError as both do.
std::vector<std::string> split_script_line(const std::string& line);

// One line of a script, parsed; `number` counts from 1.
struct ScriptLine {
    std::size_t number = 0;
    Command command;
};

// A line that does not parse: what() is the parser's message, line() its
// line number.
class ScriptParseError : public ParseError {
  public:
    ScriptParseError(std::size_t line, const std::string& message)
        : ParseError(message), line_(line) {}
    std::size_t line() const noexcept { return line_; }

  private:
    std::size_t line_;
};

// Every line of a script parsed, blank and '#' lines skipped, before any
// runs (run_script's first step, and the script harness's whole input).
// Throws ScriptParseError for the first line that does not parse.
std::vector<ScriptLine> parse_script(std::istream& in);

// Returns the process exit status: 0 when every line succeeded and the
// teardown left nothing behind.
int run_script(const std::filesystem::path& file, const ScriptOptions& options, std::ostream& out,
               std::ostream& err);

}  // namespace pvsim::tools::cli
