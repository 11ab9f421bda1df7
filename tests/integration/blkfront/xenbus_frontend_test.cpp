// blkfront's control plane against a real pvsim-xenstored and
// pvsim-hypervisor, with the toolstack and blkback played by the test
// (linux_blkback_peer.hpp), the frontend running as dom0: the handshake key
// for key, the state sequences of connect and detach (Linux's), and every
// way the device can fail to connect or fail later, each reported with its
// reason.
#include <gtest/gtest.h>

#include <cerrno>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <boost/asio/post.hpp>

#include "common/os/io_threads.hpp"
#include "frontend/blkfront/blkfront.hpp"
#include "tests/integration/blkfront/blkfront_fixture.hpp"
#include "tests/integration/blkfront/linux_blkback_peer.hpp"
#include "tests/support/hypervisor_process.hpp"
#include "tests/support/xenstored_process.hpp"

namespace pvsim::frontend::blkfront {
namespace {

using test::Completions;
using test::IoBuffer;
using test::LinuxBlkbackPeer;
using test::make_request;
using xen::XenbusState;

constexpr std::uint32_t kDevid = 51712;  // xvda

class XenbusFrontendTest : public ::testing::Test {
  protected:
    BlkfrontOptions options() {
        BlkfrontOptions options;
        options.connect_timeout = std::chrono::seconds(20);
        options.on_state = [this](XenbusState state) {
            std::lock_guard lock(mutex_);
            states_.push_back(state);
        };
        return options;
    }
    std::vector<XenbusState> states() {
        std::lock_guard lock(mutex_);
        return states_;
    }
    std::string read(const std::string& path) {
        return toolstack_.try_read(path).value_or("<none>");
    }
    std::string error_of(const std::function<void()>& open) {
        try {
            open();
        } catch (const BlkfrontError& e) {
            return e.what();
        }
        return "<no error>";
    }

    // A device opened on `backend` (not started yet) and detached, with the
    // backend holding its Closed back (hold_close): the frontend Closed,
    // the backend Closing with the ring still mapped.
    std::unique_ptr<Blkfront> detached_while_backend_holds(LinuxBlkbackPeer& backend) {
        backend.start();
        auto device = open_blkfront(dom0_, xs_, control_.executor(), kDevid, options());
        EXPECT_EQ(device->state(), XenbusState::connected);
        backend.hold_close();
        test::toolstack_detach(toolstack_, 0, kDevid);
        EXPECT_TRUE(test::eventually([&] { return device->state() == XenbusState::closed; }));
        EXPECT_TRUE(test::eventually([&] { return backend.close_waiting(); }));
        return device;
    }

    test::HypervisorProcess hv_;
    test::XenstoredProcess xenstored_{hv_};
    hypervisor::Hypervisor dom0_ = hv_.connect_dom0();
    xenstore::client::Client toolstack_ = xenstore::client::Client::connect(hv_.run_dir());
    xenstore::client::Client xs_ = xenstore::client::Client::connect(hv_.run_dir());
    // The control plane the frontends under test keep their strands on.
    os::IoThreads control_{"blkfront control"};
    const std::string f_ = test::frontend_dir(0, kDevid);
    const std::string b_ = test::backend_dir(0, 0, kDevid);
    std::mutex mutex_;
    std::vector<XenbusState> states_;
};

using S = XenbusState;

TEST_F(XenbusFrontendTest, ConnectIoAndDetachFollowLinuxStateSequences) {
    test::toolstack_add_vbd(toolstack_, 0, kDevid);
    LinuxBlkbackPeer backend(hv_, 0, kDevid, {});
    backend.start();
    auto device = open_blkfront(dom0_, xs_, control_.executor(), kDevid, options());

    // Connected, with the ring keys written as Linux writes them.
    EXPECT_EQ(device->state(), S::connected);
    EXPECT_EQ(read(f_ + "/state"), "4");
    const auto keys = backend.frontend_keys();
    EXPECT_EQ(keys.at("protocol"), "x86_64-abi");
    // Linux blkfront's default: persistent grants asked for.
    EXPECT_EQ(keys.at("feature-persistent"), "1");
    EXPECT_NE(keys.at("ring-ref"), "<missing>");
    EXPECT_NE(keys.at("event-channel"), "<missing>");
    EXPECT_EQ(device->nodename(), f_);
    EXPECT_EQ(device->backend_path(), b_);
    EXPECT_EQ(device->capacity_sectors(), 8192u);
    EXPECT_EQ(device->sector_size(), 512u);
    EXPECT_FALSE(device->read_only());
    EXPECT_TRUE(device->disk().feature_flush_cache);
    EXPECT_EQ(device->poll(), kDefaultPoll);

    // Data through the negotiated ring.
    IoBuffer out(dom0_.memory(), 5 * 4096);
    out.fill(7);
    IoBuffer in(dom0_.memory(), 5 * 4096);
    Completions done;
    std::vector<BlockRequest> batch;
    batch.push_back(make_request(BlockOperation::write, 40, &out.guest(), done.callback()));
    batch.push_back(make_request(BlockOperation::flush, 0, nullptr, done.callback()));
    device->submit(batch);
    ASSERT_TRUE(done.wait_for(2));
    BlockRequest read_back = make_request(BlockOperation::read, 40, &in.guest(), done.callback());
    device->submit({&read_back, 1});
    ASSERT_TRUE(done.wait_for(3));
    EXPECT_EQ(done.statuses(), (std::vector<int>{0, 0, 0}));
    EXPECT_EQ(in.bytes(), out.bytes());

    // A request in flight when the toolstack detaches: the frontend waits
    // for its answer before it lets go of the ring (Linux: backend Closing,
    // frontend straight to Closed, then backend Closed).
    backend.data()->hold();
    BlockRequest in_flight = make_request(BlockOperation::write, 80, &out.guest(), done.callback());
    device->submit({&in_flight, 1});
    ASSERT_TRUE(test::eventually([&] { return backend.data()->held().size() == 1; }));
    test::toolstack_detach(toolstack_, 0, kDevid);
    ASSERT_TRUE(test::eventually([&] { return !device->error().empty(); }));
    EXPECT_NE(device->state(), S::closed);
    backend.data()->release();
    ASSERT_TRUE(test::eventually([&] { return device->state() == S::closed; }));
    ASSERT_TRUE(done.wait_for(4));
    EXPECT_EQ(done.statuses()[3], 0);

    EXPECT_EQ(states(), (std::vector<S>{S::initialised, S::connected, S::closed}));
    ASSERT_TRUE(test::eventually([&] { return read(b_ + "/state") == "6"; }));
    EXPECT_EQ(backend.written(), (std::vector<S>{S::init_wait, S::connected, S::closed}));
    EXPECT_EQ(read(f_ + "/state"), "6");
    ASSERT_TRUE(test::eventually([&] { return read(b_ + "/state") == "6"; }));

    // Closed: requests are refused, and the device says why.
    BlockRequest late = make_request(BlockOperation::read, 0, &in.guest(), done.callback());
    device->submit({&late, 1});
    ASSERT_TRUE(done.wait_for(5));
    EXPECT_EQ(done.statuses()[4], -ENODEV);
    EXPECT_NE(device->error().find("closing"), std::string::npos) << device->error();

    // The ring stays granted while the backend maps it, and goes once the
    // frontend has seen the backend Closed (Linux's blkif_free is
    // blkfront_remove's, not blkfront_closing's): its grant is ended with
    // nothing mapping it, so none is ever deferred.
    EXPECT_EQ(dom0_.grant_table().deferred_count(), 0u);

    // The toolstack removes both directories; nothing is brought back.
    toolstack_.rm(f_);
    toolstack_.rm(b_);
    device.reset();
    EXPECT_FALSE(toolstack_.try_read(f_ + "/state").has_value());
    EXPECT_EQ(dom0_.grant_table().deferred_count(), 0u);
}

// The frontend's ring stays granted while the backend still maps it. In
// Linux 5.x to 6.x blkfront_closing() only stops the queues and switches to
// Closed; blkif_free(), which ends the ring grants, is blkfront_remove()'s.
// Here the backend is slow to let go (it stays Closing, its ring mapped,
// past the frontend's Closed): a ring grant ended meanwhile would be parked
// on the deferred list, as gnttab_end_foreign_access parks one still
// mapped; none is. Once the backend has unmapped the ring and gone Closed,
// the frontend lets go of the ring, again with nothing deferred.
TEST_F(XenbusFrontendTest, TheRingStaysGrantedUntilTheBackendHasLetGoOfIt) {
    test::toolstack_add_vbd(toolstack_, 0, kDevid);
    LinuxBlkbackPeer backend(hv_, 0, kDevid, {});
    auto device = detached_while_backend_holds(backend);
    ASSERT_EQ(device->state(), S::closed);
    EXPECT_EQ(read(b_ + "/state"), "5");
    EXPECT_NE(backend.data(), nullptr);
    EXPECT_EQ(dom0_.grant_table().deferred_count(), 0u);

    backend.release_close();
    ASSERT_TRUE(test::eventually([&] { return read(b_ + "/state") == "6"; }));
    EXPECT_EQ(backend.data(), nullptr);
    EXPECT_EQ(dom0_.grant_table().deferred_count(), 0u);
    toolstack_.rm(f_);
    toolstack_.rm(b_);
    device.reset();
    EXPECT_EQ(dom0_.grant_table().deferred_count(), 0u);
}

// The backend's Closed can come and go before the frontend's watch handler
// reads the node: the toolstack removes the backend directory after a detach
// and the next attach of the same vdev writes a new one, Initialising. Such a
// backend has let go of the rings (xen_blkif_disconnect, before its Closed),
// so they go then, not only when the device does: a frontend that waited on
// for a Closed it would never see held the next attach for its close
// timeout (5 s, once in a scale run's 1000 cycles).
TEST_F(XenbusFrontendTest, ABackendSeenInitialisingAfterADetachHasLetGoOfTheRing) {
    test::toolstack_add_vbd(toolstack_, 0, kDevid);
    LinuxBlkbackPeer backend(hv_, 0, kDevid, {});
    auto device = detached_while_backend_holds(backend);
    ASSERT_EQ(device->state(), S::closed);
    const std::size_t free_while_held = dom0_.grant_table().free_count();

    // The frontend's control thread is held while the backend lets go, goes
    // Closed and is Initialising again: its watch handlers then read only
    // the last state.
    std::promise<void> resume;
    std::promise<void> holding;
    boost::asio::post(control_.executor(), [&] {
        holding.set_value();
        resume.get_future().wait();
    });
    holding.get_future().wait();
    backend.release_close();
    ASSERT_TRUE(test::eventually([&] { return read(b_ + "/state") == "6"; }));
    toolstack_.write(b_ + "/state", "1");
    resume.set_value();

    // The ring's grant ended, with the device still there.
    EXPECT_TRUE(
        test::eventually([&] { return dom0_.grant_table().free_count() > free_while_held; }));
    EXPECT_EQ(dom0_.grant_table().deferred_count(), 0u);
    toolstack_.rm(f_);
    toolstack_.rm(b_);
}

TEST_F(XenbusFrontendTest, ClosingTheDeviceIsClosingThenClosedOnBothEnds) {
    test::toolstack_add_vbd(toolstack_, 0, kDevid);
    LinuxBlkbackPeer backend(hv_, 0, kDevid, {});
    backend.start();
    auto device = open_blkfront(dom0_, xs_, control_.executor(), kDevid, options());
    device.reset();
    // Linux: frontend Closing, backend mirrors it, frontend Closed (it
    // has let go of the ring), backend Closed.
    EXPECT_EQ(states(), (std::vector<S>{S::initialised, S::connected, S::closing, S::closed}));
    ASSERT_TRUE(test::eventually([&] { return read(b_ + "/state") == "6"; }));
    EXPECT_EQ(backend.written(),
              (std::vector<S>{S::init_wait, S::connected, S::closing, S::closed}));
    EXPECT_EQ(read(f_ + "/state"), "6");
    ASSERT_TRUE(test::eventually([&] { return read(b_ + "/state") == "6"; }));
}

TEST_F(XenbusFrontendTest, BackendErrorBeforeConnectingIsWhatOpenThrows) {
    test::toolstack_add_vbd(toolstack_, 0, kDevid);
    LinuxBlkbackPeer::Script script;
    script.fail_with = "2 opening /images/missing.img: No such file or directory";
    LinuxBlkbackPeer backend(hv_, 0, kDevid, script);
    backend.start();
    const std::string error =
        error_of([&] { open_blkfront(dom0_, xs_, control_.executor(), kDevid, options()); });
    EXPECT_NE(error.find(f_), std::string::npos) << error;
    EXPECT_NE(error.find("is closing: 2 opening /images/missing.img: No such file or directory"),
              std::string::npos)
        << error;
    // Both ends closed in order: the backend's Closing sends the frontend
    // straight to Closed (blkfront_closing).
    EXPECT_EQ(states(), (std::vector<S>{S::closed}));
    ASSERT_TRUE(test::eventually([&] { return read(b_ + "/state") == "6"; }));
    EXPECT_EQ(backend.written(), (std::vector<S>{S::closing, S::closed}));
}

TEST_F(XenbusFrontendTest, BackendErrorIsFoundWhereXenbusDevFatalPutsIt) {
    test::toolstack_add_vbd(toolstack_, 0, kDevid);
    LinuxBlkbackPeer::Script script;
    script.fail_with = "13 mode w on a read-only image";
    script.error_only_where_linux_puts_it = true;
    LinuxBlkbackPeer backend(hv_, 0, kDevid, script);
    backend.start();
    const std::string error =
        error_of([&] { open_blkfront(dom0_, xs_, control_.executor(), kDevid, options()); });
    EXPECT_NE(error.find("13 mode w on a read-only image"), std::string::npos) << error;
}

TEST_F(XenbusFrontendTest, BadBackendValueIsAFatalErrorReportedInXenstore) {
    test::toolstack_add_vbd(toolstack_, 0, kDevid);
    LinuxBlkbackPeer::Script script;
    script.sectors_text = "lots";
    LinuxBlkbackPeer backend(hv_, 0, kDevid, script);
    backend.start();
    const std::string error =
        error_of([&] { open_blkfront(dom0_, xs_, control_.executor(), kDevid, options()); });
    EXPECT_NE(error.find("reading backend fields at " + b_), std::string::npos) << error;
    EXPECT_NE(error.find("'sectors' = 'lots'"), std::string::npos) << error;
    // xenbus_dev_fatal's node and the device directory's own.
    const std::string linux_node = read("/local/domain/0/error/device/vbd/51712/error");
    EXPECT_EQ(linux_node.rfind("22 reading backend fields at " + b_, 0), 0u) << linux_node;
    EXPECT_EQ(read(f_ + "/error"), linux_node);
    EXPECT_EQ(states(), (std::vector<S>{S::initialised, S::closing, S::closed}));
    ASSERT_TRUE(test::eventually([&] { return read(b_ + "/state") == "6"; }));
    EXPECT_EQ(backend.written(),
              (std::vector<S>{S::init_wait, S::connected, S::closing, S::closed}));
}

// Linux blkif_interrupt (5.16 to 6.x): a response with a wrong operation
// goes to "err:", which sets BLKIF_STATE_ERROR and logs "disabled for
// further use"; nothing is written to xenstore, so the frontend stays
// Connected until the toolstack detaches it (blkback_changed: Closing ->
// blkfront_closing -> Closed).
TEST_F(XenbusFrontendTest, BadResponseDisablesTheDeviceAndLeavesXenstoreAlone) {
    test::toolstack_add_vbd(toolstack_, 0, kDevid);
    LinuxBlkbackPeer backend(hv_, 0, kDevid, {});
    backend.start();
    auto device = open_blkfront(dom0_, xs_, control_.executor(), kDevid, options());
    backend.data()->hold();
    IoBuffer buffer(dom0_.memory(), 4096);
    Completions done;
    BlockRequest request = make_request(BlockOperation::read, 0, &buffer.guest(), done.callback());
    device->submit({&request, 1});
    ASSERT_TRUE(test::eventually([&] { return backend.data()->held().size() == 1; }));
    xen::BlkifResponse wrong{};
    wrong.id = backend.data()->held()[0].id;
    wrong.operation = xen::BlkifOp::flush_diskcache;
    backend.data()->respond_raw({wrong});

    ASSERT_TRUE(done.wait_for(1));
    EXPECT_EQ(done.statuses(), std::vector<int>{-ENODEV});
    EXPECT_NE(device->error().find("wrong operation"), std::string::npos) << device->error();
    // A later request fails too: the device is disabled for further use.
    BlockRequest later = make_request(BlockOperation::read, 8, &buffer.guest(), done.callback());
    device->submit({&later, 1});
    ASSERT_TRUE(done.wait_for(2));
    EXPECT_EQ(done.statuses()[1], -ENODEV);
    EXPECT_EQ(device->state(), S::connected);
    EXPECT_EQ(read(f_ + "/error"), "<none>");
    EXPECT_EQ(read("/local/domain/0/error/device/vbd/51712/error"), "<none>");
    EXPECT_EQ(read(f_ + "/state"), "4");
    EXPECT_EQ(read(b_ + "/state"), "4");

    test::toolstack_detach(toolstack_, 0, kDevid);
    ASSERT_TRUE(test::eventually([&] { return device->state() == S::closed; }));
    ASSERT_TRUE(test::eventually([&] { return read(b_ + "/state") == "6"; }));
    EXPECT_EQ(states(), (std::vector<S>{S::initialised, S::connected, S::closed}));
}

// Linux blkback_changed: "case XenbusStateInitWait: if (dev->state !=
// XenbusStateInitialising) break;" and, for Connected while Connected,
// blkfront_connect's resize path. A backend rebound under us (Linux 5.6+
// blkback, allow_rebind: InitWait, then Connected on the live ring) leaves
// the frontend Connected with its ring, and I/O goes on.
TEST_F(XenbusFrontendTest, ABackendReboundUnderUsLeavesUsConnectedOnTheSameRing) {
    test::toolstack_add_vbd(toolstack_, 0, kDevid);
    LinuxBlkbackPeer backend(hv_, 0, kDevid, {});
    backend.start();
    auto device = open_blkfront(dom0_, xs_, control_.executor(), kDevid, options());
    const std::string ring_ref = read(f_ + "/ring-ref");
    IoBuffer buffer(dom0_.memory(), 4096);
    Completions done;
    BlockRequest before = make_request(BlockOperation::read, 0, &buffer.guest(), done.callback());
    device->submit({&before, 1});
    ASSERT_TRUE(done.wait_for(1));

    backend.rebind();
    ASSERT_TRUE(test::eventually([&] { return read(b_ + "/state") == "4"; }));
    BlockRequest after = make_request(BlockOperation::read, 8, &buffer.guest(), done.callback());
    device->submit({&after, 1});
    ASSERT_TRUE(done.wait_for(2));
    EXPECT_EQ(done.statuses(), (std::vector<int>{0, 0}));
    EXPECT_EQ(device->state(), S::connected);
    EXPECT_EQ(read(f_ + "/ring-ref"), ring_ref);
    EXPECT_EQ(device->recoveries(), 0u);
    EXPECT_EQ(states(), (std::vector<S>{S::initialised, S::connected}));
    EXPECT_EQ(backend.written(),
              (std::vector<S>{S::init_wait, S::connected, S::init_wait, S::connected}));
}

TEST_F(XenbusFrontendTest, ConnectedAgainIsAResize) {
    test::toolstack_add_vbd(toolstack_, 0, kDevid);
    LinuxBlkbackPeer backend(hv_, 0, kDevid, {});
    backend.start();
    auto device = open_blkfront(dom0_, xs_, control_.executor(), kDevid, options());
    backend.resize(16384);
    ASSERT_TRUE(test::eventually([&] { return device->capacity_sectors() == 16384; }));
    EXPECT_EQ(device->state(), S::connected);
    // A size that makes no sense is ignored, as Linux ignores it.
    toolstack_.transact([&](xenstore::client::Transaction& t) {
        t.write(b_ + "/sectors", "huge");
        t.write(b_ + "/state", "4");
    });
    backend.resize(12288);
    ASSERT_TRUE(test::eventually([&] { return device->capacity_sectors() == 12288; }));
    EXPECT_EQ(device->error(), "");
    EXPECT_EQ(states(), (std::vector<S>{S::initialised, S::connected}));
}

TEST_F(XenbusFrontendTest, PollWindowComesFromTheDeviceDirectory) {
    test::toolstack_add_vbd(toolstack_, 0, kDevid, "0");
    LinuxBlkbackPeer backend(hv_, 0, kDevid, {});
    backend.start();
    auto device = open_blkfront(dom0_, xs_, control_.executor(), kDevid, options());
    EXPECT_EQ(device->poll(), std::chrono::microseconds(0));
    toolstack_.write(f_ + "/poll-us", "120");
    ASSERT_TRUE(test::eventually([&] { return device->poll() == std::chrono::microseconds(120); }));
    // Polling off, the device still works.
    IoBuffer buffer(dom0_.memory(), 4096);
    Completions done;
    BlockRequest request = make_request(BlockOperation::read, 0, &buffer.guest(), done.callback());
    device->submit({&request, 1});
    ASSERT_TRUE(done.wait_for(1));
    EXPECT_EQ(done.statuses(), std::vector<int>{0});
}

TEST_F(XenbusFrontendTest, DeviceDirectoryWithoutBackendDetailsCannotOpen) {
    toolstack_.write(f_ + "/state", "1");
    const std::string error =
        error_of([&] { open_blkfront(dom0_, xs_, control_.executor(), kDevid, options()); });
    EXPECT_NE(error.find("reading other end details from " + f_), std::string::npos) << error;
    EXPECT_EQ(read(f_ + "/error").rfind(std::to_string(ENOENT) + " reading other end details", 0),
              0u);
    EXPECT_EQ(read(f_ + "/state"), "5");  // xenbus_dev_fatal: Closing
}

// The guest's ABI is the toolstack's "protocol" node: one blkfront has no
// ring layout for is a configuration error, reported before any ring.
TEST_F(XenbusFrontendTest, AGuestProtocolWithoutAnX86LayoutCannotOpen) {
    test::toolstack_add_vbd(toolstack_, 0, kDevid);
    toolstack_.write(f_ + "/protocol", "arm-abi");
    const std::string error =
        error_of([&] { open_blkfront(dom0_, xs_, control_.executor(), kDevid, options()); });
    EXPECT_NE(error.find("reading configuration: protocol 'arm-abi' is neither x86_64-abi nor "
                         "x86_32-abi"),
              std::string::npos)
        << error;
    EXPECT_EQ(read(f_ + "/error").rfind(std::to_string(EINVAL) + " reading configuration", 0), 0u);
    EXPECT_EQ(read(f_ + "/ring-ref"), "<none>");
}

TEST_F(XenbusFrontendTest, AbsentBackendTimesOutAndTheFrontendClosesAnyway) {
    test::toolstack_add_vbd(toolstack_, 0, kDevid);
    BlkfrontOptions opts = options();
    opts.connect_timeout = std::chrono::milliseconds(300);
    opts.close_timeout = std::chrono::milliseconds(300);
    const std::string error =
        error_of([&] { open_blkfront(dom0_, xs_, control_.executor(), kDevid, opts); });
    EXPECT_NE(error.find("did not connect within 300 ms"), std::string::npos) << error;
    EXPECT_EQ(states(), (std::vector<S>{S::closing, S::closed}));
    EXPECT_EQ(read(f_ + "/state"), "6");
}

// libxl's forced detach (Xen 4.17 libxl__initiate_device_generic_remove
// with force: the frontend directory removed in the same transaction as
// online=0 and backend Closing): the frontend's device goes away without
// its directory coming back (__xenbus_switch_state writes nothing to a
// node that has gone), and Linux's blkback sees the frontend Unknown
// (frontend_changed -> device_unregister), so xenbus_dev_remove finds its
// state forced to Closing and writes Closed, which is what libxl waits for.
TEST_F(XenbusFrontendTest, AForcedDetachTakesTheDeviceAwayAndTheBackendClosesForTheToolstack) {
    test::toolstack_add_vbd(toolstack_, 0, kDevid);
    LinuxBlkbackPeer backend(hv_, 0, kDevid, {});
    backend.start();
    const std::size_t free_pages = dom0_.memory().free_pages();
    auto device = open_blkfront(dom0_, xs_, control_.executor(), kDevid, options());
    toolstack_.transact([&](xenstore::client::Transaction& t) {
        t.rm(f_);
        t.write(b_ + "/online", "0");
        t.write(b_ + "/state", "5");
    });
    ASSERT_TRUE(test::eventually([&] { return device->state() == S::closed; }));
    ASSERT_TRUE(test::eventually([&] { return read(b_ + "/state") == "6"; }));
    EXPECT_TRUE(backend.removed());
    EXPECT_EQ(backend.written(), (std::vector<S>{S::init_wait, S::connected, S::closed}));
    EXPECT_EQ(backend.data(), nullptr);
    device.reset();
    EXPECT_FALSE(toolstack_.try_read(f_ + "/state").has_value());
    // The frontend may go while the backend still maps its ring; the ring's
    // grant is then parked with its page (gnttab_end_foreign_access's
    // deferred list), and once the backend has unmapped it the grant
    // table's timer (Linux's deferred_timer) ends it with no call from
    // anyone and gives the page back: no page of the device is left.
    EXPECT_TRUE(test::eventually([&] {
        return dom0_.grant_table().deferred_count() == 0 &&
               dom0_.memory().free_pages() == free_pages;
    }));
}

TEST_F(XenbusFrontendTest, RemovedDeviceDirectoryTakesTheDeviceAwayWithoutRecreatingIt) {
    test::toolstack_add_vbd(toolstack_, 0, kDevid);
    LinuxBlkbackPeer backend(hv_, 0, kDevid, {});
    backend.start();
    auto device = open_blkfront(dom0_, xs_, control_.executor(), kDevid, options());
    toolstack_.rm(f_);
    ASSERT_TRUE(test::eventually([&] { return device->state() == S::closed; }));
    IoBuffer buffer(dom0_.memory(), 4096);
    Completions done;
    BlockRequest request = make_request(BlockOperation::read, 0, &buffer.guest(), done.callback());
    device->submit({&request, 1});
    ASSERT_TRUE(done.wait_for(1));
    EXPECT_EQ(done.statuses(), std::vector<int>{-ENODEV});
    EXPECT_NE(device->error().find("removed"), std::string::npos) << device->error();
    device.reset();
    EXPECT_FALSE(toolstack_.try_read(f_ + "/state").has_value());
}

}  // namespace
}  // namespace pvsim::frontend::blkfront
