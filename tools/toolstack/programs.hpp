// Where the pvsim programs are: the CLI starts the daemons and has the
// hypervisor spawn guests, all from the directory its own executable is in
// (the build puts them side by side in <build>/bin), or from $PVSIM_BIN_DIR.
#pragma once

#include <filesystem>

#include "common/os/environment.hpp"

namespace pvsim::tools::toolstack {

struct Programs {
    std::filesystem::path hypervisor;  // pvsim-hypervisor
    std::filesystem::path xenstored;   // pvsim-xenstored
    std::filesystem::path backend;     // pvsim-backend: dom0's (or a driver domain's) blkback
    std::filesystem::path guest;       // pvsim-guest: what every guest domain runs
    std::filesystem::path monitor;     // pvsim-monitor: restarts dom0's backend on a crash

    // $PVSIM_BIN_DIR if set, else the directory of /proc/self/exe. Throws
    // std::runtime_error naming the program that is missing or not
    // executable there.
    static Programs locate(const os::Environment& env);
    static Programs in(const std::filesystem::path& directory);
};

}  // namespace pvsim::tools::toolstack
