// What blkfront checks before trusting a response (Linux xen-blkfront.c
// blkif_interrupt, XSA-396): the response producer within the ring, and each
// response's id in range, pending, and with the operation of its request.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstdlib>
#include <memory>

#include "frontend/blkfront/response_check.hpp"

namespace pvsim::frontend::blkfront {
namespace {

xen::BlkifResponse response(std::uint64_t id, xen::BlkifOp op) {
    xen::BlkifResponse r{};
    r.id = id;
    r.operation = op;
    return r;
}

class ResponseCheck : public ::testing::Test {
  protected:
    ShadowTable shadow_{32};

    std::uint64_t pending(xen::BlkifOp op) {
        const std::uint64_t id = *shadow_.take();
        shadow_.at(id).request.operation = op;
        return id;
    }
};

TEST_F(ResponseCheck, AnswerToAPendingRequestWithItsOperationPasses) {
    const auto id = pending(xen::BlkifOp::read);
    EXPECT_FALSE(check_response(response(id, xen::BlkifOp::read), shadow_));
}

TEST_F(ResponseCheck, IdOutsideTheRingIsRefused) {
    pending(xen::BlkifOp::read);
    const auto why = check_response(response(32, xen::BlkifOp::read), shadow_);
    ASSERT_TRUE(why);
    EXPECT_NE(why->find("incorrect id 32"), std::string::npos) << *why;
    EXPECT_TRUE(check_response(response(~0ull, xen::BlkifOp::read), shadow_));
}

TEST_F(ResponseCheck, IdWithNothingPendingIsRefused) {
    const auto id = pending(xen::BlkifOp::write);
    shadow_.release(id);  // answered already
    const auto why = check_response(response(id, xen::BlkifOp::write), shadow_);
    ASSERT_TRUE(why);
    EXPECT_NE(why->find("no pending request"), std::string::npos) << *why;
}

TEST_F(ResponseCheck, WrongOperationIsRefusedNamingBoth) {
    const auto id = pending(xen::BlkifOp::read);
    const auto why = check_response(response(id, xen::BlkifOp::write), shadow_);
    ASSERT_TRUE(why);
    EXPECT_NE(why->find("BLKIF_OP_WRITE (1) instead of BLKIF_OP_READ (0)"), std::string::npos)
        << *why;
}

TEST_F(ResponseCheck, IndirectRequestIsAnsweredWithItsInnerOperation) {
    const auto id = *shadow_.take();
    xen::BlkifRequestIndirect indirect{};
    indirect.operation = xen::BlkifOp::indirect;
    indirect.indirect_op = xen::BlkifOp::write;
    shadow_.at(id).request = xen::blkif_request_slot(indirect);
    EXPECT_FALSE(check_response(response(id, xen::BlkifOp::write), shadow_));
    EXPECT_TRUE(check_response(response(id, xen::BlkifOp::indirect), shadow_));
}

TEST(ResponseProd, MoreResponsesThanSlotsIsRefusedInEitherLayout) {
    alignas(64) static std::byte page[xen::kXenPageSize];
    const xen::BlkifFrontRings native = xen::BlkifFrontRing::init_shared(page, sizeof page);
    const xen::BlkifFrontRings x86_32 = xen::BlkifX86_32FrontRing(page, sizeof page);
    for (const xen::BlkifFrontRings* ring : {&native, &x86_32}) {
        EXPECT_FALSE(check_response_prod(*ring, 0));
        EXPECT_FALSE(check_response_prod(*ring, 32));
        const auto why = check_response_prod(*ring, 33);
        ASSERT_TRUE(why);
        EXPECT_NE(why->find("illegal number of responses"), std::string::npos) << *why;
    }
}

TEST(ResponseStatus, MapsToErrnoAsLinuxDoes) {
    EXPECT_EQ(response_errno(xen::BlkifStatus::okay), 0);
    EXPECT_EQ(response_errno(xen::BlkifStatus::error), -EIO);
    EXPECT_EQ(response_errno(xen::BlkifStatus::eopnotsupp), -EOPNOTSUPP);
    EXPECT_EQ(response_errno(static_cast<xen::BlkifStatus>(7)), -EIO);
}

}  // namespace
}  // namespace pvsim::frontend::blkfront
