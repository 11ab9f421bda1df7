// A vbd's life between real processes: the toolstack (this test, through
// tools/toolstack/vbd) attaches it, pvsim-backend publishes its limits and
// waits, a guest (pvsim_test_domain, writing over its own xenstore ring)
// hands over a ring and an event channel, the backend connects and
// publishes the disk, then the toolstack detaches it. The frontend's states
// are this test's own writes, made in Linux's order to drive the backend;
// only the backend's are asserted (REFERENCES.md "State sequences").
// LinuxFrontendPeerTest has a frontend whose every state follows from
// Linux's blkback_changed.
#include <gtest/gtest.h>

#include <algorithm>
#include <future>
#include <string>
#include <vector>

#include "tests/integration/blkback/guest_ring.hpp"
#include "tests/support/blkback_fixture.hpp"
#include "tests/support/online_cpus.hpp"

namespace pvsim::test {
// This file's own names, apart from those of the other files of its folder,
// which compiles as one translation unit.
namespace connect_detach_test {

using tools::toolstack::VbdPaths;
using xen::XenbusState;

constexpr std::uint64_t kImageBytes = 8 << 20;

class ConnectDetachTest : public BlkbackFixture {
  protected:
    // xvda of `guest` attached on disk.img and Connected on a fresh ring.
    VbdPaths connected_vbd(TestGuest& guest, GuestRing& ring) {
        const VbdPaths paths = tools::toolstack::attach_vbd(
            dom0_, spec(guest.domid(), "xvda", make_image("disk.img", kImageBytes)));
        ring = make_ring(guest);
        hand_over(guest, paths, ring);
        expect_state(paths.backend + "/state", XenbusState::connected);
        return paths;
    }
};

TEST_F(ConnectDetachTest, AttachConnectAndDetachFollowLinuxAndLibxl) {
    TestGuest guest(hv_, "guest");
    introduce(guest);
    const auto image = make_image("disk.img", kImageBytes);
    // An image file goes to qdisk unless phy is asked for (disk_backend.hpp).
    const VbdPaths paths =
        VbdPaths::of(0, guest.domid(), 51712, tools::toolstack::DiskBackend::qdisk);

    const VbdPaths attached =
        tools::toolstack::attach_vbd(dom0_, spec(guest.domid(), "xvda", image));
    ASSERT_EQ(attached.backend, paths.backend);
    // libxl__device_disk_add's keys: discard-enable (readwrite by default),
    // and in the frontend directory trusted and a PV guest's protocol.
    EXPECT_EQ(read(paths.backend + "/discard-enable"), "1");
    EXPECT_EQ(read(paths.frontend + "/trusted"), "1");
    EXPECT_EQ(read(paths.frontend + "/protocol"), "x86_64-abi");
    // xen_blkbk_probe's limits, published before InitWait: Linux's
    // defaults, no pvsim-* node being written (Linux 6.1 xen-blkback:
    // MAX_INDIRECT_SEGMENTS 256, xenblk_max_queues num_online_cpus(), which
    // pvsim bounds at 16, xen_blkif_max_ring_order 4, feature_persistent).
    EXPECT_EQ(read(paths.backend + "/state"), "2");
    EXPECT_EQ(read(paths.backend + "/feature-max-indirect-segments"), "256");
    EXPECT_EQ(read(paths.backend + "/multi-queue-max-queues"),
              std::to_string(std::min(online_cpus_from_sysfs(), 16u)));
    EXPECT_EQ(read(paths.backend + "/max-ring-page-order"), "4");
    EXPECT_EQ(read(paths.backend + "/feature-persistent"), "1");
    // The guest sees its device and may read its backend's directory.
    EXPECT_EQ(guest.ok("xs-read " + paths.frontend + "/backend"), paths.backend);
    EXPECT_EQ(guest.ok("xs-read " + paths.backend + "/state"), "2");

    const GuestRing ring = make_ring(guest);
    hand_over(guest, paths, ring);
    expect_state(paths.backend + "/state", XenbusState::connected);
    EXPECT_EQ(read(paths.backend + "/sectors"), std::to_string(kImageBytes / 512));
    EXPECT_EQ(read(paths.backend + "/sector-size"), "512");
    EXPECT_EQ(read(paths.backend + "/physical-sector-size"), "512");
    EXPECT_EQ(read(paths.backend + "/info"), "0");
    EXPECT_EQ(read(paths.backend + "/feature-flush-cache"), "1");
    EXPECT_EQ(read(paths.backend + "/feature-barrier"), "1");
    EXPECT_EQ(read(paths.backend + "/feature-discard"), "1");
    EXPECT_EQ(read(paths.backend + "/discard-secure"), "0");
    EXPECT_EQ(read(paths.backend + "/feature-persistent"), "1");
    // The guest reads them as blkfront's blkfront_connect does.
    EXPECT_EQ(guest.ok("xs-read " + paths.backend + "/sectors"), std::to_string(kImageBytes / 512));
    frontend_write(guest, paths, "state", "4");

    // libxl's detach: online=0 and Closing; blkfront closes on the
    // backend's Closing (blkback_changed -> blkfront_closing -> Closed);
    // blkback disconnects on the frontend's Closed and goes Closed; the
    // toolstack then removes both directories.
    auto detach =
        std::async(std::launch::async, [&] { tools::toolstack::detach_vbd(dom0_, paths); });
    expect_state(paths.backend + "/state", XenbusState::closing);
    EXPECT_EQ(read(paths.backend + "/online"), "0");
    frontend_write(guest, paths, "state", "6");
    ASSERT_EQ(detach.wait_for(kStateTimeout), std::future_status::ready) << backend_->log();
    detach.get();
    EXPECT_FALSE(dom0_.try_read(paths.backend));
    EXPECT_FALSE(dom0_.try_read(paths.frontend));

    // What blkback wrote: xen_blkbk_probe's InitWait, connect's Connected,
    // and frontend_changed(Closed)'s Closed; the Closing between them is
    // the toolstack's. (The frontend's states are this test's own writes:
    // LinuxFrontendPeerTest has a frontend whose states are Linux's.)
    EXPECT_EQ(backend_writes(paths.backend, 3),
              (std::vector<XenbusState>{XenbusState::init_wait, XenbusState::connected,
                                        XenbusState::closed}));
    // The ring and port were given back: the guest can end its grant.
    EXPECT_EQ(guest.ok("end-access " + ring.ref), "ended");
    EXPECT_TRUE(backend_->alive());
}

// libxl writes discard-enable 0 for a read-only disk (and for no-discard);
// Linux's xen_blkbk_discard then returns before writing any discard key,
// and a discard request is not offered (dispatch_discard_io is never
// reached: EOPNOTSUPP).
TEST_F(ConnectDetachTest, DiscardEnableZeroOffersNoDiscard) {
    TestGuest guest(hv_, "guest");
    introduce(guest);
    auto vbd = spec(guest.domid(), "xvda", make_image("disk.img", kImageBytes));
    vbd.readonly = true;
    const VbdPaths paths = tools::toolstack::attach_vbd(dom0_, vbd);
    EXPECT_EQ(read(paths.backend + "/discard-enable"), "0");
    hand_over(guest, paths, make_ring(guest));
    expect_state(paths.backend + "/state", XenbusState::connected);
    EXPECT_EQ(read(paths.backend + "/feature-discard"), "<none>");
    EXPECT_EQ(read(paths.backend + "/discard-granularity"), "<none>");
    EXPECT_EQ(read(paths.backend + "/discard-secure"), "<none>");

    auto writable = spec(guest.domid(), "xvdb", make_image("other.img", kImageBytes));
    writable.backend_features.discard = false;
    const VbdPaths other = tools::toolstack::attach_vbd(dom0_, writable);
    EXPECT_EQ(read(other.backend + "/discard-enable"), "0");
}

// libxl__device_generic_add (Xen 4.17) keeps its own record of the vbd in
// /libxl/<domid>/device/vbd/<devid>: where both ends are and a copy of the
// backend's nodes as written (its state stays Initialising: "won't ever be
// updated"), readable by dom0 only; libxl__device_destroy removes it with
// the two directories.
TEST_F(ConnectDetachTest, TheToolstackKeepsLibxlsRecordOfTheVbdAndRemovesItWithIt) {
    TestGuest guest(hv_, "guest");
    introduce(guest);
    const auto image = make_image("disk.img", kImageBytes);
    const VbdPaths paths = tools::toolstack::attach_vbd(dom0_, spec(guest.domid(), "xvda", image));
    EXPECT_EQ(paths.libxl, "/libxl/" + std::to_string(guest.domid()) + "/device/vbd/" +
                               std::to_string(paths.devid));
    EXPECT_EQ(read(paths.libxl + "/frontend"), paths.frontend);
    EXPECT_EQ(read(paths.libxl + "/backend"), paths.backend);
    // A qdisk's params is <format>:<path> (device_disk_add).
    EXPECT_EQ(read(paths.libxl + "/params"), "raw:" + image.string());
    EXPECT_EQ(read(paths.libxl + "/mode"), "w");
    EXPECT_EQ(read(paths.libxl + "/frontend-id"), std::to_string(guest.domid()));
    hand_over(guest, paths, make_ring(guest));
    expect_state(paths.backend + "/state", XenbusState::connected);
    EXPECT_EQ(read(paths.libxl + "/state"), "1");
    EXPECT_EQ(guest.command("xs-read " + paths.libxl + "/params").rfind("error", 0), 0u);

    // The device destroyed (the test's frontend does not close by itself).
    tools::toolstack::destroy_vbd(dom0_, paths);
    EXPECT_EQ(read(paths.libxl), "<none>");
    EXPECT_EQ(read(paths.backend), "<none>");
    EXPECT_EQ(read(paths.frontend), "<none>");
}

// Frontend-initiated close (Linux xen-blkback/xenbus.c frontend_changed):
// frontend 5, backend mirrors 5 and keeps the ring, frontend 6 once it has
// let go of the ring, backend disconnects and goes 6; then the frontend starts over (Initialising)
// and the backend prepares for a reconnect (InitWait) and connects the new ring.
TEST_F(ConnectDetachTest, AFrontendThatClosesAndComesBackIsServedAgain) {
    TestGuest guest(hv_, "guest");
    introduce(guest);
    const auto image = make_image("disk.img", kImageBytes);
    const VbdPaths paths = tools::toolstack::attach_vbd(dom0_, spec(guest.domid(), "xvda", image));
    const GuestRing first = make_ring(guest);
    hand_over(guest, paths, first);
    expect_state(paths.backend + "/state", XenbusState::connected);
    frontend_write(guest, paths, "state", "4");

    frontend_write(guest, paths, "state", "5");
    expect_state(paths.backend + "/state", XenbusState::closing);
    // Linux's frontend_changed on Closing only mirrors it: the ring stays
    // mapped until the frontend is Closed.
    EXPECT_EQ(guest.ok("end-access " + first.ref), "pinned");
    frontend_write(guest, paths, "state", "6");
    expect_state(paths.backend + "/state", XenbusState::closed);
    EXPECT_EQ(guest.ok("end-access " + first.ref), "ended");
    // Online: the backend keeps the device for a reconnect.
    frontend_write(guest, paths, "state", "1");
    expect_state(paths.backend + "/state", XenbusState::init_wait);
    hand_over(guest, paths, make_ring(guest));
    expect_state(paths.backend + "/state", XenbusState::connected);
    // frontend_changed: Closing mirrored, Closed after the disconnect,
    // "prepare for reconnect" on Initialising, then connect again.
    EXPECT_EQ(backend_writes(paths.backend, 6),
              (std::vector<XenbusState>{XenbusState::init_wait, XenbusState::connected,
                                        XenbusState::closing, XenbusState::closed,
                                        XenbusState::init_wait, XenbusState::connected}));

    tools::toolstack::DetachOptions options;
    options.timeout = std::chrono::milliseconds(300);
    // Nobody closes the frontend now: without force, the detach fails and
    // names the state reached; with force, the directories go anyway.
    try {
        tools::toolstack::detach_vbd(dom0_, paths, options);
        ADD_FAILURE() << "detached without the backend reaching Closed";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("Closing, not Closed"), std::string::npos) << e.what();
    }
    options.force = true;
    tools::toolstack::detach_vbd(dom0_, paths, options);
    EXPECT_FALSE(dom0_.try_read(paths.backend));
    EXPECT_TRUE(eventually(
        [&] { return backend_->log().find("removed by the toolstack") != std::string::npos; }));
    EXPECT_TRUE(backend_->alive());
}

// A guest that dies during libxl's forced detach: the toolstack wrote the
// backend Closing, then the frontend's directory goes (its state reads
// XenbusStateUnknown). Linux frontend_changed: Unknown -> device_unregister
// -> xenbus_dev_remove, which writes Closed because the toolstack forced
// Closing (drivers/xen/xenbus/xenbus_probe.c, 5.6+); QEMU's
// xen_device_frontend_changed does the same. libxl waits for that Closed.
TEST_F(ConnectDetachTest, AFrontendGoneAfterAForcedClosingLeavesTheBackendClosed) {
    TestGuest guest(hv_, "guest");
    introduce(guest);
    GuestRing ring;
    const VbdPaths paths = connected_vbd(guest, ring);

    dom0_.transact([&](xenstore::client::Transaction& t) {
        t.write(paths.backend + "/online", "0");
        t.write(paths.backend + "/state", "5");
    });
    dom0_.rm(paths.frontend);
    expect_state(paths.backend + "/state", XenbusState::closed);
    EXPECT_TRUE(eventually([&] { return backend_->log().find("released") != std::string::npos; }))
        << backend_->log();
    EXPECT_EQ(guest.ok("end-access " + ring.ref), "ended");
    EXPECT_TRUE(backend_->alive());
}

// Without a forced Closing, a frontend that goes leaves the backend's state
// as it was (xenbus_dev_remove writes Closed only after a forced Closing,
// since blkback allows rebinding).
TEST_F(ConnectDetachTest, AFrontendGoneWithoutAForcedClosingLeavesTheStateAlone) {
    TestGuest guest(hv_, "guest");
    introduce(guest);
    GuestRing ring;
    const VbdPaths paths = connected_vbd(guest, ring);
    dom0_.rm(paths.frontend);
    ASSERT_TRUE(eventually([&] { return backend_->log().find("released") != std::string::npos; }))
        << backend_->log();
    EXPECT_EQ(guest.ok("end-access " + ring.ref), "ended");
    EXPECT_EQ(read(paths.backend + "/state"), "4");
}

// SIGTERM is Linux's unbind of blkback (xenbus_dev_remove, 5.6+, where
// blkback has allow_rebind): every ring is disconnected and unmapped, and
// the state is left as it is, so that the next backend attaches the live
// rings; only a vbd the toolstack forced to Closing is written Closed.
TEST_F(ConnectDetachTest, SigtermDisconnectsEveryVbdAndLeavesItsStateForTheNextBackend) {
    TestGuest guest(hv_, "guest");
    introduce(guest);
    const auto image = make_image("disk.img", kImageBytes);
    const VbdPaths a = tools::toolstack::attach_vbd(dom0_, spec(guest.domid(), "xvda", image));
    const VbdPaths b = tools::toolstack::attach_vbd(
        dom0_, spec(guest.domid(), "xvdb", make_image("other.img", kImageBytes)));
    const VbdPaths c = tools::toolstack::attach_vbd(
        dom0_, spec(guest.domid(), "xvdc", make_image("third.img", kImageBytes)));
    const GuestRing ring = make_ring(guest);
    hand_over(guest, a, ring);
    expect_state(a.backend + "/state", XenbusState::connected);
    dom0_.write(c.backend + "/state", "5");

    const os::ExitStatus status = backend_->stop();
    EXPECT_TRUE(status.success()) << status.describe() << "\n" << backend_->log();
    EXPECT_EQ(read(a.backend + "/state"), "4");
    EXPECT_EQ(read(b.backend + "/state"), "2");
    EXPECT_EQ(read(c.backend + "/state"), "6");
    EXPECT_EQ(guest.ok("end-access " + ring.ref), "ended");
}

// A vbd detached and attached again before blkback handles the removal:
// here the toolstack's removal and its new directory commit together, so
// every event blkback sees finds the new directory already there, at
// Initialising. It is a new device all the same (Linux: the old one
// unregistered itself at Closed, xenbus_probe_node probes an Initialising
// directory): blkback probes it and goes InitWait.
TEST_F(ConnectDetachTest, ADirectoryRemovedAndWrittenAfreshAtOnceIsProbedAgain) {
    TestGuest guest(hv_, "guest");
    introduce(guest);
    const auto image = make_image("disk.img", kImageBytes);
    const VbdPaths paths = tools::toolstack::attach_vbd(dom0_, spec(guest.domid(), "xvda", image));
    const GuestRing ring = make_ring(guest);
    hand_over(guest, paths, ring);
    expect_state(paths.backend + "/state", XenbusState::connected);

    // libxl's detach up to the backend's Closed.
    dom0_.transact([&](xenstore::client::Transaction& t) {
        t.write(paths.backend + "/online", "0");
        t.write(paths.backend + "/state", "5");
    });
    frontend_write(guest, paths, "state", "6");
    expect_state(paths.backend + "/state", XenbusState::closed);
    EXPECT_TRUE(eventually([&] { return backend_->log().find("released") != std::string::npos; }));

    dom0_.transact([&](xenstore::client::Transaction& t) {
        tools::toolstack::destroy_vbd(t, paths);
        (void)tools::toolstack::add_vbd(t, spec(guest.domid(), "xvda", image));
    });
    expect_state(paths.backend + "/state", XenbusState::init_wait);
    EXPECT_EQ(read(paths.backend + "/max-ring-page-order"), "4");
    EXPECT_TRUE(backend_->alive());
}

TEST_F(ConnectDetachTest, AttachingTheSameVbdTwiceIsRefused) {
    TestGuest guest(hv_, "guest");
    introduce(guest);
    const auto image = make_image("disk.img", kImageBytes);
    (void)tools::toolstack::attach_vbd(dom0_, spec(guest.domid(), "xvda", image));
    try {
        (void)tools::toolstack::add_vbd(dom0_, spec(guest.domid(), "xvda", image));
        ADD_FAILURE() << "attached twice";
    } catch (const xenstore::client::Error& e) {
        EXPECT_EQ(e.errnum(), EEXIST) << e.what();
    }
}

// One blkback per domain: a second pvsim-backend for dom0 in the same run
// refuses to start, and the first keeps serving.
TEST_F(ConnectDetachTest, ASecondBackendForTheSameDomainRefusesToStart) {
    const auto [status, err] =
        run_to_exit(PVSIM_BACKEND, hv_.temp_path(), {"--run-dir", hv_.run_dir().path().string()});
    EXPECT_TRUE(status.exited());
    EXPECT_EQ(status.code, 1);
    EXPECT_NE(err.find("another instance already serves domain 0"), std::string::npos) << err;
    EXPECT_TRUE(backend_->alive());

    TestGuest guest(hv_, "guest");
    introduce(guest);
    const auto image = make_image("disk.img", kImageBytes);
    const VbdPaths paths = tools::toolstack::attach_vbd(dom0_, spec(guest.domid(), "xvda", image));
    expect_state(paths.backend + "/state", XenbusState::init_wait);
}

}  // namespace connect_detach_test
}  // namespace pvsim::test
