// A run's result in fio 3.33's --output-format=json shape (stat.c
// show_thread_status_json): "fio version", jobs[] with jobname, groupid,
// error (an errno), elapsed (s), job_runtime (ms), and read/write/trim with
// io_bytes, io_kbytes, bw_bytes, bw (KiB/s), iops, runtime (ms), total_ios,
// short_ios, drop_ios, slat_ns/clat_ns/lat_ns {min, max, mean, stddev, N,
// and clat_ns's percentile {"50.000000": N}}, and the bw_*/iops_* sample
// statistics (one sample per 500 ms, fio's bw_avg_time; with
// group_reporting summed as fio sums them), under fio's names with fio's
// JSON types. What is pvsim's own
// is under "pvsim": jobs[].pvsim {jobnum, verify {enabled, read_back,
// blocks_checked, blocks_unwritten}, error (text)}, and a top-level
// pvsim.error when the run failed.
#pragma once

#include <nlohmann/json.hpp>

#include "frontend/workload/job_result.hpp"

namespace pvsim::frontend::workload {

nlohmann::json to_fio_json(const RunResult& result);

// fio's key for a percentile: "99.900000".
std::string fio_percentile_key(double percent);

}  // namespace pvsim::frontend::workload
