// Online resize through pvsim-backend (Linux blkback.c xen_blkif_schedule
// -> xen_vbd_resize, 4.x to 6.x): the image of a connected vbd grows or
// shrinks under it; within the check period the backend writes the new
// `sectors` and writes `state` again (Connected) in one transaction, so that
// the frontend's watch on the state fires with the new size already there;
// and the ring serves the new range from then on (xen_vbd_translate checks
// each request against the live size). The frontend is this test's own dom0
// connection (tests/integration/blkback/test_frontend.hpp).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "tests/integration/blkback/dom0_vbd.hpp"
#include "tests/support/blkback_fixture.hpp"
#include "tests/support/eventually.hpp"

namespace pvsim::test {
namespace {

using tools::toolstack::VbdPaths;
using xen::BlkifOp;
using xen::BlkifStatus;
using xen::XenbusState;

constexpr std::uint64_t kResizeImageBytes = 4 << 20;

// Each event of the watch on the backend's state, with `sectors` as read
// when it fired: what a frontend's blkback_changed sees.
class ResizeStateEvents {
  public:
    ResizeStateEvents(xenstore::client::Client& client, const VbdPaths& paths)
        : watch_(client.watch(
              paths.backend + "/state", "resize-test", [this, &client, paths](const auto&) {
                  auto seen =
                      std::make_pair(client.try_read(paths.backend + "/state").value_or(""),
                                     client.try_read(paths.backend + "/sectors").value_or(""));
                  std::lock_guard lock(mutex_);
                  events_.push_back(std::move(seen));
              })) {}
    ~ResizeStateEvents() { watch_.unwatch(); }

    std::vector<std::pair<std::string, std::string>> events() {
        std::lock_guard lock(mutex_);
        return events_;
    }

  private:
    std::mutex mutex_;
    std::vector<std::pair<std::string, std::string>> events_;
    xenstore::client::Watch watch_;
};

class ResizeTest : public BlkbackFixture {
  protected:
    ResizeTest() : image_(make_image("disk.img", kResizeImageBytes)) {}

    std::unique_ptr<TestFrontend> connect_frontend() {
        Dom0Vbd vbd = connect_dom0_vbd(dom0_, fe_hv_, image_.string(), 4);
        EXPECT_TRUE(vbd.connected) << backend_->log();
        paths_ = vbd.paths;
        return std::move(vbd.front);
    }

    void resize_image(std::uint64_t bytes) {
        ASSERT_EQ(::truncate(image_.c_str(), static_cast<off_t>(bytes)), 0);
    }

    // One page written at `sector` and answered.
    BlkifStatus write_page(TestFrontend& front, std::uint64_t id, std::uint64_t sector) {
        front.queue(TestFrontend::rw(BlkifOp::write, id, sector, {front.segment(0)}));
        front.push();
        return front.wait_responses(1).at(0).status;
    }

    bool sectors_become(std::uint64_t sectors) {
        return eventually(
            [&] { return read(paths_.backend + "/sectors") == std::to_string(sectors); },
            kStateTimeout);
    }

    hypervisor::Hypervisor fe_hv_ = hv_.connect_dom0();
    std::filesystem::path image_;
    VbdPaths paths_;
};

TEST_F(ResizeTest, GrownImageRewritesSectorsAndStateInOneTransactionAsXenVbdResize) {
    auto front = connect_frontend();
    const std::uint64_t old_sectors = kResizeImageBytes / 512;
    ASSERT_EQ(read(paths_.backend + "/sectors"), std::to_string(old_sectors));
    // The first page past the end is refused (xen_vbd_translate -EACCES ->
    // BLKIF_RSP_ERROR); the last one inside is served.
    EXPECT_EQ(write_page(*front, 1, old_sectors), BlkifStatus::error);
    EXPECT_EQ(write_page(*front, 2, old_sectors - 8), BlkifStatus::okay);

    ResizeStateEvents events(dom0_, paths_);
    ASSERT_TRUE(eventually([&] { return !events.events().empty(); }, kStateTimeout));
    resize_image(2 * kResizeImageBytes);
    ASSERT_TRUE(sectors_become(2 * old_sectors)) << backend_->log();
    // The state was written again, Connected, and the watch event it gave
    // found the new size there already: one transaction, sectors and state.
    ASSERT_TRUE(eventually([&] { return events.events().size() >= 2; }, kStateTimeout));
    const auto seen = events.events();
    EXPECT_EQ(seen.front(), std::make_pair(std::string("4"), std::to_string(old_sectors)));
    for (std::size_t i = 1; i < seen.size(); ++i) {
        EXPECT_EQ(seen[i], std::make_pair(std::string("4"), std::to_string(2 * old_sectors)))
            << "event " << i;
    }
    EXPECT_NE(backend_->log().find("VBD Resize"), std::string::npos);

    // The ring serves the new range: a page written past the old end reads
    // back from the image.
    const auto data = pattern(xen::kXenPageSize, 5);
    std::memcpy(front->page(0).data, data.data(), data.size());
    EXPECT_EQ(write_page(*front, 3, old_sectors), BlkifStatus::okay);
    std::memset(front->page(1).data, 0, xen::kXenPageSize);
    front->queue(TestFrontend::rw(BlkifOp::read, 4, old_sectors, {front->segment(1)}));
    front->push();
    ASSERT_EQ(front->wait_responses(1).at(0).status, BlkifStatus::okay);
    EXPECT_EQ(std::memcmp(front->page(1).data, data.data(), data.size()), 0);
    EXPECT_EQ(read(paths_.backend + "/state"), "4");
}

// Linux writes a smaller size the same way; the range cut off is refused
// from then on.
TEST_F(ResizeTest, ShrunkImageIsPublishedAndIoPastTheNewEndIsRefused) {
    auto front = connect_frontend();
    const std::uint64_t old_sectors = kResizeImageBytes / 512;
    EXPECT_EQ(write_page(*front, 1, old_sectors - 8), BlkifStatus::okay);
    resize_image(kResizeImageBytes / 2);
    ASSERT_TRUE(sectors_become(old_sectors / 2)) << backend_->log();
    EXPECT_EQ(read(paths_.backend + "/state"), "4");
    EXPECT_EQ(write_page(*front, 2, old_sectors - 8), BlkifStatus::error);
    EXPECT_EQ(write_page(*front, 3, old_sectors / 2 - 8), BlkifStatus::okay);
}

}  // namespace
}  // namespace pvsim::test
