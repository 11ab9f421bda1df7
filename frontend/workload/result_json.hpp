// A run's result in fio's --output-format=json shape, for the fields that
// mean the same ("fio version", jobs[].jobname, jobnum, error, elapsed,
// read/write/trim {io_bytes, io_kbytes, bw_bytes, bw (KiB/s), iops, runtime (ms),
// total_ios, clat_ns {min, max, mean, stddev, percentile {"50.000000": N}}}),
// plus pvsim's jobs[].verify {blocks_checked, blocks_unwritten}, and a
// top-level "error" text when the run failed.
#pragma once

#include <nlohmann/json.hpp>

#include "frontend/workload/job_result.hpp"

namespace pvsim::frontend::workload {

nlohmann::json to_fio_json(const RunResult& result);

// fio's key for a percentile: "99.900000".
std::string fio_percentile_key(double percent);

}  // namespace pvsim::frontend::workload
