// What a vbd's pvsim-* nodes make pvsim-backend offer, a frontend taking
// several queues of multi-page rings, and the recovery protocol: a backend
// restarted while its frontend is Connected does not map the old ring but
// waits in InitWait for the frontend to come back with fresh keys. The
// guest is pvsim_test_domain writing its keys verb by verb (blkfront's
// talk_to_blkback, Linux xen-blkfront.c).
#include <gtest/gtest.h>

#include <string>
#include <thread>

#include "common/xen/blkif_features.hpp"
#include "tests/support/blkback_fixture.hpp"

namespace pvsim::test {
// This file's own names, apart from those of the other files of its folder,
// which compiles as one translation unit.
namespace features_recovery_test {

using tools::toolstack::VbdPaths;
using xen::XenbusState;

constexpr std::uint64_t kImageBytes = 8 << 20;

class FeaturesRecoveryTest : public BlkbackFixture {
  protected:
    std::string grant_page(TestGuest& guest) {
        const auto gfn = guest.ok_number("alloc-page");
        return guest.ok("grant 0 " + std::to_string(gfn) + " rw");
    }
    void fwrite(TestGuest& guest, const VbdPaths& paths, const std::string& key,
                const std::string& value) {
        guest.ok("xs-write " + paths.frontend + "/" + key + " " + value);
    }
    // One ring of one page: ring-ref and event-channel; returns the ref.
    std::string hand_over_one(TestGuest& guest, const VbdPaths& paths) {
        const std::string ref = grant_page(guest);
        fwrite(guest, paths, "ring-ref", ref);
        fwrite(guest, paths, "event-channel", guest.ok("alloc-unbound 0"));
        fwrite(guest, paths, "protocol", "x86_64-abi");
        fwrite(guest, paths, "state", "3");
        return ref;
    }
};

TEST_F(FeaturesRecoveryTest, ThePvsimNodesSetTheOffersAndQueuesOfMultiPageRingsConnect) {
    TestGuest guest(hv_, "guest");
    introduce(guest);
    const auto image = make_image("disk.img", kImageBytes);
    auto vbd = spec(guest.domid(), "xvda", image);
    vbd.backend_features.persistent = false;
    vbd.backend_features.max_indirect_segments = 0;
    vbd.backend_features.max_ring_page_order = 1;
    vbd.backend_features.max_queues = 2;
    vbd.backend_features.discard = false;
    vbd.backend_features.barrier = false;
    const VbdPaths paths = tools::toolstack::attach_vbd(dom0_, vbd);
    expect_state(paths.backend + "/state", XenbusState::init_wait);
    EXPECT_EQ(read(paths.backend + "/feature-max-indirect-segments"), "0");
    EXPECT_EQ(read(paths.backend + "/max-ring-page-order"), "1");
    EXPECT_EQ(read(paths.backend + "/multi-queue-max-queues"), "2");
    EXPECT_EQ(read(paths.backend + "/feature-persistent"), "0");

    // Two queues of two pages each (Linux: ring-page-order at the top,
    // queue-K/ring-refI and queue-K/event-channel).
    fwrite(guest, paths, "multi-queue-num-queues", "2");
    fwrite(guest, paths, "ring-page-order", "1");
    for (int k = 0; k < 2; ++k) {
        const std::string queue = "queue-" + std::to_string(k);
        fwrite(guest, paths, queue + "/ring-ref0", grant_page(guest));
        fwrite(guest, paths, queue + "/ring-ref1", grant_page(guest));
        fwrite(guest, paths, queue + "/event-channel", guest.ok("alloc-unbound 0"));
    }
    fwrite(guest, paths, "protocol", "x86_64-abi");
    fwrite(guest, paths, "feature-persistent", "1");
    fwrite(guest, paths, "state", "3");
    expect_state(paths.backend + "/state", XenbusState::connected);
    // No discard: the toolstack wrote discard-enable 0, as libxl does for
    // no-discard, and Linux's xen_blkbk_discard then writes no discard key.
    EXPECT_EQ(read(paths.backend + "/discard-enable"), "0");
    EXPECT_EQ(read(paths.backend + "/feature-discard"), "<none>");
    EXPECT_EQ(read(paths.backend + "/feature-barrier"), "0");
    EXPECT_EQ(read(paths.backend + "/feature-flush-cache"), "1");
    EXPECT_EQ(read(paths.backend + "/feature-persistent"), "0");
    EXPECT_NE(backend_->log().find("2 queue(s) of 2 page(s)"), std::string::npos)
        << backend_->log();
}

TEST_F(FeaturesRecoveryTest, MoreQueuesThanOfferedIsFatalNamingThem) {
    TestGuest guest(hv_, "guest");
    introduce(guest);
    const auto image = make_image("disk.img", kImageBytes);
    auto vbd = spec(guest.domid(), "xvda", image);
    vbd.backend_features.max_queues = 1;
    const VbdPaths paths = tools::toolstack::attach_vbd(dom0_, vbd);
    expect_state(paths.backend + "/state", XenbusState::init_wait);
    fwrite(guest, paths, "multi-queue-num-queues", "2");
    (void)hand_over_one(guest, paths);
    expect_state(paths.backend + "/state", XenbusState::closing);
    EXPECT_NE(read(paths.backend + "/error").find("requested 2 queues"), std::string::npos);
}

// Linux 5.6+ (blkback's allow_rebind): the new backend publishes its limits,
// goes InitWait and, the frontend being Connected, maps the very ring the
// frontend granted (no fresh keys, no blkif_recover) and goes Connected.
TEST_F(FeaturesRecoveryTest, ARestartedBackendMapsTheConnectedFrontendsRingAgain) {
    TestGuest guest(hv_, "guest");
    introduce(guest);
    const auto image = make_image("disk.img", kImageBytes);
    const VbdPaths paths = tools::toolstack::attach_vbd(dom0_, spec(guest.domid(), "xvda", image));
    expect_state(paths.backend + "/state", XenbusState::init_wait);
    const std::string old_ref = hand_over_one(guest, paths);
    expect_state(paths.backend + "/state", XenbusState::connected);
    fwrite(guest, paths, "state", "4");

    backend_->kill();
    // Nobody maps the ring now: its grant could be ended (we keep it).
    backend_.emplace(hv_);
    // The old backend's Connected is still there: wait for the new one's
    // connect, logged after its "attaching" (the log file is the run's, so
    // the old backend's own connect line is in it too), then look.
    ASSERT_TRUE(eventually([&] {
        const std::string log = backend_->log();
        const std::size_t attaching = log.find("attaching its live rings");
        return attaching != std::string::npos &&
               log.find("queue(s) of", attaching) != std::string::npos;
    })) << backend_->log();
    expect_state(paths.backend + "/state", XenbusState::connected);
    EXPECT_EQ(read(paths.backend + "/feature-max-indirect-segments"), "256");
    EXPECT_EQ(read(paths.frontend + "/ring-ref"), old_ref);
    EXPECT_EQ(read(paths.frontend + "/state"), "4");
    // Mapped again by the new backend: the grant is pinned.
    EXPECT_EQ(guest.ok("end-access " + old_ref), "pinned");
}

}  // namespace features_recovery_test
}  // namespace pvsim::test
