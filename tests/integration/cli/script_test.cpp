// pvsim script: every shipped scenario passes and leaves nothing behind,
// each fault scenario's fault landing mid-I/O and recovery running; a
// script is checked whole before it runs (unknown verbs and bad options
// reported with their line number); the first failing line stops it with
// its line number and reason, and the run is torn down either way.
#include <gtest/gtest.h>

#include <algorithm>
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

// A scenario whose name ends "-during-io" places a fault in a running
// workload; the others run without one.
bool is_fault_scenario(const std::string& name) {
    return name.ends_with("-during-io");
}

std::vector<std::string> shipped_scenarios(bool faults) {
    std::vector<std::string> names;
    for (const std::string& name : shipped_scenarios()) {
        if (is_fault_scenario(name) == faults) {
            names.push_back(name);
        }
    }
    return names;
}

// Runs a shipped scenario: it passes, prints its vbd's states with their
// times, and leaves nothing behind. Returns what it printed.
std::string run_shipped_scenario(const std::string& name) {
    TempDir scratch;
    const auto file = std::filesystem::path(PVSIM_SCENARIOS) / (name + ".pvsim");
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
    return result.out;
}

class ShippedScenario : public ::testing::TestWithParam<std::string> {};

TEST_P(ShippedScenario, PassesAndLeavesNothingBehind) {
    (void)run_shipped_scenario(GetParam());
}

INSTANTIATE_TEST_SUITE_P(Scenarios, ShippedScenario, ::testing::ValuesIn(shipped_scenarios(false)));

// What a `wait-io` line printed: the disk's requests answered since it
// opened, in flight then, its reconnections (blkif_recover runs) and the
// requests they issued again.
struct WaitIoLine {
    std::uint64_t answered = 0, in_flight = 0, reconnections = 0, reissued = 0;
};

std::vector<WaitIoLine> wait_io_lines(const std::string& out) {
    std::vector<WaitIoLine> lines;
    const std::regex line(
        R"((\d+) requests answered, (\d+) in flight, (\d+) reconnections \((\d+) requests re-issued\))");
    for (auto it = std::sregex_iterator(out.begin(), out.end(), line); it != std::sregex_iterator();
         ++it) {
        lines.push_back({std::stoull((*it)[1]), std::stoull((*it)[2]), std::stoull((*it)[3]),
                         std::stoull((*it)[4])});
    }
    return lines;
}

// The JSON each `io --json` printed, in order: an object from a line "{"
// to the next line "}" (nested lines are indented).
std::vector<nlohmann::json> io_results(const std::string& out) {
    std::vector<nlohmann::json> results;
    for (std::size_t start = out.find("\n{\n"); start != std::string::npos;
         start = out.find("\n{\n", start + 1)) {
        const std::size_t end = out.find("\n}\n", start);
        if (end == std::string::npos) {
            break;
        }
        results.push_back(nlohmann::json::parse(out.substr(start + 1, end + 2 - (start + 1))));
    }
    return results;
}

const nlohmann::json& only_job(const nlohmann::json& result) {
    return result.at("jobs").at(0);
}

std::uint64_t total_ios(const nlohmann::json& result, const char* direction) {
    return only_job(result).at(direction).at("total_ios").get<std::uint64_t>();
}

std::uint64_t blocks_checked(const nlohmann::json& result) {
    return only_job(result).at("pvsim").at("verify").at("blocks_checked").get<std::uint64_t>();
}

// A verified random-write job that passed checked every block it wrote:
// fio's random map writes each block of the region once per pass, so the
// blocks written are the writes, or the whole region once a pass is done.
// Each of its requests was one I/O (a 4k or an indirect 64k one), issued
// once: a write, or a verify read of a block written.
void expect_verified_writes(const nlohmann::json& result, std::uint64_t region_blocks) {
    ASSERT_FALSE(result.at("pvsim").contains("error")) << result.at("pvsim");
    const std::uint64_t writes = total_ios(result, "write");
    EXPECT_EQ(blocks_checked(result), std::min(writes, region_blocks)) << only_job(result);
    EXPECT_EQ(only_job(result).at("pvsim").at("verify").at("blocks_unwritten"), 0);
    const nlohmann::json& counts = result.at("pvsim").at("counts");
    EXPECT_EQ(counts.at("requests").get<std::uint64_t>(), writes + blocks_checked(result))
        << counts;
}

// The read pass after a verified write job checks every block that job
// wrote (what the guest remembers writing survives the job), and no other.
void expect_read_back(const nlohmann::json& read, const nlohmann::json& written,
                      std::uint64_t region_blocks) {
    ASSERT_FALSE(read.at("pvsim").contains("error")) << read.at("pvsim");
    EXPECT_EQ(blocks_checked(read), blocks_checked(written));
    EXPECT_EQ(total_ios(read, "read"), region_blocks);
}

class FaultScenario : public ::testing::TestWithParam<std::string> {};

// Each fault is placed by `wait-io`, once the workload has had requests
// answered, and lands with requests in flight. The workload then ends as
// the scenario's header says: failed (detach, a killed guest), or passed
// after the new ring or backend answered more, its verify and the read
// pass after it checking every block it wrote.
TEST_P(FaultScenario, ItsFaultLandsWithRequestsInFlightAndTheWorkloadEndsAsDescribed) {
    const std::string name = GetParam();
    const std::string out = run_shipped_scenario(name);
    const std::vector<WaitIoLine> waits = wait_io_lines(out);
    const std::vector<nlohmann::json> ios = io_results(out);
    ASSERT_FALSE(waits.empty()) << out;
    // The fault's requests: what wait-io saw just before it.
    EXPECT_GT(waits[0].answered, 0u) << out;
    EXPECT_GT(waits[0].in_flight, 0u) << out;
    constexpr std::uint64_t kRegion4k = (16u << 20) / 4096;  // --size 16M --bs 4k
    if (name == "detach-during-io") {
        // The workload failed at the detach, after the I/Os answered before it.
        ASSERT_EQ(ios.size(), 1u) << out;
        EXPECT_TRUE(ios[0].at("pvsim").contains("error")) << ios[0].at("pvsim");
        EXPECT_GE(total_ios(ios[0], "write"), waits[0].answered);
    } else if (name == "kill-guest-during-io") {
        // The killed guest's workload failed; the other guest's passed
        // verified: --size 4M at 4k, one pass, each block written once.
        EXPECT_NE(out.find("failed as expected"), std::string::npos) << out;
        ASSERT_EQ(ios.size(), 1u) << out;
        expect_verified_writes(ios[0], (4u << 20) / 4096);
        EXPECT_EQ(blocks_checked(ios[0]), (4u << 20) / 4096);
    } else if (name == "reconnect-during-io") {
        // One reconnection, after which the new ring answered more: the
        // backend answered what was on the old ring before it closed, so
        // nothing was taken back, and what the workload issued meanwhile
        // was held and issued once, on the new ring.
        ASSERT_EQ(waits.size(), 2u) << out;
        EXPECT_EQ(waits[0].reconnections, 0u) << out;
        EXPECT_EQ(waits[1].reconnections, 1u) << out;
        EXPECT_EQ(waits[1].reissued, 0u) << out;
        EXPECT_GT(waits[1].answered, waits[0].answered) << out;
        ASSERT_EQ(ios.size(), 2u) << out;
        expect_verified_writes(ios[0], kRegion4k);
        expect_read_back(ios[1], ios[0], kRegion4k);
    } else if (name == "restart-dom0-during-io") {
        // While dom0 was dead its requests stayed in flight, unanswered;
        // the new backend answered them on the live ring and the workload
        // passed. blkfront stayed Connected, so it re-issued nothing.
        ASSERT_EQ(waits.size(), 2u) << out;
        EXPECT_GT(waits[1].in_flight, 0u) << out;
        EXPECT_EQ(waits[1].reconnections, 0u) << out;
        ASSERT_EQ(ios.size(), 2u) << out;
        EXPECT_GE(total_ios(ios[0], "write"), waits[1].answered + waits[1].in_flight);
        expect_verified_writes(ios[0], kRegion4k);
        expect_read_back(ios[1], ios[0], kRegion4k);
    } else if (name == "restart-dom0-on-crash-during-io") {
        // The backend its monitor started answered more after the kill.
        ASSERT_EQ(waits.size(), 2u) << out;
        EXPECT_GT(waits[1].answered, waits[0].answered) << out;
        EXPECT_EQ(waits[1].reconnections, 0u) << out;
        ASSERT_EQ(ios.size(), 2u) << out;
        expect_verified_writes(ios[0], kRegion4k);
        expect_read_back(ios[1], ios[0], kRegion4k);
    } else if (name == "restart-dom0-repeatedly-during-io") {
        // Each of the three kills came with requests in flight, and each
        // new backend answered more (the last wait-io after the last restart).
        constexpr std::uint64_t kRegion64k = (32u << 20) / 65536;  // --size 32M --bs 64k
        ASSERT_EQ(waits.size(), 4u) << out;
        for (std::size_t i = 0; i < 3; ++i) {
            EXPECT_GT(waits[i].in_flight, 0u) << i << out;
            EXPECT_GT(waits[i + 1].answered, waits[i].answered) << i << out;
        }
        EXPECT_EQ(waits[3].reconnections, 0u) << out;
        ASSERT_EQ(ios.size(), 2u) << out;
        // Every blkif feature on: each 64k write one indirect request.
        EXPECT_EQ(ios[0].at("pvsim").at("counts").at("indirect_requests"),
                  ios[0].at("pvsim").at("counts").at("requests"));
        expect_verified_writes(ios[0], kRegion64k);
        expect_read_back(ios[1], ios[0], kRegion64k);
    } else {
        ADD_FAILURE() << name << ": a fault scenario this test does not know";
    }
}

INSTANTIATE_TEST_SUITE_P(Scenarios, FaultScenario, ::testing::ValuesIn(shipped_scenarios(true)));

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
          "sleep forever", "wait-io g xvda --requests lots", "kill g --signal NOPE",
          "xenstore-write /a", "up \"unclosed"}) {
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

// wait-io counts from when it begins: on a virtio disk under a workload
// (one that runs for its --runtime, so it is still running when wait-io
// begins) it returns once the disk has answered that many more; on a vbd
// with no workload it fails after its timeout with what it saw.
TEST_F(CliScriptTest, WaitIoReturnsOnceTheDiskAnsweredMoreAndFailsWithoutThem) {
    const CliResult result =
        run("create g\n"
            "make-image ${PVSIM_RUN_DIR}/a.img 8M\n"
            "make-image ${PVSIM_RUN_DIR}/b.img 8M\n"
            "block-attach g target=${PVSIM_RUN_DIR}/a.img,vdev=xvda\n"
            "block-attach g target=${PVSIM_RUN_DIR}/b.img,vdev=vda,specification=virtio\n"
            "background io g vda --rw randread --size 8M --iodepth 4 --runtime 2\n"
            "wait-io g vda --requests 16\n"
            "wait\n"
            "expect-fail wait-io g xvda --requests 1 --timeout 1s\n");
    ASSERT_EQ(result.code, 0) << result.out << result.err;
    std::smatch match;
    ASSERT_TRUE(std::regex_search(
        result.out, match,
        std::regex(R"(g vda: (\d+) requests answered, \d+ in flight, 0 reconnections)")))
        << result.out;
    EXPECT_GE(std::stoull(match[1]), 16u);
    EXPECT_NE(result.out.find("failed as expected: g xvda answered 0 of 1 requests in 1s"),
              std::string::npos)
        << result.out;
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
