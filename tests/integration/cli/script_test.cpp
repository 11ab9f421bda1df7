// pvsim script: every shipped scenario passes and leaves nothing behind; a
// script is checked whole before it runs (unknown verbs and bad options
// reported with their line number); the first failing line stops it with
// its line number and reason, and the run is torn down either way.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>

#include "tests/integration/cli/cli_run.hpp"

namespace pvsim::test {
namespace {

std::vector<std::string> shipped_scenarios() {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(PVSIM_SCENARIOS)) {
        if (entry.path().extension() == ".pvsim") {
            names.push_back(entry.path().stem().string());
        }
    }
    std::sort(names.begin(), names.end());
    return names;
}

// The run directory a script printed first.
std::filesystem::path script_run_dir(const std::string& out) {
    std::smatch match;
    const std::regex line("run directory (\\S+)");
    return std::regex_search(out, match, line) ? std::filesystem::path(match[1].str())
                                               : std::filesystem::path();
}

void expect_nothing_left(const std::filesystem::path& run_dir) {
    ASSERT_FALSE(run_dir.empty());
    const RunCount left = count_run_at(run_dir);
    EXPECT_TRUE(left.processes.empty()) << left.processes.front();
    EXPECT_TRUE(left.shared_memory.empty()) << left.shared_memory.front();
    std::error_code ignored;
    std::filesystem::remove_all(run_dir, ignored);
}

class ShippedScenario : public ::testing::TestWithParam<std::string> {};

TEST_P(ShippedScenario, PassesAndLeavesNothingBehind) {
    TempDir scratch;
    const auto file = std::filesystem::path(PVSIM_SCENARIOS) / (GetParam() + ".pvsim");
    const CliResult result = run_cli(scratch.path(), {"script", file.string()});
    EXPECT_EQ(result.code, 0) << result.out << result.err;
    // Every state change printed with its time as it happened.
    EXPECT_TRUE(std::regex_search(result.out,
                                  std::regex(R"(\[\s+\d+\.\d{3}s\] \S+ xvda backend  Connected)")))
        << result.out;
    const auto run_dir = script_run_dir(result.out);
    EXPECT_FALSE(std::filesystem::exists(run_dir)) << "a passing script's run is removed";
    const RunCount left = count_run_at(run_dir);
    EXPECT_TRUE(left.processes.empty()) << left.processes.front();
    EXPECT_TRUE(left.shared_memory.empty()) << left.shared_memory.front();
}

INSTANTIATE_TEST_SUITE_P(Scenarios, ShippedScenario, ::testing::ValuesIn(shipped_scenarios()));

TEST(CliScenarioFiles, TheShippedScenariosAreThere) {
    const auto names = shipped_scenarios();
    for (const char* expected :
         {"connect-detach", "frontend-close", "detach-during-io", "read-only",
          "reattach-data-intact", "two-guests", "restart-dom0-during-io",
          "restart-dom0-on-crash-during-io", "restart-dom0-repeatedly-during-io",
          "reconnect-during-io", "kill-guest-during-io"}) {
        EXPECT_NE(std::find(names.begin(), names.end(), expected), names.end()) << expected;
    }
}

class CliScriptTest : public ::testing::Test {
  protected:
    std::filesystem::path script(const std::string& text) {
        const auto path = scratch_.path() / "test.pvsim";
        std::ofstream(path) << text;
        return path;
    }
    CliResult run(const std::string& text) {
        return run_cli(scratch_.path(), {"script", script(text).string()});
    }
    TempDir scratch_;
};

TEST_F(CliScriptTest, AnUnknownVerbIsReportedWithItsLineBeforeAnythingRuns) {
    const CliResult result = run("# a comment\ncreate g\n\nfrobnicate g\n");
    EXPECT_EQ(result.code, 2);
    EXPECT_NE(result.err.find("test.pvsim:4: unknown verb \"frobnicate\""), std::string::npos)
        << result.err;
    EXPECT_EQ(result.out, "");  // no run was started
}

TEST_F(CliScriptTest, BadOptionsAreReportedWithTheirLineBeforeAnythingRuns) {
    for (const char* line :
         {"create g --memory 12Q", "io g xvda --bs 4q", "wait-state g xvda frontend Bogus",
          "block-attach g target=/x,vdev=xvda,foo=1", "expect-fail io g xvda --rw sideways",
          "sleep forever", "kill g --signal NOPE", "xenstore-write /a", "up \"unclosed"}) {
        const CliResult result = run("create g\n" + std::string(line) + "\n");
        EXPECT_EQ(result.code, 2) << line;
        EXPECT_NE(result.err.find("test.pvsim:2:"), std::string::npos) << line << result.err;
        EXPECT_EQ(result.out, "") << line;
    }
}

TEST_F(CliScriptTest, TheFirstFailingLineStopsTheScriptAndTheRunIsTornDown) {
    const CliResult result =
        run("create g\nxenstore-read /local/domain/1/name g\nxenstore-read /local/domain/1/name "
            "wrong\ncreate h\n");
    EXPECT_EQ(result.code, 1);
    EXPECT_NE(result.err.find("test.pvsim:3: xenstore-read /local/domain/1/name wrong: "
                              "/local/domain/1/name is \"g\", expected \"wrong\""),
              std::string::npos)
        << result.err;
    EXPECT_EQ(result.out.find("> create h"), std::string::npos) << result.out;
    // A failed script keeps its run directory for its logs, and nothing else.
    const auto run_dir = script_run_dir(result.out);
    EXPECT_NE(result.err.find("logs kept in " + run_dir.string()), std::string::npos);
    EXPECT_TRUE(std::filesystem::exists(run_dir / "pvsim-hypervisor.log"));
    expect_nothing_left(run_dir);
}

// A script given a live run with --run-dir is refused, and the live run is
// left exactly as it was: a command tears down only what it started.
TEST_F(CliScriptTest, AScriptRefusedALiveRunLeavesItRunning) {
    CliRun live;
    ASSERT_EQ(live.pvsim({"up"}).code, 0);
    ASSERT_EQ(live.pvsim({"create", "g"}).code, 0);
    const RunCount before = live.count();
    const CliResult result = live.pvsim({"script", script("create h\n").string()});
    EXPECT_EQ(result.code, 1);
    EXPECT_NE(result.err.find("pvsim is up already in " + live.dir().string()), std::string::npos)
        << result.err;
    EXPECT_EQ(live.count().processes, before.processes);
    const CliResult list = live.pvsim({"list"});
    ASSERT_EQ(list.code, 0) << list.err;
    EXPECT_NE(list.out.find("g "), std::string::npos) << list.out;
    EXPECT_EQ(list.out.find("h "), std::string::npos) << list.out;
}

TEST_F(CliScriptTest, ExpectFailFailsWhenTheCommandSucceeds) {
    const CliResult result = run("create g\nexpect-fail xenstore-read /local/domain/1/name\n");
    EXPECT_EQ(result.code, 1);
    EXPECT_NE(result.err.find("expected `xenstore-read /local/domain/1/name` to fail"),
              std::string::npos)
        << result.err;
    expect_nothing_left(script_run_dir(result.out));
}

TEST_F(CliScriptTest, AFailedBackgroundCommandFailsTheWait) {
    const CliResult result = run("background xenstore-read /nonexistent\nsleep 100ms\nwait\n");
    EXPECT_EQ(result.code, 1);
    EXPECT_NE(result.err.find("test.pvsim:3: wait: background xenstore-read /nonexistent"),
              std::string::npos)
        << result.err;
    expect_nothing_left(script_run_dir(result.out));
}

// hold-state counts writes, not values: a state written again, even with
// the value it had, is a write the end should not have made.
TEST_F(CliScriptTest, HoldStateFailsOnAnyWriteOfTheStateNode) {
    const CliResult result =
        run("create g\n"
            "make-image ${PVSIM_RUN_DIR}/disk.img 8M\n"
            "block-attach g target=${PVSIM_RUN_DIR}/disk.img,vdev=xvda\n"
            "hold-state g xvda frontend Connected --for 200ms\n"
            "expect-fail hold-state g xvda backend InitWait --for 100ms\n"
            "background hold-state g xvda frontend Connected --for 5s\n"
            "sleep 200ms\n"
            "set-state g xvda frontend Connected\n"
            "wait\n");
    EXPECT_EQ(result.code, 1) << result.out << result.err;
    EXPECT_NE(result.out.find("failed as expected: backend of g xvda is Connected, not InitWait"),
              std::string::npos)
        << result.out;
    EXPECT_NE(result.err.find("test.pvsim:9: wait: background hold-state g xvda frontend"),
              std::string::npos)
        << result.err;
    EXPECT_NE(result.err.find("frontend of g xvda left Connected: its state was written"),
              std::string::npos)
        << result.err;
    expect_nothing_left(script_run_dir(result.out));
}

TEST_F(CliScriptTest, KillAndRestartDom0AndXenstored) {
    const CliResult result =
        run("create g\n"
            "kill g --signal KILL\n"
            "kill dom0\n"
            "restart dom0\n"
            "expect-fail restart dom0\n"
            "kill xenstored\n"
            "xenstore-read /local/domain/0/name\n");
    // The last line fails (xenstored is gone): the script stops there,
    // after the others worked, and the teardown copes.
    EXPECT_EQ(result.code, 1) << result.out << result.err;
    EXPECT_NE(result.err.find("test.pvsim:7:"), std::string::npos) << result.err;
    EXPECT_NE(result.out.find("failed as expected: restart dom0: it is running"), std::string::npos)
        << result.out;
    expect_nothing_left(script_run_dir(result.out));
}

TEST_F(CliScriptTest, ExpectCleanSeesAKilledGuestGoAndReconnectNeedsTheDisk) {
    const CliResult result =
        run("create g\n"
            "create h\n"
            "kill g\n"
            "expect-clean --timeout 10s\n"
            "expect-fail reconnect h xvda\n"
            "expect-fail reconnect nosuch xvda\n");
    EXPECT_EQ(result.code, 0) << result.out << result.err;
    EXPECT_NE(result.out.find("clean: 2 domain(s) running"), std::string::npos) << result.out;
    EXPECT_NE(result.out.find("h has no vdev xvda"), std::string::npos) << result.out;
    expect_nothing_left(script_run_dir(result.out));
}

TEST_F(CliScriptTest, Dom0OnCrashRestartBringsItBack) {
    const CliResult result =
        run("dom0-on-crash restart\n"
            "kill dom0\n"
            // Its monitor starts it: `restart dom0` waits for that.
            "restart dom0\n"
            "create g\n"
            "make-image ${PVSIM_RUN_DIR}/d.img 4M\n"
            "block-attach g target=${PVSIM_RUN_DIR}/d.img,vdev=xvda\n"
            "dom0-on-crash destroy\n"
            "kill dom0\n"
            "sleep 500ms\n"
            "expect-fail block-attach g target=${PVSIM_RUN_DIR}/d.img,vdev=xvdb\n");
    EXPECT_EQ(result.code, 0) << result.out << result.err;
    EXPECT_NE(result.out.find("is not running; nothing would serve the disk"), std::string::npos)
        << result.out;
    expect_nothing_left(script_run_dir(result.out));
}

}  // namespace
}  // namespace pvsim::test
