// pvsim block-resize: a disk grown under a running guest reaches the
// guest's blkfront online (Linux blkback's xen_vbd_resize, blkfront's
// blkfront_connect on a Connected-while-Connected backend), and I/O past
// the old end then works; bad input is refused with nothing changed.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/integration/cli/cli_run.hpp"

namespace pvsim::test {
namespace {

constexpr std::uint64_t kResizeDiskBytes = 8 << 20;

class CliBlockResizeTest : public ::testing::Test {
  protected:
    void SetUp() override {
        ASSERT_EQ(run_.pvsim({"up"}).code, 0);
        ASSERT_EQ(run_.pvsim({"create", "g"}).code, 0);
        image_ = run_.image("disk.img", kResizeDiskBytes);
        const CliResult attach =
            run_.pvsim({"block-attach", "g", "target=" + image_.string() + ",vdev=xvda"});
        ASSERT_EQ(attach.code, 0) << attach.err;
    }

    std::uint64_t image_size() const {
        struct stat st {};
        EXPECT_EQ(::stat(image_.c_str(), &st), 0);
        return static_cast<std::uint64_t>(st.st_size);
    }

    // A verified write of 1 MiB at `offset` (fio's --offset).
    CliResult write_at(std::uint64_t offset) {
        return run_.pvsim({"io", "g", "xvda", "--rw", "write", "--bs", "64k", "--offset",
                           std::to_string(offset), "--size", "1M", "--verify", "crc32c", "--json"});
    }

    CliRun run_;
    std::filesystem::path image_;
};

TEST_F(CliBlockResizeTest, GrowingTheImageGivesTheGuestItsNewCapacityAndIoPastTheOldEndWorks) {
    // Past the end: the guest's block layer refuses it before any request.
    EXPECT_NE(write_at(kResizeDiskBytes).code, 0);

    const CliResult resize = run_.pvsim({"block-resize", "g", "xvda", "16M"});
    ASSERT_EQ(resize.code, 0) << resize.err;
    EXPECT_NE(resize.out.find("32768 sectors"), std::string::npos) << resize.out;
    EXPECT_EQ(image_size(), 2 * kResizeDiskBytes);

    const CliResult after = write_at(kResizeDiskBytes);
    ASSERT_EQ(after.code, 0) << after.err;
    EXPECT_EQ(after.json()["jobs"][0]["error"], 0);
    // The vbd stays Connected at both ends throughout.
    const nlohmann::json list = run_.pvsim({"block-list", "g", "--json"}).json();
    EXPECT_EQ(list[0]["frontend"]["name"], "Connected");
    EXPECT_EQ(list[0]["backend"]["state"], 4);
}

// A target resized by other means (here truncate(2), as an administrator
// would lvextend a volume): block-resize without SIZE waits for both ends to
// take it, and a shrink is published the same way.
TEST_F(CliBlockResizeTest, WithoutSizeTheTargetIsTakenAsItIsShrinkIncluded) {
    ASSERT_EQ(::truncate(image_.c_str(), static_cast<off_t>(kResizeDiskBytes / 2)), 0);
    const CliResult resize = run_.pvsim({"block-resize", "g", "xvda"});
    ASSERT_EQ(resize.code, 0) << resize.err;
    EXPECT_NE(resize.out.find("8192 sectors"), std::string::npos) << resize.out;
    EXPECT_NE(write_at(kResizeDiskBytes / 2).code, 0);
    EXPECT_EQ(write_at(kResizeDiskBytes / 2 - (1 << 20)).code, 0);
}

TEST_F(CliBlockResizeTest, BadInputIsRefusedClearlyAndChangesNothing) {
    const CliResult before = run_.pvsim({"block-list", "g", "--json"});
    auto refused = [&](const std::vector<std::string>& args, const std::string& message) {
        const CliResult result = run_.pvsim(args);
        EXPECT_NE(result.code, 0) << args.back();
        EXPECT_NE(result.err.find(message), std::string::npos) << args.back() << ": " << result.err;
        EXPECT_EQ(image_size(), kResizeDiskBytes) << args.back();
        EXPECT_EQ(run_.pvsim({"block-list", "g", "--json"}).out, before.out) << args.back();
    };
    refused({"block-resize", "nosuch", "xvda", "16M"}, "no domain called \"nosuch\"");
    refused({"block-resize", "g", "xvdb", "16M"}, "g has no vdev xvdb");
    refused({"block-resize", "g", "hda0x", "16M"}, "hda0x");
    refused({"block-resize", "g", "xvda", "16Q"}, "16Q");
    refused({"block-resize", "g", "xvda", "1000"}, "not a positive whole number of 512-byte");
    refused({"block-resize", "g", "xvda", "0"}, "not a positive whole number of 512-byte");

    // A virtio disk: pvsim's vhost-user path cannot tell the driver.
    const auto second = run_.image("virtio.img", kResizeDiskBytes);
    ASSERT_EQ(run_.pvsim({"block-attach", "g",
                          "target=" + second.string() + ",vdev=vda,specification=virtio"})
                  .code,
              0);
    const CliResult virtio = run_.pvsim({"block-resize", "g", "vda", "16M"});
    EXPECT_NE(virtio.code, 0);
    EXPECT_NE(virtio.err.find("VHOST_USER_BACKEND_CONFIG_CHANGE_MSG"), std::string::npos)
        << virtio.err;
    struct stat st {};
    ASSERT_EQ(::stat(second.c_str(), &st), 0);
    EXPECT_EQ(static_cast<std::uint64_t>(st.st_size), kResizeDiskBytes);
}

}  // namespace
}  // namespace pvsim::test
