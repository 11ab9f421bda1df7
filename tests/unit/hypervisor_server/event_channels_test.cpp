// The event-channel state machine on real shared-memory domains, without a
// socket (xen/common/event_channel.c): states, errnos, eventfds, pending and
// mask bits and generations in shared info.
#include "hypervisor/server/event_channels.hpp"

#include <cerrno>
#include <vector>

#include <gtest/gtest.h>

#include "common/os/event_fd.hpp"
#include "domains_fixture.hpp"

namespace pvsim::hypervisor::server::test {
namespace {

constexpr ConnectionId kGuestConnection = 1;
constexpr ConnectionId kDom0Connection = 2;
constexpr ConnectionId kOtherDom0Connection = 3;

class EventChannelsTest : public DomainsFixture {
  protected:
    EventChannels events_{domains_};

    // alloc_unbound by `caller` for `remote`; the port, and its incoming fd.
    std::pair<xen::EvtchnPort, os::EventFd> alloc(Domain& caller, ConnectionId connection,
                                                  xen::DomId remote) {
        wire::EvtchnAllocUnbound op{xen::kDomidSelf, remote, 0};
        std::vector<os::UniqueFd> fds;
        EXPECT_EQ(events_.alloc_unbound(caller, connection, op, fds), 0);
        EXPECT_EQ(fds.size(), 1u);
        return {op.port, os::EventFd(std::move(fds.at(0)))};
    }

    struct Bound {
        xen::EvtchnPort port;
        std::uint32_t generation;
        os::EventFd incoming;
        os::EventFd notify;
    };
    Bound bind(Domain& caller, ConnectionId connection, xen::DomId remote, xen::EvtchnPort port) {
        wire::EvtchnBindInterdomain op{remote, 0, port, 0, 0};
        std::vector<os::UniqueFd> fds;
        EXPECT_EQ(events_.bind_interdomain(caller, connection, op, fds), 0);
        EXPECT_EQ(fds.size(), 2u);
        return {op.local_port, op.generation, os::EventFd(std::move(fds.at(0))),
                os::EventFd(std::move(fds.at(1)))};
    }
    int bind_errno(Domain& caller, xen::DomId remote, xen::EvtchnPort port) {
        wire::EvtchnBindInterdomain op{remote, 0, port, 0, 0};
        std::vector<os::UniqueFd> fds;
        const int result = events_.bind_interdomain(caller, kDom0Connection, op, fds);
        EXPECT_TRUE(result == 0 || fds.empty());
        return result;
    }
    wire::EvtchnStatusOp status(Domain& caller, xen::DomId dom, xen::EvtchnPort port,
                                int expected_result = 0) {
        wire::EvtchnStatusOp op{dom, 0, port, 99, 0};
        EXPECT_EQ(events_.status(caller, op), expected_result);
        return op;
    }
    static std::uint32_t generation(const Domain& domain, xen::EvtchnPort port) {
        return domain.shared_info().generation(port).load();
    }
    static bool pending(const Domain& domain, xen::EvtchnPort port) {
        return (domain.shared_info().pending_word(port).load() & wire::SharedInfoView::bit(port)) !=
               0;
    }
};

TEST_F(EventChannelsTest, AllocUnboundTakesTheLowestFreePort) {
    auto [first, first_fd] = alloc(guest_, kGuestConnection, 0);
    auto [second, second_fd] = alloc(guest_, kGuestConnection, xen::kDomidSelf);
    EXPECT_EQ(first, 1u);
    EXPECT_EQ(second, 2u);
    EXPECT_EQ(generation(guest_, first), 1u);
    const auto st = status(guest_, xen::kDomidSelf, second);
    EXPECT_EQ(st.status, static_cast<std::uint32_t>(xen::EvtchnStat::unbound));
    EXPECT_EQ(st.remote_dom, guest_.domid());  // DOMID_SELF resolved
    EXPECT_EQ(events_.close(guest_, first), 0);
    EXPECT_EQ(alloc(guest_, kGuestConnection, 0).first, 1u);
}

// evtchn_alloc_unbound (Xen 4.17): ESRCH for `dom` not running, ENOSPC
// when `dom` has no free port; remote_dom is never looked up.
TEST_F(EventChannelsTest, AllocUnboundErrors) {
    wire::EvtchnAllocUnbound op{999, 0, 0};
    std::vector<os::UniqueFd> fds;
    EXPECT_EQ(events_.alloc_unbound(dom0_, kDom0Connection, op, fds), -ESRCH);
    other_.set_dying();
    op.dom = other_.domid();
    EXPECT_EQ(events_.alloc_unbound(dom0_, kDom0Connection, op, fds), -ESRCH);
    EXPECT_TRUE(fds.empty());
    for (xen::EvtchnPort port = 1; port < wire::kMaxEvtchnPorts; ++port) {
        alloc(guest_, kGuestConnection, 0);
    }
    op.dom = xen::kDomidSelf;
    EXPECT_EQ(events_.alloc_unbound(guest_, kGuestConnection, op, fds), -ENOSPC);
}

TEST_F(EventChannelsTest, AllocUnboundOffersThePortToADomainWithoutLookingItUp) {
    // A port for a domain that does not exist, and one for a dying domain:
    // Xen makes both (nobody can ever bind the first).
    auto [unknown, unknown_fd] = alloc(guest_, kGuestConnection, 999);
    EXPECT_EQ(status(guest_, xen::kDomidSelf, unknown).remote_dom, 999);
    other_.set_dying();
    auto [dying, dying_fd] = alloc(guest_, kGuestConnection, other_.domid());
    EXPECT_EQ(status(guest_, xen::kDomidSelf, dying).status,
              static_cast<std::uint32_t>(xen::EvtchnStat::unbound));
}

// event_channel.h: "If the caller is unprivileged then <dom> must be
// DOMID_SELF" (xsm_evtchn_unbound, XSM_TARGET); libxl makes a new domain's
// xenstore port this way (xc_evtchn_alloc_unbound(domid, store_domid)).
TEST_F(EventChannelsTest, APrivilegedCallerAllocatesAPortInAnotherDomainThatIsThatDomains) {
    wire::EvtchnAllocUnbound op{guest_.domid(), 0, 0};
    std::vector<os::UniqueFd> fds;
    ASSERT_EQ(events_.alloc_unbound(dom0_, kDom0Connection, op, fds), 0);
    // The port is the guest's: no fd goes back to dom0, it is not in dom0's
    // table, and dom0's connection going does not close it.
    EXPECT_TRUE(fds.empty());
    EXPECT_EQ(status(dom0_, xen::kDomidSelf, op.port).status,
              static_cast<std::uint32_t>(xen::EvtchnStat::closed));
    EXPECT_EQ(status(dom0_, guest_.domid(), op.port).status,
              static_cast<std::uint32_t>(xen::EvtchnStat::unbound));
    EXPECT_EQ(status(dom0_, guest_.domid(), op.port).remote_dom, 0);
    EXPECT_EQ(events_.close_connection(dom0_, kDom0Connection), 0u);
    EXPECT_EQ(events_.close_connection(guest_, kDom0Connection), 0u);
    EXPECT_EQ(status(guest_, xen::kDomidSelf, op.port).status,
              static_cast<std::uint32_t>(xen::EvtchnStat::unbound));
    // remote_dom DOMID_SELF is the caller, not `dom`.
    wire::EvtchnAllocUnbound self{guest_.domid(), xen::kDomidSelf, 0};
    ASSERT_EQ(events_.alloc_unbound(dom0_, kDom0Connection, self, fds), 0);
    EXPECT_EQ(status(guest_, xen::kDomidSelf, self.port).remote_dom, dom0_.domid());
    // dom0 binds it as it would the guest's own.
    const Bound bound = bind(dom0_, kDom0Connection, guest_.domid(), op.port);
    EXPECT_EQ(status(guest_, xen::kDomidSelf, op.port).status,
              static_cast<std::uint32_t>(xen::EvtchnStat::interdomain));
    EXPECT_NE(bound.port, 0u);
}

TEST_F(EventChannelsTest, AnUnprivilegedCallerCannotAllocateInAnotherDomain) {
    for (const xen::DomId dom : {dom0_.domid(), other_.domid()}) {
        wire::EvtchnAllocUnbound op{dom, 0, 0};
        std::vector<os::UniqueFd> fds;
        EXPECT_EQ(events_.alloc_unbound(guest_, kGuestConnection, op, fds), -EPERM);
        EXPECT_TRUE(fds.empty());
    }
    EXPECT_EQ(status(other_, xen::kDomidSelf, 1).status,
              static_cast<std::uint32_t>(xen::EvtchnStat::closed));
}

TEST_F(EventChannelsTest, BindConnectsBothEndsAndMakesTheLocalPortPending) {
    auto [guest_port, guest_incoming] = alloc(guest_, kGuestConnection, 0);
    const std::uint32_t guest_generation = generation(guest_, guest_port);
    Bound local = bind(dom0_, kDom0Connection, guest_.domid(), guest_port);
    EXPECT_EQ(local.port, 1u);
    EXPECT_EQ(local.generation, generation(dom0_, local.port));
    EXPECT_GT(generation(guest_, guest_port), guest_generation);
    // The new local port was signalled, the remote one was not.
    EXPECT_EQ(local.incoming.try_consume(), 1u);
    EXPECT_EQ(guest_incoming.try_consume(), 0u);
    // The notify fd is the guest port's incoming eventfd.
    local.notify.signal();
    EXPECT_EQ(guest_incoming.try_consume(), 1u);

    const auto local_status = status(dom0_, xen::kDomidSelf, local.port);
    EXPECT_EQ(local_status.status, static_cast<std::uint32_t>(xen::EvtchnStat::interdomain));
    EXPECT_EQ(local_status.remote_dom, guest_.domid());
    EXPECT_EQ(local_status.remote_port, guest_port);
    const auto remote_status = status(dom0_, guest_.domid(), guest_port);
    EXPECT_EQ(remote_status.status, static_cast<std::uint32_t>(xen::EvtchnStat::interdomain));
    EXPECT_EQ(remote_status.remote_dom, 0);
    EXPECT_EQ(remote_status.remote_port, local.port);
}

TEST_F(EventChannelsTest, BindErrorsAreXens) {
    EXPECT_EQ(bind_errno(dom0_, 999, 1), -ESRCH);
    EXPECT_EQ(bind_errno(dom0_, guest_.domid(), 0), -EINVAL);
    EXPECT_EQ(bind_errno(dom0_, guest_.domid(), wire::kMaxEvtchnPorts), -EINVAL);
    EXPECT_EQ(bind_errno(dom0_, guest_.domid(), 5), -EINVAL);  // not allocated
    const auto for_other = alloc(guest_, kGuestConnection, other_.domid()).first;
    EXPECT_EQ(bind_errno(dom0_, guest_.domid(), for_other), -EINVAL);  // offered to other
    const auto port = alloc(guest_, kGuestConnection, 0).first;
    EXPECT_EQ(bind_errno(dom0_, guest_.domid(), port), 0);
    EXPECT_EQ(bind_errno(dom0_, guest_.domid(), port), -EINVAL);  // already bound
    EXPECT_EQ(status(dom0_, xen::kDomidSelf, 2).status,
              static_cast<std::uint32_t>(xen::EvtchnStat::closed));  // nothing half-made
}

TEST_F(EventChannelsTest, SendDeliversToAPeerAndDropsOnAnUnboundPort) {
    auto [guest_port, guest_incoming] = alloc(guest_, kGuestConnection, 0);
    wire::EvtchnPortOp send{guest_port, 9, 9, 0};
    std::vector<os::UniqueFd> fds;
    EXPECT_EQ(events_.send(guest_, send, fds), 0);
    EXPECT_EQ(send.delivered, 0u);
    EXPECT_TRUE(fds.empty());
    EXPECT_EQ(guest_.counters.events_sent, 0u);

    Bound local = bind(dom0_, kDom0Connection, guest_.domid(), guest_port);
    local.incoming.try_consume();
    send.port = guest_port;
    EXPECT_EQ(events_.send(guest_, send, fds), 0);
    EXPECT_EQ(send.delivered, 1u);
    EXPECT_EQ(send.generation, generation(guest_, guest_port));
    ASSERT_EQ(fds.size(), 1u);
    EXPECT_EQ(local.incoming.try_consume(), 1u);
    os::EventFd(std::move(fds[0])).signal();  // the attached fd is dom0's incoming one
    EXPECT_EQ(local.incoming.try_consume(), 1u);
    EXPECT_EQ(guest_.counters.events_sent, 1u);

    send.port = 77;
    EXPECT_EQ(events_.send(guest_, send, fds), -EINVAL);
    send.port = 0;
    EXPECT_EQ(events_.send(guest_, send, fds), -EINVAL);
}

TEST_F(EventChannelsTest, CloseLeavesThePeerUnboundForTheClosingDomain) {
    auto [guest_port, guest_incoming] = alloc(guest_, kGuestConnection, 0);
    Bound local = bind(dom0_, kDom0Connection, guest_.domid(), guest_port);
    const std::uint32_t dom0_generation = generation(dom0_, local.port);
    guest_.shared_info().pending_word(guest_port).fetch_or(wire::SharedInfoView::bit(guest_port));

    EXPECT_EQ(events_.close(guest_, guest_port), 0);
    EXPECT_FALSE(pending(guest_, guest_port));
    const auto st = status(dom0_, xen::kDomidSelf, local.port);
    EXPECT_EQ(st.status, static_cast<std::uint32_t>(xen::EvtchnStat::unbound));
    EXPECT_EQ(st.remote_dom, guest_.domid());
    EXPECT_GT(generation(dom0_, local.port), dom0_generation);
    EXPECT_EQ(status(guest_, xen::kDomidSelf, guest_port).status,
              static_cast<std::uint32_t>(xen::EvtchnStat::closed));
    EXPECT_EQ(events_.close(guest_, guest_port), -EINVAL);

    // dom0's port now drops sends, and the guest may bind it again.
    wire::EvtchnPortOp send{local.port, 0, 0, 0};
    std::vector<os::UniqueFd> fds;
    EXPECT_EQ(events_.send(dom0_, send, fds), 0);
    EXPECT_EQ(send.delivered, 0u);
    Bound again = bind(guest_, kGuestConnection, 0, local.port);
    EXPECT_EQ(again.incoming.try_consume(), 1u);
}

TEST_F(EventChannelsTest, UnmaskReRaisesAPendingPort) {
    auto [port, incoming] = alloc(guest_, kGuestConnection, 0);
    const auto info = guest_.shared_info();
    const auto bit = wire::SharedInfoView::bit(port);
    info.mask_word(port).fetch_or(bit);
    EXPECT_EQ(events_.unmask(guest_, port), 0);
    EXPECT_EQ(info.mask_word(port).load() & bit, 0u);
    EXPECT_EQ(incoming.try_consume(), 0u);  // nothing pending, nothing raised

    info.mask_word(port).fetch_or(bit);
    info.pending_word(port).fetch_or(bit);
    EXPECT_EQ(events_.unmask(guest_, port), 0);
    EXPECT_EQ(incoming.try_consume(), 1u);
    EXPECT_EQ(events_.unmask(guest_, port + 1), -EINVAL);
}

TEST_F(EventChannelsTest, StatusChecksWhoAsks) {
    const auto port = alloc(guest_, kGuestConnection, 0).first;
    status(other_, guest_.domid(), port, -EPERM);
    status(other_, 999, 1, -ESRCH);
    status(dom0_, guest_.domid(), wire::kMaxEvtchnPorts, -EINVAL);
    EXPECT_EQ(status(dom0_, guest_.domid(), 0).status,
              static_cast<std::uint32_t>(xen::EvtchnStat::closed));
    EXPECT_EQ(status(guest_, guest_.domid(), port).status,
              static_cast<std::uint32_t>(xen::EvtchnStat::unbound));
}

TEST_F(EventChannelsTest, AConnectionClosesOnlyItsOwnPorts) {
    const auto a = alloc(guest_, kGuestConnection, 0).first;
    const auto b = alloc(guest_, kGuestConnection, 0).first;
    Bound mine = bind(dom0_, kDom0Connection, guest_.domid(), a);
    Bound theirs = bind(dom0_, kOtherDom0Connection, guest_.domid(), b);
    EXPECT_EQ(events_.close_connection(dom0_, kDom0Connection), 1u);
    EXPECT_EQ(status(dom0_, guest_.domid(), a).status,
              static_cast<std::uint32_t>(xen::EvtchnStat::unbound));
    EXPECT_EQ(status(dom0_, guest_.domid(), b).status,
              static_cast<std::uint32_t>(xen::EvtchnStat::interdomain));
    EXPECT_EQ(status(dom0_, xen::kDomidSelf, theirs.port).status,
              static_cast<std::uint32_t>(xen::EvtchnStat::interdomain));

    // A domain's death closes everything it has.
    EXPECT_EQ(events_.close_all(guest_), 2u);
    EXPECT_EQ(status(dom0_, xen::kDomidSelf, theirs.port).status,
              static_cast<std::uint32_t>(xen::EvtchnStat::unbound));
    EXPECT_EQ(guest_.port_count(), 0u);
}

}  // namespace
}  // namespace pvsim::hypervisor::server::test
