// `pvsim export vhost-user-blk` as users run it: a real process serving an
// image on a socket, driven by the vhost-user front-end the device's own
// tests use (qemu-storage-daemon's working order): I/O reaches the image,
// one front-end at a time (a second is refused while the first carries on),
// the next after a disconnection, SIGTERM/SIGINT stop it cleanly, and bad
// targets and options are refused before it listens.
#include <fcntl.h>
#include <linux/fs.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "export_process.hpp"
#include "tests/integration/vhost_user_blk/test_frontend.hpp"
#include "tests/support/temp_dir.hpp"

// This file's own names, apart from those of the other files of its folder,
// which compiles as one translation unit.
namespace export_test {

using namespace pvsim::test;
using pvsim::virtio::BlkFeature;
using pvsim::virtio::BlkReqType;
using pvsim::virtio::BlkStatus;

constexpr std::uint64_t kAllFeatures = ~std::uint64_t{0};
constexpr auto kOk = static_cast<std::uint8_t>(BlkStatus::ok);
constexpr auto kIoErr = static_cast<std::uint8_t>(BlkStatus::ioerr);
constexpr std::uint64_t kImageSize = 4 << 20;

std::uint8_t image_pattern(std::uint64_t offset) {
    return static_cast<std::uint8_t>(offset * 13 + offset / 4096);
}

// Makes a file unwritable for this user for its lifetime: mode 0444, and
// for root (whom modes do not stop) FS_IMMUTABLE_FL too.
class UnwritableFile {
  public:
    explicit UnwritableFile(const std::filesystem::path& path)
        : path_(path), fd_(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {
        std::filesystem::permissions(path_, std::filesystem::perms::owner_read |
                                                std::filesystem::perms::group_read |
                                                std::filesystem::perms::others_read);
        if (::geteuid() == 0) {
            set_immutable(true);
        }
    }
    ~UnwritableFile() {
        if (::geteuid() == 0) {
            set_immutable(false);
        }
    }
    UnwritableFile(const UnwritableFile&) = delete;
    UnwritableFile& operator=(const UnwritableFile&) = delete;

  private:
    void set_immutable(bool on) {
        int flags = 0;
        if (::ioctl(fd_.get(), FS_IOC_GETFLAGS, &flags) != 0) {
            pvsim::os::throw_system_error("FS_IOC_GETFLAGS " + path_.string());
        }
        flags = on ? (flags | FS_IMMUTABLE_FL) : (flags & ~FS_IMMUTABLE_FL);
        if (::ioctl(fd_.get(), FS_IOC_SETFLAGS, &flags) != 0 && on) {
            pvsim::os::throw_system_error("FS_IOC_SETFLAGS " + path_.string());
        }
    }
    std::filesystem::path path_;
    pvsim::os::UniqueFd fd_;
};

class PvsimExport : public ::testing::Test {
  protected:
    void SetUp() override {
        image_ = dir_.path() / "disk.img";
        std::vector<std::uint8_t> bytes(kImageSize);
        for (std::uint64_t i = 0; i < kImageSize; ++i) {
            bytes[i] = image_pattern(i);
        }
        std::ofstream(image_, std::ios::binary)
            .write(reinterpret_cast<const char*>(bytes.data()),
                   static_cast<std::streamsize>(bytes.size()));
        socket_ = dir_.path() / "export.sock";
    }

    std::unique_ptr<ExportProcess> start(std::vector<std::string> extra = {}) {
        std::vector<std::string> args = {"--target", image_.string(), "--socket", socket_.string()};
        args.insert(args.end(), extra.begin(), extra.end());
        return std::make_unique<ExportProcess>(dir_.path() / "export.log", args);
    }

    // Runs `pvsim export vhost-user-blk args` to its exit.
    CliResult refused(const std::vector<std::string>& args) {
        std::vector<std::string> words = {"export", "vhost-user-blk"};
        words.insert(words.end(), args.begin(), args.end());
        return run_cli(dir_.path(), words, std::chrono::seconds(30));
    }

    std::unique_ptr<TestFrontend> front_end(unsigned queues = 1) {
        auto fe = std::make_unique<TestFrontend>(socket_);
        fe->negotiate(kAllFeatures);
        for (unsigned q = 0; q < queues; ++q) {
            fe->start_queue(q);
        }
        return fe;
    }

    // A 4 KiB read at `sector` on queue `queue` matches the image file.
    void expect_read_matches_image(TestFrontend& fe, std::uint64_t sector, unsigned queue = 0) {
        const BlkBuffers read = make_blk_request(fe.memory(), BlkReqType::in, sector, 4096);
        ASSERT_EQ(fe.run(queue, read, true), kOk);
        const auto expected = file_bytes(sector * 512, 4096);
        EXPECT_EQ(std::memcmp(fe.memory().at(read.data), expected.data(), 4096), 0);
    }

    std::vector<std::uint8_t> file_bytes(std::uint64_t offset, std::size_t size) const {
        std::vector<std::uint8_t> out(size);
        pvsim::os::UniqueFd fd(::open(image_.c_str(), O_RDONLY | O_CLOEXEC));
        EXPECT_EQ(::pread(fd.get(), out.data(), size, static_cast<off_t>(offset)),
                  static_cast<ssize_t>(size));
        return out;
    }

    TempDir dir_;
    std::filesystem::path image_;
    std::filesystem::path socket_;
};

TEST_F(PvsimExport, ServesTheTargetsReadsWritesAndFlushesOnEveryQueue) {
    auto device = start({"--queues", "2", "--io-engine", "threads", "--poll-us", "0"});
    EXPECT_NE(device->line().find("serves " + image_.string() + " (8192 sectors, 2 queues)"),
              std::string::npos)
        << device->line();
    auto fe = front_end(2);
    fe->send(pvsim::vhost_user::Request::get_queue_num);
    EXPECT_EQ(fe->receive_u64(pvsim::vhost_user::Request::get_queue_num), 2u);
    expect_read_matches_image(*fe, 24, 0);
    expect_read_matches_image(*fe, 40, 1);

    const BlkBuffers write = make_blk_request(fe->memory(), BlkReqType::out, 8, 4096);
    for (std::uint32_t i = 0; i < 4096; ++i) {
        *fe->memory().at(write.data + i) = static_cast<std::byte>(i ^ 0x5a);
    }
    ASSERT_EQ(fe->run(1, write, false), kOk);
    EXPECT_EQ(fe->run(0, make_blk_request(fe->memory(), BlkReqType::flush, 0, 0), false), kOk);
    EXPECT_EQ(std::memcmp(fe->memory().at(write.data), file_bytes(8 * 512, 4096).data(), 4096), 0);
    expect_read_matches_image(*fe, 8, 0);

    const pvsim::os::ExitStatus status = device->stop();
    EXPECT_TRUE(status.success()) << status.describe() << "\n" << device->log();
    // The counters it logs when it stops.
    EXPECT_NE(device->log().find("\"flushes\":1"), std::string::npos) << device->log();
    EXPECT_NE(device->log().find("\"writes\":1"), std::string::npos) << device->log();
}

TEST_F(PvsimExport, RefusesASecondFrontEndWhileTheFirstKeepsWorking) {
    auto device = start();
    auto first = front_end();
    expect_read_matches_image(*first, 0);
    TestFrontend second(socket_);
    // Accepted and closed at once, not left waiting in the listen backlog.
    EXPECT_TRUE(second.closed_by_device());
    expect_read_matches_image(*first, 16);
    EXPECT_NE(device->log().find("refused a second front-end"), std::string::npos) << device->log();
    EXPECT_TRUE(device->stop().success());
}

TEST_F(PvsimExport, ServesTheNextFrontEndAfterADisconnection) {
    auto device = start();
    for (int round = 0; round < 3; ++round) {
        auto fe = front_end();
        expect_read_matches_image(*fe, 8 * static_cast<std::uint64_t>(round));
    }
    EXPECT_TRUE(device->stop().success());
    EXPECT_NE(device->log().find("\"connections\":3"), std::string::npos) << device->log();
}

TEST_F(PvsimExport, SigtermAndSigintStopItWithStatusZeroAndTheSocketGone) {
    for (const int signal : {SIGTERM, SIGINT}) {
        auto device = start();
        ASSERT_TRUE(std::filesystem::exists(socket_));
        auto fe = front_end();
        expect_read_matches_image(*fe, 0);
        const pvsim::os::ExitStatus status = device->stop(signal);
        EXPECT_TRUE(status.success()) << status.describe() << "\n" << device->log();
        EXPECT_FALSE(std::filesystem::exists(socket_));
        // The front-end's connection went with it.
        EXPECT_TRUE(fe->closed_by_device());
    }
}

TEST_F(PvsimExport, AReadOnlyExportOffersReadOnlyAndRefusesWrites) {
    auto device = start({"--read-only"});
    EXPECT_NE(device->line().find(", read-only)"), std::string::npos) << device->line();
    auto fe = front_end();
    EXPECT_TRUE(pvsim::virtio::has_feature(fe->get_features(), BlkFeature::ro));
    expect_read_matches_image(*fe, 0);
    const BlkBuffers write = make_blk_request(fe->memory(), BlkReqType::out, 0, 512);
    EXPECT_EQ(fe->run(0, write, false), kIoErr);
    EXPECT_EQ(file_bytes(0, 512)[1], image_pattern(1));
    EXPECT_TRUE(device->stop().success());
}

TEST_F(PvsimExport, RefusesABadTargetBeforeListeningNamingThePathAndTheReason) {
    const auto missing = dir_.path() / "missing.img";
    std::filesystem::create_directory(dir_.path() / "a-directory");
    const auto unwritable = dir_.path() / "unwritable.img";
    std::filesystem::copy_file(image_, unwritable);
    const UnwritableFile unwritable_for_now(unwritable);
    const struct {
        std::string target;
        std::vector<std::string> extra;
        std::string reason;
    } cases[] = {
        {missing.string(), {}, "No such file or directory"},
        {(dir_.path() / "a-directory").string(), {}, "not a regular file or block device"},
        {"/dev/null", {}, "not a regular file or block device"},
        {unwritable.string(), {}, "--read-only exports it read-only"},
    };
    for (const auto& c : cases) {
        std::vector<std::string> args = {"--target", c.target, "--socket", socket_.string()};
        args.insert(args.end(), c.extra.begin(), c.extra.end());
        const CliResult result = refused(args);
        EXPECT_EQ(result.code, 1) << c.target;
        EXPECT_TRUE(result.err.starts_with("pvsim export: --target " + c.target + ": "))
            << result.err;
        EXPECT_NE(result.err.find(c.reason), std::string::npos) << result.err;
        EXPECT_TRUE(result.out.empty()) << result.out;
        EXPECT_FALSE(std::filesystem::exists(socket_)) << c.target;
    }
    // Read-only, the same file is served.
    ExportProcess device(dir_.path() / "export.log", {"--target", unwritable.string(), "--socket",
                                                      socket_.string(), "--read-only"});
    EXPECT_TRUE(device.stop().success());
}

TEST_F(PvsimExport, RefusesBadOptionsAndAnotherDevicesSocketNamingThem) {
    const struct {
        std::vector<std::string> args;
        std::string named;
    } cases[] = {
        {{"--queues", "0"}, "--queues"},
        {{"--queues", "17"}, "--queues"},
        {{"--io-engine", "aio"}, "--io-engine"},
        {{"--poll-us", "-1"}, "--poll-us"},
        {{"--socket", (dir_.path() / "no-such-dir" / "s.sock").string()}, "--socket"},
        {{"--socket", image_.string()}, "--socket"},
        {{"--socket", "/tmp/" + std::string(120, 's')}, "--socket"},
    };
    for (const auto& c : cases) {
        std::vector<std::string> args = {"--target", image_.string(), "--socket", socket_.string()};
        args.insert(args.end(), c.args.begin(), c.args.end());
        const CliResult result = refused(args);
        EXPECT_NE(result.code, 0) << c.args.front();
        EXPECT_NE(result.err.find(c.named), std::string::npos) << result.err;
        EXPECT_FALSE(std::filesystem::exists(socket_)) << c.args.front();
    }
    const CliResult not_a_type = run_cli(
        dir_.path(), {"export", "nbd", "--target", image_.string(), "--socket", socket_.string()},
        std::chrono::seconds(30));
    EXPECT_NE(not_a_type.code, 0);
    EXPECT_NE(not_a_type.err.find("vhost-user-blk"), std::string::npos) << not_a_type.err;

    // A socket another export serves is not taken over.
    auto device = start();
    const CliResult taken = refused({"--target", image_.string(), "--socket", socket_.string()});
    EXPECT_EQ(taken.code, 1);
    EXPECT_NE(taken.err.find("another device listens there"), std::string::npos) << taken.err;
    auto fe = front_end();
    expect_read_matches_image(*fe, 0);
    EXPECT_TRUE(device->stop().success());
}

}  // namespace export_test
