// The shape checks of each hypercall (hypervisor/protocol/hypercall.hpp):
// unknown ops, sizes, batch counts, privilege, welcome, and the counters,
// on the dispatcher alone.
#include "hypervisor/server/hypercall_dispatch.hpp"

#include <cerrno>
#include <cstring>
#include <vector>

#include <gtest/gtest.h>

#include "domains_fixture.hpp"

namespace pvsim::hypervisor::server::test {
// This file's own names, apart from those of the other files of its folder,
// which compiles as one translation unit.
namespace hypercall_dispatch_test {

using wire::Op;

constexpr ConnectionId kConnection = 1;

std::vector<std::byte> batch(std::uint32_t count, std::size_t op_size, std::size_t ops_present) {
    std::vector<std::byte> payload(sizeof(wire::BatchHeader) + op_size * ops_present);
    const wire::BatchHeader header{count, 0};
    std::memcpy(payload.data(), &header, sizeof header);
    return payload;
}

template <typename T>
std::vector<std::byte> bytes_of(const T& value) {
    std::vector<std::byte> bytes(sizeof(T));
    std::memcpy(bytes.data(), &value, sizeof(T));
    return bytes;
}

class DispatchTest : public DomainsFixture {
  protected:
    GrantOps grants_{domains_};
    EventChannels events_{domains_};
    HypercallDispatcher dispatcher_{domains_, grants_, events_};

    HypercallReply call(const Domain& caller, std::uint32_t op,
                        const std::vector<std::byte>& payload) {
        return dispatcher_.dispatch(caller.domid(), kConnection, op, payload);
    }
    HypercallReply call(const Domain& caller, Op op, const std::vector<std::byte>& payload) {
        return call(caller, static_cast<std::uint32_t>(op), payload);
    }
};

TEST_F(DispatchTest, UnknownOpsAndWelcomeAreENOSYS) {
    EXPECT_EQ(call(guest_, 999, {}).result, -ENOSYS);
    EXPECT_EQ(call(guest_, 0, {}).result, -ENOSYS);
    EXPECT_EQ(call(guest_, wire::kOpCount, {}).result, -ENOSYS);
    EXPECT_EQ(call(guest_, Op::welcome, {}).result, -ENOSYS);
    EXPECT_EQ(guest_.counters.hypercalls[static_cast<std::size_t>(Op::welcome)], 0u);
}

TEST_F(DispatchTest, BatchesAreCheckedBeforeAnySlotRuns) {
    const std::size_t size = sizeof(wire::GrantMapOp);
    EXPECT_EQ(call(dom0_, Op::grant_map, batch(0, size, 0)).result, -EINVAL);
    EXPECT_EQ(call(dom0_, Op::grant_map, batch(3, size, 2)).result, -EINVAL);
    EXPECT_EQ(call(dom0_, Op::grant_map, batch(1, size, 2)).result, -EINVAL);
    EXPECT_EQ(call(dom0_, Op::grant_map, std::vector<std::byte>(4)).result, -EINVAL);
    EXPECT_EQ(call(dom0_, Op::grant_unmap, batch(1u << 31, sizeof(wire::GrantUnmapOp), 1)).result,
              -E2BIG);
    EXPECT_EQ(call(dom0_, Op::grant_copy,
                   batch(wire::kMaxBatch + 1, sizeof(wire::GrantCopyOp), wire::kMaxBatch + 1))
                  .result,
              -E2BIG);
    // kMaxBatch copies fit in one payload.
    EXPECT_LE(batch(wire::kMaxBatch, sizeof(wire::GrantCopyOp), wire::kMaxBatch).size(),
              wire::kMaxPayload);
    EXPECT_EQ(dom0_.counters.hypercalls[static_cast<std::size_t>(Op::grant_map)], 4u);
}

TEST_F(DispatchTest, ABatchReplyHasTheSameShapeWithStatuses) {
    auto payload = batch(2, sizeof(wire::GrantUnmapOp), 2);
    const HypercallReply reply = call(dom0_, Op::grant_unmap, payload);
    ASSERT_EQ(reply.result, 0);
    ASSERT_EQ(reply.payload.size(), payload.size());
    wire::BatchHeader header{};
    std::memcpy(&header, reply.payload.data(), sizeof header);
    EXPECT_EQ(header.count, 2u);
    wire::GrantUnmapOp second{};
    std::memcpy(&second, reply.payload.data() + sizeof header + sizeof second, sizeof second);
    EXPECT_EQ(second.status, static_cast<std::int16_t>(xen::GntSt::bad_handle));
}

TEST_F(DispatchTest, FixedSizeOpsRefuseOtherSizes) {
    EXPECT_EQ(call(guest_, Op::evtchn_send, std::vector<std::byte>(3)).result, -EINVAL);
    EXPECT_EQ(call(guest_, Op::evtchn_status, std::vector<std::byte>(17)).result, -EINVAL);
    EXPECT_EQ(call(guest_, Op::domain_info, {}).result, -EINVAL);
}

TEST_F(DispatchTest, ForeignMapsAreDom0sAlone) {
    wire::ForeignMapOp op{};
    op.dom = guest_.domid();
    op.gfn = 1;
    auto payload = batch(1, sizeof op, 0);
    const auto op_bytes = bytes_of(op);
    payload.insert(payload.end(), op_bytes.begin(), op_bytes.end());
    EXPECT_EQ(call(other_, Op::foreign_map, payload).result, -EPERM);
    const HypercallReply reply = call(dom0_, Op::foreign_map, payload);
    EXPECT_EQ(reply.result, 0);
    EXPECT_EQ(reply.fds.size(), 1u);
}

TEST_F(DispatchTest, EventChannelRepliesCarryTheirFds) {
    const HypercallReply alloc = call(guest_, Op::evtchn_alloc_unbound,
                                      bytes_of(wire::EvtchnAllocUnbound{xen::kDomidSelf, 0, 0}));
    ASSERT_EQ(alloc.result, 0);
    ASSERT_EQ(alloc.fds.size(), 1u);
    wire::EvtchnAllocUnbound allocated{};
    std::memcpy(&allocated, alloc.payload.data(), sizeof allocated);
    const HypercallReply bind =
        call(dom0_, Op::evtchn_bind_interdomain,
             bytes_of(wire::EvtchnBindInterdomain{guest_.domid(), 0, allocated.port, 0, 0}));
    ASSERT_EQ(bind.result, 0);
    EXPECT_EQ(bind.fds.size(), 2u);
    // An error carries neither payload nor fds.
    const HypercallReply bad =
        call(dom0_, Op::evtchn_bind_interdomain,
             bytes_of(wire::EvtchnBindInterdomain{guest_.domid(), 0, allocated.port, 0, 0}));
    EXPECT_EQ(bad.result, -EINVAL);
    EXPECT_TRUE(bad.fds.empty());
    EXPECT_TRUE(bad.payload.empty());
}

TEST_F(DispatchTest, DomainInfoNamesAnyDomain) {
    HypercallReply reply =
        call(guest_, Op::domain_info, bytes_of(wire::DomainInfoRequest{xen::kDomidSelf, {}}));
    ASSERT_EQ(reply.result, 0);
    wire::DomainInfoReply info{};
    ASSERT_EQ(reply.payload.size(), sizeof info);
    std::memcpy(&info, reply.payload.data(), sizeof info);
    EXPECT_EQ(info.domid, guest_.domid());
    EXPECT_STREQ(info.name, "guest");
    EXPECT_EQ(info.memory_bytes, kMemory);
    EXPECT_EQ(info.grant_frames, kGrantFrames);
    EXPECT_EQ(info.state, static_cast<std::uint32_t>(wire::DomainState::running));
    EXPECT_EQ(call(guest_, Op::domain_info, bytes_of(wire::DomainInfoRequest{4000, {}})).result,
              -ESRCH);
}

TEST_F(DispatchTest, ADeadCallerIsServedNoMore) {
    guest_.set_dying();
    EXPECT_EQ(call(guest_, Op::domain_info, bytes_of(wire::DomainInfoRequest{xen::kDomidSelf, {}}))
                  .result,
              -ESRCH);
}

TEST_F(DispatchTest, TheWelcomeSaysWhoTheCallerIs) {
    const HypercallReply welcome = dispatcher_.welcome(dom0_, kConnection);
    wire::Welcome message{};
    ASSERT_EQ(welcome.payload.size(), sizeof message);
    std::memcpy(&message, welcome.payload.data(), sizeof message);
    EXPECT_EQ(message.domid, 0);
    EXPECT_EQ(message.flags, wire::kWelcomePrivileged);
    EXPECT_EQ(message.memory_bytes, kMemory);
    EXPECT_EQ(message.grant_frames, kGrantFrames);
    EXPECT_EQ(message.max_evtchn_ports, wire::kMaxEvtchnPorts);
    EXPECT_EQ(message.store_gfn, 0u);
    EXPECT_EQ(message.first_free_gfn, 1u);
    EXPECT_EQ(message.store_evtchn, xen::kInvalidEvtchnPort);
    EXPECT_EQ(welcome.fds.size(), wire::kWelcomeFds);
}

TEST_F(DispatchTest, AGuestsWelcomeBringsItsStorePortUnboundToDom0) {
    const HypercallReply welcome = dispatcher_.welcome(guest_, kConnection);
    wire::Welcome message{};
    ASSERT_EQ(welcome.payload.size(), sizeof message);
    std::memcpy(&message, welcome.payload.data(), sizeof message);
    EXPECT_EQ(message.domid, guest_.domid());
    EXPECT_EQ(message.flags, 0u);
    ASSERT_NE(message.store_evtchn, xen::kInvalidEvtchnPort);
    EXPECT_EQ(welcome.fds.size(), wire::kWelcomeGuestFds);
    EXPECT_EQ(guest_.store_port, message.store_evtchn);

    wire::EvtchnStatusOp status{};
    status.dom = guest_.domid();
    status.port = message.store_evtchn;
    ASSERT_EQ(events_.status(dom0_, status), 0);
    EXPECT_EQ(status.status, static_cast<std::uint32_t>(xen::EvtchnStat::unbound));
    EXPECT_EQ(status.remote_dom, 0);
}

TEST_F(DispatchTest, VirqDomExcIsDom0sAndBindsOnce) {
    auto bind = [&](const Domain& caller, std::uint32_t virq) {
        wire::EvtchnBindVirq op{};
        op.virq = virq;
        return call(caller, Op::evtchn_bind_virq, bytes_of(op));
    };
    EXPECT_EQ(bind(guest_, xen::kVirqDomExc).result, -EPERM);
    EXPECT_EQ(bind(dom0_, 0).result, -EINVAL);
    const HypercallReply bound = bind(dom0_, xen::kVirqDomExc);
    ASSERT_EQ(bound.result, 0);
    EXPECT_EQ(bound.fds.size(), 1u);
    EXPECT_EQ(bind(dom0_, xen::kVirqDomExc).result, -EEXIST);

    wire::EvtchnBindVirq out{};
    std::memcpy(&out, bound.payload.data(), sizeof out);
    wire::EvtchnPortOp send{};
    send.port = out.port;
    EXPECT_EQ(call(dom0_, Op::evtchn_send, bytes_of(send)).result, -EINVAL);

    // Raising it signals the port's eventfd, which the binder holds.
    events_.raise_dom_exc();
    EXPECT_EQ(dom0_.ports[out.port].incoming->try_consume(), 1u);
}

}  // namespace hypercall_dispatch_test
}  // namespace pvsim::hypervisor::server::test
