// When a data-plane loop does not poll (cpu_contention.hpp): more threads
// runnable than CPUs, as /proc/loadavg counts them, read at most once a
// refresh interval.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "common/os/cpu_contention.hpp"
#include "tests/support/temp_dir.hpp"

namespace pvsim::os {
namespace {

using Clock = CpuContention::Clock;

TEST(CpuContention, TheRunningCountIsTheFourthFieldBeforeItsSlash) {
    EXPECT_EQ(runnable_threads("0.86 2.02 2.17 3/456 12345\n"), 3u);
    EXPECT_EQ(runnable_threads("12.00 9.50 7.25 17/1024 99"), 17u);
    EXPECT_EQ(runnable_threads(""), std::nullopt);
    EXPECT_EQ(runnable_threads("0.86 2.02 2.17"), std::nullopt);
    EXPECT_EQ(runnable_threads("0.86 2.02 2.17 /456 1"), std::nullopt);
    EXPECT_EQ(runnable_threads("0.86 2.02 2.17 x3/456 1"), std::nullopt);
    EXPECT_EQ(runnable_threads("0.86 2.02 2.17 3 456"), std::nullopt);
}

TEST(CpuContention, TheMachinesOwnLoadavgCountsItsReaderAsRunning) {
    std::ifstream in("/proc/loadavg");
    std::string line;
    ASSERT_TRUE(std::getline(in, line));
    const auto running = runnable_threads(line);
    ASSERT_TRUE(running.has_value()) << line;
    EXPECT_GE(*running, 1u) << line;
}

class CpuContentionFile : public ::testing::Test {
  protected:
    void write(const std::string& running) {
        std::ofstream(path_) << "1.00 1.00 1.00 " << running << "/300 4242\n";
    }
    test::TempDir dir_;
    std::string path_ = (dir_.path() / "loadavg").string();
};

TEST_F(CpuContentionFile, MoreRunnableThreadsThanCpusIsContendedAndAsManyIsNot) {
    write("3");
    CpuContention three({.source = path_, .cpus = 2});
    EXPECT_TRUE(three.contended(Clock::now()));
    write("2");
    CpuContention two({.source = path_, .cpus = 2});
    EXPECT_FALSE(two.contended(Clock::now()));
}

TEST_F(CpuContentionFile, TheAnswerIsKeptForARefreshIntervalThenReadAgain) {
    write("5");
    CpuContention contention({.source = path_, .cpus = 2});
    const Clock::time_point t0 = Clock::now();
    EXPECT_TRUE(contention.contended(t0));
    write("1");
    EXPECT_TRUE(contention.contended(t0 + CpuContention::kRefresh / 2));
    EXPECT_FALSE(contention.contended(t0 + CpuContention::kRefresh));
}

TEST_F(CpuContentionFile, TurnedOffOrWithoutItsSourceItIsNeverContended) {
    write("64");
    CpuContention off({.enabled = false, .source = path_, .cpus = 2});
    EXPECT_FALSE(off.contended(Clock::now()));
    CpuContention missing({.source = path_ + ".gone", .cpus = 2});
    EXPECT_FALSE(missing.contended(Clock::now()));
    write("not a loadavg");
    CpuContention garbled({.source = path_, .cpus = 2});
    EXPECT_FALSE(garbled.contended(Clock::now()));
}

}  // namespace
}  // namespace pvsim::os
