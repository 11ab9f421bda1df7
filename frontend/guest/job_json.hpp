// The "job" object of the agent's io request (agent_protocol.hpp) and the
// progress lines of a run: fio's option names (fio(1), "JOB PARAMETERS")
// carried as JSON, sizes in bytes and the runtime in nanoseconds, so that
// the CLI has already parsed units and the guest only checks types.
#pragma once

#include <nlohmann/json.hpp>

#include "frontend/workload/job_options.hpp"
#include "frontend/workload/job_result.hpp"

namespace pvsim::frontend::guest {

// JobOptions from {"name","rw","bs","iodepth","offset","size","io_size",
// "runtime_ns","rwmixread","numjobs","seed","verify"}, every field optional
// (the engine's defaults). Throws std::invalid_argument naming the field
// ("job.bs: expected a non-negative integer, got \"4k\"") for a wrong type,
// a value out of range, an unknown rw or an unknown field. "rw" takes every
// mode of workload::parse_rw, the trims (trim, randtrim, trimwrite)
// included.
workload::JobOptions parse_job(const nlohmann::json& job);

// {"elapsed_ns","ios","bytes","read_ios","write_ios","trim_ios"}.
nlohmann::json progress_json(const workload::Progress& progress);

}  // namespace pvsim::frontend::guest
