#include "tools/cli/usage_error.hpp"

#include <vector>

#include "common/spelling.hpp"
#include "common/xen/vbd_interface.hpp"
#include "tools/toolstack/virtio_disk.hpp"

namespace pvsim::tools::cli {
namespace usage_error {

// The subcommands parsed, outermost first.
std::vector<const CLI::App*> parsed_chain(const CLI::App& app) {
    std::vector<const CLI::App*> chain;
    for (const CLI::App* current = &app; !current->get_subcommands().empty();) {
        current = current->get_subcommands().front();
        chain.push_back(current);
    }
    return chain;
}

std::vector<std::string> option_names(const CLI::App& command) {
    std::vector<std::string> names;
    for (const CLI::Option* option : command.get_options()) {
        for (const std::string& name : option->get_lnames()) {
            names.push_back("--" + name);
        }
    }
    return names;
}

// The first value given for positional `name`, if it was.
std::optional<std::string> positional(const CLI::App& command, const std::string& name) {
    const CLI::Option* option = command.get_option_no_throw(name);
    if (option == nullptr || option->results().empty()) {
        return std::nullopt;
    }
    return option->results().front();
}

bool is_vdev(const std::string& word) {
    if (toolstack::is_virtio_vdev(word)) {
        return true;
    }
    try {
        (void)xen::vdev_number(word);
        return true;
    } catch (const std::exception&) {
        return false;
    }
}

// NAME VDEV or NAME DISKSPEC given the other way round.
std::string swapped_hint(const CLI::App& command, const std::string& path) {
    const auto name = positional(command, "NAME");
    if (!name) {
        return {};
    }
    for (const char* second : {"VDEV", "DISKSPEC"}) {
        const auto other = positional(command, second);
        if (command.get_option_no_throw(second) == nullptr) {
            continue;
        }
        const bool looks_second = std::string(second) == "VDEV"
                                      ? is_vdev(*name)
                                      : name->find_first_of("=,") != std::string::npos;
        if (looks_second) {
            return "; the guest's NAME comes first: pvsim " + path + " " + other.value_or("NAME") +
                   " " + *name;
        }
    }
    return {};
}

}  // namespace usage_error

std::string command_path(const CLI::App& app) {
    std::string path;
    for (const CLI::App* command : usage_error::parsed_chain(app)) {
        path += (path.empty() ? "" : " ") + command->get_name();
    }
    return path;
}

std::string usage_error_message(const CLI::App& app, const CLI::ParseError& error) {
    const std::string path = command_path(app);
    const auto chain = usage_error::parsed_chain(app);
    const CLI::App& command = chain.empty() ? app : *chain.back();
    std::string message = error.what();
    if (dynamic_cast<const CLI::ExtrasError*>(&error) != nullptr) {
        // "The following argument was not expected: --jsn": each stray
        // option gets the nearest of the command's own.
        const std::vector<std::string> names = usage_error::option_names(command);
        for (const std::string& extra : command.remaining()) {
            if (extra.starts_with("--")) {
                const std::string word = extra.substr(0, extra.find('='));
                message += did_you_mean(word, names);
            }
        }
    }
    message += usage_error::swapped_hint(command, path);
    const std::string prefix = path.empty() ? "pvsim: " : "pvsim " + path + ": ";
    return prefix + message + "\n(pvsim " + (path.empty() ? "" : path + " ") + "--help)\n";
}

std::string unknown_command_message(const CLI::App& app, const std::string& word) {
    std::vector<std::string> names;
    for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
        names.push_back(sub->get_name());
    }
    return "pvsim: unknown command \"" + word + "\"" + did_you_mean(word, names) +
           "; pvsim --help lists them\n";
}

std::string failure_message(const std::string& command, const std::string& message) {
    const std::string prefix = command + ": ";
    return "pvsim " + prefix +
           (message.starts_with(prefix) ? message.substr(prefix.size()) : message) + "\n";
}

}  // namespace pvsim::tools::cli
