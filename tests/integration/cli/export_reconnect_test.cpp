// A guest's virtio disk on `pvsim export` (vhost-user=SOCK) rides over the
// export's death as a Linux guest in QEMU does under `-chardev
// socket,reconnect=1` (integration/linux_guest): the export is SIGKILLed
// under a verified random-write job and started again on the same image
// and socket; the driver connects again by itself, issues again what the
// dead device had not answered, and the job passes its verify; the same
// with qemu-storage-daemon. While the device is down, block-detach still
// works.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/os/child_process.hpp"
#include "common/os/unique_fd.hpp"
#include "common/run_dir.hpp"
#include "tests/integration/cli/cli_run.hpp"
#include "tests/integration/cli/export_process.hpp"
#include "tests/integration/cli/qsd_process.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/temp_dir.hpp"
#include "tools/toolstack/guest_agent.hpp"

// This file's own names, apart from those of the other files of its folder,
// which compiles as one translation unit.
namespace export_reconnect_test {

using namespace pvsim::test;

// `pvsim io` running in the background, its stdout and stderr in files.
class BackgroundIo {
  public:
    BackgroundIo(const std::filesystem::path& scratch, const std::vector<std::string>& args)
        : out_path_(scratch / "io.out"), err_path_(scratch / "io.err") {
        pvsim::os::UniqueFd out(
            ::open(out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
        pvsim::os::UniqueFd err(
            ::open(err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
        pvsim::os::SpawnOptions options;
        options.fds = {{out.get(), 1}, {err.get(), 2}};
        process_.emplace(pvsim::os::ChildProcess::spawn(PVSIM_CLI, args, options));
    }

    bool running() {
        if (!status_) {
            status_ = process_->try_wait();
        }
        return !status_.has_value();
    }
    // Waits (bounded only against a hang) for it to end; its result.
    CliResult finish() {
        if (!eventually([this] { return !running(); }, std::chrono::seconds(60))) {
            return {-1, read_file(out_path_), "still running after 60 s\n" + read_file(err_path_)};
        }
        return {status_->exited() ? status_->code : -1, read_file(out_path_), read_file(err_path_)};
    }

  private:
    std::filesystem::path out_path_;
    std::filesystem::path err_path_;
    std::optional<pvsim::os::ChildProcess> process_;
    std::optional<pvsim::os::ExitStatus> status_;
};

// The job went on across the device's death: it passed its verify, and the
// device that came back answered writes of it, more than the dead one had
// (`before`: the disk's report when the device died).
void expect_job_went_on(BackgroundIo& job, const nlohmann::json& before) {
    const CliResult result = job.finish();
    ASSERT_EQ(result.code, 0) << result.out << result.err;
    const nlohmann::json out = result.json();
    const nlohmann::json& verify = out.at("jobs").at(0).at("pvsim").at("verify");
    EXPECT_GT(verify.at("blocks_checked").get<std::uint64_t>(), 0u) << verify;
    EXPECT_EQ(verify.at("blocks_unwritten"), 0) << verify;
    EXPECT_GT(out.at("jobs").at(0).at("write").at("total_ios").get<std::uint64_t>(),
              before.at("counters").at("completions").get<std::uint64_t>())
        << out.dump();
}

class CliExportReconnectTest : public ::testing::Test {
  protected:
    void SetUp() override {
        ASSERT_EQ(run_.pvsim({"up"}).code, 0);
        ASSERT_EQ(run_.pvsim({"create", "g"}).code, 0);
        image_ = run_.image("exported.img", 8 << 20);
        socket_ = dir_.path() / "export.sock";
        device_ = start_export("export.log");
        const CliResult attached = run_.pvsim(
            {"block-attach", "g", "vdev=vda,specification=virtio,vhost-user=" + socket_.string()});
        ASSERT_EQ(attached.code, 0) << attached.err;
    }

    std::unique_ptr<ExportProcess> start_export(const std::string& log) {
        return std::make_unique<ExportProcess>(
            dir_.path() / log,
            std::vector<std::string>{"--target", image_.string(), "--socket", socket_.string()});
    }

    // The guest's report of its virtio disk `vdev` (the agent's "devices"
    // answer), or null while the guest does not answer.
    nlohmann::json disk(const std::string& vdev = "vda") const {
        try {
            pvsim::tools::toolstack::GuestAgent agent(pvsim::RunDir::open(run_.dir()), 1,
                                                      std::chrono::milliseconds(200));
            const nlohmann::json reply = agent.request({{"op", "devices"}});
            for (const nlohmann::json& device : reply.at("devices")) {
                if (device.value("transport", "") == "virtio" && device.value("vdev", "") == vdev) {
                    return device;
                }
            }
        } catch (const std::exception&) {
        }
        return nullptr;
    }

    std::vector<std::string> io_args(std::vector<std::string> options,
                                     const std::string& vdev = "vda") const {
        options.insert(options.begin(), {"--run-dir", run_.dir().string(), "io", "g", vdev});
        options.push_back("--json");
        return options;
    }

    CliRun run_;
    TempDir dir_;
    std::filesystem::path image_;
    std::filesystem::path socket_;
    std::unique_ptr<ExportProcess> device_;
};

TEST_F(CliExportReconnectTest, AVerifiedJobGoesOnAcrossTheExportsDeathAndRestart) {
    // Time-based, so that it still runs when the export dies and after.
    BackgroundIo job(run_.scratch(), io_args({"--rw", "randwrite", "--bs", "4k", "--size", "4M",
                                              "--iodepth", "8", "--runtime", "2", "--time_based",
                                              "--seed", "11", "--verify", "crc32c"}));
    // The fault is placed once the job has had requests answered.
    nlohmann::json before;
    ASSERT_TRUE(eventually([&] {
        before = disk();
        return before.is_object() && before.at("counters").value("completions", 0ull) >= 32;
    })) << before.dump();
    ASSERT_TRUE(job.running());
    EXPECT_EQ(before.at("counters").value("reconnections", 1ull), 0u) << before.dump();

    const pvsim::os::ExitStatus killed = device_->stop(SIGKILL);
    EXPECT_FALSE(killed.success()) << killed.describe();
    // The driver saw the device go: it holds, and waits for it.
    nlohmann::json down;
    EXPECT_TRUE(eventually([&] {
        down = disk();
        return down.is_object() && !down.value("connected", true);
    })) << down.dump();
    EXPECT_EQ(down.value("error", "?"), "") << down.dump();
    device_ = start_export("export-again.log");

    expect_job_went_on(job, before);

    const nlohmann::json after = disk();
    ASSERT_TRUE(after.is_object());
    EXPECT_TRUE(after.value("connected", false)) << after.dump();
    EXPECT_EQ(after.at("counters").at("reconnections"), 1) << after.dump();
    EXPECT_EQ(after.value("in_flight", 1ull), 0u) << after.dump();
    // The export that came back served the rest: it logs its counters when
    // it stops.
    EXPECT_TRUE(device_->stop().success()) << device_->log();
    EXPECT_NE(device_->log().find("\"connections\":1"), std::string::npos) << device_->log();
}

TEST_F(CliExportReconnectTest, BlockDetachWorksWhileTheExportIsDown) {
    BackgroundIo job(run_.scratch(),
                     io_args({"--rw", "randwrite", "--bs", "4k", "--size", "4M", "--iodepth", "4",
                              "--runtime", "30", "--time_based", "--verify", "crc32c"}));
    ASSERT_TRUE(eventually([&] {
        const nlohmann::json now = disk();
        return now.is_object() && now.at("counters").value("completions", 0ull) >= 8;
    }));
    EXPECT_FALSE(device_->stop(SIGKILL).success());
    ASSERT_TRUE(eventually([&] {
        const nlohmann::json now = disk();
        return now.is_object() && !now.value("connected", true);
    }));

    const CliResult detached = run_.pvsim({"block-detach", "g", "vda"});
    ASSERT_EQ(detached.code, 0) << detached.err;
    const CliResult listed = run_.pvsim({"block-list", "g", "--json"});
    ASSERT_EQ(listed.code, 0) << listed.err;
    EXPECT_EQ(listed.json().size(), 0u) << listed.out;
    // The job's held requests failed with the disk: it ends, with an error.
    const CliResult result = job.finish();
    EXPECT_FALSE(result.err.starts_with("still running")) << result.err;
    EXPECT_NE(result.code, 0) << result.out << result.err;
}

// The same against qemu-storage-daemon, a device no one here wrote
// (libvhost-user: it takes the used idx from the ring at SET_VRING_ADDR and
// starts at SET_VRING_BASE's avail idx), killed and started again on the
// same image and socket.
TEST_F(CliExportReconnectTest, AVerifiedJobGoesOnAcrossQemuStorageDaemonsRestart) {
    // `make test` installs it: missing, it is a failure.
    ASSERT_EQ(::access(kQemuStorageDaemon, X_OK), 0)
        << kQemuStorageDaemon << " is missing: install Debian's qemu-system-common";
    const auto image = run_.image("qsd.img", 8 << 20);
    const auto socket = dir_.path() / "qsd.sock";
    auto qsd = std::make_unique<QsdProcess>(image, socket, dir_.path() / "qsd.log");
    const CliResult attached = run_.pvsim(
        {"block-attach", "g", "vdev=vdb,specification=virtio,vhost-user=" + socket.string()});
    ASSERT_EQ(attached.code, 0) << attached.err;
    BackgroundIo job(run_.scratch(), io_args({"--rw", "randwrite", "--bs", "4k", "--size", "4M",
                                              "--iodepth", "8", "--runtime", "2", "--time_based",
                                              "--seed", "12", "--verify", "crc32c"},
                                             "vdb"));
    nlohmann::json before;
    ASSERT_TRUE(eventually([&] {
        before = disk("vdb");
        return before.is_object() && before.at("counters").value("completions", 0ull) >= 32;
    })) << before.dump();
    qsd->kill();
    ASSERT_TRUE(eventually([&] {
        const nlohmann::json now = disk("vdb");
        return now.is_object() && !now.value("connected", true);
    }));
    std::filesystem::remove(socket);
    qsd = std::make_unique<QsdProcess>(image, socket, dir_.path() / "qsd-again.log");

    expect_job_went_on(job, before);
    const nlohmann::json after = disk("vdb");
    ASSERT_TRUE(after.is_object());
    EXPECT_TRUE(after.value("connected", false)) << after.dump();
    EXPECT_EQ(after.at("counters").at("reconnections"), 1) << after.dump();
    ASSERT_EQ(run_.pvsim({"block-detach", "g", "vdb"}).code, 0);
}

}  // namespace export_reconnect_test
