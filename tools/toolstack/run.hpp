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

#include "common/run_dir.hpp"
#include "tools/toolstack/programs.hpp"
#include "tools/toolstack/run_inventory.hpp"

namespace pvsim::tools::toolstack {

inline constexpr const char* kHypervisorDaemon = "pvsim-hypervisor";
inline constexpr const char* kXenstoredDaemon = "pvsim-xenstored";
// dom0's backend: what `kill dom0` and `restart dom0` mean.
inline constexpr const char* kDom0Daemon = "pvsim-backend";

struct UpOptions {
    std::optional<std::string> log_level;  // every daemon's and guest's
    std::string io_engine = "auto";        // dom0's pvsim-backend --io-engine
};

// True when the run's hypervisor answers on its control socket.
bool run_is_up(const RunDir& run);

// Throws std::runtime_error when the run is up already, or a daemon does not
// start (the ones started before it are stopped again).
void start_run(const RunDir& run, const Programs& programs, const UpOptions& options);

// Starts dom0's backend again (after it died or was killed).
void start_dom0(const RunDir& run, const Programs& programs, const UpOptions& options);

// Tells what teardown does as it goes ("detached guest1 xvda", ...).
using Narrator = std::function<void(const std::string&)>;

// Tears the run down; returns what had to be removed by force afterwards
// (empty when everything went in order) — the run is gone either way.
RunInventory stop_run(const RunDir& run, const Narrator& narrate = {});

}  // namespace pvsim::tools::toolstack
