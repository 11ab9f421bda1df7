// Decision equivalence: the same long random sequence of ring operations is
// played on two separate rings, one driven by pvsim's FrontRing/BackRing and
// one by ring.h's macros. After every step both rings must agree on every
// notify decision, every final check, every count and all four shared
// indices. The indices start just short of a 32-bit boundary so that every
// run crosses it, on rings of 1 to 16 pages.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <deque>
#include <memory>
#include <ostream>
#include <random>
#include <sstream>
#include <string>
#include <tuple>

#include "common/xen/blkif.hpp"
#include "common/xen/ring.hpp"
#include "real_xen.h"
#include "tests/support/page_buffer.hpp"

namespace pvsim::xen {
namespace {

using test::PageBuffer;

struct FreeFront {
    void operator()(real_xen_front* r) const noexcept { real_xen_front_free(r); }
};
struct FreeBack {
    void operator()(real_xen_back* r) const noexcept { real_xen_back_free(r); }
};

struct Seeding {
    std::uint64_t seed;
    RingIdx start;
};

void PrintTo(const Seeding& s, std::ostream* out) {
    *out << "seed " << s.seed << " start 0x" << std::hex << s.start << std::dec;
}

constexpr int kSteps = 25000;

enum class Op {
    front_produce,
    front_push_and_check_notify,
    front_push,
    front_consume,
    front_final_check,
    back_consume,
    back_produce,
    back_push_and_check_notify,
    back_push,
    back_final_check,
    probe_overflow_checks,
    probe_unconsumed_cap,
};

// Weights of the operations, in Op's order.
constexpr int kWeights[] = {15, 10, 3, 12, 7, 15, 12, 10, 3, 7, 3, 3};

class Equivalence : public ::testing::TestWithParam<std::tuple<unsigned, Seeding>> {
  protected:
    Equivalence()
        : bytes_(ring_bytes_for_order(std::get<0>(GetParam()))),
          start_(std::get<1>(GetParam()).start),
          rng_(std::get<1>(GetParam()).seed),
          ours_area_(bytes_),
          real_area_(bytes_),
          front_(prepare(ours_area_), bytes_, start_),
          back_(ours_area_.data(), bytes_, start_),
          real_front_(real_xen_front_attach(prepare(real_area_), bytes_, start_)),
          real_back_(real_xen_back_attach(real_area_.data(), bytes_, start_)) {}

    // Both ends asleep at `start_`, each waiting for the next message.
    void* prepare(PageBuffer& area) {
        test::set_shared_indices(area.shared(), start_);
        return area.data();
    }

    std::uint32_t pick(std::uint32_t most) {
        return static_cast<std::uint32_t>(rng_() % (std::uint64_t{most} + 1));
    }

    template <class T>
    T random_bytes() {
        T value;
        auto* bytes = reinterpret_cast<unsigned char*>(&value);
        for (std::size_t i = 0; i < sizeof value; ++i) {
            bytes[i] = static_cast<unsigned char>(rng_());
        }
        return value;
    }

    std::string where() const {
        std::ostringstream out;
        out << "step " << step_ << ", op " << static_cast<int>(op_) << ", order "
            << std::get<0>(GetParam()) << ", seed " << std::get<1>(GetParam()).seed;
        return out.str();
    }

    // Everything either end can observe must be the same on both rings.
    void expect_same_state() {
        const SharedRing& a = ours_area_.shared();
        const SharedRing& b = real_area_.shared();
        ASSERT_EQ(a.req_prod, b.req_prod) << where();
        ASSERT_EQ(a.req_event, b.req_event) << where();
        ASSERT_EQ(a.rsp_prod, b.rsp_prod) << where();
        ASSERT_EQ(a.rsp_event, b.rsp_event) << where();
        ASSERT_EQ(front_.req_prod_pvt(), real_xen_front_req_prod_pvt(rf())) << where();
        ASSERT_EQ(front_.rsp_cons(), real_xen_front_rsp_cons(rf())) << where();
        ASSERT_EQ(back_.rsp_prod_pvt(), real_xen_back_rsp_prod_pvt(rb())) << where();
        ASSERT_EQ(back_.req_cons(), real_xen_back_req_cons(rb())) << where();
        ASSERT_EQ(front_.free_requests(), real_xen_front_free_requests(rf())) << where();
        ASSERT_EQ(front_.full(), real_xen_front_full(rf()) != 0) << where();
        ASSERT_EQ(front_.unconsumed_responses(), real_xen_front_unconsumed_responses(rf()))
            << where();
        ASSERT_EQ(back_.unconsumed_requests(), real_xen_back_unconsumed_requests(rb())) << where();
    }

    void step(Op op) {
        switch (op) {
            case Op::front_produce: {
                const std::uint32_t n = pick(front_.free_requests());
                for (std::uint32_t i = 0; i < n; ++i) {
                    auto req = random_bytes<BlkifRequest>();
                    req.id = next_id_++;
                    front_.produce_request(req);
                    real_xen_front_produce_request(rf(), &req);
                    in_flight_.push_back(req);
                }
                produced_ += n;
                break;
            }
            case Op::front_push_and_check_notify: {
                const bool ours = front_.push_requests_and_check_notify();
                const bool real = real_xen_front_push_requests_and_check_notify(rf()) != 0;
                ASSERT_EQ(ours, real) << "request notify, " << where();
                ++request_notifies_[ours];
                break;
            }
            case Op::front_push:
                front_.push_requests();
                real_xen_front_push_requests(rf());
                break;
            case Op::front_consume: {
                const std::uint32_t n = pick(front_.unconsumed_responses());
                for (std::uint32_t i = 0; i < n; ++i) {
                    ASSERT_FALSE(front_.response_prod_overflow(front_.rsp_prod())) << where();
                    BlkifResponse ours = front_.consume_response();
                    BlkifResponse real;
                    real_xen_front_consume_response(rf(), &real);
                    ASSERT_EQ(std::memcmp(&ours, &real, sizeof ours), 0) << where();
                    ASSERT_EQ(std::memcmp(&ours, &answered_.front(), sizeof ours), 0) << where();
                    answered_.pop_front();
                }
                break;
            }
            case Op::front_final_check: {
                const bool ours = front_.final_check_for_responses();
                const bool real = real_xen_front_final_check_for_responses(rf()) != 0;
                ASSERT_EQ(ours, real) << "response final check, " << where();
                ++response_checks_[ours];
                break;
            }
            case Op::back_consume: {
                const std::uint32_t n = pick(back_.unconsumed_requests());
                for (std::uint32_t i = 0; i < n; ++i) {
                    const bool overflow = back_.request_cons_overflow(back_.req_cons());
                    ASSERT_EQ(overflow, real_xen_back_request_cons_overflow(
                                            rb(), real_xen_back_req_cons(rb())) != 0)
                        << where();
                    ASSERT_FALSE(overflow) << where();
                    BlkifRequest ours = back_.consume_request();
                    BlkifRequest real;
                    real_xen_back_consume_request(rb(), &real);
                    ASSERT_EQ(std::memcmp(&ours, &real, sizeof ours), 0) << where();
                    ASSERT_EQ(std::memcmp(&ours, &in_flight_.front(), sizeof ours), 0) << where();
                    in_flight_.pop_front();
                    taken_.push_back(ours);
                }
                break;
            }
            case Op::back_produce: {
                const std::uint32_t n = pick(back_.req_cons() - back_.rsp_prod_pvt());
                for (std::uint32_t i = 0; i < n; ++i) {
                    auto rsp = random_bytes<BlkifResponse>();
                    rsp.id = taken_.front().id;
                    rsp.operation = taken_.front().operation;
                    taken_.pop_front();
                    back_.produce_response(rsp);
                    real_xen_back_produce_response(rb(), &rsp);
                    answered_.push_back(rsp);
                }
                break;
            }
            case Op::back_push_and_check_notify: {
                const bool ours = back_.push_responses_and_check_notify();
                const bool real = real_xen_back_push_responses_and_check_notify(rb()) != 0;
                ASSERT_EQ(ours, real) << "response notify, " << where();
                ++response_notifies_[ours];
                break;
            }
            case Op::back_push:
                back_.push_responses();
                real_xen_back_push_responses(rb());
                break;
            case Op::back_final_check: {
                const bool ours = back_.final_check_for_requests();
                const bool real = real_xen_back_final_check_for_requests(rb()) != 0;
                ASSERT_EQ(ours, real) << "request final check, " << where();
                ++request_checks_[ours];
                break;
            }
            case Op::probe_overflow_checks: {
                const RingIdx size = front_.size();
                const RingIdx bases[] = {back_.rsp_prod_pvt(), back_.req_cons(), front_.rsp_cons(),
                                         front_.req_prod_pvt()};
                for (RingIdx base : bases) {
                    const auto v = static_cast<RingIdx>(base + pick(2 * size + 2) - size - 1);
                    ASSERT_EQ(back_.request_cons_overflow(v),
                              real_xen_back_request_cons_overflow(rb(), v) != 0)
                        << v << ", " << where();
                    ASSERT_EQ(back_.request_prod_overflow(v),
                              real_xen_back_request_prod_overflow(rb(), v) != 0)
                        << v << ", " << where();
                    ASSERT_EQ(front_.response_prod_overflow(v),
                              real_xen_front_response_prod_overflow(rf(), v) != 0)
                        << v << ", " << where();
                }
                break;
            }
            case Op::probe_unconsumed_cap: {
                // What an ill-behaved front end could write as req_prod: the
                // count taken must be capped the same way. Put back after.
                SharedRing& a = ours_area_.shared();
                SharedRing& b = real_area_.shared();
                const RingIdx saved = a.req_prod;
                const RingIdx size = front_.size();
                const auto bogus =
                    static_cast<RingIdx>(back_.req_cons() + pick(3 * size) - size / 2);
                a.req_prod = bogus;
                b.req_prod = bogus;
                ASSERT_EQ(back_.unconsumed_requests(), real_xen_back_unconsumed_requests(rb()))
                    << bogus << ", " << where();
                ASSERT_EQ(back_.request_prod_overflow(bogus),
                          real_xen_back_request_prod_overflow(rb(), bogus) != 0)
                    << bogus << ", " << where();
                a.req_prod = saved;
                b.req_prod = saved;
                break;
            }
        }
    }

    void run() {
        ASSERT_TRUE(real_front_ && real_back_);
        ASSERT_EQ(front_.size(), real_xen_front_size(rf()));
        ASSERT_EQ(back_.size(), real_xen_back_size(rb()));
        std::discrete_distribution<int> choose(std::begin(kWeights), std::end(kWeights));
        ASSERT_NO_FATAL_FAILURE(expect_same_state());
        for (step_ = 0; step_ < kSteps; ++step_) {
            op_ = static_cast<Op>(choose(rng_));
            ASSERT_NO_FATAL_FAILURE(step(op_));
            ASSERT_NO_FATAL_FAILURE(expect_same_state());
        }
        // The run did what it is for: it went round the ring many times,
        // across the 32-bit boundary, and met both answers of every decision.
        EXPECT_GT(produced_, 4ull * front_.size() + 0x100);
        for (const auto* counts :
             {request_notifies_, response_notifies_, request_checks_, response_checks_}) {
            EXPECT_GT(counts[0], 0) << where();
            EXPECT_GT(counts[1], 0) << where();
        }
    }

    real_xen_front* rf() const { return real_front_.get(); }
    real_xen_back* rb() const { return real_back_.get(); }

    std::size_t bytes_;
    RingIdx start_;
    std::mt19937_64 rng_;
    PageBuffer ours_area_;
    PageBuffer real_area_;
    BlkifFrontRing front_;
    BlkifBackRing back_;
    std::unique_ptr<real_xen_front, FreeFront> real_front_;
    std::unique_ptr<real_xen_back, FreeBack> real_back_;

    int step_ = -1;
    Op op_ = Op::front_produce;
    std::uint64_t next_id_ = 0;
    std::uint64_t produced_ = 0;
    std::deque<BlkifRequest> in_flight_;  // produced, not yet taken
    std::deque<BlkifRequest> taken_;      // taken, not yet answered
    std::deque<BlkifResponse> answered_;  // answered, not yet consumed
    int request_notifies_[2] = {};        // [false], [true]
    int response_notifies_[2] = {};
    int request_checks_[2] = {};
    int response_checks_[2] = {};
};

TEST_P(Equivalence, SameDecisionsAsRingH) {
    run();
}

INSTANTIATE_TEST_SUITE_P(
    OrdersAndSeeds, Equivalence,
    ::testing::Combine(::testing::Values(0u, 1u, 2u, 3u, 4u),
                       ::testing::Values(Seeding{1, 0xFFFFFF00u}, Seeding{2, 0xFFFFFF00u},
                                         Seeding{3, 0xFFFFFF00u}, Seeding{4, 0x7FFFFF00u})),
    [](const auto& test_info) {
        std::ostringstream name;
        name << "order" << std::get<0>(test_info.param) << "_seed"
             << std::get<1>(test_info.param).seed << "_start" << std::hex
             << std::get<1>(test_info.param).start;
        return name.str();
    });

}  // namespace
}  // namespace pvsim::xen
