#include "frontend/workload/result_json.hpp"

#include <fmt/format.h>

namespace pvsim::frontend::workload {
namespace {

nlohmann::json latency_json(const LatencyStats& stats) {
    nlohmann::json percentiles = nlohmann::json::object();
    for (const auto& [percent, value] : stats.percentiles) {
        percentiles[fio_percentile_key(percent)] = value;
    }
    return {
        {"min", stats.min},       {"max", stats.max},          {"mean", stats.mean},
        {"stddev", stats.stddev}, {"percentile", percentiles},
    };
}

nlohmann::json direction_json(const DirectionResult& d) {
    return {
        {"io_bytes", d.io_bytes},
        {"io_kbytes", d.io_bytes / 1024},
        {"bw_bytes", static_cast<std::uint64_t>(d.bw_bytes)},
        {"bw", static_cast<std::uint64_t>(d.bw_bytes / 1024)},
        {"iops", d.iops},
        {"runtime", d.runtime_ms},
        {"total_ios", d.total_ios},
        {"clat_ns", latency_json(d.clat)},
    };
}

}  // namespace

std::string fio_percentile_key(double percent) {
    return fmt::format("{:.6f}", percent);
}

nlohmann::json to_fio_json(const RunResult& result) {
    nlohmann::json jobs = nlohmann::json::array();
    for (const JobResult& job : result.jobs) {
        jobs.push_back({
            {"jobname", job.name},
            {"groupid", 0},
            {"jobnum", job.jobnum},
            {"error", job.error.empty() ? 0 : 1},
            {"elapsed", job.elapsed_ms / 1000},
            {"job_runtime", job.elapsed_ms},
            {"read", direction_json(job.read)},
            {"write", direction_json(job.write)},
            {"trim", direction_json(job.trim)},
            {"verify",
             {{"blocks_checked", job.verify.blocks_checked},
              {"blocks_unwritten", job.verify.blocks_unwritten}}},
        });
    }
    nlohmann::json out = {
        {"fio version", "pvsim-" PVSIM_VERSION},
        {"jobs", jobs},
    };
    if (!result.error.empty()) {
        out["error"] = result.error;
    }
    return out;
}

}  // namespace pvsim::frontend::workload
