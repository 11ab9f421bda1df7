// The verbs only scripts have (DESIGN.md §7; issue: scenario scripts):
// waiting for and forcing xenbus states, reading and writing xenstore,
// killing and restarting the run's processes, expecting failure, sleeping,
// and running commands in the background; and two of pvsim's own:
// make-image (a sparse image file) and unplug (the guest closes a disk
// itself: a frontend-initiated close, as unplugging it inside a Linux guest
// does).
#include <signal.h>
#include <string.h>

#include <thread>

#include "common/units.hpp"
#include "common/xen/xenbus.hpp"
#include "tools/cli/background_jobs.hpp"
#include "tools/cli/command.hpp"
#include "tools/cli/validators.hpp"
#include "tools/toolstack/domain.hpp"
#include "tools/toolstack/guest_agent.hpp"
#include "tools/toolstack/image.hpp"
#include "tools/toolstack/run.hpp"
#include "tools/toolstack/run_daemons.hpp"
#include "tools/toolstack/vbd_status.hpp"

namespace pvsim::tools::cli {
namespace {

using xen::XenbusState;

struct StateOptions {
    std::string domain, vdev, end, state;
    std::string timeout = "10s";
};

std::string state_node(Session& session, const StateOptions& options) {
    const auto domain = toolstack::find_domain(session.control(), options.domain);
    const auto paths = toolstack::require_vbd(session.xenstore(), domain, options.vdev);
    return (options.end == "frontend" ? paths.frontend : paths.backend) + "/state";
}

void wait_state(Session& session, const StateOptions& options) {
    const XenbusState wanted = *xen::xenbus_state_from_name(options.state);
    const auto timeout =
        std::chrono::duration_cast<std::chrono::milliseconds>(parse_duration(options.timeout));
    const auto wait = toolstack::wait_for_state(
        session.xenstore(), state_node(session, options),
        [wanted](std::optional<XenbusState> state) { return state == wanted; }, timeout);
    if (!wait.accepted) {
        throw CommandError(options.end + " of " + options.domain + " " + options.vdev + " is " +
                           (wait.state ? std::string(xen::name(*wait.state)) : "gone") + ", not " +
                           std::string(xen::name(wanted)) + ", after " + options.timeout);
    }
}

void set_state(Session& session, const StateOptions& options) {
    const XenbusState state = *xen::xenbus_state_from_name(options.state);
    session.xenstore().write(state_node(session, options),
                             std::to_string(static_cast<unsigned>(state)));
}

int parse_signal(const std::string& text) {
    std::string name = text;
    if (name.starts_with("SIG")) {
        name = name.substr(3);
    }
    for (int signal = 1; signal < NSIG; ++signal) {
        if (const char* abbrev = ::sigabbrev_np(signal); abbrev != nullptr && name == abbrev) {
            return signal;
        }
    }
    try {
        std::size_t used = 0;
        const int number = std::stoi(text, &used);
        if (used == text.size() && number > 0 && number < NSIG) {
            return number;
        }
    } catch (const std::exception&) {
    }
    throw ParseError("signal \"" + text + "\": expected a name (KILL, TERM, SIGSTOP) or number");
}

void kill_process(Session& session, const std::string& who, int signal) {
    pid_t pid = 0;
    if (who == "dom0" || who == "xenstored") {
        const char* daemon = who == "dom0" ? toolstack::kDom0Daemon : toolstack::kXenstoredDaemon;
        const auto found = toolstack::daemon_pid(session.run(), daemon);
        if (!found) {
            throw CommandError(who + " (" + daemon + ") is not running");
        }
        pid = *found;
        session.disconnect();
    } else {
        const auto domain = toolstack::find_domain(session.control(), who);
        if (domain.domid == 0 || domain.pid <= 0) {
            throw CommandError(who + " has no process to kill");
        }
        pid = domain.pid;
    }
    if (::kill(pid, signal) != 0) {
        throw CommandError("kill " + who + ": " + ::strerror(errno));
    }
    if (signal == SIGKILL || signal == SIGTERM) {
        toolstack::wait_for_exit(pid, std::chrono::seconds(10));
    }
}

void restart(Session& session, const std::string& who) {
    if (who != "dom0") {
        throw CommandError("restart " + who + ": only dom0 can be restarted");
    }
    if (toolstack::daemon_pid(session.run(), toolstack::kDom0Daemon)) {
        throw CommandError("restart dom0: it is running (kill dom0 first)");
    }
    toolstack::start_dom0(session.run(), session.programs(), session.up_options());
}

// The rest of a verb's words as a command of its own, parsed now so that
// a script is checked whole before it runs.
std::shared_ptr<Command> nested(const std::vector<std::string>& words) {
    if (words.empty()) {
        throw CLI::ValidationError("COMMAND", "a command is needed");
    }
    return std::make_shared<Command>(parse_command(words, Context::script));
}

}  // namespace

void add_script_verbs(CLI::App& app, Selected& selected) {
    for (const bool wait : {true, false}) {
        auto options = std::make_shared<StateOptions>();
        CLI::App* cmd = app.add_subcommand(
            wait ? "wait-state" : "set-state",
            wait ? "Wait until an end of a vbd is in STATE" : "Write STATE to an end's state node");
        cmd->add_option("NAME", options->domain)->required();
        cmd->add_option("VDEV", options->vdev)->required()->check(vdev_validator());
        cmd->add_option("END", options->end)
            ->required()
            ->check(CLI::IsMember({"frontend", "backend"}));
        cmd->add_option("STATE", options->state)->required()->check(xenbus_state_validator());
        if (wait) {
            cmd->add_option("--timeout", options->timeout)->check(duration_validator());
        }
        cmd->callback([&selected, options, wait] {
            selected = [options, wait](Session& session) {
                wait ? wait_state(session, *options) : set_state(session, *options);
            };
        });
    }

    auto read = std::make_shared<std::vector<std::string>>();
    CLI::App* read_cmd = app.add_subcommand("xenstore-read", "Print a node, or assert its value");
    read_cmd->add_option("PATH VALUE", *read)->expected(1, 2)->required();
    read_cmd->callback([&selected, read] {
        selected = [read](Session& session) {
            const std::string value = session.xenstore().read((*read)[0]);
            if (read->size() == 2 && value != (*read)[1]) {
                throw CommandError((*read)[0] + " is \"" + value + "\", expected \"" + (*read)[1] +
                                   "\"");
            }
            session.print(value + "\n");
        };
    });

    auto write = std::make_shared<std::pair<std::string, std::string>>();
    CLI::App* write_cmd = app.add_subcommand("xenstore-write", "Write a node");
    write_cmd->add_option("PATH", write->first)->required();
    write_cmd->add_option("VALUE", write->second)->required();
    write_cmd->callback([&selected, write] {
        selected = [write](Session& session) {
            session.xenstore().write(write->first, write->second);
        };
    });

    auto rm = std::make_shared<std::string>();
    CLI::App* rm_cmd = app.add_subcommand("xenstore-rm", "Remove a node and what is below it");
    rm_cmd->add_option("PATH", *rm)->required();
    rm_cmd->callback(
        [&selected, rm] { selected = [rm](Session& session) { session.xenstore().rm(*rm); }; });

    auto kill = std::make_shared<std::pair<std::string, std::string>>("", "KILL");
    CLI::App* kill_cmd = app.add_subcommand("kill", "Signal a guest's process, dom0 or xenstored");
    kill_cmd->add_option("WHO", kill->first, "NAME, dom0 or xenstored")->required();
    kill_cmd->add_option("--signal", kill->second)
        ->capture_default_str()
        ->check(CLI::Validator(
            [](std::string& v) -> std::string {
                try {
                    (void)parse_signal(v);
                    return {};
                } catch (const ParseError& e) {
                    return e.what();
                }
            },
            "SIGNAL"));
    kill_cmd->callback([&selected, kill] {
        selected = [kill](Session& session) {
            kill_process(session, kill->first, parse_signal(kill->second));
        };
    });

    auto who = std::make_shared<std::string>();
    CLI::App* restart_cmd = app.add_subcommand("restart", "Start dom0's backend again");
    restart_cmd->add_option("WHO", *who, "dom0")->required()->check(CLI::IsMember({"dom0"}));
    restart_cmd->callback(
        [&selected, who] { selected = [who](Session& session) { restart(session, *who); }; });

    auto duration = std::make_shared<std::string>();
    CLI::App* sleep_cmd = app.add_subcommand("sleep", "Wait for a while (1, 500ms, ...)");
    sleep_cmd->add_option("T", *duration)->required()->check(duration_validator());
    sleep_cmd->callback([&selected, duration] {
        selected = [duration](Session&) { std::this_thread::sleep_for(parse_duration(*duration)); };
    });

    for (const bool background : {false, true}) {
        CLI::App* cmd =
            app.add_subcommand(background ? "background" : "expect-fail",
                               background ? "Run a command while the script goes on (`wait` for it)"
                                          : "Run a command that must fail");
        // Everything after the verb is the command, its options included.
        cmd->prefix_command();
        cmd->callback([&selected, background, cmd] {
            auto command = nested(cmd->remaining());
            selected = [command, background](Session& session) {
                if (background) {
                    session.background().start(*command, session.fork());
                    return;
                }
                try {
                    command->run(session);
                } catch (const std::exception& e) {
                    session.print("failed as expected: " + std::string(e.what()) + "\n");
                    return;
                }
                throw CommandError("expected `" + command->text + "` to fail; it succeeded");
            };
        });
    }

    auto image = std::make_shared<std::pair<std::string, std::string>>();
    CLI::App* image_cmd =
        app.add_subcommand("make-image", "Create a sparse image file (it must not exist)");
    image_cmd->add_option("PATH", image->first)->required();
    image_cmd->add_option("SIZE", image->second)->required()->check(size_validator());
    image_cmd->callback([&selected, image] {
        selected = [image](Session&) {
            toolstack::make_image(image->first, parse_size(image->second));
        };
    });

    auto unplug = std::make_shared<std::pair<std::string, std::string>>();
    CLI::App* unplug_cmd = app.add_subcommand(
        "unplug", "The guest closes its disk itself (a frontend-initiated close)");
    unplug_cmd->add_option("NAME", unplug->first)->required();
    unplug_cmd->add_option("VDEV", unplug->second)->required()->check(vdev_validator());
    unplug_cmd->callback([&selected, unplug] {
        selected = [unplug](Session& session) {
            const auto domain = toolstack::find_domain(session.control(), unplug->first);
            const auto paths = toolstack::require_vbd(session.xenstore(), domain, unplug->second);
            toolstack::GuestAgent(session.run(), domain.domid)
                .request({{"op", "close"}, {"devid", paths.devid}});
        };
    });

    app.add_subcommand("wait", "Wait for every background command; fails if one failed")
        ->callback(
            [&selected] { selected = [](Session& session) { session.background().wait(); }; });
}

}  // namespace pvsim::tools::cli
