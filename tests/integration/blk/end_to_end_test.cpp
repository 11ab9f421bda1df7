// blkfront and blkback end to end (DESIGN.md §5; REFERENCES.md "State
// sequences"): a guest's blkfront writes patterned data to a vbd that
// pvsim-backend serves from an image file or a loop device, reads it back,
// flushes, and the store's own bytes hold the pattern; libxl's detach
// closes both ends in Linux's order; re-attached, the vbd still holds the
// data. Both ends' state sequences are Linux's: connect backend 2 4,
// frontend 3 4 (after the toolstack's 1); a detach the toolstack starts is
// backend 5, frontend 6 (blkfront_closing), backend 6; a close the frontend
// starts is frontend 5, backend 5 and 6, frontend 6.
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "tests/integration/blk/blk_fixture.hpp"

namespace pvsim::test {
namespace {

using tools::toolstack::VbdPaths;
using xen::XenbusState;

constexpr std::uint64_t kImageBytes = 8 << 20;
constexpr std::uint64_t kSectors = kImageBytes / 512;

enum class Target { image_file, loop_device };

class BlkEndToEndTest : public BlkFixture, public ::testing::WithParamInterface<Target> {
  protected:
    BlkEndToEndTest() : image_(make_image("disk.img", kImageBytes)) {
        if (GetParam() == Target::loop_device) {
            loop_.emplace(image_);
        }
    }

    std::filesystem::path target() const { return loop_ ? loop_->path() : image_; }

    std::filesystem::path image_;
    std::optional<LoopDevice> loop_;
};

TEST_P(BlkEndToEndTest, PatternedDataReachesTheStoreAndOutlivesADetach) {
    TestGuest guest(hv_, "guest");
    introduce(guest);
    // The loop device goes to phy (the block hotplug step names it), the
    // image file to qdisk (disk_backend.hpp).
    const VbdPaths paths =
        VbdPaths::of(0, guest.domid(), kXvda,
                     tools::toolstack::select_disk_backend(std::nullopt, target().string()));

    // Attach and connect.
    // One queue, so that the ring keys are the flat ones (the default takes
    // a queue per CPU, up to 4, when the backend offers them).
    auto vbd = spec(guest.domid(), "xvda", target());
    vbd.frontend_features.max_queues = 1;
    ASSERT_EQ(tools::toolstack::attach_vbd(dom0_, vbd).backend, paths.backend);
    guest.ok("blk-open " + std::to_string(kXvda));
    EXPECT_EQ(guest.ok("blk-info"), std::to_string(kSectors) + " 512 0");
    EXPECT_EQ(read(paths.backend + "/state"), "4");
    EXPECT_EQ(read(paths.frontend + "/state"), "4");
    EXPECT_EQ(guest.ok("blk-states"), "3 4");
    // talk_to_blkback's keys, from the guest's blkfront.
    EXPECT_EQ(read(paths.frontend + "/protocol"), "x86_64-abi");
    EXPECT_EQ(read(paths.frontend + "/feature-persistent"), "1");  // Linux's default
    EXPECT_EQ(read(paths.frontend + "/multi-queue-num-queues"), "<none>");
    EXPECT_EQ(read(paths.frontend + "/ring-page-order"), "<none>");
    EXPECT_NE(read(paths.frontend + "/ring-ref"), "<none>");
    EXPECT_NE(read(paths.frontend + "/event-channel"), "<none>");

    // 1 MiB from sector 0 (256 one-page requests, in batches of 32), and 37
    // sectors that start and end inside pages.
    guest.ok("blk-write 0 2048 7");
    guest.ok("blk-write 5003 37 8");
    EXPECT_EQ(guest.command("blk-read 0 2048 7"), "ok match");
    EXPECT_EQ(guest.command("blk-read 5003 37 8"), "ok match");
    // Read with another seed, the same data is a mismatch from its first
    // sector: the check is real.
    EXPECT_EQ(guest.command("blk-read 16 8 9"), "error mismatch at sector 16");
    // Around the second extent, the disk still holds zeros.
    EXPECT_EQ(read_store(image_, 5000, 3), std::vector<std::uint8_t>(3 * 512, 0));
    EXPECT_EQ(guest.ok("blk-flush"), "");
    // The image file's own bytes (behind the loop device too, once flushed).
    EXPECT_EQ(first_mismatch(image_, 0, 2048, 7), std::nullopt);
    EXPECT_EQ(first_mismatch(image_, 5003, 37, 8), std::nullopt);
    EXPECT_EQ(read_store(image_, 5040, 8), std::vector<std::uint8_t>(8 * 512, 0));

    // libxl's detach: backend Closing; blkfront closes and goes straight to
    // Closed (blkfront_closing); blkback disconnects and goes Closed; the
    // directories go.
    detach(paths);
    EXPECT_FALSE(dom0_.try_read(paths.backend));
    EXPECT_FALSE(dom0_.try_read(paths.frontend));
    // Each end's own writes: blkfront's account, blkback's log (the
    // Closing between is the toolstack's).
    EXPECT_EQ(guest.ok("blk-states"), "3 4 6");
    EXPECT_EQ(backend_writes(paths.backend, 3),
              (std::vector<XenbusState>{XenbusState::init_wait, XenbusState::connected,
                                        XenbusState::closed}));
    guest.ok("blk-close");

    // Re-attached, the data is there.
    tools::toolstack::attach_vbd(dom0_, spec(guest.domid(), "xvda", target()));
    guest.ok("blk-open " + std::to_string(kXvda));
    EXPECT_EQ(guest.ok("blk-states"), "3 4");
    EXPECT_EQ(guest.command("blk-read 0 2048 7"), "ok match");
    EXPECT_EQ(guest.command("blk-read 5003 37 8"), "ok match");
    detach(paths);
    guest.ok("blk-close");
    EXPECT_TRUE(backend_->alive());
}

INSTANTIATE_TEST_SUITE_P(Stores, BlkEndToEndTest,
                         ::testing::Values(Target::image_file, Target::loop_device),
                         [](const ::testing::TestParamInfo<Target>& param_info) {
                             return std::string(param_info.param == Target::loop_device
                                                    ? "loop_device"
                                                    : "image_file");
                         });

class BlkCloseTest : public BlkFixture {};

// Linux's frontend-initiated close (the guest lets go of its disk): the
// frontend goes Closing, the backend mirrors it, disconnects and goes
// Closed, and the frontend goes Closed. The vbd stays online for a
// reconnect, which is served; libxl's detach then removes it.
TEST_F(BlkCloseTest, AFrontendThatClosesIsMirroredAndCanReconnect) {
    TestGuest guest(hv_, "guest");
    introduce(guest);
    const VbdPaths paths = tools::toolstack::attach_vbd(
        dom0_, spec(guest.domid(), "xvda", make_image("disk.img", kImageBytes)));
    guest.ok("blk-open " + std::to_string(kXvda));
    guest.ok("blk-write 64 16 3");

    guest.ok("blk-close");
    // Each end's own writes, which a watch reading the node may not see
    // (it can read 6 for the 5 when the other end answers fast): the
    // frontend's account, and the backend's log of 5 (the mirror) and 6.
    EXPECT_EQ(guest.ok("blk-states"), "3 4 5 6");
    expect_state(paths.backend + "/state", XenbusState::closed);
    EXPECT_EQ(backend_writes(paths.backend, 4),
              (std::vector<XenbusState>{XenbusState::init_wait, XenbusState::connected,
                                        XenbusState::closing, XenbusState::closed}))
        << backend_->log();
    EXPECT_EQ(read(paths.backend + "/online"), "1");

    // As Linux's xenbus_probe_node, blkfront takes up only a device in
    // Initialising: the guest starts it over, the backend goes InitWait.
    guest.ok("xs-write " + paths.frontend + "/state 1");
    expect_state(paths.backend + "/state", XenbusState::init_wait);
    guest.ok("blk-open " + std::to_string(kXvda));
    EXPECT_EQ(guest.ok("blk-states"), "3 4");
    EXPECT_EQ(guest.command("blk-read 64 16 3"), "ok match");
    detach(paths);
    EXPECT_FALSE(dom0_.try_read(paths.backend));
    EXPECT_TRUE(backend_->alive());
}

}  // namespace
}  // namespace pvsim::test
