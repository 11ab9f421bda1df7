// fio's JSON shape for a run's result.
#include "frontend/workload/result_json.hpp"

#include <gtest/gtest.h>

#include "workload_fixture.hpp"

namespace pvsim::frontend::workload {
namespace {

TEST(FioJson, PercentileKeysAreFios) {
    EXPECT_EQ(fio_percentile_key(50), "50.000000");
    EXPECT_EQ(fio_percentile_key(99.95), "99.950000");
}

TEST_F(WorkloadTest, TheJsonHasFiosFieldNamesAndConsistentNumbers) {
    JobOptions o = options(RwMode::randrw, 4, true);
    o.name = "mixed";
    o.numjobs = 2;
    const RunResult result = run(o);
    ASSERT_TRUE(result.ok()) << result.error;
    const nlohmann::json json = to_fio_json(result);
    EXPECT_TRUE(json.at("fio version").get<std::string>().starts_with("pvsim-"));
    EXPECT_FALSE(json.contains("pvsim"));
    ASSERT_EQ(json.at("jobs").size(), 2u);
    for (std::size_t j = 0; j < 2; ++j) {
        const auto& job = json["jobs"][j];
        EXPECT_EQ(job.at("jobname"), "mixed");
        EXPECT_FALSE(job.contains("jobnum"));  // not fio's: pvsim's own
        EXPECT_EQ(job.at("pvsim").at("jobnum"), j);
        EXPECT_EQ(job.at("error"), 0);
        EXPECT_TRUE(job.at("elapsed").is_number_unsigned());
        std::uint64_t ios = 0;
        for (const char* direction : {"read", "write"}) {
            const auto& d = job.at(direction);
            const std::uint64_t io_bytes = d.at("io_bytes");
            const std::uint64_t total_ios = d.at("total_ios");
            ios += total_ios;
            EXPECT_EQ(io_bytes, total_ios * kBs);
            EXPECT_EQ(d.at("io_kbytes"), io_bytes / 1024);
            const std::uint64_t bw_bytes = d.at("bw_bytes");
            EXPECT_EQ(d.at("bw"), bw_bytes / 1024);
            const double iops = d.at("iops");
            EXPECT_NEAR(static_cast<double>(bw_bytes), iops * kBs, iops * kBs * 0.01 + 1);
            EXPECT_TRUE(d.at("runtime").is_number_unsigned());
            const auto& clat = d.at("clat_ns");
            const std::uint64_t min = clat.at("min"), max = clat.at("max");
            const std::uint64_t p50 = clat.at("percentile").at("50.000000");
            const std::uint64_t p99 = clat.at("percentile").at("99.000000");
            EXPECT_LE(min, p50);
            EXPECT_LE(p50, p99);
            EXPECT_LE(p99, max);
            EXPECT_TRUE(clat.at("mean").is_number());
            EXPECT_TRUE(clat.at("stddev").is_number());
            EXPECT_EQ(clat.at("percentile").size(), kFioPercentiles.size());
        }
        EXPECT_EQ(ios, (kDiskBytes / 2) / kBs);
        EXPECT_EQ(job.at("pvsim").at("verify").at("blocks_checked"),
                  result.jobs[j].verify.blocks_checked);
        EXPECT_TRUE(job.at("pvsim").at("verify").contains("blocks_unwritten"));
    }
}

// One bandwidth and IOPS sample per 500 ms (fio's bw_avg_time): a job of
// 1.2 s has at least one, taken at its last completion if not before.
TEST_F(WorkloadTest, ATimedJobHasFiosBandwidthAndIopsSamples) {
    disk_.set_delay(std::chrono::microseconds(200));
    JobOptions o = options(RwMode::read, 2);
    o.runtime = std::chrono::milliseconds(1200);
    const nlohmann::json job = to_fio_json(run(o)).at("jobs").at(0);
    const auto& read = job.at("read");
    const std::uint64_t samples = read.at("bw_samples");
    EXPECT_GE(samples, 1u) << read;
    EXPECT_EQ(read.at("iops_samples"), samples) << read;
    EXPECT_TRUE(read.at("bw_min").is_number_integer()) << read;
    EXPECT_TRUE(read.at("bw_mean").is_number_float()) << read;
    EXPECT_LE(read.at("bw_min").get<double>(), read.at("bw_mean").get<double>()) << read;
    EXPECT_LE(read.at("bw_mean").get<double>(), read.at("bw_max").get<double>()) << read;
    EXPECT_LE(read.at("iops_min").get<double>(), read.at("iops_mean").get<double>()) << read;
    EXPECT_LE(read.at("iops_mean").get<double>(), read.at("iops_max").get<double>()) << read;
    EXPECT_GT(read.at("bw_agg").get<double>(), 0.0) << read;
    EXPECT_LE(read.at("bw_agg").get<double>(), 100.0) << read;
    // A direction the job does not do has none, as fio writes it.
    EXPECT_EQ(job.at("write").at("bw_samples"), 0) << job;
    EXPECT_EQ(job.at("write").at("bw_agg"), 0.0) << job;
}

// fio 3.33's sum_stat with pure_sum: group_reporting adds the jobs' rate
// samples up (min to min, max to max, mean to mean), not pooling them.
TEST(RateSamples, GroupReportingAddsTheJobsRatesAsFioDoes) {
    RateSamples a, b;
    for (const std::uint64_t v : {10u, 20u, 30u}) {
        a.add(v);
    }
    for (const std::uint64_t v : {5u, 7u}) {
        b.add(v);
    }
    RateSamples group;
    group.sum(a);
    group.sum(b);
    EXPECT_EQ(group.min, 15u);
    EXPECT_EQ(group.max, 37u);
    EXPECT_EQ(group.count, 5u);
    EXPECT_DOUBLE_EQ(group.mean, 26.0);
    EXPECT_DOUBLE_EQ(a.stddev(), 10.0);  // sample standard deviation of 10, 20, 30
}

TEST_F(WorkloadTest, AFailedRunSaysSoInTheJson) {
    ASSERT_TRUE(run(options(RwMode::write, 4, true)).ok());
    disk_.flip_byte(3 * kBs);
    const nlohmann::json json = to_fio_json(run(options(RwMode::read, 4, true)));
    // fio 3.33 reports a corrupted crc32c block as error 84, EILSEQ.
    EXPECT_EQ(json["jobs"][0]["error"], 84);
    EXPECT_NE(json.at("pvsim").at("error").get<std::string>().find("offset 0x3000 (12288)"),
              std::string::npos);
    EXPECT_EQ(json["jobs"][0]["pvsim"]["error"], json["pvsim"]["error"]);
}

}  // namespace
}  // namespace pvsim::frontend::workload
