// What of a run exists on the machine right now: its processes (pvsim
// programs whose run directory is this one), its shared-memory objects
// (named with the run's tag, os::shm_name) and the sockets in its directory.
// `pvsim down` and the demo check that nothing is left after teardown.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <vector>

#include "common/run_dir.hpp"
#include "tools/toolstack/domain.hpp"

namespace pvsim::tools::toolstack {

struct RunProcess {
    pid_t pid = 0;
    std::string program;  // the executable's name, e.g. "pvsim-guest"
};

struct RunInventory {
    std::vector<RunProcess> processes;
    std::vector<std::string> shared_memory;
    std::vector<std::filesystem::path> sockets;

    bool empty() const { return processes.empty() && shared_memory.empty() && sockets.empty(); }
    // "2 processes (pvsim-guest 1234, ...), 1 shared-memory object (...)".
    std::string describe() const;
};

// What of `inventory` belongs to no domain in `live`: a pvsim-guest process
// whose pid is no live domain's, a shared-memory object of a domain
// ("...dom<N>.<what>") that is not live. What a dead guest left behind
// (sockets are not counted: a killed process leaves its socket file).
RunInventory left_by_dead_domains(const RunInventory& inventory,
                                  const std::vector<DomainRecord>& live);

// A pvsim program counts as the run's when its environment's PVSIM_RUN_DIR
// or its --run-dir argument names the run's directory.
RunInventory take_inventory(const RunDir& run);

}  // namespace pvsim::tools::toolstack
