#include <algorithm>

#include "common/units.hpp"
#include "tools/cli/command.hpp"

namespace pvsim::tools::cli {

bool is_command(const CLI::App& app, const std::string& word) {
    const auto subcommands = app.get_subcommands([](const CLI::App*) { return true; });
    return std::any_of(subcommands.begin(), subcommands.end(),
                       [&](const CLI::App* sub) { return sub->check_name(word); });
}

Command parse_command(const std::vector<std::string>& words, Context context) {
    CLI::App app{"pvsim"};
    app.require_subcommand(1, 1);
    app.set_help_flag();  // a script line has no use for --help
    Selected selected;
    // Only the subcommand the first word names is built (CommandFilter):
    // none at all when it names none, and then the word is unknown.
    const CommandFilter filter = CommandFilter::only(words.empty() ? std::string() : words.front());
    add_run_commands(app, selected, filter);
    add_domain_commands(app, selected, filter);
    add_block_commands(app, selected, filter);
    add_io_command(app, selected, filter);
    if (context == Context::script) {
        add_script_verbs(app, selected, filter);
    }
    const bool known = !words.empty() && is_command(app, words.front());
    if (!known) {
        throw ParseError("unknown " + std::string(context == Context::script ? "verb" : "command") +
                         " \"" + (words.empty() ? std::string() : words.front()) + "\"");
    }
    // CLI11 takes a vector of arguments last-first.
    std::vector<std::string> reversed(words.rbegin(), words.rend());
    app.parse(reversed);
    std::string text;
    for (const auto& word : words) {
        text += (text.empty() ? "" : " ") + word;
    }
    return {text, std::move(selected)};
}

}  // namespace pvsim::tools::cli
