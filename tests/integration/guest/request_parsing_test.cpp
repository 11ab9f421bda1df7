// The pure parts of the agent's requests, without processes: the io job
// object (frontend/guest/job_json.hpp).
#include <gtest/gtest.h>

#include <chrono>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "frontend/guest/job_json.hpp"

namespace pvsim::frontend::guest {
namespace {

using nlohmann::json;

std::string parse_error(const json& job) {
    try {
        parse_job(job);
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
    return "no error";
}

TEST(JobJson, EveryFieldCarriesFiosMeaning) {
    const workload::JobOptions options = parse_job({{"name", "mix"},
                                                    {"rw", "randrw"},
                                                    {"bs", 8192},
                                                    {"iodepth", 16},
                                                    {"offset", 4096},
                                                    {"size", 1 << 20},
                                                    {"io_size", 2 << 20},
                                                    {"runtime_ns", 1500000000},
                                                    {"startdelay_ns", 250000000},
                                                    {"rwmixread", 70},
                                                    {"numjobs", 2},
                                                    {"seed", 42},
                                                    {"verify", true}});
    EXPECT_EQ(options.name, "mix");
    EXPECT_EQ(options.rw, workload::RwMode::randrw);
    EXPECT_EQ(options.bs, 8192u);
    EXPECT_EQ(options.iodepth, 16u);
    EXPECT_EQ(options.offset, 4096u);
    EXPECT_EQ(options.size, 1u << 20);
    EXPECT_EQ(options.io_size, 2u << 20);
    EXPECT_EQ(options.runtime, std::chrono::milliseconds(1500));
    EXPECT_EQ(options.startdelay, std::chrono::milliseconds(250));
    EXPECT_EQ(options.rwmixread, 70u);
    EXPECT_EQ(options.numjobs, 2u);
    EXPECT_EQ(options.seed, 42u);
    EXPECT_TRUE(options.verify);
}

TEST(JobJson, MissingFieldsKeepTheEnginesDefaults) {
    const workload::JobOptions options = parse_job(json::object());
    const workload::JobOptions defaults;
    EXPECT_EQ(options.rw, defaults.rw);
    EXPECT_EQ(options.bs, defaults.bs);
    EXPECT_EQ(options.seed, defaults.seed);
    EXPECT_FALSE(options.size);
    EXPECT_FALSE(options.runtime);
    EXPECT_FALSE(options.verify);
}

TEST(JobJson, BadFieldsAreNamed) {
    EXPECT_EQ(parse_error({{"bs", -1}}).rfind("job.bs: expected a non-negative integer", 0), 0u);
    EXPECT_EQ(parse_error({{"iodepth", 1ull << 40}}).rfind("job.iodepth: expected", 0), 0u);
    EXPECT_EQ(parse_error({{"size", 1.5}}).rfind("job.size:", 0), 0u);
    EXPECT_EQ(parse_error({{"rw", "sideways"}}).rfind("job.rw:", 0), 0u);
    EXPECT_EQ(parse_error({{"rw", 1}}).rfind("job.rw: expected a string", 0), 0u);
    EXPECT_EQ(parse_error({{"verify", 1}}).rfind("job.verify: expected true or false", 0), 0u);
    EXPECT_EQ(parse_error({{"direct", 1}}).rfind("job.direct: unknown field", 0), 0u);
    EXPECT_EQ(parse_error(json::array()).rfind("job: expected an object", 0), 0u);
}

}  // namespace
}  // namespace pvsim::frontend::guest
