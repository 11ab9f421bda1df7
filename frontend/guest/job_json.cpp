// The io request's job object and its progress lines (job_json.hpp).
#include "frontend/guest/job_json.hpp"

#include <chrono>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

#include "common/units.hpp"

namespace pvsim::frontend::guest {
namespace {

using nlohmann::json;

[[noreturn]] void bad_field(const std::string& key, const std::string& expected,
                            const json& value) {
    throw std::invalid_argument("job." + key + ": expected " + expected + ", got " + value.dump());
}

std::uint64_t unsigned_field(const std::string& key, const json& value,
                             std::uint64_t max = std::numeric_limits<std::uint64_t>::max()) {
    if (!value.is_number_unsigned() &&
        !(value.is_number_integer() && value.get<std::int64_t>() >= 0)) {
        bad_field(key, "a non-negative integer", value);
    }
    const auto number = value.get<std::uint64_t>();
    if (number > max) {
        bad_field(key, "an integer up to " + std::to_string(max), value);
    }
    return number;
}

std::uint32_t u32_field(const std::string& key, const json& value) {
    return static_cast<std::uint32_t>(
        unsigned_field(key, value, std::numeric_limits<std::uint32_t>::max()));
}

}  // namespace

workload::JobOptions parse_job(const json& job) {
    if (!job.is_object()) {
        throw std::invalid_argument("job: expected an object, got " + job.dump());
    }
    workload::JobOptions options;
    for (const auto& [key, value] : job.items()) {
        if (key == "name") {
            if (!value.is_string()) {
                bad_field(key, "a string", value);
            }
            options.name = value.get<std::string>();
        } else if (key == "rw") {
            if (!value.is_string()) {
                bad_field(key, "a string", value);
            }
            try {
                options.rw = workload::parse_rw(value.get<std::string>());
            } catch (const ParseError& e) {
                throw std::invalid_argument("job.rw: " + std::string(e.what()));
            }
        } else if (key == "bs") {
            options.bs = unsigned_field(key, value);
        } else if (key == "iodepth") {
            options.iodepth = u32_field(key, value);
        } else if (key == "offset") {
            options.offset = unsigned_field(key, value);
        } else if (key == "size") {
            options.size = unsigned_field(key, value);
        } else if (key == "io_size") {
            options.io_size = unsigned_field(key, value);
        } else if (key == "runtime_ns") {
            const std::uint64_t ns = unsigned_field(
                key, value, static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()));
            options.runtime = std::chrono::nanoseconds(static_cast<std::int64_t>(ns));
        } else if (key == "startdelay_ns") {
            const std::uint64_t ns = unsigned_field(
                key, value, static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()));
            options.startdelay = std::chrono::nanoseconds(static_cast<std::int64_t>(ns));
        } else if (key == "rwmixread") {
            options.rwmixread = u32_field(key, value);
        } else if (key == "numjobs") {
            options.numjobs = u32_field(key, value);
        } else if (key == "seed") {
            options.seed = unsigned_field(key, value);
        } else if (key == "verify") {
            if (!value.is_boolean()) {
                bad_field(key, "true or false", value);
            }
            options.verify = value.get<bool>();
        } else if (key == "sync") {
            if (!value.is_boolean()) {
                bad_field(key, "true or false", value);
            }
            options.sync = value.get<bool>();
        } else if (key == "group_reporting") {
            if (!value.is_boolean()) {
                bad_field(key, "true or false", value);
            }
            options.group_reporting = value.get<bool>();
        } else {
            throw std::invalid_argument(
                "job." + key +
                ": unknown field (known: name, rw, bs, iodepth, offset, size, io_size, "
                "runtime_ns, startdelay_ns, rwmixread, numjobs, seed, verify, sync, "
                "group_reporting)");
        }
    }
    return options;
}

json progress_json(const workload::Progress& progress) {
    return {{"elapsed_ns", progress.elapsed.count()},
            {"ios", progress.ios},
            {"bytes", progress.bytes},
            {"read_ios", progress.read_ios},
            {"write_ios", progress.write_ios},
            {"trim_ios", progress.trim_ios}};
}

}  // namespace pvsim::frontend::guest
