// xl's backendtype= through pvsim: a qdisk disk (QEMU's xen-block) lives
// under backend/qdisk and serves verified I/O; a phy disk on an image file
// gets the block hotplug step's loop device, which block-resize refreshes
// and its detach removes (libxl's remove after the backend closed);
// block-list shows which backend serves each disk; tap is refused naming
// the key.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "tests/integration/cli/cli_run.hpp"
#include "tests/support/eventually.hpp"
#include "xenstore/client/client.hpp"

namespace pvsim::test {
namespace backend_type_test {

class CliBackendTypeTest : public ::testing::Test {
  protected:
    void SetUp() override {
        ASSERT_EQ(run_.pvsim({"up"}).code, 0);
        ASSERT_EQ(run_.pvsim({"create", "g"}).code, 0);
        image_ = run_.image("disk.img", 8 << 20);
    }

    nlohmann::json vbds() {
        const CliResult list = run_.pvsim({"block-list", "g", "--json"});
        EXPECT_EQ(list.code, 0) << list.err;
        return list.json();
    }

    std::optional<std::string> read(const std::string& path) {
        auto xenstore = xenstore::client::Client::connect(RunDir::open(run_.dir()));
        return xenstore.try_read(path);
    }

    void verified_io() {
        const CliResult io =
            run_.pvsim({"io", "g", "xvda", "--rw", "randwrite", "--bs", "4k", "--iodepth", "8",
                        "--size", "1M", "--verify", "crc32c", "--json"});
        ASSERT_EQ(io.code, 0) << io.err;
        EXPECT_EQ(io.json()["jobs"][0]["pvsim"]["verify"]["blocks_checked"], 256) << io.out;
    }

    CliRun run_;
    std::filesystem::path image_;
};

TEST_F(CliBackendTypeTest, AQdiskDiskAttachesVerifiesDataAndDetachesFromBackendQdisk) {
    const CliResult attach = run_.pvsim(
        {"block-attach", "g", "target=" + image_.string() + ",vdev=xvda,backendtype=qdisk"});
    ASSERT_EQ(attach.code, 0) << attach.err;
    const std::string backend = "/local/domain/0/backend/qdisk/1/51712";
    EXPECT_EQ(read(backend + "/type"), "qdisk");
    EXPECT_EQ(read(backend + "/params"), "raw:" + image_.string());
    EXPECT_EQ(read("/local/domain/1/device/vbd/51712/backend"), backend);
    EXPECT_FALSE(read("/local/domain/0/backend/vbd/1/51712/state"));

    const nlohmann::json list = vbds();
    ASSERT_EQ(list.size(), 1u);
    EXPECT_EQ(list[0]["backendtype"], "qdisk");
    EXPECT_EQ(list[0]["backend_path"], backend);
    EXPECT_EQ(list[0]["target"], image_.string());
    EXPECT_EQ(list[0]["backend"]["name"], "Connected");
    const CliResult table = run_.pvsim({"block-list", "g"});
    EXPECT_NE(table.out.find("Type"), std::string::npos) << table.out;
    EXPECT_NE(table.out.find("qdisk"), std::string::npos) << table.out;

    verified_io();
    const CliResult detach = run_.pvsim({"block-detach", "g", "xvda"});
    ASSERT_EQ(detach.code, 0) << detach.err;
    EXPECT_FALSE(read(backend));
    EXPECT_FALSE(read("/local/domain/0/backend/qdisk/1"));
    EXPECT_TRUE(vbds().empty());
}

// The block script's `file` case: a loop device over the image, named in
// `node` and physical-device; the remove step takes it down at detach.
// Without root no loop device can be made: the attach then fails with the
// step's error, which says so.
TEST_F(CliBackendTypeTest, APhyImageGetsALoopDeviceThatDetachRemoves) {
    if (!std::filesystem::exists("/dev/loop-control")) {
        GTEST_SKIP() << "no /dev/loop-control: the block step cannot make a loop device";
    }
    const CliResult attach = run_.pvsim(
        {"block-attach", "g", "target=" + image_.string() + ",vdev=xvda,backendtype=phy"});
    const std::string backend = "/local/domain/0/backend/vbd/1/51712";
    if (::geteuid() != 0) {
        EXPECT_NE(attach.code, 0);
        EXPECT_NE(attach.err.find("hotplug script block failed: Failed to set up a loop device"),
                  std::string::npos)
            << attach.err;
        EXPECT_TRUE(vbds().empty());
        return;
    }
    ASSERT_EQ(attach.code, 0) << attach.err;
    const std::optional<std::string> loop = read(backend + "/node");
    ASSERT_TRUE(loop && loop->starts_with("/dev/loop")) << loop.value_or("<none>");
    EXPECT_EQ(read(backend + "/physical-device-path"), *loop);
    EXPECT_EQ(read(backend + "/hotplug-status"), "connected");
    EXPECT_EQ(read(backend + "/script"), "block");
    const std::filesystem::path backing =
        "/sys/block/" + std::filesystem::path(*loop).filename().string() + "/loop/backing_file";
    std::string file;
    std::getline(std::ifstream(backing), file);
    EXPECT_EQ(file, std::filesystem::canonical(image_).string());

    const nlohmann::json list = vbds();
    ASSERT_EQ(list.size(), 1u);
    EXPECT_EQ(list[0]["backendtype"], "phy");
    EXPECT_EQ(list[0]["target"], image_.string());
    EXPECT_NE(run_.pvsim({"block-list", "g"}).out.find("phy"), std::string::npos);

    verified_io();
    // A grown image reaches blkback through the loop device (losetup -c).
    const CliResult resize = run_.pvsim({"block-resize", "g", "xvda", "16M"});
    ASSERT_EQ(resize.code, 0) << resize.err;
    EXPECT_NE(resize.out.find("32768 sectors"), std::string::npos) << resize.out;
    const CliResult detach = run_.pvsim({"block-detach", "g", "xvda"});
    ASSERT_EQ(detach.code, 0) << detach.err;
    EXPECT_FALSE(read(backend));
    // LOOP_CLR_FD: gone once blkback has closed it.
    EXPECT_TRUE(
        eventually([&] { return !std::filesystem::exists(backing); }, std::chrono::seconds(10)))
        << *loop << " still bound";
}

// destroy (and `down`, which destroys every guest the same way) detaches
// each disk as libxl does, the hotplug step's remove included.
TEST_F(CliBackendTypeTest, DestroyingTheGuestRemovesItsLoopDevice) {
    if (!std::filesystem::exists("/dev/loop-control") || ::geteuid() != 0) {
        GTEST_SKIP() << "no loop device can be made here (no /dev/loop-control, or not root): "
                        "APhyImageGetsALoopDeviceThatDetachRemoves checks the error";
    }
    const CliResult attach = run_.pvsim(
        {"block-attach", "g", "target=" + image_.string() + ",vdev=xvda,backendtype=phy"});
    ASSERT_EQ(attach.code, 0) << attach.err;
    const std::optional<std::string> loop = read("/local/domain/0/backend/vbd/1/51712/node");
    ASSERT_TRUE(loop && loop->starts_with("/dev/loop")) << loop.value_or("<none>");
    const std::filesystem::path backing =
        "/sys/block/" + std::filesystem::path(*loop).filename().string() + "/loop/backing_file";
    EXPECT_TRUE(std::filesystem::exists(backing));
    const CliResult destroy = run_.pvsim({"destroy", "g"});
    ASSERT_EQ(destroy.code, 0) << destroy.err;
    EXPECT_FALSE(read("/local/domain/0/backend/vbd/1"));
    EXPECT_TRUE(
        eventually([&] { return !std::filesystem::exists(backing); }, std::chrono::seconds(10)))
        << *loop << " still bound";
}

TEST_F(CliBackendTypeTest, TapIsRefusedNamingTheKey) {
    const CliResult tap = run_.pvsim(
        {"block-attach", "g", "target=" + image_.string() + ",vdev=xvda,backendtype=tap"});
    EXPECT_NE(tap.code, 0);
    EXPECT_NE(tap.err.find("backendtype=tap"), std::string::npos) << tap.err;
    const CliResult virtio = run_.pvsim(
        {"block-attach", "g",
         "target=" + image_.string() + ",vdev=vda,specification=virtio,backendtype=qdisk"});
    EXPECT_NE(virtio.code, 0);
    EXPECT_NE(virtio.err.find("backendtype="), std::string::npos) << virtio.err;
    EXPECT_TRUE(vbds().empty());
}

}  // namespace backend_type_test
}  // namespace pvsim::test
