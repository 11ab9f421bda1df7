// pvsim bench's `local` path: the same job, run by the same workload engine
// (frontend/workload), straight on the storage's io_uring engine
// (backend/storage) in this one process, with no hypervisor, rings or
// grants: what the storage itself can do, the bound of every other path.
#pragma once

#include <filesystem>

#include "tools/cli/io_command.hpp"

namespace pvsim::tools::cli {

class Interruption;

// Runs `job` (its domain and vdev unused) on `image`. The counts are all
// zero (no blkif requests); `error` holds a failed job's error. Throws
// CommandError when the job cannot run at all (bad options, the image).
// A stop signal to `stop` (when given) cancels the job, which then returns
// what it did so far, as a guest's job does on cancel-io.
IoOutcome run_local_job(const IoOptions& job, const std::filesystem::path& image,
                        Interruption* stop = nullptr);

}  // namespace pvsim::tools::cli
