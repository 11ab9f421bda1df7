#include "frontend/workload/result_json.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace pvsim::frontend::workload {
namespace {

// fio 3.33's stat.c add_ddir_status_json writes min, max (integers), mean,
// stddev (floats) and N for slat_ns, clat_ns and lat_ns, and the percentile
// object for clat_ns only when it has samples.
nlohmann::json latency_json(const LatencyStats& stats, bool with_percentiles) {
    nlohmann::json out = {{"min", stats.min},
                          {"max", stats.max},
                          {"mean", stats.mean},
                          {"stddev", stats.stddev},
                          {"N", stats.count}};
    if (with_percentiles && stats.count > 0) {
        nlohmann::json percentiles = nlohmann::json::object();
        for (const auto& [percent, value] : stats.percentiles) {
            percentiles[fio_percentile_key(percent)] = value;
        }
        out["percentile"] = std::move(percentiles);
    }
    return out;
}

// fio's convert_agg_kbytes_percent: the job's mean bandwidth sample as a
// percentage of its group's aggregate bandwidth (KiB/s), at most 100.
double percent_of_aggregate(double mean_kib, double aggregate_bytes) {
    if (aggregate_bytes <= 1024) {
        return 100.0;
    }
    return std::min(100.0, mean_kib * 100.0 / (aggregate_bytes / 1024.0));
}

// `aggregate_bytes`: the bandwidth of every job of the group (all of a run's
// jobs are group 0) in this direction.
nlohmann::json direction_json(const DirectionResult& d, double aggregate_bytes) {
    // A job's latency is taken from the request's submission to its
    // completion, which is fio's lat (and its clat, submission being part of
    // the request here); the submission alone is not timed, so slat_ns has
    // no samples, as fio's for a synchronous engine.
    nlohmann::json out = {
        {"io_bytes", d.io_bytes},
        {"io_kbytes", d.io_bytes / 1024},
        {"bw_bytes", static_cast<std::uint64_t>(d.bw_bytes)},
        {"bw", static_cast<std::uint64_t>(d.bw_bytes / 1024)},
        {"iops", d.iops},
        {"runtime", d.runtime_ms},
        {"total_ios", d.total_ios},
        {"short_ios", 0},
        {"drop_ios", 0},
        {"slat_ns", latency_json(LatencyStats{}, false)},
        {"clat_ns", latency_json(d.clat, true)},
        {"lat_ns", latency_json(d.clat, false)},
    };
    // fio's bandwidth (KiB/s) and IOPS samples; without one, fio writes
    // zeros, its bw_agg too.
    const RateSamples& bw = d.bw_kib;
    out["bw_min"] = bw.min;
    out["bw_max"] = bw.max;
    out["bw_agg"] = bw.count == 0 ? 0.0 : percent_of_aggregate(bw.mean, aggregate_bytes);
    out["bw_mean"] = bw.mean;
    out["bw_dev"] = bw.stddev();
    out["bw_samples"] = bw.count;
    const RateSamples& iops = d.iops_samples;
    out["iops_min"] = iops.min;
    out["iops_max"] = iops.max;
    out["iops_mean"] = iops.mean;
    out["iops_stddev"] = iops.stddev();
    out["iops_samples"] = iops.count;
    return out;
}

}  // namespace

std::string fio_percentile_key(double percent) {
    return fmt::format("{:.6f}", percent);
}

nlohmann::json to_fio_json(const RunResult& result) {
    double read_aggregate = 0, write_aggregate = 0, trim_aggregate = 0;
    for (const JobResult& job : result.jobs) {
        read_aggregate += job.read.bw_bytes;
        write_aggregate += job.write.bw_bytes;
        trim_aggregate += job.trim.bw_bytes;
    }
    nlohmann::json jobs = nlohmann::json::array();
    for (const JobResult& job : result.jobs) {
        nlohmann::json own = {
            {"jobnum", job.jobnum},
            {"verify",
             {{"enabled", job.verify.enabled},
              {"read_back", job.verify.read_back},
              {"blocks_checked", job.verify.blocks_checked},
              {"blocks_unwritten", job.verify.blocks_unwritten}}},
        };
        if (!job.error.empty()) {
            own["error"] = job.error;
        }
        jobs.push_back({
            {"jobname", job.name},
            {"groupid", 0},
            {"error", job.error_number},
            {"elapsed", job.elapsed_ms / 1000},
            {"job_runtime", job.elapsed_ms},
            {"read", direction_json(job.read, read_aggregate)},
            {"write", direction_json(job.write, write_aggregate)},
            {"trim", direction_json(job.trim, trim_aggregate)},
            {"pvsim", std::move(own)},
        });
    }
    nlohmann::json out = {
        {"fio version", "pvsim-" PVSIM_VERSION},
        {"jobs", jobs},
    };
    if (!result.error.empty()) {
        out["pvsim"] = {{"error", result.error}};
    }
    return out;
}

}  // namespace pvsim::frontend::workload
