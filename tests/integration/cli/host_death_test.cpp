// The hypervisor or xenstored dying is the host dying (DESIGN.md §1, "The
// host"): every process of the run exits on its own, each log saying what
// went, a client waiting on a guest is answered, and `pvsim down` then finds
// nothing to force. A run with guests on both transports (a vbd and a
// virtio disk), I/O under way and dom0's monitor, killed with SIGKILL: no
// process of it gets to say goodbye.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tests/integration/cli/cli_run.hpp"

namespace pvsim::test {
namespace host_death_test {

using namespace std::chrono_literals;

class CliHostDeathTest : public ::testing::Test {
  protected:
    // `pvsim up` with dom0's monitor, a guest with a vbd and one with a
    // virtio disk, a verified workload done on each and a long one under
    // way on the vbd (a `pvsim io` the test does not wait for).
    void SetUp() override {
        ASSERT_EQ(run_.pvsim({"up", "--dom0-on-crash", "restart"}).code, 0);
        for (const char* guest : {"g1", "g2"}) {
            ASSERT_EQ(run_.pvsim({"create", guest}).code, 0);
        }
        const auto xen_disk = run_.image("xen.img", 8 << 20);
        const auto virtio_disk = run_.image("virtio.img", 8 << 20);
        ASSERT_EQ(
            run_.pvsim({"block-attach", "g1", "target=" + xen_disk.string() + ",vdev=xvda"}).code,
            0);
        const CliResult virtio =
            run_.pvsim({"block-attach", "g2",
                        "target=" + virtio_disk.string() + ",vdev=vda,specification=virtio"});
        ASSERT_EQ(virtio.code, 0) << virtio.err;
        for (const auto& [guest, vdev] : {std::pair{"g1", "xvda"}, std::pair{"g2", "vda"}}) {
            const CliResult io = run_.pvsim({"io", guest, vdev, "--rw", "randwrite", "--bs", "4k",
                                             "--size", "1M", "--verify", "crc32c"});
            ASSERT_EQ(io.code, 0) << io.out << io.err;
        }
        os::SpawnOptions options;
        io_out_.emplace(
            ::open(run_.file("io.out").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
        options.fds = {{io_out_->get(), 1}, {io_out_->get(), 2}};
        io_.emplace(os::ChildProcess::spawn(
            PVSIM_CLI,
            {"--run-dir", run_.dir().string(), "io", "g1", "xvda", "--rw", "randrw", "--bs", "4k",
             "--iodepth", "8", "--time_based", "--runtime", "120s"},
            options));
        // hypervisor, xenstored, dom0's backend, its monitor, two guests
        ASSERT_EQ(run_.count().processes.size(), 6u);
    }

    // SIGKILLs the run's `daemon`, then waits for every process of the run
    // to be gone and for the `pvsim io` under way to end.
    void kill_host(const std::string& daemon) {
        const std::string pid = read_file(run_.dir() / (daemon + ".pid"));
        ASSERT_FALSE(pid.empty()) << daemon;
        ASSERT_EQ(::kill(std::stoi(pid), SIGKILL), 0);
        EXPECT_TRUE(eventually([&] { return run_.count().processes.empty(); }, 60s))
            << testing::PrintToString(run_.count().processes);
        std::optional<os::ExitStatus> io;
        ASSERT_TRUE(eventually([&] { return (io = io_->try_wait()).has_value(); }, 60s));
        EXPECT_FALSE(io->success()) << read_file(run_.file("io.out"));
    }

    // What the process `name` logged.
    std::string log(const std::string& name) const {
        return read_file(RunDir::open(run_.dir()).log_file(name));
    }

    // `pvsim down` after the host died: nothing to force, nothing left.
    void expect_down_finds_the_run_gone() {
        const CliResult down = run_.pvsim({"down"});
        EXPECT_EQ(down.code, 0) << down.out << down.err;
        EXPECT_NE(down.out.find("pvsim is down"), std::string::npos) << down.out;
        const RunCount left = run_.count();
        EXPECT_TRUE(left.processes.empty()) << testing::PrintToString(left.processes);
        EXPECT_TRUE(left.shared_memory.empty()) << testing::PrintToString(left.shared_memory);
        for (const auto& entry : std::filesystem::recursive_directory_iterator(run_.dir())) {
            EXPECT_FALSE(entry.is_socket()) << entry.path();
        }
    }

    CliRun run_;
    std::optional<os::UniqueFd> io_out_;
    std::optional<os::ChildProcess> io_;
};

TEST_F(CliHostDeathTest, AKilledHypervisorTakesEveryProcessOfTheRunWithIt) {
    kill_host("pvsim-hypervisor");
    const std::string gone = "pvsim-hypervisor is gone";
    for (const char* process : {"pvsim-guest.dom1", "pvsim-guest.dom2", "pvsim-backend"}) {
        EXPECT_NE(log(process).find(gone), std::string::npos) << process << ":\n" << log(process);
    }
    EXPECT_NE(log("pvsim-xenstored").find("lost the hypervisor"), std::string::npos)
        << log("pvsim-xenstored");
    EXPECT_NE(log("pvsim-monitor").find(gone), std::string::npos) << log("pvsim-monitor");
    expect_down_finds_the_run_gone();
}

TEST_F(CliHostDeathTest, AKilledXenstoredTakesEveryProcessOfTheRunWithIt) {
    kill_host("pvsim-xenstored");
    EXPECT_NE(log("pvsim-hypervisor").find("pvsim-xenstored is gone"), std::string::npos)
        << log("pvsim-hypervisor");
    // The hypervisor stopped: dom0's backend sees its connection end.
    EXPECT_NE(log("pvsim-backend").find("pvsim-hypervisor is gone"), std::string::npos)
        << log("pvsim-backend");
    EXPECT_NE(log("pvsim-monitor").find("is gone: the host is down"), std::string::npos)
        << log("pvsim-monitor");
    expect_down_finds_the_run_gone();
}

}  // namespace host_death_test
}  // namespace pvsim::test
