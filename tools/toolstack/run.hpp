// `pvsim up` and `pvsim down`: a run's daemons in order. Up starts
// pvsim-hypervisor, pvsim-xenstored and dom0's pvsim-backend and returns
// once each serves. Down is xl's shutdown of a host: every guest's disks
// detached in order, every guest destroyed, then the daemons stopped in the
// reverse order of their start; what is still there afterwards (a process
// that would not die, a shared-memory object of a hypervisor that was
// killed) is removed and reported.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "common/os/cpu_list.hpp"
#include "common/run_dir.hpp"
#include "tools/toolstack/programs.hpp"
#include "tools/toolstack/run_inventory.hpp"

namespace pvsim::tools::toolstack {

inline constexpr const char* kHypervisorDaemon = "pvsim-hypervisor";
inline constexpr const char* kXenstoredDaemon = "pvsim-xenstored";
// dom0's backend: what `kill dom0` and `restart dom0` mean.
inline constexpr const char* kDom0Daemon = "pvsim-backend";
// What restarts dom0's backend when it dies, when dom0 is configured so.
inline constexpr const char* kDom0Monitor = "pvsim-monitor";

// What happens when dom0's backend dies other than by `pvsim down`: xl's
// on_crash actions for a domain, of which two make sense for dom0 here.
//   destroy  it stays dead (until `restart dom0`): the default
//   restart  pvsim-monitor, a daemon of the run as xl's per-domain monitor
//            process is, starts it again at once (as xl's on_crash=restart)
enum class Dom0OnCrash { destroy, restart };
std::optional<Dom0OnCrash> parse_dom0_on_crash(std::string_view text) noexcept;
std::string_view to_string(Dom0OnCrash action) noexcept;

struct UpOptions {
    std::optional<std::string> log_level;  // every daemon's and guest's
    std::string io_engine = "auto";        // dom0's pvsim-backend --io-engine
    Dom0OnCrash dom0_on_crash = Dom0OnCrash::destroy;
    // dom0's CPUs (Xen's dom0_max_vcpus with dom0_vcpus_pin): its backend,
    // xenstored and pvsim-monitor run only there; nullopt: anywhere. The
    // hypervisor is the host's, and runs anywhere.
    std::optional<os::CpuList> dom0_cpus = std::nullopt;
};

// True when the run's hypervisor answers on its control socket.
bool run_is_up(const RunDir& run);

// Throws std::runtime_error when the run is up already, or a daemon does not
// start (the ones started before it are stopped again).
void start_run(const RunDir& run, const Programs& programs, const UpOptions& options);

// Starts dom0's backend again (after it died or was killed).
void start_dom0(const RunDir& run, const Programs& programs, const UpOptions& options);

// Starts (restart) or stops (destroy) the run's pvsim-monitor, which
// restarts dom0's backend with `options` whenever it dies. Idempotent.
void set_dom0_on_crash(const RunDir& run, const Programs& programs, const UpOptions& options);

// Whether the run's dom0 restarts on its own (its pvsim-monitor runs).
bool dom0_restarts(const RunDir& run);

// Tells what teardown does as it goes ("detached guest1 xvda", ...).
using Narrator = std::function<void(const std::string&)>;

// Tears the run down; returns what had to be removed by force afterwards
// (empty when everything went in order) — the run is gone either way.
RunInventory stop_run(const RunDir& run, const Narrator& narrate = {});

}  // namespace pvsim::tools::toolstack
