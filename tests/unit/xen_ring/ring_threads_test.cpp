// A front and a back end on two threads, each sleeping whenever the ring
// protocol says it may: if a notify decision or a final check were wrong, or
// the barriers let one side miss the other's index, a side would sleep
// through work and the run would stall. The wake-ups have an event channel's
// semantics, not a counter's: a send sets the port's pending bit, sends
// while it is set coalesce into one event, and the receiver clears it as it
// takes the event (Xen's 2-level evtchn_pending, test-and-set by
// EVTCHNOP_send, test-and-clear by the guest's upcall), so no surplus of
// earlier sends can stand in for one that a wrong notify decision left out.
// The wait has a long deadline only so that a stall fails the test instead
// of hanging it.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

#include "common/xen/blkif.hpp"
#include "common/xen/ring.hpp"
#include "tests/support/page_buffer.hpp"

namespace pvsim::xen {
namespace {

using test::PageBuffer;

constexpr auto kStallDeadline = std::chrono::seconds(60);

// One direction's event channel port, as its pending bit.
class Event {
  public:
    // EVTCHNOP_send: sets the pending bit; a send while it is set is the
    // same event.
    void send() {
        {
            std::lock_guard lock(mutex_);
            pending_ = true;
        }
        set_.notify_one();
    }

    // Waits for the bit to be set and clears it; false if it stayed clear
    // for `deadline`.
    bool take_within(std::chrono::seconds deadline) {
        std::unique_lock lock(mutex_);
        if (!set_.wait_for(lock, deadline, [&] { return pending_; })) {
            return false;
        }
        pending_ = false;
        return true;
    }

  private:
    std::mutex mutex_;
    std::condition_variable set_;
    bool pending_ = false;
};

struct Run {
    std::uint64_t total;
    std::uint64_t completed = 0;
    std::uint64_t served = 0;
    bool front_stalled = false;
    bool back_stalled = false;
    std::atomic<bool> ids_in_order{true};
    std::atomic<bool> give_up{false};
};

void front_end(BlkifFrontRing& ring, Event& to_back, Event& to_front, Run& run) {
    std::uint64_t next_id = 0;
    while (run.completed < run.total && !run.give_up.load()) {
        bool progressed = false;
        while (!ring.full() && next_id < run.total) {
            BlkifRequest req{};
            req.operation = BlkifOp::write;
            req.id = next_id++;
            ring.produce_request(req);
            progressed = true;
        }
        if (progressed && ring.push_requests_and_check_notify()) {
            to_back.send();
        }
        const RingIdx rp = ring.rsp_prod();
        if (ring.response_prod_overflow(rp)) {
            run.ids_in_order = false;
            break;
        }
        while (ring.rsp_cons() != rp) {
            if (ring.consume_response().id != run.completed++) {
                run.ids_in_order = false;
            }
            progressed = true;
        }
        if (progressed || run.completed == run.total) {
            continue;
        }
        if (!ring.final_check_for_responses() && !to_front.take_within(kStallDeadline)) {
            run.front_stalled = true;
            run.give_up = true;
        }
    }
}

void back_end(BlkifBackRing& ring, Event& to_back, Event& to_front, Run& run) {
    while (run.served < run.total && !run.give_up.load()) {
        const RingIdx rp = ring.req_prod();
        if (ring.request_prod_overflow(rp)) {
            run.ids_in_order = false;
            break;
        }
        bool progressed = false;
        while (ring.req_cons() != rp && !ring.request_cons_overflow(ring.req_cons())) {
            BlkifRequest req = ring.consume_request();
            BlkifResponse rsp{};
            rsp.id = req.id;
            rsp.operation = req.operation;
            rsp.status = BlkifStatus::okay;
            ring.produce_response(rsp);
            ++run.served;
            progressed = true;
        }
        if (progressed && ring.push_responses_and_check_notify()) {
            to_front.send();
        }
        if (progressed || run.served == run.total) {
            continue;
        }
        if (!ring.final_check_for_requests() && !to_back.take_within(kStallDeadline)) {
            run.back_stalled = true;
            run.give_up = true;
        }
    }
}

void run_threads(unsigned order, RingIdx start, std::uint64_t total) {
    PageBuffer area(ring_bytes_for_order(order));
    test::set_shared_indices(area.shared(), start);
    BlkifFrontRing front(area.data(), area.size(), start);
    BlkifBackRing back(area.data(), area.size(), start);
    Event to_back;
    Event to_front;
    Run run{.total = total};
    std::thread back_thread([&] { back_end(back, to_back, to_front, run); });
    front_end(front, to_back, to_front, run);
    // Wake the back end if the front end gave up, so the join returns.
    to_back.send();
    back_thread.join();
    EXPECT_FALSE(run.front_stalled) << "front end slept through responses";
    EXPECT_FALSE(run.back_stalled) << "back end slept through requests";
    EXPECT_TRUE(run.ids_in_order.load());
    EXPECT_EQ(run.completed, total);
    EXPECT_EQ(run.served, total);
    EXPECT_EQ(area.shared().req_prod, static_cast<RingIdx>(start + total));
    EXPECT_EQ(area.shared().rsp_prod, static_cast<RingIdx>(start + total));
}

TEST(RingThreads, NoLostWakeupsOnOnePageAcrossTheWrap) {
    run_threads(0, 0xFFFF0000u, 100000);
}

TEST(RingThreads, NoLostWakeupsOnSixteenPages) {
    run_threads(4, 0xFFFFFF00u, 100000);
}

}  // namespace
}  // namespace pvsim::xen
