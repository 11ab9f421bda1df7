// `pvsim bench --paths LIST [job options of pvsim io] [--filename IMAGE]
// [--baseline fio|local] [--json FILE]` (DESIGN.md §10): one job run over
// several I/O paths (bench_paths.hpp) side by side, in one fresh run, on one
// image, each path a Xen vbd attached with its feature items, a virtio-blk
// disk (on pvsim's vhost-user-blk device or qemu-storage-daemon's), or the
// storage alone, beside fio itself on the same image (fio_baseline.hpp),
// and a table of what each path gives: IOPS, bandwidth, completion latency
// percentiles, and per request the grant maps, unmaps and copies,
// hypercalls, notifications each way and data copies; each row's ratio to
// the baseline: fio's row, or `local` when that is in the list. A
// benchmark, not a test: the figures are the machine's.
#pragma once

#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tools/cli/bench_paths.hpp"
#include "tools/cli/io_command.hpp"
#include "tools/toolstack/run.hpp"

namespace pvsim::tools::cli {

struct BenchOptions {
    std::string paths;  // the --paths list
    IoOptions job;      // domain, vdev and json unused
    // The image every path runs on; else one of --image-size in the run's
    // directory, written through (not sparse) so reads reach the storage.
    // A missing one is laid out as fio lays out its file: written, of
    // --offset + --size per job; an existing one shorter than that is
    // refused.
    std::optional<std::string> filename;
    std::string image_size = "64M";
    std::string baseline = "fio";  // fio | local: what the "vs" column is against
    std::optional<std::string> json_file;
    // The bench guest's CPUs (xl.cfg cpus=); fio and the local path run
    // there too, as the side that issues the I/O. dom0's are the run's
    // (--dom0-cpus), and qemu-storage-daemon runs on them.
    std::optional<std::string> guest_cpus;
};

struct BenchRow {
    BenchPath path;
    nlohmann::json result;  // the job's, fio's shape
    IoCounts counts;
    std::map<std::string, std::string> features;  // negotiated (block-list's)
    std::string error;                            // the path failed: why (no figures)
};

// The rows every other row is read against, when they ran.
struct BenchBaselines {
    const BenchRow* local = nullptr;
    const BenchRow* fio = nullptr;
};
BenchBaselines bench_baselines(const std::vector<BenchRow>& rows);

// The row's figures as the table and the JSON give them (the JSON has the
// ratio to each baseline that ran).
nlohmann::json bench_row_json(const BenchRow& row, const BenchBaselines& baselines);
// The table, its "vs" column against `baseline` ("fio" or "local").
std::string render_bench_table(const std::vector<BenchRow>& rows, const std::string& baseline);

// Runs the bench; returns the exit status (0: every path ran its job). A
// path whose job fails is a row with its error, and the others still run.
int run_bench(const BenchOptions& options, const toolstack::UpOptions& up, std::ostream& out,
              std::ostream& err);

}  // namespace pvsim::tools::cli
