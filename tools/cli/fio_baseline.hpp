// pvsim bench's `fio` row (DESIGN.md §10): fio itself on the bench's image,
// with the job's options in fio's own words, as a user who trusts fio would
// measure this machine. It runs once per engine a single job can use
// (psync, libaio, io_uring), each with the page cache kept
// (--invalidate=0) and buffered I/O (--direct=0), as pvsim's backends and
// `local` path reach the image by default; the row is the engine with the
// most IOPS. Every path is then read against it (`--baseline fio`, the
// default) rather than against pvsim's own `local` path alone.
//
// Not carried over: --verify (fio verifies in a phase of its own, so the
// I/O pattern would differ) and --seed (fio's generator is not pvsim's).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/os/cpu_list.hpp"
#include "tools/cli/interruption.hpp"
#include "tools/cli/io_command.hpp"

namespace pvsim::tools::cli {

// fio's engines for one job, in the order they run.
inline const std::vector<std::string> kFioEngines = {"psync", "libaio", "io_uring"};

struct FioRun {
    std::string engine;
    nlohmann::json result;  // fio's JSON output (jobs[] ...)
    double iops = 0;        // read + write
    std::string error;      // fio failed: why (no figures)
};

// fio's command line for `job` on `image` with `engine`, its JSON written to
// `output`. `job_bytes` is each job's region (--size), `job.size` or the
// default pvsim's job takes on an image of that size.
std::vector<std::string> fio_arguments(const IoOptions& job, const std::string& image,
                                       std::uint64_t job_bytes, const std::string& engine,
                                       const std::filesystem::path& output);

// Runs fio (`program`) once per engine in kFioEngines, writing its output
// and log next to `scratch`/fio-<engine>.{json,log}. Never throws for a
// failed run: that run carries its error. Once `stop` (if any) is
// interrupted, the fio running gets SIGINT, on which fio stops its job and
// writes what it did so far, and the engines after it do not run. fio runs
// on `cpus` when given (the bench's guest CPUs: fio plays the guest).
std::vector<FioRun> run_fio_engines(const std::filesystem::path& program, const IoOptions& job,
                                    const std::string& image, std::uint64_t job_bytes,
                                    const std::filesystem::path& scratch,
                                    const Interruption* stop = nullptr,
                                    const std::optional<os::CpuList>& cpus = std::nullopt);

// The run with the most IOPS among those that passed, or nullptr.
const FioRun* best_fio_run(const std::vector<FioRun>& runs);

}  // namespace pvsim::tools::cli
