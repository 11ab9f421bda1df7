#include "tools/toolstack/run.hpp"

#include <signal.h>

#include <stdexcept>
#include <system_error>

#include "common/os/daemon.hpp"
#include "common/os/shared_memory.hpp"
#include "hypervisor/client/control_client.hpp"
#include "tools/toolstack/guests.hpp"
#include "tools/toolstack/run_daemons.hpp"
#include "xenstore/client/client.hpp"

namespace pvsim::tools::toolstack {
namespace {

DaemonLaunch launch(const char* name, const std::filesystem::path& program,
                    const UpOptions& options) {
    DaemonLaunch daemon;
    daemon.name = name;
    daemon.program = program;
    daemon.log_level = options.log_level;
    return daemon;
}

void detach_and_destroy_guests(const RunDir& run, const Narrator& narrate) {
    hypervisor::ControlClient control(run.hypervisor_socket());
    std::optional<xenstore::client::Client> xenstore;
    try {
        xenstore.emplace(xenstore::client::Client::connect(run));
    } catch (const std::exception& e) {
        narrate("xenstored does not answer (" + std::string(e.what()) +
                "): guests are destroyed without detaching their disks");
    }
    for (const DomainRecord& domain : list_domains(control)) {
        if (domain.domid == 0) {
            continue;
        }
        if (xenstore) {
            destroy_guest(
                run, control, *xenstore, domain, std::chrono::seconds(10),
                [&](const VbdPaths& paths, const std::string& outcome) {
                    narrate(domain.name + " vbd " + std::to_string(paths.devid) + " " + outcome);
                });
        } else {
            control.destroy(domain.domid);
        }
        narrate("destroyed " + domain.name + " (domain " + std::to_string(domain.domid) + ")");
    }
}

}  // namespace

bool run_is_up(const RunDir& run) {
    try {
        hypervisor::ControlClient control(run.hypervisor_socket());
        return true;
    } catch (const std::system_error&) {
        return false;
    }
}

void start_dom0(const RunDir& run, const Programs& programs, const UpOptions& options) {
    DaemonLaunch backend = launch(kDom0Daemon, programs.backend, options);
    backend.args = {"--io-engine", options.io_engine};
    backend.cpus = options.dom0_cpus;
    start_daemon(run, backend);
}

std::optional<Dom0OnCrash> parse_dom0_on_crash(std::string_view text) noexcept {
    if (text == "destroy") {
        return Dom0OnCrash::destroy;
    }
    if (text == "restart") {
        return Dom0OnCrash::restart;
    }
    return std::nullopt;
}

std::string_view to_string(Dom0OnCrash action) noexcept {
    return action == Dom0OnCrash::restart ? "restart" : "destroy";
}

void set_dom0_on_crash(const RunDir& run, const Programs& programs, const UpOptions& options) {
    if (options.dom0_on_crash == Dom0OnCrash::destroy) {
        stop_daemon(run, kDom0Monitor);
        return;
    }
    if (daemon_pid(run, kDom0Monitor)) {
        return;
    }
    DaemonLaunch monitor = launch(kDom0Monitor, programs.monitor, options);
    monitor.args = {"--io-engine", options.io_engine};
    if (options.dom0_cpus) {
        monitor.args.insert(monitor.args.end(), {"--dom0-cpus", options.dom0_cpus->to_string()});
    }
    monitor.cpus = options.dom0_cpus;
    start_daemon(run, monitor);
}

bool dom0_restarts(const RunDir& run) {
    return daemon_pid(run, kDom0Monitor).has_value();
}

void start_run(const RunDir& run, const Programs& programs, const UpOptions& options) {
    // One start at a time per run directory: a second `pvsim up` meanwhile
    // would race the first for every socket and shared-memory name. The
    // kernel drops the lock if this process dies.
    const auto starting = os::lock_instance(run.path() / "starting.lock");
    if (!starting) {
        throw std::runtime_error("pvsim is being started in " + run.path().string() +
                                 " by another command");
    }
    if (run_is_up(run)) {
        throw std::runtime_error("pvsim is up already in " + run.path().string() +
                                 " (pvsim down first, or use another --run-dir)");
    }
    try {
        start_daemon(run, launch(kHypervisorDaemon, programs.hypervisor, options));
        DaemonLaunch xenstored = launch(kXenstoredDaemon, programs.xenstored, options);
        xenstored.cpus = options.dom0_cpus;  // a process of dom0's, as Xen's xenstored is
        start_daemon(run, xenstored);
        start_dom0(run, programs, options);
        set_dom0_on_crash(run, programs, options);
    } catch (const std::exception&) {
        stop_run(run);
        throw;
    }
}

RunInventory stop_run(const RunDir& run, const Narrator& narrate_to) {
    const Narrator narrate = narrate_to ? narrate_to : [](const std::string&) {};
    if (run_is_up(run)) {
        try {
            detach_and_destroy_guests(run, narrate);
        } catch (const std::exception& e) {
            narrate("teardown of the guests failed: " + std::string(e.what()));
        }
    }
    // The monitor first: dom0 stopping now is no crash.
    for (const char* daemon : {kDom0Monitor, kDom0Daemon, kXenstoredDaemon}) {
        if (stop_daemon(run, daemon)) {
            narrate("stopped " + std::string(daemon));
        }
    }
    bool hypervisor_stopped = false;
    if (auto pid = daemon_pid(run, kHypervisorDaemon)) {
        try {
            hypervisor::ControlClient(run.hypervisor_socket()).shutdown();
            hypervisor_stopped = wait_for_exit(*pid, std::chrono::seconds(10));
        } catch (const std::exception&) {
            // Not answering: stop_daemon signals it.
        }
    }
    if (stop_daemon(run, kHypervisorDaemon) || hypervisor_stopped) {
        narrate("stopped " + std::string(kHypervisorDaemon));
    }

    // Whatever is still there was not cleaned up in order: remove it, and
    // say so.
    RunInventory left = take_inventory(run);
    for (const RunProcess& process : left.processes) {
        ::kill(process.pid, SIGKILL);
        wait_for_exit(process.pid, std::chrono::seconds(5));
    }
    os::remove_run_shm(run.shm_tag());
    for (const auto& socket : left.sockets) {
        std::error_code ignored;
        std::filesystem::remove(socket, ignored);
    }
    return left;
}

}  // namespace pvsim::tools::toolstack
