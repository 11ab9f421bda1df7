// The workload engine a guest runs for `pvsim io` (DESIGN.md §7): fio's job
// options and JSON output, over any BlockDevice. One include for its users.
#pragma once

#include "frontend/workload/job_options.hpp"     // RwMode, JobOptions, validate
#include "frontend/workload/job_result.hpp"      // RunResult, JobResult, Progress
#include "frontend/workload/job_runner.hpp"      // RunControl, run_job
#include "frontend/workload/result_json.hpp"     // to_fio_json
#include "frontend/workload/written_blocks.hpp"  // WrittenBlocks
