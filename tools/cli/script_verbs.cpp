// The verbs only scripts have (DESIGN.md §7):
// waiting for, holding and forcing xenbus states, reading and writing xenstore,
// killing and restarting the run's processes, expecting failure, sleeping,
// and running commands in the background; and pvsim's own: wait-io (until
// a disk has answered N more requests, to place a fault mid-I/O),
// make-image (a sparse image file), unplug (the guest closes a disk itself: a
// frontend-initiated close, as unplugging it inside a Linux guest does),
// reconnect (the guest takes a disk through Closing and renegotiates it, as
// blkfront's resume does, its I/O held and re-issued), dom0-on-crash (xl's
// on_crash for dom0's backend) and expect-clean (nothing of a dead guest is
// left).
#include <signal.h>
#include <string.h>

#include <atomic>
#include <memory>
#include <optional>
#include <thread>

#include <fmt/format.h>

#include "common/units.hpp"
#include "common/xen/xenbus.hpp"
#include "tools/cli/background_jobs.hpp"
#include "tools/cli/command.hpp"
#include "tools/cli/interruption.hpp"
#include "tools/cli/validators.hpp"
#include "tools/toolstack/domain.hpp"
#include "tools/toolstack/guest_agent.hpp"
#include "tools/toolstack/image.hpp"
#include "tools/toolstack/run.hpp"
#include "tools/toolstack/run_daemons.hpp"
#include "tools/toolstack/run_inventory.hpp"
#include "tools/toolstack/vbd_status.hpp"
#include "tools/toolstack/virtio_disk.hpp"

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

// An end of a vbd stays in STATE for `options.timeout`: its state node
// reads STATE now and is not written meanwhile. An end writes its state
// only when it changes (xenbus_switch_state), and a watch fires once when
// set and then at every write, so a state left and taken again, however
// quickly, is seen: the count of writes is lossless where sampling the
// value is not.
void hold_state(Session& session, const StateOptions& options) {
    const XenbusState held = *xen::xenbus_state_from_name(options.state);
    const auto duration =
        std::chrono::duration_cast<std::chrono::milliseconds>(parse_duration(options.timeout));
    const std::string node = state_node(session, options);
    const std::string what = options.end + " of " + options.domain + " " + options.vdev;
    auto& xs = session.xenstore();
    auto writes = std::make_shared<std::atomic<unsigned>>(0);
    const auto watch = xs.watch(node, "pvsim-hold-state:" + node, [writes](const auto&) {
        writes->fetch_add(1, std::memory_order_relaxed);
    });
    const auto now = xs.try_read(node);
    const auto state = now ? xen::xenbus_state_from_node(*now) : std::nullopt;
    if (state != held) {
        throw CommandError(what + " is " +
                           (state ? std::string(xen::name(*state)) : now.value_or("gone")) +
                           ", not " + std::string(xen::name(held)));
    }
    // The event of the watch being set, then none for `duration`.
    const auto left = [&] { return writes->load(std::memory_order_relaxed) > 1; };
    const auto deadline = std::chrono::steady_clock::now() + duration;
    while (!left() && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (left()) {
        throw CommandError(what + " left " + std::string(xen::name(held)) +
                           ": its state was written (now " + xs.try_read(node).value_or("gone") +
                           ")");
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

// The vbds connected when dom0 died, each with a watch on its backend's
// state: the new backend takes each through InitWait to Connected on the
// live rings (the frontend stays Connected), and a command run before that
// would meet a device in the middle of it.
struct Reconnecting {
    toolstack::VbdPaths paths;
    std::shared_ptr<std::atomic<unsigned>> writes;
    xenstore::client::Watch watch;
};

std::vector<Reconnecting> watch_connected_vbds(Session& session) {
    std::vector<Reconnecting> vbds;
    auto& xs = session.xenstore();
    for (const auto& domain : toolstack::list_domains(session.control())) {
        for (const auto& paths : toolstack::list_vbds(xs, domain.domid)) {
            if (xs.try_read(paths.frontend + "/state") !=
                std::to_string(static_cast<unsigned>(XenbusState::connected))) {
                continue;
            }
            auto writes = std::make_shared<std::atomic<unsigned>>(0);
            // The watch fires once when set, then at every write.
            auto watch = xs.watch(paths.backend + "/state", "pvsim-restart:" + paths.backend,
                                  [writes](const auto&) { ++*writes; });
            vbds.push_back({paths, writes, std::move(watch)});
        }
    }
    return vbds;
}

// Until every vbd is Connected at both ends again, after its backend wrote
// its state at least once (`rewritten`: the new backend has been at it).
void wait_reconnected(Session& session, const std::vector<Reconnecting>& vbds, bool rewritten,
                      std::chrono::milliseconds timeout) {
    const std::string connected = std::to_string(static_cast<unsigned>(XenbusState::connected));
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (const Reconnecting& vbd : vbds) {
        for (;;) {
            auto& xs = session.xenstore();
            if ((!rewritten || vbd.writes->load() >= 2) &&
                xs.try_read(vbd.paths.backend + "/state") == connected &&
                xs.try_read(vbd.paths.frontend + "/state") == connected) {
                break;
            }
            if (std::chrono::steady_clock::now() > deadline) {
                throw CommandError("restart dom0: " + vbd.paths.frontend +
                                   " is not Connected again at both ends after " +
                                   std::to_string(timeout.count()) + " ms");
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    }
}

void restart(Session& session, const std::string& who) {
    if (who != "dom0") {
        throw CommandError("restart " + who + ": only dom0 can be restarted");
    }
    const std::vector<Reconnecting> vbds = watch_connected_vbds(session);
    if (toolstack::dom0_restarts(session.run())) {
        // dom0-on-crash restart: its monitor starts it; wait for that.
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (!toolstack::daemon_pid(session.run(), toolstack::kDom0Daemon)) {
            if (std::chrono::steady_clock::now() > deadline) {
                throw CommandError("restart dom0: its monitor did not start it within 10 s");
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        // Its monitor may have started it before the watches were set.
        wait_reconnected(session, vbds, false, std::chrono::seconds(15));
        return;
    }
    if (toolstack::daemon_pid(session.run(), toolstack::kDom0Daemon)) {
        throw CommandError("restart dom0: it is running (kill dom0 first)");
    }
    toolstack::start_dom0(session.run(), session.programs(), session.up_options());
    wait_reconnected(session, vbds, true, std::chrono::seconds(15));
}

// Nothing of a dead guest is left: no pvsim-guest process and no shared
// memory of a domain the hypervisor no longer runs. Waits up to `timeout`,
// since the hypervisor frees a domain once its last user lets go.
void expect_clean(Session& session, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        std::vector<toolstack::DomainRecord> live;
        for (auto& domain : toolstack::list_domains(session.control())) {
            if (domain.state == "running") {
                live.push_back(std::move(domain));
            }
        }
        const toolstack::RunInventory inventory = toolstack::take_inventory(session.run());
        const toolstack::RunInventory left = toolstack::left_by_dead_domains(inventory, live);
        if (left.processes.empty() && left.shared_memory.empty()) {
            session.print("clean: " + std::to_string(live.size()) + " domain(s) running, " +
                          std::to_string(inventory.processes.size()) + " process(es), " +
                          std::to_string(inventory.shared_memory.size()) +
                          " shared-memory object(s), none of a dead domain\n");
            return;
        }
        if (std::chrono::steady_clock::now() > deadline) {
            throw CommandError("left behind by dead domains after " +
                               std::to_string(timeout.count()) + " ms: " + left.describe());
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
}

struct WaitIoOptions {
    std::string domain, vdev;
    std::uint64_t requests = 1;
    std::string timeout = "20s";
};

// A disk's counts as the guest's agent reports them (agent_protocol.hpp):
// requests answered since it opened (blkfront's "responses", virtio-blk's
// "completions"), requests in flight now, and the reconnections with the
// requests they took back and issued again: blkfront's "recoveries"
// (blkif_recover runs) and "recovered", virtio-blk's "reconnections" (to a
// vhost-user device that hung up) and "resubmitted".
struct DiskProgress {
    std::uint64_t answered = 0, in_flight = 0, recoveries = 0, recovered = 0;
};

// nullopt while the guest has not opened the disk: its opener runs once
// the frontend is Connected, so a line right after `block-attach` (or a
// `background io` just started) can come before it.
std::optional<DiskProgress> disk_progress(toolstack::GuestAgent& agent,
                                          const std::string& transport, std::uint32_t devid) {
    const nlohmann::json reply = agent.request({{"op", "devices"}});
    for (const nlohmann::json& device : reply.at("devices")) {
        if (device.value("transport", "xen") != transport || device.value("devid", 0u) != devid ||
            !device.contains("counters")) {
            continue;
        }
        const nlohmann::json& counters = device.at("counters");
        const bool xen = transport == "xen";
        return DiskProgress{counters.value(xen ? "responses" : "completions", std::uint64_t{0}),
                            device.value("in_flight", std::uint64_t{0}),
                            xen ? device.value("recoveries", std::uint64_t{0})
                                : counters.value("reconnections", std::uint64_t{0}),
                            counters.value(xen ? "recovered" : "resubmitted", std::uint64_t{0})};
    }
    return std::nullopt;
}

// Until the disk has answered `options.requests` more requests than when
// the verb began: an event in a running workload to place a fault at,
// where a sleep would place it wherever the workload happens to be. Prints
// the counts then, so that a scenario shows its fault came with requests
// in flight.
void wait_io(Session& session, const WaitIoOptions& options) {
    const auto domain = toolstack::find_domain(session.control(), options.domain);
    std::uint32_t devid = 0;
    std::string transport = "xen";
    if (toolstack::is_virtio_vdev(options.vdev)) {
        const auto disk =
            toolstack::find_virtio_disk(session.xenstore(), domain.domid, options.vdev);
        if (!disk) {
            throw CommandError(domain.name + " has no vdev " + options.vdev);
        }
        devid = disk->devid;
        transport = "virtio";
    } else {
        devid = toolstack::require_vbd(session.xenstore(), domain, options.vdev).devid;
    }
    toolstack::GuestAgent agent(session.run(), domain.domid);
    // A disk not open yet has answered nothing: its counts start at 0 when
    // it opens.
    const std::optional<DiskProgress> first = disk_progress(agent, transport, devid);
    const std::uint64_t start = first ? first->answered : 0;
    const auto deadline = std::chrono::steady_clock::now() + parse_duration(options.timeout);
    for (;;) {
        const std::optional<DiskProgress> progress = disk_progress(agent, transport, devid);
        if (!progress) {
            if (std::chrono::steady_clock::now() > deadline) {
                throw CommandError(fmt::format("the guest has not opened {} {} ({} {}) in {}",
                                               options.domain, options.vdev, transport, devid,
                                               options.timeout));
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
            continue;
        }
        const DiskProgress& now = *progress;
        if (now.answered >= start + options.requests) {
            session.print(fmt::format(
                "{} {}: {} requests answered, {} in flight, {} reconnections ({} requests "
                "re-issued)\n",
                options.domain, options.vdev, now.answered, now.in_flight, now.recoveries,
                now.recovered));
            return;
        }
        if (std::chrono::steady_clock::now() > deadline) {
            throw CommandError(fmt::format("{} {} answered {} of {} requests in {}", options.domain,
                                           options.vdev,
                                           now.answered > start ? now.answered - start : 0,
                                           options.requests, options.timeout));
        }
        if (Interruption* stop = session.interruption()) {
            stop->throw_if_requested();
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
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

void add_script_verbs(CLI::App& app, Selected& selected, const CommandFilter& filter) {
    for (const bool wait : {true, false}) {
        if (!filter.wants(wait ? "wait-state" : "set-state")) {
            continue;
        }
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

    if (filter.wants("hold-state")) {
        auto hold = std::make_shared<StateOptions>();
        CLI::App* hold_cmd = app.add_subcommand(
            "hold-state",
            "Assert an end of a vbd stays in STATE, its state never written, for DURATION");
        hold_cmd->add_option("NAME", hold->domain)->required();
        hold_cmd->add_option("VDEV", hold->vdev)->required()->check(vdev_validator());
        hold_cmd->add_option("END", hold->end)
            ->required()
            ->check(CLI::IsMember({"frontend", "backend"}));
        hold_cmd->add_option("STATE", hold->state)->required()->check(xenbus_state_validator());
        hold_cmd->add_option("--for", hold->timeout)->required()->check(duration_validator());
        hold_cmd->callback([&selected, hold] {
            selected = [hold](Session& session) { hold_state(session, *hold); };
        });
    }

    if (filter.wants("xenstore-read")) {
        auto read = std::make_shared<std::vector<std::string>>();
        CLI::App* read_cmd =
            app.add_subcommand("xenstore-read", "Print a node, or assert its value");
        read_cmd->add_option("PATH VALUE", *read)->expected(1, 2)->required();
        read_cmd->callback([&selected, read] {
            selected = [read](Session& session) {
                const std::string value = session.xenstore().read((*read)[0]);
                if (read->size() == 2 && value != (*read)[1]) {
                    throw CommandError((*read)[0] + " is \"" + value + "\", expected \"" +
                                       (*read)[1] + "\"");
                }
                session.print(value + "\n");
            };
        });
    }

    if (filter.wants("xenstore-write")) {
        auto write = std::make_shared<std::pair<std::string, std::string>>();
        CLI::App* write_cmd = app.add_subcommand("xenstore-write", "Write a node");
        write_cmd->add_option("PATH", write->first)->required();
        write_cmd->add_option("VALUE", write->second)->required();
        write_cmd->callback([&selected, write] {
            selected = [write](Session& session) {
                session.xenstore().write(write->first, write->second);
            };
        });
    }

    if (filter.wants("xenstore-rm")) {
        auto rm = std::make_shared<std::string>();
        CLI::App* rm_cmd = app.add_subcommand("xenstore-rm", "Remove a node and what is below it");
        rm_cmd->add_option("PATH", *rm)->required();
        rm_cmd->callback(
            [&selected, rm] { selected = [rm](Session& session) { session.xenstore().rm(*rm); }; });
    }

    if (filter.wants("kill")) {
        auto kill = std::make_shared<std::pair<std::string, std::string>>("", "KILL");
        CLI::App* kill_cmd =
            app.add_subcommand("kill", "Signal a guest's process, dom0 or xenstored");
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
    }

    if (filter.wants("restart")) {
        auto who = std::make_shared<std::string>();
        CLI::App* restart_cmd = app.add_subcommand("restart", "Start dom0's backend again");
        restart_cmd->add_option("WHO", *who, "dom0")->required()->check(CLI::IsMember({"dom0"}));
        restart_cmd->callback(
            [&selected, who] { selected = [who](Session& session) { restart(session, *who); }; });
    }

    if (filter.wants("wait-io")) {
        auto wait_io_options = std::make_shared<WaitIoOptions>();
        CLI::App* wait_io_cmd = app.add_subcommand(
            "wait-io", "Wait until a disk has answered N more requests, then print its counts");
        wait_io_cmd->add_option("NAME", wait_io_options->domain)->required();
        wait_io_cmd->add_option("VDEV", wait_io_options->vdev)->required()->check(vdev_validator());
        wait_io_cmd->add_option("--requests", wait_io_options->requests)->capture_default_str();
        wait_io_cmd->add_option("--timeout", wait_io_options->timeout)
            ->capture_default_str()
            ->check(duration_validator());
        wait_io_cmd->callback([&selected, wait_io_options] {
            selected = [wait_io_options](Session& session) { wait_io(session, *wait_io_options); };
        });
    }

    if (filter.wants("dom0-on-crash")) {
        auto on_crash = std::make_shared<std::string>();
        CLI::App* on_crash_cmd = app.add_subcommand(
            "dom0-on-crash", "What happens when dom0 dies: destroy (it stays dead) or restart");
        on_crash_cmd->add_option("ACTION", *on_crash, "destroy | restart")
            ->required()
            ->check(CLI::IsMember({"destroy", "restart"}));
        on_crash_cmd->callback([&selected, on_crash] {
            selected = [on_crash](Session& session) {
                toolstack::UpOptions options = session.up_options();
                options.dom0_on_crash = *toolstack::parse_dom0_on_crash(*on_crash);
                toolstack::set_dom0_on_crash(session.run(), session.programs(), options);
            };
        });
    }

    if (filter.wants("reconnect")) {
        auto reconnect = std::make_shared<std::pair<std::string, std::string>>();
        CLI::App* reconnect_cmd = app.add_subcommand(
            "reconnect",
            "The guest reconnects a disk itself: Closing, renegotiation, its I/O re-issued");
        reconnect_cmd->add_option("NAME", reconnect->first)->required();
        reconnect_cmd->add_option("VDEV", reconnect->second)->required()->check(vdev_validator());
        reconnect_cmd->callback([&selected, reconnect] {
            selected = [reconnect](Session& session) {
                const auto domain = toolstack::find_domain(session.control(), reconnect->first);
                (void)toolstack::require_vbd(session.xenstore(), domain, reconnect->second);
                // The agent answers once the device is Connected again.
                toolstack::GuestAgent(session.run(), domain.domid)
                    .request({{"op", "reconnect"}, {"vdev", reconnect->second}});
            };
        });
    }

    if (filter.wants("expect-clean")) {
        auto clean_timeout = std::make_shared<std::string>("10s");
        CLI::App* clean_cmd = app.add_subcommand("expect-clean",
                                                 "Nothing of a dead guest is left: no process, no "
                                                 "shared memory of a domain not running");
        clean_cmd->add_option("--timeout", *clean_timeout)->check(duration_validator());
        clean_cmd->callback([&selected, clean_timeout] {
            selected = [clean_timeout](Session& session) {
                expect_clean(session, std::chrono::duration_cast<std::chrono::milliseconds>(
                                          parse_duration(*clean_timeout)));
            };
        });
    }

    if (filter.wants("sleep")) {
        auto duration = std::make_shared<std::string>();
        CLI::App* sleep_cmd = app.add_subcommand("sleep", "Wait for a while (1, 500ms, ...)");
        sleep_cmd->add_option("T", *duration)->required()->check(duration_validator());
        sleep_cmd->callback([&selected, duration] {
            selected = [duration](Session& session) {
                // Ctrl-C ends the sleep (and the script, which sees it next).
                if (Interruption* stop = session.interruption()) {
                    (void)stop->sleep_for(parse_duration(*duration));
                } else {
                    std::this_thread::sleep_for(parse_duration(*duration));
                }
            };
        });
    }

    for (const bool background : {false, true}) {
        if (!filter.wants(background ? "background" : "expect-fail")) {
            continue;
        }
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

    if (filter.wants("make-image")) {
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
    }

    if (filter.wants("unplug")) {
        auto unplug = std::make_shared<std::pair<std::string, std::string>>();
        CLI::App* unplug_cmd = app.add_subcommand(
            "unplug", "The guest closes its disk itself (a frontend-initiated close)");
        unplug_cmd->add_option("NAME", unplug->first)->required();
        unplug_cmd->add_option("VDEV", unplug->second)->required()->check(vdev_validator());
        unplug_cmd->callback([&selected, unplug] {
            selected = [unplug](Session& session) {
                const auto domain = toolstack::find_domain(session.control(), unplug->first);
                const auto paths =
                    toolstack::require_vbd(session.xenstore(), domain, unplug->second);
                toolstack::GuestAgent(session.run(), domain.domid)
                    .request({{"op", "close"}, {"devid", paths.devid}});
            };
        });
    }

    if (filter.wants("wait")) {
        app.add_subcommand("wait", "Wait for every background command; fails if one failed")
            ->callback(
                [&selected] { selected = [](Session& session) { session.background().wait(); }; });
    }
}

}  // namespace pvsim::tools::cli
