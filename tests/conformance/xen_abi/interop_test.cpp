// One ring, two implementations: pvsim's FrontRing against a back end made of
// ring.h's own macros, and a ring.h front end against pvsim's BackRing, on
// rings of 1 to 16 pages. Every byte of every request and response must
// arrive, and each side must wake the other exactly when it went to sleep.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <deque>
#include <memory>
#include <random>
#include <string>
#include <tuple>

#include "common/xen/blkif.hpp"
#include "common/xen/ring.hpp"
#include "real_xen.h"
#include "tests/support/page_buffer.hpp"

namespace pvsim::xen {
// This file's own names, apart from those of the other files of its folder,
// which compiles as one translation unit.
namespace interop_test {

using test::PageBuffer;

struct FreeFront {
    void operator()(real_xen_front* r) const noexcept { real_xen_front_free(r); }
};
struct FreeBack {
    void operator()(real_xen_back* r) const noexcept { real_xen_back_free(r); }
};
using RealFront = std::unique_ptr<real_xen_front, FreeFront>;
using RealBack = std::unique_ptr<real_xen_back, FreeBack>;

// A request with every byte random (padding included, so that the test sees
// the whole slot travel), tagged with `id`.
BlkifRequest random_request(std::mt19937_64& rng, std::uint64_t id) {
    BlkifRequest req;
    auto* bytes = reinterpret_cast<unsigned char*>(&req);
    for (std::size_t i = 0; i < sizeof req; ++i) {
        bytes[i] = static_cast<unsigned char>(rng());
    }
    req.id = id;
    return req;
}

BlkifResponse response_for(const BlkifRequest& req, std::mt19937_64& rng) {
    BlkifResponse rsp;
    auto* bytes = reinterpret_cast<unsigned char*>(&rsp);
    for (std::size_t i = 0; i < sizeof rsp; ++i) {
        bytes[i] = static_cast<unsigned char>(rng());
    }
    rsp.id = req.id;
    rsp.operation = req.operation;
    rsp.status = static_cast<BlkifStatus>(-static_cast<int>(req.id % 3));
    return rsp;
}

bool same_bytes(const void* a, const void* b, std::size_t n) {
    return std::memcmp(a, b, n) == 0;
}

class Interop : public ::testing::TestWithParam<std::tuple<unsigned, RingIdx>> {
  protected:
    unsigned order() const { return std::get<0>(GetParam()); }
    RingIdx start() const { return std::get<1>(GetParam()); }
    // Three times around the ring, in batches of 1 to `size` requests.
    std::uint64_t total(RingIdx size) const { return 3ull * size + 5; }
};

TEST_P(Interop, PvsimFrontToXenBack) {
    PageBuffer area(ring_bytes_for_order(order()));
    std::mt19937_64 rng(order() * 1000 + 1);
    BlkifFrontRing front(area.data(), area.size(), 0);
    if (start() == 0) {
        front = BlkifFrontRing::init_shared(area.data(), area.size());
    } else {
        test::set_shared_indices(area.shared(), start());
        front = BlkifFrontRing(area.data(), area.size(), start());
    }
    RealBack back(real_xen_back_attach(area.data(), area.size(), start()));
    ASSERT_TRUE(back);
    ASSERT_EQ(real_xen_back_size(back.get()), front.size());

    const std::uint64_t total = this->total(front.size());
    std::deque<BlkifRequest> sent;
    std::deque<BlkifResponse> answered;
    std::uint64_t next_id = 0;
    std::uint64_t completed = 0;
    while (completed < total) {
        const auto room =
            static_cast<unsigned>(std::min<std::uint64_t>(front.free_requests(), total - next_id));
        const unsigned batch = room == 0 ? 0 : 1 + static_cast<unsigned>(rng() % room);
        for (unsigned i = 0; i < batch; ++i) {
            sent.push_back(random_request(rng, next_id++));
            front.produce_request(sent.back());
        }
        // The back end went to sleep after its last look: new work wakes it.
        ASSERT_EQ(front.push_requests_and_check_notify(), batch > 0);

        ASSERT_EQ(real_xen_back_unconsumed_requests(back.get()), batch);
        while (real_xen_back_unconsumed_requests(back.get()) != 0) {
            ASSERT_FALSE(real_xen_back_request_cons_overflow(back.get(),
                                                             real_xen_back_req_cons(back.get())));
            BlkifRequest got;
            real_xen_back_consume_request(back.get(), &got);
            ASSERT_TRUE(same_bytes(&got, &sent.front(), sizeof got)) << "request " << got.id;
            answered.push_back(response_for(got, rng));
            real_xen_back_produce_response(back.get(), &answered.back());
            sent.pop_front();
        }
        ASSERT_FALSE(real_xen_back_final_check_for_requests(back.get()));
        ASSERT_EQ(area.shared().req_event, static_cast<RingIdx>(front.req_prod_pvt() + 1));
        // The front end went to sleep after its last look: responses wake it.
        ASSERT_EQ(real_xen_back_push_responses_and_check_notify(back.get()), batch > 0 ? 1 : 0);

        ASSERT_FALSE(front.response_prod_overflow(front.rsp_prod()));
        ASSERT_EQ(front.unconsumed_responses(), batch);
        while (front.rsp_cons() != front.rsp_prod()) {
            BlkifResponse rsp = front.consume_response();
            ASSERT_TRUE(same_bytes(&rsp, &answered.front(), sizeof rsp)) << "response " << rsp.id;
            ASSERT_EQ(rsp.id, completed++);
            answered.pop_front();
        }
        ASSERT_FALSE(front.final_check_for_responses());
    }
    EXPECT_EQ(area.shared().req_prod, static_cast<RingIdx>(start() + total));
    EXPECT_EQ(area.shared().rsp_prod, static_cast<RingIdx>(start() + total));
}

TEST_P(Interop, XenFrontToPvsimBack) {
    PageBuffer area(ring_bytes_for_order(order()));
    std::mt19937_64 rng(order() * 1000 + 2);
    RealFront front;
    if (start() == 0) {
        front.reset(real_xen_front_init_shared(area.data(), area.size()));
    } else {
        test::set_shared_indices(area.shared(), start());
        front.reset(real_xen_front_attach(area.data(), area.size(), start()));
    }
    ASSERT_TRUE(front);
    BlkifBackRing back(area.data(), area.size(), start());
    ASSERT_EQ(real_xen_front_size(front.get()), back.size());

    const std::uint64_t total = this->total(back.size());
    std::deque<BlkifRequest> sent;
    std::deque<BlkifResponse> answered;
    std::uint64_t next_id = 0;
    std::uint64_t completed = 0;
    while (completed < total) {
        const auto room = static_cast<unsigned>(
            std::min<std::uint64_t>(real_xen_front_free_requests(front.get()), total - next_id));
        const unsigned batch = room == 0 ? 0 : 1 + static_cast<unsigned>(rng() % room);
        for (unsigned i = 0; i < batch; ++i) {
            sent.push_back(random_request(rng, next_id++));
            real_xen_front_produce_request(front.get(), &sent.back());
        }
        ASSERT_EQ(real_xen_front_push_requests_and_check_notify(front.get()), batch > 0 ? 1 : 0);

        const RingIdx rp = back.req_prod();
        ASSERT_FALSE(back.request_prod_overflow(rp));
        ASSERT_EQ(back.unconsumed_requests(), batch);
        while (back.req_cons() != rp) {
            ASSERT_FALSE(back.request_cons_overflow(back.req_cons()));
            BlkifRequest got = back.consume_request();
            ASSERT_TRUE(same_bytes(&got, &sent.front(), sizeof got)) << "request " << got.id;
            answered.push_back(response_for(got, rng));
            back.produce_response(answered.back());
            sent.pop_front();
        }
        ASSERT_FALSE(back.final_check_for_requests());
        ASSERT_EQ(back.push_responses_and_check_notify(), batch > 0);

        ASSERT_FALSE(real_xen_front_response_prod_overflow(front.get(), area.shared().rsp_prod));
        ASSERT_EQ(real_xen_front_unconsumed_responses(front.get()), batch);
        while (real_xen_front_unconsumed_responses(front.get()) != 0) {
            BlkifResponse rsp;
            real_xen_front_consume_response(front.get(), &rsp);
            ASSERT_TRUE(same_bytes(&rsp, &answered.front(), sizeof rsp)) << "response " << rsp.id;
            ASSERT_EQ(rsp.id, completed++);
            answered.pop_front();
        }
        ASSERT_FALSE(real_xen_front_final_check_for_responses(front.get()));
        ASSERT_EQ(area.shared().rsp_event,
                  static_cast<RingIdx>(real_xen_front_rsp_cons(front.get()) + 1));
    }
    EXPECT_EQ(area.shared().req_prod, static_cast<RingIdx>(start() + total));
    EXPECT_EQ(area.shared().rsp_prod, static_cast<RingIdx>(start() + total));
}

// Every ring order, started fresh and started just short of the wrap.
INSTANTIATE_TEST_SUITE_P(Orders, Interop,
                         ::testing::Combine(::testing::Values(0u, 1u, 2u, 3u, 4u),
                                            ::testing::Values(RingIdx{0}, RingIdx{0xFFFFFF80u})),
                         [](const auto& test_info) {
                             return "order" + std::to_string(std::get<0>(test_info.param)) +
                                    (std::get<1>(test_info.param) == 0 ? "_fresh" : "_nearwrap");
                         });

}  // namespace interop_test
}  // namespace pvsim::xen
