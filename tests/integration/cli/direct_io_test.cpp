// A disk's direct=1 (pvsim's key) and xl's direct-io-safe on a qdisk disk
// reach the backend's open of the image as O_DIRECT, and a disk with
// neither opens without it: read from the kernel's view of pvsim-backend's
// open file description (/proc/PID/fdinfo/FD's flags:), not from what
// pvsim says it did.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/magic.h>
#include <stdlib.h>
#include <sys/vfs.h>

#include <filesystem>
#include <fstream>
#include <ios>
#include <optional>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include "tests/integration/cli/cli_run.hpp"
#include "tests/support/eventually.hpp"

namespace pvsim::test {
namespace direct_io_test {

bool on_tmpfs(const std::filesystem::path& path) {
    struct statfs fs {};
    if (::statfs(path.c_str(), &fs) != 0) {
        throw std::system_error(errno, std::system_category(), "statfs " + path.string());
    }
    return fs.f_type == TMPFS_MAGIC;
}

// A private directory on a file system that takes O_DIRECT: tmpfs (before
// Linux 6.6) refuses it, so an image there could not show the flag. The
// directory under /tmp, where the tests' own are, unless that is tmpfs,
// else one under /var/tmp.
class DirectCapableDir {
  public:
    DirectCapableDir() {
        std::string pattern =
            on_tmpfs("/tmp") ? "/var/tmp/pvsim-test-XXXXXX" : "/tmp/pvsim-test-XXXXXX";
        if (::mkdtemp(pattern.data()) == nullptr) {
            throw std::system_error(errno, std::system_category(), "mkdtemp");
        }
        path_ = pattern;
        usable_ = !on_tmpfs(path_);
    }
    ~DirectCapableDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    DirectCapableDir(const DirectCapableDir&) = delete;
    DirectCapableDir& operator=(const DirectCapableDir&) = delete;

    bool usable() const { return usable_; }

    // A sparse image of `bytes`, its path as the kernel names it.
    std::filesystem::path image(const std::string& name, std::uint64_t bytes) const {
        const auto path = path_ / name;
        std::ofstream(path).close();
        std::filesystem::resize_file(path, bytes);
        return std::filesystem::canonical(path);
    }

  private:
    std::filesystem::path path_;
    bool usable_ = false;
};

// The `flags:` of every fd of the run's pvsim-backend processes whose link
// is `image`, as the kernel reports them in /proc/PID/fdinfo/FD.
std::vector<int> backend_open_flags(const RunCount& run, const std::filesystem::path& image) {
    std::vector<int> flags;
    for (const std::string& process : run.processes) {
        if (!process.starts_with("pvsim-backend ")) {
            continue;
        }
        const std::filesystem::path proc = "/proc/" + process.substr(process.find(' ') + 1);
        std::error_code ec;
        for (const auto& entry : std::filesystem::directory_iterator(proc / "fd", ec)) {
            std::error_code link_ec;
            if (std::filesystem::read_symlink(entry.path(), link_ec) != image || link_ec) {
                continue;
            }
            std::istringstream info(read_file(proc / "fdinfo" / entry.path().filename()));
            for (std::string line; std::getline(info, line);) {
                if (line.starts_with("flags:")) {
                    flags.push_back(std::stoi(line.substr(6), nullptr, 8));
                }
            }
        }
    }
    return flags;
}

class CliDirectIoTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!images_.usable()) {
            GTEST_SKIP() << "no file system here takes O_DIRECT (/tmp and /var/tmp are tmpfs)";
        }
        ASSERT_EQ(run_.pvsim({"up"}).code, 0);
        ASSERT_EQ(run_.pvsim({"create", "g"}).code, 0);
    }

    // The flags of the backend's open files of `image`, once it has one.
    std::vector<int> opened(const std::filesystem::path& image) {
        std::vector<int> flags;
        EXPECT_TRUE(eventually([&] {
            return !(flags = backend_open_flags(run_.count(), image)).empty();
        })) << "no pvsim-backend of the run has "
            << image << " open";
        return flags;
    }

    DirectCapableDir images_;  // outlives the run: `pvsim down` closes the images first
    CliRun run_;
};

TEST_F(CliDirectIoTest, DirectOneOpensTheImageODirectAndWithoutItTheImageIsNot) {
    const auto direct = images_.image("direct.img", 8 << 20);
    const auto cached = images_.image("cached.img", 8 << 20);
    const CliResult attach_direct =
        run_.pvsim({"block-attach", "g", "target=" + direct.string() + ",vdev=xvda,direct=1"});
    ASSERT_EQ(attach_direct.code, 0) << attach_direct.err;
    const CliResult attach_cached =
        run_.pvsim({"block-attach", "g", "target=" + cached.string() + ",vdev=xvdb"});
    ASSERT_EQ(attach_cached.code, 0) << attach_cached.err;

    for (const int flags : opened(direct)) {
        EXPECT_NE(flags & O_DIRECT, 0) << std::oct << flags;
    }
    for (const int flags : opened(cached)) {
        EXPECT_EQ(flags & O_DIRECT, 0) << std::oct << flags;
    }
}

// QEMU's xen-block: direct-io-safe=1 in the backend directory opens the
// drive with cache.direct (xen_block_drive_create).
TEST_F(CliDirectIoTest, DirectIoSafeOnAQdiskDiskOpensTheImageODirect) {
    const auto image = images_.image("safe.img", 8 << 20);
    const CliResult attach =
        run_.pvsim({"block-attach", "g",
                    "target=" + image.string() + ",vdev=xvda,backendtype=qdisk,direct-io-safe"});
    ASSERT_EQ(attach.code, 0) << attach.err;
    for (const int flags : opened(image)) {
        EXPECT_NE(flags & O_DIRECT, 0) << std::oct << flags;
    }
}

}  // namespace direct_io_test
}  // namespace pvsim::test
