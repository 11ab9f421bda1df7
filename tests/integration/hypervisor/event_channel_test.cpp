// Event channels across real processes (xen/common/event_channel.c): pending
// and mask semantics, coalescing, delivery straight between the two ends once
// bound, and sends on unbound or closed ports dropped.
#include <gtest/gtest.h>

#include <cerrno>
#include <string>

#include "tests/support/hypervisor_process.hpp"

namespace pvsim::test {
namespace {

using hypervisor::EventChannel;
using hypervisor::HypercallError;
using xen::EvtchnStat;

class EventChannelTest : public ::testing::Test {
  protected:
    HypervisorProcess hv_;
    TestGuest guest_{hv_, "guest"};
    hypervisor::Hypervisor dom0_ = hv_.connect_dom0();

    // The guest offers a port to dom0 and dom0 binds it, as a frontend and
    // backend do.
    std::pair<xen::EvtchnPort, EventChannel> connect() {
        const auto guest_port = static_cast<xen::EvtchnPort>(guest_.ok_number("alloc-unbound 0"));
        EventChannel local = dom0_.bind_interdomain(guest_.domid(), guest_port);
        return {guest_port, std::move(local)};
    }

    nlohmann::json counters(xen::DomId domid) {
        for (const auto& domain : hv_.control().stats()) {
            if (domain.at("domid") == domid) {
                return domain.at("counters");
            }
        }
        throw std::runtime_error("no domain " + std::to_string(domid) + " in stats");
    }
};

TEST_F(EventChannelTest, BindingSetsTheNewLocalPortPending) {
    auto [guest_port, local] = connect();
    EXPECT_TRUE(local.poll());
    EXPECT_FALSE(local.poll());
    // The guest's end was not made pending by the bind.
    EXPECT_EQ(guest_.ok("poll " + std::to_string(guest_port)), "0");
}

TEST_F(EventChannelTest, EventsGoBothWays) {
    auto [guest_port, local] = connect();
    local.poll();
    local.notify();
    EXPECT_EQ(guest_.ok("wait " + std::to_string(guest_port)), "");
    guest_.ok("notify " + std::to_string(guest_port));
    local.wait();
    EXPECT_FALSE(local.poll());

    const auto status = dom0_.evtchn_status(xen::kDomidSelf, local.port());
    EXPECT_EQ(status.status, EvtchnStat::interdomain);
    EXPECT_EQ(status.remote_domid, guest_.domid());
    EXPECT_EQ(status.remote_port, guest_port);
}

TEST_F(EventChannelTest, SendsCoalesceWhilePending) {
    auto [guest_port, local] = connect();
    const std::string port = std::to_string(guest_port);
    for (int i = 0; i < 5; ++i) {
        local.notify();
    }
    EXPECT_EQ(guest_.ok("poll " + port), "1");
    EXPECT_EQ(guest_.ok("poll " + port), "0");
}

TEST_F(EventChannelTest, AMaskedPortKeepsItsEventPendingUntilUnmasked) {
    auto [guest_port, local] = connect();
    const std::string port = std::to_string(guest_port);
    guest_.ok("mask " + port);
    local.notify();
    EXPECT_EQ(guest_.ok("poll " + port), "0");
    EXPECT_EQ(guest_.ok("poll " + port), "0");
    guest_.ok("unmask " + port);
    EXPECT_EQ(guest_.ok("poll " + port), "1");
    EXPECT_EQ(guest_.ok("poll " + port), "0");

    // dom0's own end too, with the bind-time event: pending bit kept while
    // masked, re-raised on unmask so that a waiter wakes.
    EventChannel other = dom0_.bind_interdomain(
        guest_.domid(), static_cast<xen::EvtchnPort>(guest_.ok_number("alloc-unbound 0")));
    other.mask();
    EXPECT_FALSE(other.poll());
    EXPECT_TRUE(other.pending());
    other.unmask();
    other.wait();
    EXPECT_FALSE(other.pending());
}

TEST_F(EventChannelTest, SendsToAClosedPeerAreDroppedAndThePortBecomesUnbound) {
    auto [guest_port, local] = connect();
    local.poll();
    local.notify();  // the first send goes through the hypervisor and caches the peer
    local.notify();  // this one goes straight to the guest
    EXPECT_EQ(guest_.ok("poll " + std::to_string(guest_port)), "1");
    const auto before = counters(0);
    EXPECT_EQ(before["events_sent"].get<int>() + before["events_sent_fast"].get<int>(), 2);

    guest_.ok("close " + std::to_string(guest_port));
    const auto status = dom0_.evtchn_status(xen::kDomidSelf, local.port());
    EXPECT_EQ(status.status, EvtchnStat::unbound);
    EXPECT_EQ(status.remote_domid, guest_.domid());
    local.notify();
    local.notify();
    const auto after = counters(0);
    EXPECT_EQ(after["events_sent"], before["events_sent"]);
    EXPECT_EQ(after["events_sent_fast"], before["events_sent_fast"]);
    EXPECT_EQ(after["hypercalls"]["evtchn_send"].get<int>(),
              before["hypercalls"]["evtchn_send"].get<int>() + 2);
}

TEST_F(EventChannelTest, AnUnboundPortDropsSends) {
    EventChannel unbound = dom0_.alloc_unbound(guest_.domid());
    EXPECT_EQ(dom0_.evtchn_status(xen::kDomidSelf, unbound.port()).status, EvtchnStat::unbound);
    unbound.notify();
    EXPECT_FALSE(unbound.poll());
}

// libxl's xc_evtchn_alloc_unbound(domid, store_domid) for a new domain: a
// port made by dom0 in the guest, which dom0 then binds as the guest's own.
TEST_F(EventChannelTest, Dom0AllocatesAPortInAGuestAndBindsIt) {
    const xen::EvtchnPort port = dom0_.alloc_unbound_in(guest_.domid(), 0);
    const auto status = dom0_.evtchn_status(guest_.domid(), port);
    EXPECT_EQ(status.status, EvtchnStat::unbound);
    EXPECT_EQ(status.remote_domid, 0);
    EventChannel bound = dom0_.bind_interdomain(guest_.domid(), port);
    EXPECT_EQ(dom0_.evtchn_status(guest_.domid(), port).status, EvtchnStat::interdomain);
}

TEST_F(EventChannelTest, BindErrorsAreXensErrnos) {
    auto expect_errno = [](int error, auto&& call) {
        try {
            call();
            ADD_FAILURE() << "no error";
        } catch (const HypercallError& e) {
            EXPECT_EQ(e.error(), error) << e.what();
        }
    };
    // Unknown domain.
    expect_errno(ESRCH, [&] { dom0_.bind_interdomain(999, 1); });
    // evtchn_alloc_unbound looks up `dom`, never remote_dom (Xen 4.17).
    expect_errno(ESRCH, [&] { dom0_.alloc_unbound_in(999, 0); });
    EXPECT_EQ(dom0_.evtchn_status(xen::kDomidSelf, dom0_.alloc_unbound(999).port()).remote_domid,
              999);
    // A port that is not unbound, and one offered to another domain.
    expect_errno(EINVAL, [&] { dom0_.bind_interdomain(guest_.domid(), 900); });
    TestGuest other(hv_, "other");
    const auto for_other = guest_.ok_number("alloc-unbound " + std::to_string(other.domid()));
    expect_errno(EINVAL, [&] {
        dom0_.bind_interdomain(guest_.domid(), static_cast<xen::EvtchnPort>(for_other));
    });
    // The right domain binds it.
    EXPECT_NO_THROW(
        other.ok("bind " + std::to_string(guest_.domid()) + " " + std::to_string(for_other)));
    // A guest binding a port of dom0 that was never allocated.
    EXPECT_EQ(guest_.command("bind 0 1").rfind("error", 0), 0u);
}

TEST_F(EventChannelTest, AGuestEchoesEvents) {
    auto [guest_port, local] = connect();
    local.poll();
    guest_.send("echo " + std::to_string(guest_port) + " 100");
    for (int i = 0; i < 100; ++i) {
        local.notify();
        local.wait();
    }
    EXPECT_EQ(guest_.read_reply(), "ok");  // the echo's, once its 100 rounds are done
    EXPECT_EQ(guest_.ok("poll " + std::to_string(guest_port)), "0");
}

}  // namespace
}  // namespace pvsim::test
