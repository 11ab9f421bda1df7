// pvsim demo: the whole tour passes and its teardown leaves no process or
// shared-memory object of its run behind. It runs on a 64 MiB image here:
// the same steps as the default 256 MiB, with a quarter of the I/O.
#include <gtest/gtest.h>

#include <regex>

#include "tests/integration/cli/cli_run.hpp"

namespace pvsim::test {
namespace {

TEST(CliDemoTest, PassesAndLeavesNothingBehind) {
    TempDir scratch;
    const CliResult demo =
        run_cli(scratch.path(), {"demo", "--size", "64M"}, std::chrono::seconds(110));
    ASSERT_EQ(demo.code, 0) << demo.out << demo.err;
    EXPECT_NE(demo.out.find("demo passed"), std::string::npos);
    EXPECT_NE(demo.out.find("left behind: nothing"), std::string::npos);
    EXPECT_NE(demo.out.find("demo xvda frontend Connected"), std::string::npos) << demo.out;
    EXPECT_TRUE(std::regex_search(demo.out, std::regex(R"(randwrite\.0\s+write\s+\d)")))
        << demo.out;
    EXPECT_TRUE(std::regex_search(demo.out, std::regex(R"(randread\.0\s+read\s+\d)"))) << demo.out;
    EXPECT_EQ(demo.out.find('\r'), std::string::npos);  // no progress line in a pipe

    std::smatch match;
    ASSERT_TRUE(std::regex_search(demo.out, match, std::regex("dom0 in (\\S+)")));
    const std::filesystem::path run_dir = match[1].str();
    EXPECT_FALSE(std::filesystem::exists(run_dir));
    const RunCount left = count_run_at(run_dir);
    EXPECT_TRUE(left.processes.empty()) << left.processes.front();
    EXPECT_TRUE(left.shared_memory.empty()) << left.shared_memory.front();
}

TEST(CliDemoTest, ASizeItCannotSplitInFourIsRefusedBeforeAnythingStarts) {
    TempDir scratch;
    for (const char* size : {"512k", "1000k", "lots"}) {
        const CliResult demo = run_cli(scratch.path(), {"demo", "--size", size});
        EXPECT_EQ(demo.code, 2) << size << demo.out << demo.err;
        EXPECT_NE(demo.err.find("--size"), std::string::npos) << demo.err;
        EXPECT_EQ(demo.out.find("starting the hypervisor"), std::string::npos) << demo.out;
    }
}

}  // namespace
}  // namespace pvsim::test
