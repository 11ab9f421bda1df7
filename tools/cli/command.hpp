// A parsed command, ready to run: the CLI parses a whole command line (or,
// for a script, every line of it before the first one runs) into these.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <CLI/CLI.hpp>

#include "tools/cli/session.hpp"

namespace pvsim::tools::cli {

struct Command {
    std::string text;                   // the words as given, for messages
    std::function<void(Session&)> run;  // throws CommandError (or any exception) on failure
};

// Where a subcommand's parse callback puts what it will do.
using Selected = std::function<void(Session&)>;

// Where commands are accepted: on the command line, or as a script line
// (where the scenario verbs exist too and `script`/`demo` do not).
enum class Context { command_line, script };

// Which subcommands an adder below adds: every one (the program's parser,
// whose --help lists them all), or only the one a line names. A script is
// parsed line by line, each line with a parser of its own (the options bind
// to state its command then keeps), and CLI11 allocates a few dozen objects
// for each option: building the one subcommand a line names instead of all
// of them makes a line's parse about thirty times cheaper, with the same
// result, since a line runs exactly one subcommand.
class CommandFilter {
  public:
    static CommandFilter all() { return CommandFilter(std::nullopt); }
    static CommandFilter only(std::string name) { return CommandFilter(std::move(name)); }

    bool wants(std::string_view name) const { return !only_ || *only_ == name; }

  private:
    explicit CommandFilter(std::optional<std::string> only) : only_(std::move(only)) {}
    std::optional<std::string> only_;
};

// Each file of tools/cli/ adds its subcommands (those `filter` wants) to the
// app; their parse callbacks set `selected`.
void add_run_commands(CLI::App& app, Selected& selected,
                      const CommandFilter& filter = CommandFilter::all());
void add_domain_commands(CLI::App& app, Selected& selected,
                         const CommandFilter& filter = CommandFilter::all());
void add_block_commands(CLI::App& app, Selected& selected,
                        const CommandFilter& filter = CommandFilter::all());
void add_io_command(CLI::App& app, Selected& selected,
                    const CommandFilter& filter = CommandFilter::all());
void add_script_verbs(CLI::App& app, Selected& selected,
                      const CommandFilter& filter = CommandFilter::all());

// Whether `word` names one of `app`'s subcommands.
bool is_command(const CLI::App& app, const std::string& word);

// Parses one command (the words after "pvsim"). Throws CLI::ParseError for
// unknown commands and bad options, as CLI11 reports them.
Command parse_command(const std::vector<std::string>& words, Context context);

}  // namespace pvsim::tools::cli
