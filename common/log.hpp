// Logging set-up shared by every pvsim process (DESIGN.md §8): spdlog, one
// file per process in the run directory, level from --log-level or
// $PVSIM_LOG. The CLI prints results, not logs, so nothing goes to a terminal.
#pragma once

#include <memory>
#include <optional>
#include <string_view>

#include <spdlog/common.h>
#include <spdlog/logger.h>

#include "common/os/environment.hpp"
#include "common/run_dir.hpp"

namespace pvsim {

// The level names accepted, in spdlog's own spelling, from most to least
// verbose.
inline constexpr std::string_view kLogLevelNames = "trace, debug, info, warn, error, critical, off";

// "trace" ... "off", in any case. Throws ParseError naming the text, `source`
// (where it came from, e.g. "--log-level" or "PVSIM_LOG") and the valid names.
spdlog::level::level_enum parse_log_level(std::string_view text, std::string_view source);

// The level from `log_level_arg` if given, else $PVSIM_LOG if set and
// non-empty, else info.
spdlog::level::level_enum resolve_log_level(std::optional<std::string_view> log_level_arg,
                                            const os::Environment& env);

// Opens (appending) <run>/<process_name>.log and returns a logger named
// `process_name` writing to it, lines like
//   [2024-05-01 12:00:00.123456] [pvsim-hypervisor] [pid 4242] [info] message
// Every line is flushed as it is written: processes are killed on purpose in
// fault tests, and a log that loses its last lines is no use there.
//
// Process-wide configuration: the logger also becomes spdlog's default
// logger, so `spdlog::info(...)` anywhere in the process writes to it. Call
// this once, from main, before starting threads.
std::shared_ptr<spdlog::logger> setup_logging(const RunDir& run_dir, std::string_view process_name,
                                              std::optional<std::string_view> log_level_arg,
                                              const os::Environment& env);

}  // namespace pvsim
