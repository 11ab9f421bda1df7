// pvsim up | down | env (DESIGN.md §7): the run's daemons, and the shell
// variables that point Debian's xenstore-utils and later pvsim commands at
// the run.
#include "tools/cli/command.hpp"
#include "tools/toolstack/run.hpp"

namespace pvsim::tools::cli {

void add_run_commands(CLI::App& app, Selected& selected, const CommandFilter& filter) {
    if (filter.wants("up")) {
        auto on_crash = std::make_shared<std::string>("destroy");
        CLI::App* up = app.add_subcommand(
            "up", "Start the hypervisor, xenstored and dom0 for the run directory");
        up->add_option(
              "--dom0-on-crash", *on_crash,
              "When dom0's backend dies: destroy (it stays dead) or restart (started again "
              "at once, as xl's on_crash=restart)")
            ->capture_default_str()
            ->check(CLI::IsMember({"destroy", "restart"}));
        up->callback([&selected, on_crash] {
            selected = [on_crash](Session& session) {
                toolstack::UpOptions options = session.up_options();
                options.dom0_on_crash = *toolstack::parse_dom0_on_crash(*on_crash);
                toolstack::start_run(session.run(), session.programs(), options);
                session.print("pvsim is up in " + session.run().path().string() +
                              (options.dom0_on_crash == toolstack::Dom0OnCrash::restart
                                   ? " (dom0 restarts on a crash)\n"
                                   : "\n"));
            };
        });
    }

    if (filter.wants("down")) {
        app.add_subcommand("down",
                           "Detach every disk, destroy every guest, stop the daemons, and leave "
                           "nothing of the run behind")
            ->callback([&selected] {
                selected = [](Session& session) {
                    session.disconnect();
                    const toolstack::RunInventory left = toolstack::stop_run(
                        session.run(),
                        [&](const std::string& line) { session.print(line + "\n"); });
                    if (!left.sockets.empty()) {
                        session.print("removed " + std::to_string(left.sockets.size()) +
                                      " socket(s) of processes that had died\n");
                    }
                    if (!left.processes.empty() || !left.shared_memory.empty()) {
                        throw CommandError(
                            "pvsim down: removed by force what did not go in order: " +
                            left.describe());
                    }
                    session.print("pvsim is down in " + session.run().path().string() + "\n");
                };
            });
    }

    if (filter.wants("env")) {
        app.add_subcommand("env", "Print the shell variables for this run (eval \"$(pvsim env)\")")
            ->callback([&selected] {
                selected = [](Session& session) {
                    session.print("export PVSIM_RUN_DIR='" + session.run().path().string() +
                                  "'\nexport XENSTORED_PATH='" +
                                  session.run().xenstored_socket().string() + "'\n");
                };
            });
    }
}

}  // namespace pvsim::tools::cli
