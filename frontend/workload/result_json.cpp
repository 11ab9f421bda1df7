#include "frontend/workload/result_json.hpp"

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

nlohmann::json direction_json(const DirectionResult& d) {
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
    // fio's bandwidth and IOPS samples (one per bw_avg_time, 500 ms) are
    // not taken: fio writes these as below for a job without a sample.
    for (const char* name : {"bw_min", "bw_max"}) {
        out[name] = 0;
    }
    for (const char* name : {"bw_agg", "bw_mean", "bw_dev"}) {
        out[name] = 0.0;
    }
    out["bw_samples"] = 0;
    for (const char* name : {"iops_min", "iops_max"}) {
        out[name] = 0;
    }
    for (const char* name : {"iops_mean", "iops_stddev"}) {
        out[name] = 0.0;
    }
    out["iops_samples"] = 0;
    return out;
}

}  // namespace

std::string fio_percentile_key(double percent) {
    return fmt::format("{:.6f}", percent);
}

nlohmann::json to_fio_json(const RunResult& result) {
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
            {"read", direction_json(job.read)},
            {"write", direction_json(job.write)},
            {"trim", direction_json(job.trim)},
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
