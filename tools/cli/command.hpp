// A parsed command, ready to run: the CLI parses a whole command line (or,
// for a script, every line of it before the first one runs) into these.
#pragma once

#include <functional>
#include <string>

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

// Each file of tools/cli/ adds its subcommands to the app; their parse
// callbacks set `selected`.
void add_run_commands(CLI::App& app, Selected& selected);
void add_domain_commands(CLI::App& app, Selected& selected);
void add_block_commands(CLI::App& app, Selected& selected);
void add_io_command(CLI::App& app, Selected& selected);
void add_script_verbs(CLI::App& app, Selected& selected);

// Whether `word` names one of `app`'s subcommands.
bool is_command(const CLI::App& app, const std::string& word);

// Parses one command (the words after "pvsim"). Throws CLI::ParseError for
// unknown commands and bad options, as CLI11 reports them.
Command parse_command(const std::vector<std::string>& words, Context context);

}  // namespace pvsim::tools::cli
