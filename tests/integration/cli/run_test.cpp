// pvsim up | down | env: the run's daemons start and stop, and down leaves no
// process, socket or shared-memory object of the run behind (counted
// independently of pvsim's own teardown check).
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "tests/integration/cli/cli_run.hpp"

namespace pvsim::test {
namespace {

std::vector<std::filesystem::path> sockets_in(const std::filesystem::path& dir) {
    std::vector<std::filesystem::path> sockets;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
        if (entry.is_socket()) {
            sockets.push_back(entry.path());
        }
    }
    return sockets;
}

TEST(CliRunTest, UpStartsTheDaemonsAndDownLeavesNothing) {
    CliRun run;
    const CliResult up = run.pvsim({"up"});
    ASSERT_EQ(up.code, 0) << up.err;
    EXPECT_EQ(run.count().processes.size(), 3u);  // hypervisor, xenstored, dom0's backend

    const CliResult list = run.pvsim({"list", "--json"});
    ASSERT_EQ(list.code, 0) << list.err;
    ASSERT_EQ(list.json().size(), 1u);
    EXPECT_EQ(list.json()[0]["name"], "Domain-0");

    // Something to tear down: a guest with a disk.
    ASSERT_EQ(run.pvsim({"create", "g1"}).code, 0);
    const auto image = run.image("disk.img", 8 << 20);
    ASSERT_EQ(run.pvsim({"block-attach", "g1", "target=" + image.string() + ",vdev=xvda"}).code, 0);
    EXPECT_EQ(run.count().processes.size(), 4u);
    EXPECT_FALSE(run.count().shared_memory.empty());

    const CliResult down = run.pvsim({"down"});
    ASSERT_EQ(down.code, 0) << down.err;
    EXPECT_NE(down.out.find("g1 vbd 51712 detached"), std::string::npos) << down.out;
    EXPECT_NE(down.out.find("destroyed g1"), std::string::npos) << down.out;
    const RunCount left = run.count();
    EXPECT_TRUE(left.processes.empty()) << left.processes.front();
    EXPECT_TRUE(left.shared_memory.empty()) << left.shared_memory.front();
    EXPECT_TRUE(sockets_in(run.dir()).empty()) << sockets_in(run.dir()).front();
}

TEST(CliRunTest, Dom0ConfiguredToRestartComesBackOnItsOwn) {
    CliRun run;
    const CliResult up = run.pvsim({"up", "--dom0-on-crash", "restart"});
    ASSERT_EQ(up.code, 0) << up.err;
    EXPECT_NE(up.out.find("dom0 restarts on a crash"), std::string::npos) << up.out;
    EXPECT_EQ(run.count().processes.size(), 4u);  // and pvsim-monitor
    const auto backend_pid = [&] { return read_file(run.dir() / "pvsim-backend.pid"); };
    const std::string first = backend_pid();
    ASSERT_EQ(::kill(std::stoi(first), SIGKILL), 0);
    // A new backend, started by nobody but the monitor, serves a new disk.
    ASSERT_TRUE(eventually(
        [&] {
            const std::string now = backend_pid();
            return !now.empty() && now != first && run.count().processes.size() == 4;
        },
        std::chrono::seconds(10)));
    ASSERT_EQ(run.pvsim({"create", "g"}).code, 0);
    const auto image = run.image("disk.img", 4 << 20);
    const CliResult attach =
        run.pvsim({"block-attach", "g", "target=" + image.string() + ",vdev=xvda"});
    EXPECT_EQ(attach.code, 0) << attach.err;
    // An orderly down is no crash: nothing is started again behind it.
    const CliResult down = run.pvsim({"down"});
    ASSERT_EQ(down.code, 0) << down.err;
    const RunCount left = run.count();
    EXPECT_TRUE(left.processes.empty()) << left.processes.front();
    EXPECT_TRUE(left.shared_memory.empty()) << left.shared_memory.front();
    const CliResult bad = run.pvsim({"up", "--dom0-on-crash", "reboot"});
    EXPECT_NE(bad.code, 0);
    EXPECT_NE(bad.err.find("reboot"), std::string::npos) << bad.err;
}

TEST(CliRunTest, EnvPointsXenstoreToolsAtTheRun) {
    CliRun run;
    ASSERT_EQ(run.pvsim({"up"}).code, 0);
    const CliResult env = run.pvsim({"env"});
    ASSERT_EQ(env.code, 0);
    const std::string socket = (run.dir() / "xenstored" / "socket").string();
    EXPECT_NE(env.out.find("export XENSTORED_PATH='" + socket + "'"), std::string::npos) << env.out;
    EXPECT_NE(env.out.find("export PVSIM_RUN_DIR='" +
                           std::filesystem::canonical(run.dir()).string() + "'"),
              std::string::npos)
        << env.out;

    // The printed variables work for Debian's xenstore-utils.
    ASSERT_EQ(run.pvsim({"create", "web"}).code, 0);
    const std::string command =
        "sh -c 'eval \"$(" + std::string(PVSIM_CLI) + " --run-dir " + run.dir().string() +
        " env)\" && xenstore-read /local/domain/1/name' > " + run.file("name.txt").string();
    ASSERT_EQ(std::system(command.c_str()), 0);
    EXPECT_EQ(read_file(run.file("name.txt")), "web\n");
}

TEST(CliRunTest, UpTwiceIsRefusedAndChangesNothing) {
    CliRun run;
    ASSERT_EQ(run.pvsim({"up"}).code, 0);
    const auto before = run.count().processes;
    const CliResult again = run.pvsim({"up"});
    EXPECT_NE(again.code, 0);
    EXPECT_NE(again.err.find("up already"), std::string::npos) << again.err;
    EXPECT_EQ(run.count().processes, before);
    EXPECT_EQ(run.pvsim({"list"}).code, 0);
}

// Two `pvsim up` at once on one run directory: one starts the run, the
// other is refused with the reason, and neither trips over the other's
// sockets or shared memory.
TEST(CliRunTest, TwoUpsAtOnceStartOneRunAndTheOtherSaysWhy) {
    CliRun run;
    CliResult results[2];
    std::thread second([&] { results[1] = run.pvsim({"up"}); });
    results[0] = run.pvsim({"up"});
    second.join();
    const int winners = (results[0].code == 0) + (results[1].code == 0);
    ASSERT_EQ(winners, 1) << results[0].err << results[1].err;
    const CliResult& loser = results[0].code == 0 ? results[1] : results[0];
    EXPECT_TRUE(loser.err.find("pvsim is being started in") != std::string::npos ||
                loser.err.find("pvsim is up already in") != std::string::npos)
        << loser.err;
    EXPECT_EQ(run.pvsim({"list"}).code, 0);
}

// A bad global option is refused by the parser, before any command starts
// anything: usage error, exit 2, no run directory.
TEST(CliRunTest, ABadLogLevelIsRefusedBeforeAnythingStarts) {
    TempDir scratch;
    const auto dir = scratch.path() / "run";
    const CliResult result =
        run_cli(scratch.path(), {"--run-dir", dir.string(), "--log-level", "verbose", "up"});
    EXPECT_EQ(result.code, 2);
    EXPECT_NE(result.err.find("verbose"), std::string::npos) << result.err;
    EXPECT_NE(result.err.find("trace, debug, info"), std::string::npos) << result.err;
    EXPECT_FALSE(std::filesystem::exists(dir));
}

TEST(CliRunTest, CommandsOnARunThatIsNotUpSaySo) {
    CliRun run;
    for (const std::vector<std::string>& args : {std::vector<std::string>{"list"},
                                                 {"create", "g"},
                                                 {"block-list", "g"},
                                                 {"destroy", "g"},
                                                 {"io", "g", "xvda"}}) {
        const CliResult result = run.pvsim(args);
        EXPECT_NE(result.code, 0) << args[0];
        EXPECT_NE(result.err.find("pvsim is not up in"), std::string::npos)
            << args[0] << ": " << result.err;
    }
    // down on a run that is not up has nothing to do.
    const CliResult down = run.pvsim({"down"});
    EXPECT_EQ(down.code, 0) << down.err;
}

// Only `up` makes a run directory: commands on one that does not exist say
// so and create nothing (nor its parent).
TEST(CliRunTest, CommandsOnARunDirectoryThatDoesNotExistCreateNothing) {
    TempDir scratch;
    const auto missing = scratch.path() / "no" / "run";
    for (const std::vector<std::string>& args :
         {std::vector<std::string>{"list"}, {"env"}, {"block-list", "g"}, {"create", "g"}}) {
        std::vector<std::string> full = {"--run-dir", missing.string()};
        full.insert(full.end(), args.begin(), args.end());
        const CliResult result = run_cli(scratch.path(), full);
        EXPECT_EQ(result.code, 1) << args[0];
        EXPECT_NE(result.err.find("pvsim " + args[0] + ": no run in " + missing.string()),
                  std::string::npos)
            << args[0] << ": " << result.err;
        EXPECT_FALSE(std::filesystem::exists(scratch.path() / "no")) << args[0];
    }
    const CliResult down = run_cli(scratch.path(), {"--run-dir", missing.string(), "down"});
    EXPECT_EQ(down.code, 0) << down.err;
    EXPECT_NE(down.out.find("nothing is up in " + missing.string()), std::string::npos) << down.out;
    EXPECT_FALSE(std::filesystem::exists(scratch.path() / "no"));
}

// A run whose programs were replaced on disk while it was up (a rebuild, or
// an upgrade): /proc/PID/exe then ends in " (deleted)" (proc(5)), and the
// processes are still the run's to stop.
TEST(CliRunTest, DownStopsARunWhoseProgramsWereReplacedSinceUp) {
    CliRun run;
    const std::filesystem::path bin = run.file("bin");
    std::filesystem::create_directories(bin);
    const std::filesystem::path built = std::filesystem::path(PVSIM_CLI).parent_path();
    const char* programs[] = {"pvsim-hypervisor", "pvsim-xenstored", "pvsim-backend", "pvsim-guest",
                              "pvsim-monitor"};
    for (const char* program : programs) {
        std::filesystem::copy_file(built / program, bin / program);
    }
    const std::vector<std::string> environment = environment_with("PVSIM_BIN_DIR=" + bin.string());
    const std::vector<std::string> run_dir = {"--run-dir", run.dir().string()};
    auto pvsim = [&](std::vector<std::string> args) {
        args.insert(args.begin(), run_dir.begin(), run_dir.end());
        return run_cli(run.scratch(), args, std::chrono::seconds(100), environment);
    };
    ASSERT_EQ(pvsim({"up"}).code, 0);
    ASSERT_EQ(pvsim({"create", "g1"}).code, 0);
    ASSERT_EQ(run.count().processes.size(), 4u);
    for (const char* program : programs) {
        std::filesystem::remove(bin / program);
        std::filesystem::copy_file(built / program, bin / program);
    }
    const CliResult down = pvsim({"down"});
    ASSERT_EQ(down.code, 0) << down.err;
    EXPECT_NE(down.out.find("stopped pvsim-hypervisor"), std::string::npos) << down.out;
    const RunCount left = run.count();
    EXPECT_TRUE(left.processes.empty()) << ::testing::PrintToString(left.processes);
    EXPECT_TRUE(left.shared_memory.empty()) << ::testing::PrintToString(left.shared_memory);
}

}  // namespace
}  // namespace pvsim::test
