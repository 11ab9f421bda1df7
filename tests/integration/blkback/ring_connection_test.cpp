// Connecting a vbd's ring (xen_blkif_map): the frontend's grant mapped, the
// ring attached where it stands, the port bound; and each way it can fail,
// reported with Linux's errno and leaving nothing mapped or bound.
#include <gtest/gtest.h>

#include <cerrno>
#include <string>

#include "backend/blkback/ring_connection.hpp"
#include "tests/integration/blkback/test_frontend.hpp"
#include "tests/support/hypervisor_process.hpp"

namespace pvsim::backend::blkback {
namespace {

class RingConnectionTest : public ::testing::Test {
  protected:
    test::HypervisorProcess hv_;
    hypervisor::Hypervisor fe_hv_ = hv_.connect_dom0();
    hypervisor::Hypervisor be_ = hv_.connect_dom0();
    test::TestFrontend front_{fe_hv_, 0, 1};
};

TEST_F(RingConnectionTest, MapsTheRingAndBindsThePortThenGivesBothBack) {
    {
        RingConnection connection =
            RingConnection::connect(be_, 0, front_.ring_ref(), front_.port());
        EXPECT_EQ(connection.ring().size(), 32u);
        EXPECT_EQ(be_.mapping_count(), 1u);
        EXPECT_EQ(be_.evtchn_status(0, front_.port()).status, xen::EvtchnStat::interdomain);
        // The same page, seen from both ends.
        front_.queue(test::TestFrontend::rw(xen::BlkifOp::read, 7, 0, {front_.segment(0)}));
        front_.push();
        EXPECT_EQ(connection.ring().unconsumed_requests(), 1u);
        EXPECT_EQ(connection.ring().consume_request().id, 7u);
        RingConnection moved = std::move(connection);
        EXPECT_EQ(be_.mapping_count(), 1u);
    }
    EXPECT_EQ(be_.mapping_count(), 0u);
    EXPECT_EQ(be_.evtchn_status(0, front_.port()).status, xen::EvtchnStat::unbound);
}

TEST_F(RingConnectionTest, AttachesWhereALiveRingStands) {
    for (int i = 0; i < 5; ++i) {
        front_.queue(test::TestFrontend::rw(xen::BlkifOp::read, 1, 0, {front_.segment(0)}));
    }
    front_.push();
    xen::ring_index(front_.shared().rsp_prod).store(3);
    RingConnection connection = RingConnection::connect(be_, 0, front_.ring_ref(), front_.port());
    EXPECT_EQ(connection.ring().req_cons(), 3u);
    EXPECT_EQ(connection.ring().rsp_prod_pvt(), 3u);
    EXPECT_EQ(connection.ring().unconsumed_requests(), 2u);
}

TEST_F(RingConnectionTest, AGrantThatDoesNotMapIsRefusedNamingItsStatus) {
    try {
        (void)RingConnection::connect(be_, 0, 3000, front_.port());
        FAIL() << "connected through an ungranted ref";
    } catch (const RingConnectError& e) {
        EXPECT_EQ(e.errnum(), ENOENT);
        EXPECT_NE(std::string(e.what()).find("ring-ref 3000"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("GNTST_"), std::string::npos) << e.what();
    }
    EXPECT_EQ(be_.mapping_count(), 0u);
}

TEST_F(RingConnectionTest, APortThatCannotBeBoundIsRefusedAndTheRingUnmapped) {
    try {
        (void)RingConnection::connect(be_, 0, front_.ring_ref(), 999);
        FAIL() << "bound a port that is not unbound";
    } catch (const RingConnectError& e) {
        EXPECT_EQ(e.errnum(), EINVAL);
        EXPECT_NE(std::string(e.what()).find("port 999"), std::string::npos) << e.what();
    }
    EXPECT_EQ(be_.mapping_count(), 0u);
}

TEST_F(RingConnectionTest, AFrontendClaimingMoreThanARingIsRefused) {
    xen::ring_index(front_.shared().req_prod).store(40);
    try {
        (void)RingConnection::connect(be_, 0, front_.ring_ref(), front_.port());
        FAIL() << "attached to an overfull ring";
    } catch (const RingConnectError& e) {
        EXPECT_EQ(e.errnum(), EIO);
        EXPECT_NE(std::string(e.what()).find("req_prod 40"), std::string::npos) << e.what();
    }
    EXPECT_EQ(be_.mapping_count(), 0u);
    EXPECT_EQ(be_.evtchn_status(0, front_.port()).status, xen::EvtchnStat::unbound);
}

}  // namespace
}  // namespace pvsim::backend::blkback
