// `pvsim io NAME VDEV [fio-style options]`: a workload run inside the guest
// by its agent (frontend/guest) through the guest's block API, with fio's
// option names and meanings (DESIGN.md §7) and fio's JSON field names.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "tools/cli/io_report.hpp"
#include "tools/cli/session.hpp"

namespace pvsim::tools::cli {

struct IoOptions {
    std::string domain;
    std::string vdev;
    std::string name = "pvsim";
    std::string rw = "read";
    std::string bs = "4k";
    std::uint32_t iodepth = 1;
    std::optional<std::string> size;
    std::string offset = "0";
    std::optional<std::string> runtime;
    // fio's --startdelay, counted from this command's start (fio's genesis),
    // given_at: jobs that several `pvsim io` started together start together.
    std::optional<std::string> startdelay;
    std::chrono::steady_clock::time_point given_at = std::chrono::steady_clock::now();
    std::optional<std::string> io_size;
    std::uint32_t rwmixread = 50;
    std::uint32_t numjobs = 1;
    std::optional<std::uint64_t> seed;
    std::string verify = "none";  // none | crc32c
    std::string sync = "0";       // fio's --sync: 0 | 1 | none | sync | dsync
    // fio's --time_based: run for --runtime, looping over the region;
    // --io_size then does not stop it. (pvsim's default whenever --runtime
    // is given without --io_size.)
    bool time_based = false;
    // fio's --group_reporting: the jobs reported as one.
    bool group_reporting = false;
    // fio's --direct and --ioengine, accepted and reported: the guest has no
    // page cache (every I/O reaches the disk's driver, as direct=1), and its
    // engine is the disk's driver (blkfront, virtio-blk).
    std::optional<std::uint32_t> direct;
    std::optional<std::string> ioengine;
    bool json = false;
    bool progress = true;  // a live line on a terminal (never with json)
};

struct IoOutcome {
    nlohmann::json result;  // fio's shape (jobs[]...)
    IoCounts counts;
    std::string error;              // empty when the job passed
    std::string transport = "xen";  // "xen" | "virtio"
};

// Runs the job and returns what it did; throws CommandError when it could
// not run at all (unknown domain or vdev, bad options the guest refused).
IoOutcome run_io(Session& session, const IoOptions& options);

// The job as the guest agent takes it ("job" of its "io" op).
nlohmann::json job_json(const IoOptions& options);

// The job's options (--rw, --bs, --iodepth, ... as `pvsim io` has them,
// not --json), for the commands that run a job: io and bench.
void add_job_options(CLI::App* cmd, const std::shared_ptr<IoOptions>& options);

// The JSON `pvsim io --json` prints: fio's object plus "pvsim": the domain,
// vdev and the per-request counts.
nlohmann::json io_json(const IoOptions& options, const IoOutcome& outcome);

}  // namespace pvsim::tools::cli
