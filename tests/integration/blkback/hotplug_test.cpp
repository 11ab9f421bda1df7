// The hotplug step between the toolstack and blkback, as Xen 4.17's libxl
// and block script and Linux 6.1's blkback share the work: pvsim-backend
// waits in InitWait for physical-device (xen_blkbk_probe's watch,
// backend_changed), opens the device it names and connects; a changed
// physical-device is ignored; the block step's failure (hotplug-status
// error) is the attach's error. And the qdisk backend, which opens params
// itself (QEMU's xen-block), under backend/qdisk.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "common/xen/physical_device.hpp"
#include "tests/integration/blkback/guest_ring.hpp"
#include "tests/support/blkback_fixture.hpp"
#include "tools/toolstack/block_script.hpp"

namespace pvsim::test {
namespace hotplug_test {

using tools::toolstack::DiskBackend;
using tools::toolstack::VbdPaths;
using xen::XenbusState;

constexpr std::uint64_t kImageBytes = 8 << 20;

std::string physical_device_of(const std::filesystem::path& device) {
    struct stat st {};
    EXPECT_EQ(::stat(device.c_str(), &st), 0) << device;
    return xen::to_node(xen::PhysicalDevice::of(st.st_rdev));
}

std::size_t occurrences(const std::string& text, const std::string& part) {
    std::size_t count = 0;
    for (std::size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) {
        ++count;
    }
    return count;
}

class BlkbackHotplugTest : public BlkbackFixture {
  protected:
    void SetUp() override { introduce(guest_); }

    // The loop devices stand for dom0's block devices; without a loop
    // driver there is no block device to give blkback.
    static bool loop_driver() { return std::filesystem::exists("/dev/loop-control"); }

    TestGuest guest_{hv_, "guest"};
};

TEST_F(BlkbackHotplugTest, BlkbackStaysInInitWaitUntilPhysicalDeviceAppearsThenConnects) {
    if (!loop_driver()) {
        GTEST_SKIP() << "no /dev/loop-control: no loop device to stand for a block device";
    }
    const LoopDevice loop(make_image("disk.img", kImageBytes));
    // The directories alone (add_vbd): the hotplug step is this test's to run.
    const VbdPaths paths =
        tools::toolstack::add_vbd(dom0_, spec(guest_.domid(), "xvda", loop.path()));
    ASSERT_EQ(paths.type, DiskBackend::phy);
    EXPECT_NE(paths.backend.find("/backend/vbd/"), std::string::npos) << paths.backend;
    EXPECT_EQ(read(paths.backend + "/script"), "block");
    EXPECT_EQ(read(paths.backend + "/type"), "phy");
    EXPECT_EQ(read(paths.backend + "/params"), loop.path().string());
    expect_state(paths.backend + "/state", XenbusState::init_wait);

    // The frontend is ready, the device is not named: no connection.
    // blkback's handler of the frontend's Initialised has run to its end
    // once the handler of a later event has begun (they run one at a time,
    // as on Linux's xenwatch thread): the state is written again, and each
    // handler logs the state it read as it begins.
    hand_over(guest_, paths, make_ring(guest_));
    frontend_write(guest_, paths, "state", "3");
    const std::string handled = paths.backend + ": frontend " + paths.frontend + " is Initialised";
    ASSERT_TRUE(eventually([&] { return occurrences(backend_->log(), handled) >= 2; }))
        << backend_->log();
    EXPECT_EQ(read(paths.backend + "/state"), "2");
    EXPECT_EQ(read(paths.backend + "/sectors"), "<none>");

    ASSERT_EQ(tools::toolstack::block_hotplug_add(dom0_, paths.backend), std::nullopt);
    EXPECT_EQ(read(paths.backend + "/physical-device"), physical_device_of(loop.path()));
    EXPECT_EQ(read(paths.backend + "/physical-device-path"),
              std::filesystem::canonical(loop.path()).string());
    EXPECT_EQ(read(paths.backend + "/hotplug-status"), "connected");
    // A block device gets no loop device of the step's.
    EXPECT_EQ(read(paths.backend + "/node"), "<none>");
    expect_state(paths.backend + "/state", XenbusState::connected);
    EXPECT_EQ(read(paths.backend + "/sectors"), std::to_string(kImageBytes / 512));
    // xen_vbd_create's VDISK_* bits: a writable disk, not a cdrom, and
    // VDISK_REMOVABLE (2) exactly when the kernel says the disk's media are
    // removable (a loop device's are not).
    std::string removable;
    std::ifstream("/sys/block/" + loop.path().filename().string() + "/removable") >> removable;
    EXPECT_EQ(read(paths.backend + "/info"), removable == "1" ? "2" : "0");
    EXPECT_EQ(backend_writes(paths.backend, 2),
              (std::vector<XenbusState>{XenbusState::init_wait, XenbusState::connected}));
    tools::toolstack::destroy_vbd(dom0_, paths);
}

TEST_F(BlkbackHotplugTest, AChangedPhysicalDeviceIsIgnoredWithLinuxsWarning) {
    if (!loop_driver()) {
        GTEST_SKIP() << "no /dev/loop-control: no loop device to stand for a block device";
    }
    const LoopDevice first(make_image("first.img", kImageBytes));
    const LoopDevice second(make_image("second.img", 2 * kImageBytes));
    const VbdPaths paths =
        tools::toolstack::attach_vbd(dom0_, spec(guest_.domid(), "xvda", first.path()));
    hand_over(guest_, paths, make_ring(guest_));
    expect_state(paths.backend + "/state", XenbusState::connected);

    const std::string from = physical_device_of(first.path());
    const std::string to = physical_device_of(second.path());
    dom0_.write(paths.backend + "/physical-device", to);
    EXPECT_TRUE(eventually(
        [&] {
            return backend_->log().find("changing physical device (from " + from + " to " + to +
                                        ") not supported.") != std::string::npos;
        },
        kStateTimeout))
        << backend_->log();
    // Still the first device, still connected.
    EXPECT_EQ(read(paths.backend + "/state"), "4");
    EXPECT_EQ(read(paths.backend + "/sectors"), std::to_string(kImageBytes / 512));
    tools::toolstack::destroy_vbd(dom0_, paths);
}

// xen-hotplug-common.sh's fatal: hotplug-error and hotplug-status=error,
// which libxl reports as the attach's failure; blkback, never given a
// device, stays InitWait until the directory goes.
TEST_F(BlkbackHotplugTest, AHotplugErrorIsTheAttachsError) {
    // The block script's file case refuses a file without a write bit for
    // mode w (root included: it reads the bits, `stat -c %A | grep -q w`),
    // before any loop device is made.
    const std::filesystem::path image = make_image("read-only.img", kImageBytes);
    std::filesystem::permissions(image, std::filesystem::perms::owner_read);
    auto read_only = spec(guest_.domid(), "xvda", image);
    read_only.backend = DiskBackend::phy;
    try {
        (void)tools::toolstack::attach_vbd(dom0_, read_only);
        ADD_FAILURE() << "attached a file with no write bit read-write";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("hotplug script block failed: File " + image.string() +
                                             " is read-only, and so I will not mount it "
                                             "read-write in a guest domain."),
                  std::string::npos)
            << e.what();
    }
    const VbdPaths paths = VbdPaths::of(0, guest_.domid(), 51712);
    EXPECT_EQ(read(paths.backend + "/hotplug-status"), "error");
    EXPECT_EQ(read(paths.backend + "/physical-device"), "<none>");
    EXPECT_EQ(read(paths.backend + "/node"), "<none>");
    EXPECT_EQ(read(paths.backend + "/state"), "2");
    tools::toolstack::detach_vbd(dom0_, paths, {std::chrono::milliseconds(0), true});
    EXPECT_EQ(read(paths.backend), "<none>");
}

// libxl__device_disk_set_backend stats the target of a phy (or unknown)
// backend before anything is written: "Disk vdev=%s failed to stat",
// ERROR_INVAL.
TEST_F(BlkbackHotplugTest, ATargetThatCannotBeStatedIsRefusedBeforeAnythingIsWritten) {
    const std::filesystem::path missing = hv_.temp_path() / "missing.img";
    for (const std::optional<DiskBackend> asked :
         {std::optional(DiskBackend::phy), std::optional<DiskBackend>()}) {
        auto s = spec(guest_.domid(), "xvda", missing);
        s.backend = asked;
        try {
            (void)tools::toolstack::attach_vbd(dom0_, s);
            ADD_FAILURE() << "attached a missing target";
        } catch (const std::invalid_argument& e) {
            EXPECT_EQ(std::string(e.what()),
                      "failed to stat " + missing.string() + ": No such file or directory");
        }
        EXPECT_EQ(read(VbdPaths::of(0, guest_.domid(), 51712).backend), "<none>");
        EXPECT_EQ(read(VbdPaths::of(0, guest_.domid(), 51712, DiskBackend::qdisk).backend),
                  "<none>");
        EXPECT_EQ(read(VbdPaths::of(0, guest_.domid(), 51712).frontend), "<none>");
    }
}

// QEMU's xen-block: backend/qdisk, params raw:<path> opened by the backend
// itself, no script and no physical-device; direct-io-safe opens it
// O_DIRECT.
TEST_F(BlkbackHotplugTest, AQdiskOpensItsParamsWithoutAHotplugStep) {
    const auto image = make_image("disk.img", kImageBytes);
    auto qdisk = spec(guest_.domid(), "xvda", image);
    qdisk.direct_io_safe = true;
    const VbdPaths paths = tools::toolstack::attach_vbd(dom0_, qdisk);
    EXPECT_EQ(paths.type, DiskBackend::qdisk);
    EXPECT_EQ(paths.backend,
              "/local/domain/0/backend/qdisk/" + std::to_string(guest_.domid()) + "/51712");
    EXPECT_EQ(read(paths.backend + "/type"), "qdisk");
    EXPECT_EQ(read(paths.backend + "/params"), "raw:" + image.string());
    EXPECT_EQ(read(paths.backend + "/direct-io-safe"), "1");
    EXPECT_EQ(read(paths.backend + "/script"), "<none>");
    EXPECT_EQ(read(paths.frontend + "/backend"), paths.backend);
    hand_over(guest_, paths, make_ring(guest_));
    expect_state(paths.backend + "/state", XenbusState::connected);
    EXPECT_EQ(read(paths.backend + "/physical-device"), "<none>");
    EXPECT_NE(backend_->log().find(image.string() + " (image file, O_DIRECT"), std::string::npos)
        << backend_->log();
    tools::toolstack::destroy_vbd(dom0_, paths);
    EXPECT_EQ(read("/local/domain/0/backend/qdisk/" + std::to_string(guest_.domid())), "<none>");
}

}  // namespace hotplug_test
}  // namespace pvsim::test
