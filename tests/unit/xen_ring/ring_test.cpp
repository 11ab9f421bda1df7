// The shared ring templates: sizes, flow control, notification hold-off,
// wrap-around of the 32-bit indices, the overflow checks and copy-once reads.
#include "common/xen/ring.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "common/xen/blkif.hpp"
#include "tests/support/page_buffer.hpp"

namespace pvsim::xen {
namespace {

using test::PageBuffer;
using test::set_shared_indices;

// A small message pair, to see the templates work for slots other than
// blkif's.
struct SmallReq {
    std::uint32_t id;
    std::uint32_t value;
};
struct SmallRsp {
    std::uint32_t id;
    std::int32_t status;
};
using SmallFront = FrontRing<SmallReq, SmallRsp>;
using SmallBack = BackRing<SmallReq, SmallRsp>;

BlkifRequest make_request(std::uint64_t id) {
    BlkifRequest req{};
    req.operation = BlkifOp::read;
    req.nr_segments = 1;
    req.handle = 51712;
    req.id = id;
    req.sector_number = id * 8;
    req.seg[0] = BlkifRequestSegment{
        .gref = static_cast<GrantRef>(id), .first_sect = 0, .last_sect = 7, .pad = {}};
    return req;
}

BlkifResponse make_response(std::uint64_t id) {
    BlkifResponse rsp{};
    rsp.id = id;
    rsp.operation = BlkifOp::read;
    rsp.status = BlkifStatus::okay;
    return rsp;
}

TEST(RingLayout, HeaderIsSixtyFourBytesAndSlotsFollowIt) {
    EXPECT_EQ(sizeof(SharedRing), 64u);
    EXPECT_EQ(offsetof(SharedRing, req_prod), 0u);
    EXPECT_EQ(offsetof(SharedRing, req_event), 4u);
    EXPECT_EQ(offsetof(SharedRing, rsp_prod), 8u);
    EXPECT_EQ(offsetof(SharedRing, rsp_event), 12u);
    EXPECT_EQ(offsetof(SharedRing, pvt_pad), 16u);
    EXPECT_EQ(offsetof(SharedRing, pad), 20u);
    EXPECT_EQ((ring_entries_offset<BlkifRequest, BlkifResponse>()), 64u);
    EXPECT_EQ((ring_entries_offset<SmallReq, SmallRsp>()), 64u);
}

TEST(RingSize, BlkifSlotsPerOrder) {
    // 36 slots fit in one page after the header; rounded down to 32.
    const RingIdx expected[] = {32, 64, 128, 256, 512};
    for (unsigned order = 0; order <= 4; ++order) {
        SCOPED_TRACE(order);
        EXPECT_EQ(blkif_ring_size(order), expected[order]);
        PageBuffer area(ring_bytes_for_order(order));
        EXPECT_EQ(BlkifFrontRing(area.data(), area.size()).size(), expected[order]);
        EXPECT_EQ(BlkifBackRing(area.data(), area.size()).size(), expected[order]);
    }
}

TEST(RingSize, RoundsDownToAPowerOfTwo) {
    constexpr std::size_t slot = sizeof(BlkifSringEntry);
    EXPECT_EQ((ring_size_for_bytes<BlkifRequest, BlkifResponse>(0)), 0u);
    EXPECT_EQ((ring_size_for_bytes<BlkifRequest, BlkifResponse>(64)), 0u);
    EXPECT_EQ((ring_size_for_bytes<BlkifRequest, BlkifResponse>(64 + slot - 1)), 0u);
    EXPECT_EQ((ring_size_for_bytes<BlkifRequest, BlkifResponse>(64 + slot)), 1u);
    EXPECT_EQ((ring_size_for_bytes<BlkifRequest, BlkifResponse>(64 + 3 * slot)), 2u);
    EXPECT_EQ((ring_size_for_bytes<BlkifRequest, BlkifResponse>(64 + 4 * slot)), 4u);
    EXPECT_EQ((ring_size_for_bytes<BlkifRequest, BlkifResponse>(64 + 63 * slot)), 32u);
    // 8-byte slots: (4096 - 64) / 8 = 504, rounded down to 256.
    EXPECT_EQ((ring_size_for_bytes<SmallReq, SmallRsp>(4096)), 256u);
    EXPECT_EQ(round_down_to_power_of_two(0), 0u);
    EXPECT_EQ(round_down_to_power_of_two(1), 1u);
    EXPECT_EQ(round_down_to_power_of_two(0xFFFFFFFFu), 0x80000000u);
}

TEST(RingInit, SharedRingInitSetsProducersEventsAndPadding) {
    PageBuffer area(kXenPageSize);
    std::memset(area.data(), 0xAA, area.size());
    BlkifFrontRing front = BlkifFrontRing::init_shared(area.data(), area.size());
    const SharedRing& s = area.shared();
    EXPECT_EQ(s.req_prod, 0u);
    EXPECT_EQ(s.rsp_prod, 0u);
    EXPECT_EQ(s.req_event, 1u);
    EXPECT_EQ(s.rsp_event, 1u);
    for (auto b : s.pvt_pad) {
        EXPECT_EQ(b, 0u);
    }
    for (auto b : s.pad) {
        EXPECT_EQ(b, 0u);
    }
    EXPECT_EQ(front.req_prod_pvt(), 0u);
    EXPECT_EQ(front.rsp_cons(), 0u);
    EXPECT_EQ(front.free_requests(), 32u);
}

TEST(RingInit, AttachDoesNotTouchTheSharedHeader) {
    PageBuffer area(kXenPageSize);
    set_shared_indices(area.shared(), 1000);
    BlkifFrontRing front(area.data(), area.size(), 1000);
    BlkifBackRing back(area.data(), area.size(), 1000);
    EXPECT_EQ(area.shared().req_prod, 1000u);
    EXPECT_EQ(area.shared().req_event, 1001u);
    EXPECT_EQ(front.req_prod_pvt(), 1000u);
    EXPECT_EQ(front.rsp_cons(), 1000u);
    EXPECT_EQ(back.rsp_prod_pvt(), 1000u);
    EXPECT_EQ(back.req_cons(), 1000u);
    EXPECT_EQ(front.free_requests(), 32u);
    EXPECT_EQ(back.unconsumed_requests(), 0u);
}

TEST(RingInit, RejectsAreasThatHoldNoSlotOrAreMisaligned) {
    PageBuffer area(kXenPageSize);
    EXPECT_THROW(BlkifFrontRing(nullptr, kXenPageSize), std::invalid_argument);
    EXPECT_THROW(BlkifBackRing(area.data(), 64 + sizeof(BlkifSringEntry) - 1),
                 std::invalid_argument);
    auto* odd = static_cast<std::byte*>(area.data()) + 4;
    EXPECT_THROW(BlkifBackRing(odd, kXenPageSize - 4), std::invalid_argument);
}

TEST(RingSlots, IndicesAreMaskedToTheRing) {
    PageBuffer area(kXenPageSize);
    BlkifFrontRing front = BlkifFrontRing::init_shared(area.data(), area.size());
    auto* first = reinterpret_cast<std::byte*>(area.data()) + 64;
    EXPECT_EQ(reinterpret_cast<std::byte*>(&front.request_slot(0)), first);
    EXPECT_EQ(&front.request_slot(32), &front.request_slot(0));
    EXPECT_EQ(&front.request_slot(0xFFFFFFFFu), &front.request_slot(31));
    EXPECT_EQ(reinterpret_cast<std::byte*>(&front.request_slot(5)),
              first + 5 * sizeof(BlkifSringEntry));
    // Request and response share a slot.
    EXPECT_EQ(reinterpret_cast<void*>(&front.response_slot(7)),
              reinterpret_cast<void*>(&front.request_slot(7)));
}

TEST(RingFlow, FillConsumeAndAnswer) {
    PageBuffer area(kXenPageSize);
    BlkifFrontRing front = BlkifFrontRing::init_shared(area.data(), area.size());
    BlkifBackRing back(area.data(), area.size());

    for (std::uint64_t id = 0; id < 5; ++id) {
        front.produce_request(make_request(id));
    }
    EXPECT_EQ(front.free_requests(), 27u);
    // Not visible before the push.
    EXPECT_EQ(back.unconsumed_requests(), 0u);
    front.push_requests();
    EXPECT_EQ(back.req_prod(), 5u);
    EXPECT_EQ(back.unconsumed_requests(), 5u);

    for (std::uint64_t id = 0; id < 5; ++id) {
        BlkifRequest req = back.consume_request();
        EXPECT_EQ(req.id, id);
        EXPECT_EQ(req.sector_number, id * 8);
        EXPECT_EQ(req.seg[0].gref, id);
        back.produce_response(make_response(req.id));
    }
    EXPECT_EQ(back.unconsumed_requests(), 0u);
    EXPECT_EQ(front.unconsumed_responses(), 0u);
    back.push_responses();
    EXPECT_EQ(front.unconsumed_responses(), 5u);
    // Still not free until the front takes the responses.
    EXPECT_EQ(front.free_requests(), 27u);
    for (std::uint64_t id = 0; id < 5; ++id) {
        EXPECT_EQ(front.consume_response().id, id);
    }
    EXPECT_EQ(front.unconsumed_responses(), 0u);
    EXPECT_EQ(front.free_requests(), 32u);
}

TEST(RingFlow, FullRingRefusesAnotherRequest) {
    PageBuffer area(kXenPageSize);
    BlkifFrontRing front = BlkifFrontRing::init_shared(area.data(), area.size());
    BlkifBackRing back(area.data(), area.size());
    for (std::uint64_t id = 0; id < 32; ++id) {
        EXPECT_FALSE(front.full());
        front.produce_request(make_request(id));
    }
    EXPECT_TRUE(front.full());
    EXPECT_EQ(front.free_requests(), 0u);
    EXPECT_THROW(front.produce_request(make_request(99)), std::logic_error);
    front.push_requests();

    // Taking requests off the ring frees nothing: the slot is only free once
    // its response has been consumed.
    back.consume_request();
    EXPECT_TRUE(front.full());
    back.produce_response(make_response(0));
    back.push_responses();
    EXPECT_TRUE(front.full());
    front.consume_response();
    EXPECT_FALSE(front.full());
    EXPECT_EQ(front.free_requests(), 1u);
}

TEST(RingFlow, BackRefusesToAnswerMoreThanItTook) {
    PageBuffer area(kXenPageSize);
    BlkifFrontRing front = BlkifFrontRing::init_shared(area.data(), area.size());
    BlkifBackRing back(area.data(), area.size());
    EXPECT_THROW(back.produce_response(make_response(0)), std::logic_error);
    front.produce_request(make_request(1));
    front.push_requests();
    back.consume_request();
    back.produce_response(make_response(1));
    EXPECT_THROW(back.produce_response(make_response(1)), std::logic_error);
}

TEST(RingFlow, UnconsumedRequestsAreCappedByFreeResponseSlots) {
    PageBuffer area(kXenPageSize);
    BlkifBackRing back(area.data(), area.size());
    area.shared().init();
    // A front end claiming 40 requests on a 32-slot ring.
    area.shared().req_prod = 40;
    EXPECT_EQ(back.unconsumed_requests(), 32u);
    for (int i = 0; i < 10; ++i) {
        back.consume_request();
    }
    // 30 claimed, but only 22 slots are not awaiting a response.
    EXPECT_EQ(back.unconsumed_requests(), 22u);
    for (int i = 0; i < 4; ++i) {
        back.produce_response(make_response(0));
    }
    EXPECT_EQ(back.unconsumed_requests(), 26u);
    // An honest count is not capped.
    area.shared().req_prod = 15;
    EXPECT_EQ(back.unconsumed_requests(), 5u);
}

TEST(RingNotify, FirstPushNotifiesAndLaterOnesWaitForTheEventIndex) {
    PageBuffer area(kXenPageSize);
    BlkifFrontRing front = BlkifFrontRing::init_shared(area.data(), area.size());
    BlkifBackRing back(area.data(), area.size());

    front.produce_request(make_request(0));
    EXPECT_TRUE(front.push_requests_and_check_notify());  // req_event == 1
    front.produce_request(make_request(1));
    EXPECT_FALSE(front.push_requests_and_check_notify());  // back already woken
    // Nothing new: no event even if the event index were due.
    EXPECT_FALSE(front.push_requests_and_check_notify());

    EXPECT_TRUE(back.final_check_for_requests());
    EXPECT_EQ(area.shared().req_event, 1u);  // work pending: not re-armed
    back.consume_request();
    back.consume_request();
    EXPECT_FALSE(back.final_check_for_requests());
    EXPECT_EQ(area.shared().req_event, 3u);  // req_cons + 1

    // A batch whose range covers the event index notifies once.
    for (std::uint64_t id = 2; id < 5; ++id) {
        front.produce_request(make_request(id));
    }
    EXPECT_TRUE(front.push_requests_and_check_notify());
    front.produce_request(make_request(5));
    EXPECT_FALSE(front.push_requests_and_check_notify());
}

TEST(RingNotify, ResponsesNotifyTheFrontOnlyWhenItAsked) {
    PageBuffer area(kXenPageSize);
    BlkifFrontRing front = BlkifFrontRing::init_shared(area.data(), area.size());
    BlkifBackRing back(area.data(), area.size());
    for (std::uint64_t id = 0; id < 3; ++id) {
        front.produce_request(make_request(id));
    }
    front.push_requests();
    for (int i = 0; i < 3; ++i) {
        back.consume_request();
    }

    back.produce_response(make_response(0));
    EXPECT_TRUE(back.push_responses_and_check_notify());  // rsp_event == 1
    back.produce_response(make_response(1));
    EXPECT_FALSE(back.push_responses_and_check_notify());

    EXPECT_TRUE(front.final_check_for_responses());
    EXPECT_EQ(area.shared().rsp_event, 1u);
    front.consume_response();
    front.consume_response();
    EXPECT_FALSE(front.final_check_for_responses());
    EXPECT_EQ(area.shared().rsp_event, 3u);

    back.produce_response(make_response(2));
    EXPECT_TRUE(back.push_responses_and_check_notify());
}

TEST(RingNotify, FinalCheckSeesWorkPublishedBeforeIt) {
    PageBuffer area(kXenPageSize);
    BlkifFrontRing front = BlkifFrontRing::init_shared(area.data(), area.size());
    BlkifBackRing back(area.data(), area.size());
    EXPECT_FALSE(back.final_check_for_requests());
    EXPECT_EQ(area.shared().req_event, 1u);
    front.produce_request(make_request(0));
    EXPECT_TRUE(front.push_requests_and_check_notify());
    EXPECT_TRUE(back.final_check_for_requests());
}

// Runs `total` requests through a ring attached at `start`, in batches of
// `batch`, checking the counts and the notify decisions on the way.
void run_through(RingIdx start, std::uint64_t total, unsigned batch) {
    PageBuffer area(kXenPageSize);
    set_shared_indices(area.shared(), start);
    BlkifFrontRing front(area.data(), area.size(), start);
    BlkifBackRing back(area.data(), area.size(), start);

    std::uint64_t next_id = 0;
    std::uint64_t expect_req = 0;
    std::uint64_t expect_rsp = 0;
    while (expect_rsp < total) {
        unsigned n = 0;
        while (n < batch && !front.full() && next_id < total) {
            front.produce_request(make_request(next_id++));
            ++n;
        }
        ASSERT_EQ(front.free_requests(), 32u - (next_id - expect_rsp));
        // The back end is asleep with req_event = req_cons + 1: the first
        // push of new work notifies.
        ASSERT_EQ(front.push_requests_and_check_notify(), n > 0);
        ASSERT_FALSE(back.request_prod_overflow(back.req_prod()));
        ASSERT_EQ(back.unconsumed_requests(), n);
        while (back.req_cons() != back.req_prod()) {
            ASSERT_FALSE(back.request_cons_overflow(back.req_cons()));
            BlkifRequest req = back.consume_request();
            ASSERT_EQ(req.id, expect_req++);
            back.produce_response(make_response(req.id));
        }
        ASSERT_FALSE(back.final_check_for_requests());
        ASSERT_EQ(area.shared().req_event, static_cast<RingIdx>(back.req_cons() + 1));
        ASSERT_EQ(back.push_responses_and_check_notify(), n > 0);
        ASSERT_FALSE(front.response_prod_overflow(front.rsp_prod()));
        ASSERT_EQ(front.unconsumed_responses(), n);
        while (front.rsp_cons() != front.rsp_prod()) {
            ASSERT_EQ(front.consume_response().id, expect_rsp++);
        }
        ASSERT_FALSE(front.final_check_for_responses());
        ASSERT_EQ(area.shared().rsp_event, static_cast<RingIdx>(front.rsp_cons() + 1));
    }
    EXPECT_EQ(area.shared().req_prod, static_cast<RingIdx>(start + total));
    EXPECT_EQ(area.shared().rsp_prod, static_cast<RingIdx>(start + total));
}

TEST(RingWrap, RunsAcrossTwoToThe32) {
    run_through(0xFFFFFFF0u, 200, 7);
    run_through(0xFFFFFFF0u, 200, 32);
    run_through(0xFFFFFFFFu, 100, 1);
}

TEST(RingWrap, CountsAreRightWhileIndicesStraddleTheWrap) {
    PageBuffer area(kXenPageSize);
    const RingIdx start = 0xFFFFFFF0u;
    set_shared_indices(area.shared(), start);
    BlkifFrontRing front(area.data(), area.size(), start);
    BlkifBackRing back(area.data(), area.size(), start);
    for (std::uint64_t id = 0; id < 32; ++id) {
        front.produce_request(make_request(id));
    }
    EXPECT_EQ(front.req_prod_pvt(), 0x10u);  // wrapped
    EXPECT_TRUE(front.full());
    front.push_requests();
    EXPECT_EQ(back.unconsumed_requests(), 32u);
    for (int i = 0; i < 20; ++i) {
        back.produce_response(make_response(back.consume_request().id));
    }
    EXPECT_EQ(back.req_cons(), 0x4u);
    EXPECT_EQ(back.unconsumed_requests(), 12u);
    back.push_responses();
    EXPECT_EQ(front.unconsumed_responses(), 20u);
    EXPECT_FALSE(front.response_prod_overflow(front.rsp_prod()));
    EXPECT_FALSE(back.request_prod_overflow(back.req_prod()));
}

TEST(RingOverflow, RequestConsAndProdOverflow) {
    PageBuffer area(kXenPageSize);
    for (RingIdx base : {RingIdx{0}, RingIdx{0xFFFFFFF8u}}) {
        SCOPED_TRACE(base);
        set_shared_indices(area.shared(), base);
        BlkifBackRing back(area.data(), area.size(), base);
        // rsp_prod_pvt == base: requests base .. base+31 may be taken.
        EXPECT_FALSE(back.request_cons_overflow(base));
        EXPECT_FALSE(back.request_cons_overflow(base + 31));
        EXPECT_TRUE(back.request_cons_overflow(base + 32));
        EXPECT_TRUE(back.request_cons_overflow(base - 1));
        // At most 32 outstanding requests can be claimed.
        EXPECT_FALSE(back.request_prod_overflow(base));
        EXPECT_FALSE(back.request_prod_overflow(base + 32));
        EXPECT_TRUE(back.request_prod_overflow(base + 33));
        EXPECT_TRUE(back.request_prod_overflow(base - 1));
    }
}

TEST(RingOverflow, ResponseProdOverflow) {
    PageBuffer area(kXenPageSize);
    for (RingIdx base : {RingIdx{0}, RingIdx{0xFFFFFFF8u}}) {
        SCOPED_TRACE(base);
        set_shared_indices(area.shared(), base);
        BlkifFrontRing front(area.data(), area.size(), base);
        EXPECT_FALSE(front.response_prod_overflow(base));
        EXPECT_FALSE(front.response_prod_overflow(base + 32));
        EXPECT_TRUE(front.response_prod_overflow(base + 33));
        EXPECT_TRUE(front.response_prod_overflow(base - 1));
    }
}

TEST(RingAttachLive, AttachesAtRspProdWithOutstandingRequests) {
    PageBuffer area(kXenPageSize);
    set_shared_indices(area.shared(), 0xFFFFFFFEu);
    BlkifFrontRing front(area.data(), area.size(), 0xFFFFFFFEu);
    for (std::uint64_t id = 0; id < 5; ++id) {
        front.produce_request(make_request(id));
    }
    front.push_requests();
    BlkifBackRing back = BlkifBackRing::attach_live(area.data(), area.size());
    EXPECT_EQ(back.req_cons(), 0xFFFFFFFEu);
    EXPECT_EQ(back.rsp_prod_pvt(), 0xFFFFFFFEu);
    EXPECT_EQ(back.unconsumed_requests(), 5u);
    EXPECT_EQ(back.consume_request().id, 0u);
}

TEST(RingAttachLive, RefusesARingClaimingMoreRequestsThanSlots) {
    PageBuffer area(kXenPageSize);
    set_shared_indices(area.shared(), 100);
    area.shared().req_prod = 100 + 33;
    EXPECT_THROW(BlkifBackRing::attach_live(area.data(), area.size()), std::invalid_argument);
    area.shared().req_prod = 100 + 32;
    EXPECT_NO_THROW(BlkifBackRing::attach_live(area.data(), area.size()));
}

TEST(RingCopy, CopyIsAPrivateSnapshot) {
    PageBuffer area(kXenPageSize);
    BlkifFrontRing front = BlkifFrontRing::init_shared(area.data(), area.size());
    BlkifBackRing back(area.data(), area.size());
    front.produce_request(make_request(42));
    front.push_requests();

    BlkifRequest copy = back.copy_request(0);
    // The front end (or a malicious one) rewrites the slot after the read.
    BlkifRequest& shared = front.request_slot(0);
    shared.nr_segments = 200;
    shared.id = 7;
    shared.seg[0].gref = 0xDEAD;
    EXPECT_EQ(copy.nr_segments, 1u);
    EXPECT_EQ(copy.id, 42u);
    EXPECT_EQ(copy.seg[0].gref, 42u);
    // The next copy sees the new bytes: it is a read of the slot, not a cache.
    EXPECT_EQ(back.copy_request(0).nr_segments, 200u);

    BlkifRequest taken = back.consume_request();
    EXPECT_EQ(taken.id, 7u);
    back.produce_response(make_response(taken.id));
    back.push_responses();
    BlkifResponse rsp = front.copy_response(0);
    back.response_slot(0).status = BlkifStatus::error;
    EXPECT_EQ(rsp.status, BlkifStatus::okay);
    EXPECT_EQ(rsp.id, 7u);
}

TEST(RingGeneric, SmallMessagesUseTheirOwnSlotSize) {
    PageBuffer area(kXenPageSize);
    SmallFront front = SmallFront::init_shared(area.data(), area.size());
    SmallBack back(area.data(), area.size());
    EXPECT_EQ(front.size(), 256u);
    for (std::uint32_t i = 0; i < 256; ++i) {
        front.produce_request(SmallReq{i, i * 3});
    }
    EXPECT_TRUE(front.full());
    EXPECT_TRUE(front.push_requests_and_check_notify());
    std::vector<std::uint32_t> values;
    while (back.unconsumed_requests() != 0) {
        SmallReq req = back.consume_request();
        values.push_back(req.value);
        back.produce_response(SmallRsp{req.id, 0});
    }
    ASSERT_EQ(values.size(), 256u);
    EXPECT_EQ(values[255], 765u);
    EXPECT_TRUE(back.push_responses_and_check_notify());
    EXPECT_EQ(front.unconsumed_responses(), 256u);
}

}  // namespace
}  // namespace pvsim::xen
