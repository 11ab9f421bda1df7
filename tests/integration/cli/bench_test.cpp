// pvsim bench: one job over several paths in one run, a row each with the
// job's figures and the per-request counts, also as JSON; a bad path name
// is refused before anything starts.
#include <gtest/gtest.h>

#include "tests/integration/cli/cli_run.hpp"

namespace pvsim::test {
namespace {

TEST(CliBenchTest, PathsSideBySideWithTheirCounts) {
    TempDir scratch;
    const auto json_file = scratch.path() / "bench.json";
    const CliResult result = run_cli(
        scratch.path(), {"bench", "--paths", "local,xen,xen:persistent=on,queues=1", "--rw",
                         "randread", "--bs", "4k", "--iodepth", "4", "--size", "4M", "--io_size",
                         "1M", "--image-size", "8M", "--json", json_file.string()});
    ASSERT_EQ(result.code, 0) << result.out << result.err;
    EXPECT_NE(result.out.find("Path"), std::string::npos) << result.out;
    EXPECT_NE(result.out.find("xen:persistent=on,queues=1"), std::string::npos) << result.out;

    const nlohmann::json bench = nlohmann::json::parse(read_file(json_file));
    EXPECT_EQ(bench["job"]["rw"], "randread");
    ASSERT_EQ(bench["paths"].size(), 3u);
    // The storage alone: the same job, no blkif request at all.
    const nlohmann::json& local = bench["paths"][0];
    EXPECT_EQ(local["path"], "local");
    EXPECT_EQ(local["counts"]["ios"], 256);
    EXPECT_EQ(local["counts"]["requests"], 0);
    EXPECT_GT(local["iops"].get<double>(), 0.0);
    EXPECT_FALSE(local.contains("ratio_to_local"));
    const nlohmann::json& plain = bench["paths"][1];
    const nlohmann::json& persistent = bench["paths"][2];
    EXPECT_EQ(plain["path"], "xen");
    EXPECT_EQ(persistent["path"], "xen:persistent=on,queues=1");
    for (const nlohmann::json* row : {&plain, &persistent}) {
        const nlohmann::json& counts = (*row)["counts"];
        EXPECT_EQ(counts["ios"], 256) << *row;
        EXPECT_EQ(counts["requests"], 256) << *row;  // one page, one request
        EXPECT_GT((*row)["iops"].get<double>(), 0.0) << *row;
        EXPECT_GT((*row)["bw_bytes"].get<double>(), 0.0) << *row;
        EXPECT_LE((*row)["clat_ns"]["p50"].get<double>(), (*row)["clat_ns"]["p99.9"].get<double>());
        EXPECT_GT(counts["hypercalls"].get<std::uint64_t>(), 0u);
        EXPECT_NEAR((*row)["ratio_to_local"].get<double>(),
                    (*row)["iops"].get<double>() / local["iops"].get<double>(), 1e-9);
    }
    // Every feature off: each request's one grant mapped and unmapped.
    EXPECT_EQ(plain["features"]["persistent"], "0");
    EXPECT_EQ(plain["features"]["indirect-segments"], "0");
    EXPECT_EQ(plain["counts"]["grant_maps"], 256);
    EXPECT_EQ(plain["counts"]["grant_unmaps"], 256);
    EXPECT_EQ(plain["counts"]["data_copies"], 0);
    // Persistent grants: each page mapped once at most, never unmapped
    // during the run, the data copied through them.
    EXPECT_EQ(persistent["features"]["persistent"], "1");
    EXPECT_LE(persistent["counts"]["grant_maps"].get<std::uint64_t>(), 4u + 1u);
    EXPECT_EQ(persistent["counts"]["grant_unmaps"], 0);
    EXPECT_EQ(persistent["counts"]["data_copies"], 256);
}

TEST(CliBenchTest, ABadPathIsRefusedBeforeAnythingStarts) {
    TempDir scratch;
    for (const auto& [paths, message] : std::vector<std::pair<std::string, std::string>>{
             {"xen,warp", "unknown path \"warp\""},
             {"xen,xen", "given twice"},
             {"xen:colour=blue", "unknown key \"colour\""},
             {"xen:vdev=xvdb", "only blkif feature items"},
             {"xen:queues=99", "queues=99"}}) {
        const CliResult result = run_cli(scratch.path(), {"bench", "--paths", paths});
        EXPECT_NE(result.code, 0) << paths;
        EXPECT_NE(result.err.find(message), std::string::npos) << paths << ": " << result.err;
        EXPECT_EQ(result.out.find("Path"), std::string::npos) << result.out;
    }
}

}  // namespace
}  // namespace pvsim::test
