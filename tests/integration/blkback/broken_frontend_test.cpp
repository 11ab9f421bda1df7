// Deliberately broken frontends (DESIGN.md §8, per ring): a ring-ref, an
// event channel or a protocol that cannot be used, a frontend state that is
// not one. Each time pvsim-backend writes the error node with the reason
// (where Linux's xenbus_dev_fatal writes it, and in the backend directory)
// and goes Closing; the daemon and the other vbds live on. A frontend that
// runs req_prod more than a ring ahead only halts its ring, as in Linux.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "common/xen/vbd_interface.hpp"
#include "tests/support/blkback_fixture.hpp"

namespace pvsim::test {
namespace {

using tools::toolstack::VbdPaths;
using xen::XenbusState;

constexpr std::uint64_t kImageBytes = 4 << 20;

class BrokenFrontendTest : public BlkbackFixture {
  protected:
    BrokenFrontendTest() : guest_(hv_, "guest") {
        introduce(guest_);
        image_ = make_image("disk.img", kImageBytes);
        // The vbd that must keep working whatever happens to the others.
        good_ = tools::toolstack::attach_vbd(dom0_, spec(guest_.domid(), "xvda", image_));
    }

    VbdPaths attach(const std::string& vdev) {
        return tools::toolstack::attach_vbd(
            dom0_, spec(guest_.domid(), vdev, make_image(vdev + ".img", kImageBytes)));
    }
    void write(const VbdPaths& paths, const std::string& key, const std::string& value) {
        guest_.ok("xs-write " + paths.frontend + "/" + key + " " + value);
    }
    // A granted ring page and an unbound port, as a frontend makes them.
    std::pair<std::string, std::string> ring_and_port(std::uint64_t* gfn = nullptr) {
        const std::uint64_t page = guest_.ok_number("alloc-page");
        if (gfn != nullptr) {
            *gfn = page;
        }
        return {guest_.ok("grant 0 " + std::to_string(page) + " rw"), guest_.ok("alloc-unbound 0")};
    }
    void hand_over(const VbdPaths& paths, const std::string& ref, const std::string& port,
                   const std::string& protocol = "x86_64-abi") {
        write(paths, "ring-ref", ref);
        write(paths, "event-channel", port);
        write(paths, "protocol", protocol);
        write(paths, "state", "3");
    }

    // The error reported, in both places, and Closing.
    void expect_fatal(const VbdPaths& paths, const std::string& errno_text,
                      const std::string& reason) {
        // From the backend's log: with no frontend there to answer (its
        // state Unknown) the backend's Closing is followed by Closed at
        // once, so a watch on the node can see Closed alone.
        EXPECT_TRUE(eventually(
            [&] {
                const std::vector<XenbusState> writes =
                    logged_state_writes(backend_->log(), paths.backend);
                return std::find(writes.begin(), writes.end(), XenbusState::closing) !=
                       writes.end();
            },
            kStateTimeout))
            << paths.backend << " never went Closing\n"
            << backend_->log();
        const std::string error = read(paths.backend + "/error");
        EXPECT_EQ(error.rfind(errno_text + " ", 0), 0u) << error;
        EXPECT_NE(error.find(reason), std::string::npos) << error;
        EXPECT_EQ(read(paths.backend_error_node()), error);
        EXPECT_EQ(tools::toolstack::read_backend_error(dom0_, paths), error);
    }

    // The daemon lives, and the good vbd connects and disconnects as ever.
    void expect_the_rest_lives_on() {
        EXPECT_TRUE(backend_->alive()) << backend_->log();
        const auto [ref, port] = ring_and_port();
        hand_over(good_, ref, port);
        expect_state(good_.backend + "/state", XenbusState::connected);
        EXPECT_EQ(read(good_.backend + "/error"), "<none>");
        write(good_, "state", "6");
        expect_state(good_.backend + "/state", XenbusState::closed);
        EXPECT_EQ(guest_.ok("end-access " + ref), "ended");
    }

    TestGuest guest_;
    std::filesystem::path image_;
    VbdPaths good_;
};

TEST_F(BrokenFrontendTest, ARingRefThatDoesNotMap) {
    const VbdPaths bad = attach("xvdb");
    const auto [ref, port] = ring_and_port();
    hand_over(bad, "4000", port);
    expect_fatal(bad, "2", "mapping ring-ref 4000 port " + port + ": GNTST_");
    expect_the_rest_lives_on();
}

TEST_F(BrokenFrontendTest, ARingRefThatIsNotANumber) {
    const VbdPaths bad = attach("xvdb");
    const auto [ref, port] = ring_and_port();
    hand_over(bad, "ring0", port);
    expect_fatal(bad, "22", "ring-ref: 'ring0' is not a number");
    expect_the_rest_lives_on();
}

TEST_F(BrokenFrontendTest, AnEventChannelThatCannotBeBound) {
    const VbdPaths bad = attach("xvdb");
    const auto [ref, port] = ring_and_port();
    hand_over(bad, ref, "999");
    expect_fatal(bad, "22", "port 999");
    // The ring it had mapped first is given back.
    EXPECT_EQ(guest_.ok("end-access " + ref), "ended");
    expect_the_rest_lives_on();
}

// connect_ring knows x86_32-abi and x86_64-abi; arm-abi (Xen's name for
// the Arm layout) is no x86 layout.
TEST_F(BrokenFrontendTest, AProtocolLinuxDoesNotKnowOnX86) {
    const VbdPaths bad = attach("xvdb");
    const auto [ref, port] = ring_and_port();
    hand_over(bad, ref, port, "arm-abi");
    expect_fatal(bad, "38", "unknown fe protocol arm-abi");
    expect_the_rest_lives_on();
}

TEST_F(BrokenFrontendTest, AFrontendStateThatIsNotAState) {
    const VbdPaths bad = attach("xvdb");
    write(bad, "state", "connected!");
    expect_fatal(bad, "22", "saw state 'connected!' at frontend");
    expect_the_rest_lives_on();
}

// Linux __do_block_io_op / xen_blkif_schedule: a req_prod more than a ring
// ahead halts that ring's processing (-EACCES, then the thread only waits
// to be stopped); no xenbus state changes and no error node is written.
TEST_F(BrokenFrontendTest, AFrontendRunningReqProdMoreThanARingAheadHaltsTheRingSilently) {
    const VbdPaths bad = attach("xvdb");
    std::uint64_t gfn = 0;
    const auto [ref, port] = ring_and_port(&gfn);
    hand_over(bad, ref, port);
    expect_state(bad.backend + "/state", XenbusState::connected);
    // req_prod (offset 0 of the shared ring) := "AAAA" = 0x41414141.
    guest_.ok("write " + std::to_string(gfn) + " 0 AAAA");
    guest_.ok("notify " + port);
    ASSERT_TRUE(test::eventually([&] {
        return backend_->log().find("halting ring processing") != std::string::npos;
    })) << backend_->log();
    // The good vbd's connect and close go through the same control thread
    // after the halt, so a report of it would have landed by then.
    expect_the_rest_lives_on();
    EXPECT_EQ(read(bad.backend + "/state"), "4");
    EXPECT_EQ(read(bad.backend + "/error"), "<none>");
    EXPECT_FALSE(dom0_.try_read(bad.backend_error_node()));
    // The halted ring is still released at the frontend's Closed.
    write(bad, "state", "6");
    expect_state(bad.backend + "/state", XenbusState::closed);
    EXPECT_EQ(guest_.ok("end-access " + ref), "ended");
}

TEST_F(BrokenFrontendTest, AnImageThatDoesNotOpen) {
    // backendtype=qdisk: libxl stats the target only for phy or an unknown
    // backend (libxl__device_disk_set_backend), so QEMU's open is what fails.
    auto s = spec(guest_.domid(), "xvdb", hv_.temp_path() / "missing.img");
    s.backend = tools::toolstack::DiskBackend::qdisk;
    try {
        (void)tools::toolstack::attach_vbd(dom0_, s);
        ADD_FAILURE() << "attached a missing image";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("the backend is Closing"), std::string::npos)
            << e.what();
        EXPECT_NE(std::string(e.what()).find("missing.img"), std::string::npos) << e.what();
    }
    const VbdPaths bad = VbdPaths::of(0, guest_.domid(), xen::vdev_number("xvdb"),
                                      tools::toolstack::DiskBackend::qdisk);
    expect_fatal(bad, "2", "opening " + (hv_.temp_path() / "missing.img").string());
    // The frontend closes on the backend's Closing; the backend follows to
    // Closed, and the detach completes.
    write(bad, "state", "6");
    expect_state(bad.backend + "/state", XenbusState::closed);
    tools::toolstack::detach_vbd(dom0_, bad);
    EXPECT_FALSE(dom0_.try_read(bad.backend));
    EXPECT_FALSE(dom0_.try_read(bad.backend_error_node()));
    expect_the_rest_lives_on();
}

// Bad values written on the toolstack's side are errors too, not crashes.
TEST_F(BrokenFrontendTest, BadToolstackValues) {
    const VbdPaths bad_id = VbdPaths::of(0, guest_.domid(), xen::vdev_number("xvdc"));
    dom0_.transact([&](xenstore::client::Transaction& t) {
        t.write(bad_id.backend + "/frontend", bad_id.frontend);
        t.write(bad_id.backend + "/frontend-id", "dom1");
        t.write(bad_id.backend + "/state", "1");
    });
    expect_fatal(bad_id, "22", "frontend-id 'dom1' is not a domain id");

    const VbdPaths bad_poll = VbdPaths::of(0, guest_.domid(), xen::vdev_number("xvdd"));
    dom0_.transact([&](xenstore::client::Transaction& t) {
        t.write(bad_poll.backend + "/frontend", bad_poll.frontend);
        t.write(bad_poll.backend + "/frontend-id", std::to_string(guest_.domid()));
        t.write(bad_poll.backend + "/params", image_.string());
        t.write(bad_poll.backend + "/mode", "w");
        t.write(bad_poll.backend + "/poll-us", "fast");
        t.write(bad_poll.backend + "/state", "1");
    });
    expect_fatal(bad_poll, "22", "poll-us 'fast'");
    expect_the_rest_lives_on();
}

}  // namespace
}  // namespace pvsim::test
