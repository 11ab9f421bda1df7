// Data through pvsim-backend, end to end: a vbd whose frontend is this test
// process's dom0 connection (dom0 may attach a disk to itself, as `xl
// block-attach 0` does), on an image file and on a loop device, with each
// I/O engine, and with O_DIRECT (the vbd's `direct` key). Patterned writes
// land in the store (read back here with pread), reads return them, flush
// succeeds; after an orderly detach and a re-attach the data is still there.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "tests/integration/blkback/test_frontend.hpp"
#include "tests/support/blkback_fixture.hpp"

namespace pvsim::test {
// This file's own names, apart from those of the other files of its folder,
// which compiles as one translation unit.
namespace data_path_test {

using tools::toolstack::VbdPaths;
using xen::BlkifOp;
using xen::BlkifStatus;
using xen::XenbusState;

constexpr std::uint64_t kImageBytes = 4 << 20;

enum class Target { image_file, loop_device };

class DataPathTest : public BlkbackFixture,
                     public ::testing::WithParamInterface<std::tuple<Target, std::string, bool>> {
  protected:
    DataPathTest() : BlkbackFixture({"--io-engine", std::get<1>(GetParam())}) {
        image_ = make_image("disk.img", kImageBytes);
        if (std::get<0>(GetParam()) == Target::loop_device) {
            loop_.emplace(image_);
        }
    }

    std::string target() const { return loop_ ? loop_->path().string() : image_.string(); }

    // Attaches xvdb to dom0 and connects a TestFrontend to it, writing the
    // frontend's keys in one transaction as blkfront's talk_to_blkback does.
    std::unique_ptr<TestFrontend> connect(VbdPaths& paths) {
        tools::toolstack::VbdSpec s;
        s.domid = 0;
        s.vdev = "xvdb";
        s.target = target();
        s.direct = std::get<2>(GetParam());
        paths = tools::toolstack::attach_vbd(dom0_, s);
        auto front = std::make_unique<TestFrontend>(fe_hv_, 0, 40);
        dom0_.transact([&](xenstore::client::Transaction& t) {
            t.write(paths.frontend + "/ring-ref", std::to_string(front->ring_ref()));
            t.write(paths.frontend + "/event-channel", std::to_string(front->port()));
            t.write(paths.frontend + "/protocol", "x86_64-abi");
            t.write(paths.frontend + "/feature-persistent", "0");
            t.write(paths.frontend + "/state", "3");
        });
        expect_state(paths.backend + "/state", XenbusState::connected);
        dom0_.write(paths.frontend + "/state", "4");
        return front;
    }

    void detach(const VbdPaths& paths) {
        auto done =
            std::async(std::launch::async, [&] { tools::toolstack::detach_vbd(dom0_, paths); });
        expect_state(paths.backend + "/state", XenbusState::closing);
        dom0_.write(paths.frontend + "/state", "6");
        ASSERT_EQ(done.wait_for(kStateTimeout), std::future_status::ready) << backend_->log();
        done.get();
    }

    std::vector<std::byte> store_bytes(std::uint64_t offset, std::size_t length) {
        std::vector<std::byte> out(length);
        const int fd = ::open(target().c_str(), O_RDONLY | O_CLOEXEC);
        EXPECT_EQ(::pread(fd, out.data(), length, static_cast<off_t>(offset)),
                  static_cast<ssize_t>(length));
        ::close(fd);
        return out;
    }

    hypervisor::Hypervisor fe_hv_ = hv_.connect_dom0();
    std::filesystem::path image_;
    std::optional<LoopDevice> loop_;
};

TEST_P(DataPathTest, PatternedDataGoesInComesBackAndOutlivesADetach) {
    VbdPaths paths;
    auto front = connect(paths);
    EXPECT_EQ(read(paths.backend + "/sectors"), std::to_string(kImageBytes / 512));
    EXPECT_EQ(backend_->log().find("O_DIRECT") != std::string::npos, std::get<2>(GetParam()));

    // Six writes of 1 to 11 pages at scattered sectors, and a flush, pushed
    // at once.
    struct Extent {
        std::uint64_t sector;
        std::size_t pages;
        std::size_t first_page;
    };
    std::vector<Extent> extents;
    std::size_t page = 0;
    for (int i = 0; i < 6; ++i) {
        const std::size_t pages = 1 + static_cast<std::size_t>(i * 2 % 11);
        extents.push_back({static_cast<std::uint64_t>(i) * 1000 + 8, pages, page});
        page += pages;
    }
    ASSERT_LE(page, 40u);
    std::vector<std::vector<std::byte>> data;
    for (std::size_t e = 0; e < extents.size(); ++e) {
        data.push_back(pattern(extents[e].pages * 4096, static_cast<unsigned>(e)));
        std::vector<xen::BlkifRequestSegment> segments;
        for (std::size_t p = 0; p < extents[e].pages; ++p) {
            std::memcpy(front->page(extents[e].first_page + p).data, data[e].data() + p * 4096,
                        4096);
            segments.push_back(front->segment(extents[e].first_page + p));
        }
        front->queue(TestFrontend::rw(BlkifOp::write, e, extents[e].sector, segments));
    }
    front->queue(TestFrontend::rw(BlkifOp::flush_diskcache, 100, 0, {}));
    front->push();
    for (const auto& r : front->wait_responses(extents.size() + 1)) {
        EXPECT_EQ(r.status, BlkifStatus::okay) << r.id;
    }
    for (std::size_t e = 0; e < extents.size(); ++e) {
        EXPECT_EQ(store_bytes(extents[e].sector * 512, data[e].size()), data[e]) << e;
    }

    // Read each extent back into zeroed pages.
    for (std::size_t p = 0; p < 40; ++p) {
        std::memset(front->page(p).data, 0, 4096);
    }
    for (std::size_t e = 0; e < extents.size(); ++e) {
        std::vector<xen::BlkifRequestSegment> segments;
        for (std::size_t p = 0; p < extents[e].pages; ++p) {
            segments.push_back(front->segment(extents[e].first_page + p));
        }
        front->queue(TestFrontend::rw(BlkifOp::read, 200 + e, extents[e].sector, segments));
    }
    front->push();
    for (const auto& r : front->wait_responses(extents.size())) {
        EXPECT_EQ(r.status, BlkifStatus::okay) << r.id;
    }
    for (std::size_t e = 0; e < extents.size(); ++e) {
        for (std::size_t p = 0; p < extents[e].pages; ++p) {
            EXPECT_EQ(std::memcmp(front->page(extents[e].first_page + p).data,
                                  data[e].data() + p * 4096, 4096),
                      0)
                << e << "/" << p;
        }
    }
    detach(paths);
    front.reset();

    // Re-attached, the vbd holds what was written.
    auto again = connect(paths);
    again->queue(TestFrontend::rw(BlkifOp::read, 1, extents[3].sector, {again->segment(0)}));
    again->push();
    ASSERT_EQ(again->wait_responses(1).at(0).status, BlkifStatus::okay);
    EXPECT_EQ(std::memcmp(again->page(0).data, data[3].data(), 4096), 0);
    detach(paths);
    EXPECT_TRUE(backend_->alive());
    // Counters were logged at each disconnect.
    EXPECT_NE(backend_->log().find("\"bytes_written\":" + std::to_string(page * 4096)),
              std::string::npos);
}

// Linux 5.6+ blkback on a rebind (allow_rebind): the killed backend leaves
// the vbd Connected; the new one goes InitWait, finds the frontend
// Connected and attaches the live ring where its responses stopped
// (xen_blkif_map: BACK_RING_ATTACH at rsp_prod), so a request pushed while
// no backend ran is served; the frontend keeps its ring and its state.
TEST_P(DataPathTest, ARestartedBackendAttachesTheLiveRingAndServesWhatWaitsOnIt) {
    VbdPaths paths;
    auto front = connect(paths);
    const auto data = pattern(4096, 42);
    std::memcpy(front->page(0).data, data.data(), data.size());
    front->queue(TestFrontend::rw(BlkifOp::write, 1, 80, {front->segment(0)}));
    front->push();
    ASSERT_EQ(front->wait_responses(1).at(0).status, BlkifStatus::okay);

    EXPECT_FALSE(backend_->kill().success());
    backend_.reset();
    // Pushed while no backend runs: its notification goes nowhere.
    const auto more = pattern(4096, 43);
    std::memcpy(front->page(1).data, more.data(), more.size());
    front->queue(TestFrontend::rw(BlkifOp::write, 2, 88, {front->segment(1)}));
    front->push();
    backend_.emplace(hv_, std::vector<std::string>{"--io-engine", std::get<1>(GetParam())});
    // Served by the new backend once it has attached the ring (Xen's
    // evtchn_bind_interdomain marks the new port pending for it).
    ASSERT_EQ(front->wait_responses(1).at(0).status, BlkifStatus::okay) << backend_->log();
    expect_state(paths.backend + "/state", XenbusState::connected);
    EXPECT_EQ(read(paths.frontend + "/state"), "4");

    std::memset(front->page(2).data, 0, 2 * 4096);
    front->queue(TestFrontend::rw(BlkifOp::read, 3, 80, {front->segment(2), front->segment(3)}));
    front->push();
    ASSERT_EQ(front->wait_responses(1).at(0).status, BlkifStatus::okay);
    EXPECT_EQ(std::memcmp(front->page(2).data, data.data(), data.size()), 0);
    EXPECT_EQ(std::memcmp(front->page(3).data, more.data(), more.size()), 0);
    detach(paths);
}

INSTANTIATE_TEST_SUITE_P(
    Stores, DataPathTest,
    ::testing::Values(std::make_tuple(Target::image_file, std::string("io_uring"), false),
                      std::make_tuple(Target::image_file, std::string("threads"), false),
                      std::make_tuple(Target::image_file, std::string("io_uring"), true),
                      std::make_tuple(Target::loop_device, std::string("auto"), false)),
    [](const ::testing::TestParamInfo<std::tuple<Target, std::string, bool>>& param_info) {
        return std::string(std::get<0>(param_info.param) == Target::loop_device ? "loop_device"
                                                                                : "image_file") +
               "_" + std::get<1>(param_info.param) +
               (std::get<2>(param_info.param) ? "_direct" : "");
    });

}  // namespace data_path_test
}  // namespace pvsim::test
