#include "common/log.hpp"

#include <fcntl.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <string>

#include <fmt/format.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/spdlog.h>

#include "common/os/unique_fd.hpp"
#include "common/units.hpp"

namespace pvsim {
namespace {

struct LevelName {
    std::string_view name;
    spdlog::level::level_enum level;
};

// spdlog::level::from_str answers "off" for any name it does not know, which
// would silently turn logging off on a typo; hence a table of our own.
constexpr std::array<LevelName, 8> kLevels = {{
    {"trace", spdlog::level::trace},
    {"debug", spdlog::level::debug},
    {"info", spdlog::level::info},
    {"warn", spdlog::level::warn},
    {"warning", spdlog::level::warn},  // how spdlog spells it in log lines
    {"error", spdlog::level::err},
    {"critical", spdlog::level::critical},
    {"off", spdlog::level::off},
}};

}  // namespace

spdlog::level::level_enum parse_log_level(std::string_view text, std::string_view source) {
    std::string key(text);
    std::transform(key.begin(), key.end(), key.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    for (const LevelName& entry : kLevels) {
        if (entry.name == key) {
            return entry.level;
        }
    }
    throw ParseError(fmt::format("invalid log level \"{}\" (from {}): expected one of {}", text,
                                 source, kLogLevelNames));
}

spdlog::level::level_enum resolve_log_level(std::optional<std::string_view> log_level_arg,
                                            const os::Environment& env) {
    if (log_level_arg) {
        return parse_log_level(*log_level_arg, "--log-level");
    }
    if (auto value = env.get_non_empty("PVSIM_LOG")) {
        return parse_log_level(*value, "PVSIM_LOG");
    }
    return spdlog::level::info;
}

std::shared_ptr<spdlog::logger> setup_logging(const RunDir& run_dir, std::string_view process_name,
                                              std::optional<std::string_view> log_level_arg,
                                              const os::Environment& env) {
    // Everything that can fail on bad input comes before any global change.
    const spdlog::level::level_enum level = resolve_log_level(log_level_arg, env);
    const std::filesystem::path file = run_dir.log_file(process_name);
    // spdlog's own error for a file it cannot open does not keep the errno;
    // opening it here first gives the usual "open <path>: <reason>" error
    // (and a new log file mode 0600).
    os::UniqueFd probe(::open(file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
    if (!probe) {
        os::throw_system_error("open " + file.string());
    }
    probe.reset();
    auto sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(file.string(), false);
    auto logger = std::make_shared<spdlog::logger>(std::string(process_name), std::move(sink));
    logger->set_pattern("[%Y-%m-%d %H:%M:%S.%f] [%n] [pid %P] [%l] %v");
    logger->set_level(level);
    logger->flush_on(spdlog::level::trace);
    spdlog::set_default_logger(logger);
    return logger;
}

}  // namespace pvsim
