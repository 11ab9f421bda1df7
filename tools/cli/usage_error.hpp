// The CLI's messages in one style (DESIGN.md §8): every line starts
// "pvsim <command>:", usage errors (exit 2) suggest the nearest subcommand
// or option for a misspelt one (common/spelling.hpp) and point at the
// command's --help, and a guest's NAME given after its VDEV or DISKSPEC
// gets a hint with the order swapped back.
#pragma once

#include <string>

#include <CLI/CLI.hpp>

namespace pvsim::tools::cli {

// "block-attach", "export vhost-user-blk": the subcommands `app` parsed,
// deepest last; empty when none.
std::string command_path(const CLI::App& app);

// The message for a usage error CLI11 raised while parsing `app` (not for
// --help, which is no error): "pvsim <command>: <what>[ (did you mean
// X?)][; hint]" and a line "(pvsim <command> --help)".
std::string usage_error_message(const CLI::App& app, const CLI::ParseError& error);

// "pvsim: unknown command "X" (did you mean Y?); pvsim --help lists them".
std::string unknown_command_message(const CLI::App& app, const std::string& word);

// "pvsim <command>: <message>", without a second copy of a prefix the
// message has already ("block-attach: ...").
std::string failure_message(const std::string& command, const std::string& message);

}  // namespace pvsim::tools::cli
