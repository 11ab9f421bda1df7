// pvsim-backend judged by Linux's frontend: every frontend state here is
// one a LinuxBlkfrontPeer wrote because Linux 6.1's blkback_changed, given
// what pvsim's blkback did, writes it; every backend state is one
// pvsim-backend logged writing (BlkbackFixture::backend_writes), so a state
// replaced at once still counts. The expected sequences are Linux's:
// the function that writes each state is named beside it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <future>
#include <optional>
#include <string>
#include <vector>

#include "tests/integration/blkback/linux_blkfront_peer.hpp"
#include "tests/support/blkback_fixture.hpp"
#include "tests/support/eventually.hpp"

namespace pvsim::test {
// This file's own names, apart from those of the other files of its folder,
// which compiles as one translation unit.
namespace linux_frontend_peer_test {

using tools::toolstack::VbdPaths;
using xen::XenbusState;
using States = std::vector<XenbusState>;

constexpr std::uint64_t kPeerImageBytes = 4 << 20;

class LinuxFrontendPeerTest : public BlkbackFixture {
  protected:
    // The toolstack attaches a disk to dom0 (`xl block-attach 0`) and the
    // peer, probed on it, follows the backend from there.
    void attach() {
        tools::toolstack::VbdSpec vbd = spec(0, "xvdb", image_);
        paths_ = tools::toolstack::attach_vbd(dom0_, vbd);
        peer_.emplace(xenstored_.socket_path(), fe_hv_, paths_);
    }
    void attach_connected() {
        attach();
        ASSERT_TRUE(peer_->wait_for_state(XenbusState::connected))
            << "peer wrote " << ::testing::PrintToString(peer_->writes()) << " having seen "
            << ::testing::PrintToString(peer_->seen()) << "\n"
            << backend_->log();
        ASSERT_EQ(backend_writes(2), (States{XenbusState::init_wait, XenbusState::connected}));
    }

    // pvsim-backend's writes to the vbd's state, once `count` are logged.
    States backend_writes(std::size_t count) {
        return BlkbackFixture::backend_writes(paths_.backend, count);
    }
    bool backend_wrote(const States& states) {
        return eventually([&] { return backend_writes(0) == states; }, kStateTimeout);
    }

    hypervisor::Hypervisor fe_hv_ = hv_.connect_dom0();
    std::filesystem::path image_ = make_image("disk.img", kPeerImageBytes);
    VbdPaths paths_;
    std::optional<LinuxBlkfrontPeer> peer_;
};

TEST_F(LinuxFrontendPeerTest, AttachIsInitWaitInitialisedConnectedConnectedAsLinux) {
    attach_connected();
    // xen_blkbk_probe -> InitWait; blkback_changed(InitWait) ->
    // talk_to_blkback -> Initialised; frontend_changed(Initialised) ->
    // connect -> Connected; blkback_changed(Connected) -> blkfront_connect
    // -> Connected.
    EXPECT_EQ(peer_->writes(), (States{XenbusState::initialised, XenbusState::connected}));
    EXPECT_EQ(backend_writes(2), (States{XenbusState::init_wait, XenbusState::connected}));
    // What blkfront_connect gathered from pvsim's blkback.
    const auto disk = peer_->connected_disk();
    EXPECT_EQ(disk.sectors, kPeerImageBytes / 512);
    EXPECT_EQ(disk.sector_size, 512u);
    EXPECT_EQ(disk.physical_sector_size, 512u);
    EXPECT_EQ(disk.info, 0u);
    EXPECT_TRUE(disk.flush);
    EXPECT_TRUE(disk.persistent);
    EXPECT_EQ(disk.max_indirect_segments, 256u);
    EXPECT_TRUE(peer_->failures().empty());
    // The ring talk_to_blkback granted is mapped by the backend.
    EXPECT_FALSE(fe_hv_.grant_table().try_end_access(peer_->ring()->ring_ref()));
}

// libxl's detach (online 0, backend Closing): blkback_changed(Closing) ->
// blkfront_closing -> xenbus_frontend_closed -> Closed; blkback's
// frontend_changed(Closed) disconnects the ring and writes Closed; the
// toolstack then removes both directories (the peer then reads Unknown and
// does nothing).
TEST_F(LinuxFrontendPeerTest, ToolstackDetachClosesTheFrontendThenTheBackend) {
    attach_connected();
    auto detach =
        std::async(std::launch::async, [&] { tools::toolstack::detach_vbd(dom0_, paths_); });
    ASSERT_EQ(detach.wait_for(kStateTimeout), std::future_status::ready) << backend_->log();
    detach.get();
    EXPECT_EQ(peer_->writes(),
              (States{XenbusState::initialised, XenbusState::connected, XenbusState::closed}));
    // Closing is the toolstack's write, not blkback's.
    EXPECT_EQ(backend_writes(3),
              (States{XenbusState::init_wait, XenbusState::connected, XenbusState::closed}));
    EXPECT_FALSE(dom0_.try_read(paths_.frontend));
    // The backend unmapped the ring before it said Closed.
    EXPECT_TRUE(fe_hv_.grant_table().try_end_access(peer_->ring()->ring_ref()));
}

// A frontend whose req_prod runs more than a ring ahead halts that ring in
// blkback (__do_block_io_op -EACCES; xen_blkif_schedule then only waits to
// be stopped): no state is written by either end. libxl's detach then goes
// as ever: blkfront_closing -> Closed, and blkback, the halted ring
// released, Closed.
TEST_F(LinuxFrontendPeerTest, AHaltedRingChangesNoStateAndIsReleasedAtTheDetach) {
    attach_connected();
    TestFrontend& ring = *peer_->ring();
    ring.shared().req_prod = 0x41414141;
    ring.kick();
    ASSERT_TRUE(eventually([&] {
        return backend_->log().find("halting ring processing") != std::string::npos;
    })) << backend_->log();
    EXPECT_EQ(peer_->writes(), (States{XenbusState::initialised, XenbusState::connected}));
    EXPECT_EQ(backend_writes(2), (States{XenbusState::init_wait, XenbusState::connected}));
    EXPECT_EQ(read(paths_.backend + "/error"), "<none>");

    tools::toolstack::detach_vbd(dom0_, paths_);
    EXPECT_EQ(peer_->writes(),
              (States{XenbusState::initialised, XenbusState::connected, XenbusState::closed}));
    EXPECT_EQ(backend_writes(3),
              (States{XenbusState::init_wait, XenbusState::connected, XenbusState::closed}));
    EXPECT_TRUE(fe_hv_.grant_table().try_end_access(ring.ring_ref()));
}

// Linux 5.5+ blkback (allow_rebind) reattaches a Connected frontend's live
// ring: a new backend writes InitWait then Connected. blkback_changed
// ignores the InitWait (this end is not Initialising) and takes the
// Connected as blkfront_connect's capacity path (info->connected is
// BLKIF_STATE_CONNECTED): the frontend never leaves Connected.
TEST_F(LinuxFrontendPeerTest, ARestartedBackendReattachesAndTheFrontendStaysConnected) {
    attach_connected();
    const unsigned updates_before = peer_->capacity_update_count();
    backend_->kill();
    backend_.emplace(hv_);
    ASSERT_TRUE(backend_wrote({XenbusState::init_wait, XenbusState::connected,
                               XenbusState::init_wait, XenbusState::connected}))
        << backend_->log();
    ASSERT_TRUE(peer_->wait_until(
        [&](const LinuxBlkfrontPeer& p) { return p.capacity_updates() > updates_before; }));
    EXPECT_EQ(peer_->writes(), (States{XenbusState::initialised, XenbusState::connected}));
    EXPECT_EQ(read(paths_.frontend + "/state"), "4");
    EXPECT_TRUE(peer_->failures().empty());

    // The ring granted before the restart is served by the new backend.
    TestFrontend& ring = *peer_->ring();
    ring.queue(TestFrontend::rw(xen::BlkifOp::read, 1, 0, {ring.segment(0)}));
    ring.push();
    EXPECT_EQ(ring.wait_responses(1).at(0).status, xen::BlkifStatus::okay);
}

// A guest that dies during libxl's forced detach: its frontend answers
// nothing, the toolstack forces the backend Closing and removes the
// frontend's directory. blkback's frontend_changed reads Unknown and
// unregisters the device; xenbus_dev_remove writes Closed because the
// toolstack forced Closing (drivers/xen/xenbus/xenbus_probe.c, 5.6+).
TEST_F(LinuxFrontendPeerTest, AFrontendGoneAfterAForcedClosingLeavesTheBackendClosed) {
    attach_connected();
    peer_->stop();
    dom0_.transact([&](xenstore::client::Transaction& t) {
        t.write(paths_.backend + "/online", "0");
        t.write(paths_.backend + "/state", "5");
    });
    dom0_.rm(paths_.frontend);
    ASSERT_TRUE(
        backend_wrote({XenbusState::init_wait, XenbusState::connected, XenbusState::closed}))
        << backend_->log();
    EXPECT_EQ(peer_->writes(), (States{XenbusState::initialised, XenbusState::connected}));
    EXPECT_TRUE(eventually([&] {
        return fe_hv_.grant_table().try_end_access(peer_->ring()->ring_ref());
    })) << backend_->log();
}

// xen_vbd_resize: the image grows; blkback writes sectors and Connected
// again (no state change, so no switch_state and no log of one); the
// peer's blkback_changed(Connected) while Connected is blkfront_connect's
// capacity path: sectors read again, no state written.
TEST_F(LinuxFrontendPeerTest, AGrownImageIsReadAgainByTheFrontendWithoutAStateChange) {
    attach_connected();
    ASSERT_EQ(::truncate(image_.c_str(), static_cast<off_t>(2 * kPeerImageBytes)), 0);
    ASSERT_TRUE(peer_->wait_until([](const LinuxBlkfrontPeer& p) {
        return p.disk().sectors == 2 * kPeerImageBytes / 512;
    })) << backend_->log();
    EXPECT_NE(backend_->log().find("VBD Resize"), std::string::npos);
    EXPECT_EQ(peer_->writes(), (States{XenbusState::initialised, XenbusState::connected}));
    EXPECT_EQ(backend_writes(2), (States{XenbusState::init_wait, XenbusState::connected}));
    EXPECT_EQ(read(paths_.backend + "/state"), "4");
}

}  // namespace linux_frontend_peer_test
}  // namespace pvsim::test
