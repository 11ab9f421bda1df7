// pvsim bench's fio row (tools/cli/fio_baseline.hpp): the job's options
// become fio's, in bytes and milliseconds, with the page cache kept, and
// the row is the engine with the most IOPS among those that ran.
#include <gtest/gtest.h>

#include <algorithm>

#include "tools/cli/fio_baseline.hpp"

namespace pvsim::tools::cli {
namespace {

bool has(const std::vector<std::string>& args, const std::string& arg) {
    return std::find(args.begin(), args.end(), arg) != args.end();
}

TEST(FioBaseline, TheJobsOptionsBecomeFiosInBytesAndMilliseconds) {
    IoOptions job;
    job.rw = "randread";
    job.bs = "4k";
    job.iodepth = 32;
    job.offset = "1M";
    job.runtime = "3s";
    job.rwmixread = 70;
    const auto args = fio_arguments(job, "/img", 8u << 20, "io_uring", "/out.json");
    for (const char* expected :
         {"--filename=/img", "--ioengine=io_uring", "--rw=randread", "--bs=4096", "--iodepth=32",
          "--offset=1048576", "--size=8388608", "--numjobs=1", "--rwmixread=70", "--invalidate=0",
          "--direct=0", "--group_reporting", "--output-format=json", "--output=/out.json",
          "--runtime=3000ms", "--time_based"}) {
        EXPECT_TRUE(has(args, expected)) << expected;
    }
    EXPECT_FALSE(std::any_of(args.begin(), args.end(), [](const std::string& arg) {
        return arg.starts_with("--offset_increment") || arg.starts_with("--sync") ||
               arg.starts_with("--io_size");
    }));
}

TEST(FioBaseline, AnIoSizeEndsTheJobAndJobsTakeSlicesOneAfterAnother) {
    IoOptions job;
    job.numjobs = 4;
    job.io_size = "2M";
    job.runtime = "10s";
    job.sync = "dsync";
    const auto args = fio_arguments(job, "/img", 1u << 20, "psync", "/o");
    EXPECT_TRUE(has(args, "--numjobs=4"));
    EXPECT_TRUE(has(args, "--offset_increment=1048576"));
    EXPECT_TRUE(has(args, "--io_size=2097152"));
    EXPECT_TRUE(has(args, "--runtime=10000ms"));
    EXPECT_FALSE(has(args, "--time_based"));
    EXPECT_TRUE(has(args, "--sync=dsync"));
}

TEST(FioBaseline, TheRowIsTheEngineWithTheMostIopsAmongThoseThatRan) {
    std::vector<FioRun> runs = {
        {"psync", {}, 500, ""}, {"libaio", {}, 900, "failed"}, {"io_uring", {}, 700, ""}};
    ASSERT_NE(best_fio_run(runs), nullptr);
    EXPECT_EQ(best_fio_run(runs)->engine, "io_uring");
    runs[0].error = runs[2].error = "failed";
    EXPECT_EQ(best_fio_run(runs), nullptr);
}

}  // namespace
}  // namespace pvsim::tools::cli
