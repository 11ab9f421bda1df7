// Ctrl-C (SIGINT) and SIGTERM during the commands that hold a job or a run
// of their own (tools/cli/interruption.hpp): the job running is cancelled
// and what it did so far is printed, as fio does on SIGINT; what the
// command started is torn down, with nothing of it left on the machine;
// the exit status is 128 + the signal, as a shell reports.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/os/child_process.hpp"
#include "common/os/unique_fd.hpp"
#include "tests/integration/cli/cli_run.hpp"
#include "tests/support/eventually.hpp"
#include "tools/toolstack/guest_agent.hpp"

namespace pvsim::test {
namespace interrupt_test {

using namespace std::chrono_literals;

// `pvsim ARGS` running in the background, its output in files, with TMPDIR
// set so that a run it makes for itself lands where the test can see it.
class RunningCli {
  public:
    // `path`, when given, is its PATH.
    RunningCli(const std::filesystem::path& scratch, const std::vector<std::string>& args,
               const std::optional<std::string>& path = std::nullopt)
        : out_path_(scratch / "running.out"), err_path_(scratch / "running.err") {
        os::UniqueFd out(::open(out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
        os::UniqueFd err(::open(err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
        os::SpawnOptions options;
        options.fds = {{out.get(), 1}, {err.get(), 2}};
        options.environment = environment_with("TMPDIR=" + scratch.string());
        if (path) {
            std::erase_if(*options.environment,
                          [](const std::string& entry) { return entry.starts_with("PATH="); });
            options.environment->push_back("PATH=" + *path);
        }
        process_.emplace(os::ChildProcess::spawn(PVSIM_CLI, args, options));
    }

    std::string out() const { return read_file(out_path_); }
    std::string err() const { return read_file(err_path_); }

    void signal(int number) { ASSERT_EQ(::kill(process_->pid(), number), 0); }

    // Bytes read so far (/proc/PID/io's rchar) by its child called `name`
    // and that child's children (fio runs each job in a process of its own).
    std::uint64_t child_read_bytes(const std::string& name) const {
        std::map<pid_t, pid_t> parents;  // of the processes called `name`
        std::error_code ec;
        for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
            std::ifstream stat(entry.path() / "stat");
            pid_t pid = 0, parent = 0;
            std::string comm, state;
            if (stat >> pid >> comm >> state >> parent && comm == "(" + name + ")") {
                parents[pid] = parent;
            }
        }
        std::uint64_t total = 0;
        for (const auto& [pid, parent] : parents) {
            const bool ours = parent == process_->pid() ||
                              (parents.contains(parent) && parents[parent] == process_->pid());
            std::ifstream io("/proc/" + std::to_string(pid) + "/io");
            for (std::string key; ours && io >> key;) {
                std::uint64_t value = 0;
                io >> value;
                if (key == "rchar:") {
                    total += value;
                }
            }
        }
        return total;
    }

    // The exit status, once it exits within `limit` (-1: killed, or still
    // running at the limit).
    int wait(std::chrono::seconds limit = 90s) {
        std::optional<os::ExitStatus> status;
        if (!eventually([&] { return (status = process_->try_wait()).has_value(); }, limit)) {
            return -1;
        }
        return status->exited() ? status->code : -1;
    }

  private:
    std::filesystem::path out_path_;
    std::filesystem::path err_path_;
    std::optional<os::ChildProcess> process_;
};

// Whether the io running in domain 1 of the run at `run` has had `ios`
// responses on its disk (blkfront's counters, from the guest's agent).
bool io_under_way(const std::filesystem::path& run, std::uint64_t ios) {
    try {
        tools::toolstack::GuestAgent agent(RunDir::open(run), 1, std::chrono::milliseconds(200));
        const nlohmann::json devices = agent.request({{"op", "devices"}}).at("devices");
        return !devices.empty() &&
               devices[0].value("counters", nlohmann::json::object()).value("responses", 0ull) >=
                   ios;
    } catch (const std::exception&) {
        return false;  // not up yet
    }
}

// The directory a command made for its own run under `tmpdir`.
std::optional<std::filesystem::path> own_run(const std::filesystem::path& tmpdir,
                                             const std::string& what) {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(tmpdir, ec)) {
        if (entry.path().filename().string().starts_with("pvsim-" + what + ".")) {
            return entry.path();
        }
    }
    return std::nullopt;
}

void expect_nothing_left(const std::filesystem::path& run) {
    EXPECT_FALSE(std::filesystem::exists(run)) << run;
    const RunCount left = count_run_at(run);
    EXPECT_TRUE(left.processes.empty()) << ::testing::PrintToString(left.processes);
    EXPECT_TRUE(left.shared_memory.empty()) << ::testing::PrintToString(left.shared_memory);
}

class CliInterruptTest : public ::testing::Test {
  protected:
    TempDir temp_;
    std::filesystem::path scratch_ = temp_.path();
};

TEST_F(CliInterruptTest, AScriptInterruptedMidIoPrintsWhatTheIoDidTearsDownAndExits130) {
    const std::filesystem::path script = scratch_ / "long.pvsim";
    std::ofstream(script) << "create guest\n"
                             "make-image ${PVSIM_RUN_DIR}/disk.img 16M\n"
                             "block-attach guest target=${PVSIM_RUN_DIR}/disk.img,vdev=xvda\n"
                             "io guest xvda --rw randread --bs 4k --iodepth 4 --runtime 120\n"
                             "sleep 120\n";
    RunningCli cli(scratch_, {"script", script.string()});
    std::optional<std::filesystem::path> run;
    ASSERT_TRUE(eventually([&] { return (run = own_run(scratch_, "script")).has_value(); }, 60s))
        << cli.err();
    ASSERT_TRUE(eventually([&] { return io_under_way(*run, 1000); }, 60s))
        << cli.out() << cli.err();

    cli.signal(SIGINT);
    EXPECT_EQ(cli.wait(), 130) << cli.out() << cli.err();
    // The io's table, with what it read before the cancel; the sleep after
    // it never ran.
    EXPECT_NE(cli.out().find("pvsim.0  read"), std::string::npos) << cli.out();
    EXPECT_EQ(cli.out().find("> sleep"), std::string::npos) << cli.out();
    EXPECT_NE(cli.err().find("cancelled"), std::string::npos) << cli.err();
    EXPECT_NE(cli.err().find("interrupted by SIGINT: tearing down the run it started"),
              std::string::npos)
        << cli.err();
    expect_nothing_left(*run);
}

// fio, running first as the bench's anchor, gets the SIGINT passed on and
// writes what it did; the paths after it never start.
TEST_F(CliInterruptTest, ABenchTerminatedDuringFioPrintsFiosPartialRowAndTearsDown) {
    RunningCli cli(scratch_, {"bench", "--paths", "xen", "--rw", "randread", "--bs", "4k",
                              "--image-size", "16M", "--runtime", "120"});
    std::optional<std::filesystem::path> run;
    ASSERT_TRUE(eventually([&] { return (run = own_run(scratch_, "bench")).has_value(); }, 60s))
        << cli.err();
    // fio is reading the image: past its start-up, its SIGINT handler set.
    ASSERT_TRUE(eventually([&] { return cli.child_read_bytes("fio") > (8u << 20); }, 60s))
        << cli.out() << cli.err();

    cli.signal(SIGTERM);
    EXPECT_EQ(cli.wait(), 128 + SIGTERM) << cli.out() << cli.err();
    EXPECT_NE(cli.out().find("fio (psync)"), std::string::npos) << cli.out();
    EXPECT_EQ(cli.out().find("xen: randread"), std::string::npos) << cli.out();
    EXPECT_NE(cli.err().find("pvsim bench: interrupted by SIGTERM: 1 of 2 rows ran"),
              std::string::npos)
        << cli.err();
    expect_nothing_left(*run);
}

// The local path runs in the CLI's own process: the signal cancels its job
// as it cancels a guest's. (No fio in PATH: the local row is the only one,
// and runs at once.)
TEST_F(CliInterruptTest, ABenchInterruptedDuringTheLocalPathPrintsItsPartialRowAndTearsDown) {
    const std::filesystem::path no_programs = scratch_ / "empty-path";
    std::filesystem::create_directories(no_programs);
    RunningCli cli(scratch_,
                   {"bench", "--paths", "local", "--baseline", "local", "--rw", "randread", "--bs",
                    "4k", "--image-size", "16M", "--runtime", "120"},
                   no_programs.string());
    std::optional<std::filesystem::path> run;
    ASSERT_TRUE(eventually([&] { return (run = own_run(scratch_, "bench")).has_value(); }, 60s))
        << cli.err();
    // Printed as the local job starts (bench.cpp): the job is what the
    // signal meets, or meets it at once, registered after the signal came.
    ASSERT_TRUE(eventually(
        [&] { return cli.out().find("local: randread 4 KiB iodepth 1") != std::string::npos; },
        60s))
        << cli.out() << cli.err();

    cli.signal(SIGINT);
    EXPECT_EQ(cli.wait(), 130) << cli.out() << cli.err();
    EXPECT_NE(cli.out().find("\nlocal "), std::string::npos) << cli.out();
    EXPECT_NE(cli.err().find("pvsim bench: interrupted by SIGINT: 1 of 1 rows ran"),
              std::string::npos)
        << cli.err();
    expect_nothing_left(*run);
}

TEST_F(CliInterruptTest, IoInterruptedPrintsItsResultsSoFarAndLeavesTheRunUp) {
    CliRun live;
    ASSERT_EQ(live.pvsim({"up"}).code, 0);
    ASSERT_EQ(live.pvsim({"create", "g"}).code, 0);
    const std::filesystem::path image = live.image("disk.img", 16 << 20);
    ASSERT_EQ(live.pvsim({"block-attach", "g", "target=" + image.string() + ",vdev=xvda"}).code, 0);

    RunningCli cli(scratch_, {"--run-dir", live.dir().string(), "io", "g", "xvda", "--rw",
                              "randread", "--bs", "4k", "--runtime", "120", "--json"});
    ASSERT_TRUE(eventually([&] { return io_under_way(live.dir(), 1000); }, 60s)) << cli.err();
    cli.signal(SIGINT);
    EXPECT_EQ(cli.wait(), 130) << cli.out() << cli.err();
    const nlohmann::json result = nlohmann::json::parse(cli.out());
    EXPECT_GT(result["jobs"][0]["read"]["total_ios"].get<std::uint64_t>(), 0u) << cli.out();
    EXPECT_EQ(result["pvsim"]["error"], "cancelled") << cli.out();
    EXPECT_NE(cli.err().find("pvsim io: interrupted by SIGINT"), std::string::npos) << cli.err();
    // The run and its disk stay: io only cancelled its own job.
    const CliResult again = live.pvsim(
        {"io", "g", "xvda", "--rw", "randread", "--bs", "4k", "--size", "64k", "--json"});
    EXPECT_EQ(again.code, 0) << again.err;
}

}  // namespace interrupt_test
}  // namespace pvsim::test
