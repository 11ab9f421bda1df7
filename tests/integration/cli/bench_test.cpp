// pvsim bench: one job over several paths in one run, a row each with the
// job's figures and the per-request counts, beside fio's row on the same
// image, also as JSON; a bad path name, a missing fio for its baseline or
// an image too short for the job is refused before anything starts, and a
// missing image is laid out as fio lays out its file.
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <filesystem>

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
    EXPECT_NE(result.out.find("vs fio"), std::string::npos) << result.out;

    const nlohmann::json bench = nlohmann::json::parse(read_file(json_file));
    EXPECT_EQ(bench["job"]["rw"], "randread");
    EXPECT_EQ(bench["baseline"], "fio");
    ASSERT_EQ(bench["paths"].size(), 4u);
    // fio on the same image first: the engine with the most IOPS of the
    // three it ran, each engine's IOPS beside it, and no blkif request.
    const nlohmann::json& fio = bench["paths"][0];
    EXPECT_EQ(fio["path"], "fio");
    ASSERT_FALSE(fio.contains("error")) << fio;
    const std::string engine = fio["features"]["engine"];
    EXPECT_TRUE(engine == "psync" || engine == "libaio" || engine == "io_uring") << engine;
    EXPECT_NE(result.out.find("fio (" + engine + ")"), std::string::npos) << result.out;
    for (const char* each : {"iops_psync", "iops_libaio", "iops_io_uring"}) {
        ASSERT_TRUE(fio["features"].contains(each)) << fio;
        EXPECT_LE(std::stod(fio["features"][each].get<std::string>()),
                  fio["iops"].get<double>() + 1)
            << fio;
    }
    EXPECT_GT(fio["iops"].get<double>(), 0.0);
    EXPECT_EQ(fio["counts"]["requests"], 0);
    EXPECT_FALSE(fio.contains("ratio_to_fio"));
    // The storage alone: the same job, no blkif request at all.
    const nlohmann::json& local = bench["paths"][1];
    EXPECT_EQ(local["path"], "local");
    EXPECT_EQ(local["counts"]["ios"], 256);
    EXPECT_EQ(local["counts"]["requests"], 0);
    EXPECT_GT(local["iops"].get<double>(), 0.0);
    EXPECT_FALSE(local.contains("ratio_to_local"));
    EXPECT_NEAR(local["ratio_to_fio"].get<double>(),
                local["iops"].get<double>() / fio["iops"].get<double>(), 1e-9);
    const nlohmann::json& plain = bench["paths"][2];
    const nlohmann::json& persistent = bench["paths"][3];
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
        EXPECT_NEAR((*row)["ratio_to_fio"].get<double>(),
                    (*row)["iops"].get<double>() / fio["iops"].get<double>(), 1e-9);
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

// fio's --filename: a missing file is laid out, written, for --offset and
// --size; one shorter than the job's region is refused before any run
// starts; --baseline local reads the paths against `local`.
TEST(CliBenchTest, AMissingImageIsLaidOutForTheJobAndAShortOneRefused) {
    TempDir scratch;
    const auto image = scratch.path() / "laid-out.img";
    const CliResult made = run_cli(
        scratch.path(), {"bench", "--paths", "local", "--baseline", "local", "--rw", "read", "--bs",
                         "64k", "--offset", "1M", "--size", "3M", "--filename", image.string()});
    ASSERT_EQ(made.code, 0) << made.out << made.err;
    EXPECT_NE(made.out.find("vs local"), std::string::npos) << made.out;
    ASSERT_TRUE(std::filesystem::exists(image));
    EXPECT_EQ(std::filesystem::file_size(image), 4u << 20);
    struct stat st {};
    ASSERT_EQ(::stat(image.c_str(), &st), 0);
    EXPECT_GE(static_cast<std::uint64_t>(st.st_blocks) * 512, 4u << 20) << "sparse";

    const CliResult shorter = run_cli(scratch.path(), {"bench", "--paths", "local", "--size", "8M",
                                                       "--filename", image.string()});
    EXPECT_EQ(shorter.code, 2);
    EXPECT_NE(shorter.err.find("is 4194304 bytes, shorter than the job's 8388608"),
              std::string::npos)
        << shorter.err;
    EXPECT_EQ(shorter.out.find("fio:"), std::string::npos) << shorter.out;
    EXPECT_EQ(std::filesystem::file_size(image), 4u << 20);

    const CliResult no_size = run_cli(scratch.path(), {"bench", "--paths", "local", "--filename",
                                                       (scratch.path() / "x").string()});
    EXPECT_EQ(no_size.code, 2);
    EXPECT_NE(no_size.err.find("give --size"), std::string::npos) << no_size.err;
    EXPECT_FALSE(std::filesystem::exists(scratch.path() / "x"));
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
