// Whatever one connection sends, the hypervisor answers it with an error or
// closes that connection, and keeps serving everyone else (DESIGN.md §8).
#include <gtest/gtest.h>

#include <cerrno>
#include <vector>

#include "raw_connection.hpp"
#include "tests/support/hypervisor_process.hpp"

namespace pvsim::test {
namespace {

namespace wire = hypervisor::wire;
using wire::Op;

class BadInputTest : public ::testing::Test {
  protected:
    HypervisorProcess hv_;
    TestGuest guest_{hv_, "bystander"};

    // Another domain is still served: the guest allocates a port for dom0
    // and dom0 binds it through a fresh connection.
    void expect_others_served() {
        auto dom0 = hv_.connect_dom0();
        const auto port = guest_.ok_number("alloc-unbound 0");
        auto channel = dom0.bind_interdomain(guest_.domid(), static_cast<xen::EvtchnPort>(port));
        channel.notify();
        EXPECT_EQ(guest_.ok("poll " + std::to_string(port)), "1");
    }

    static std::vector<std::byte> batch(std::uint32_t count, std::size_t op_size,
                                        std::size_t ops_sent) {
        std::vector<std::byte> payload(sizeof(wire::BatchHeader) + op_size * ops_sent);
        const wire::BatchHeader header{count, 0};
        std::memcpy(payload.data(), &header, sizeof header);
        return payload;
    }
};

TEST_F(BadInputTest, AnUnknownOperationIsENOSYS) {
    RawConnection raw(hv_);
    raw.send_request(999, 0, {});
    auto reply = raw.receive();
    ASSERT_FALSE(reply.closed);
    EXPECT_EQ(reply.header.result, -ENOSYS);
    // welcome is the hypervisor's to send, not a request.
    raw.send_request(Op::welcome, {});
    EXPECT_EQ(raw.receive().header.result, -ENOSYS);
    // The connection still works.
    wire::DomainInfoRequest info{xen::kDomidSelf, {}};
    raw.send_request(Op::domain_info, RawConnection::bytes_of(info));
    reply = raw.receive();
    EXPECT_EQ(reply.header.result, 0);
    expect_others_served();
}

TEST_F(BadInputTest, MalformedBatchesAreRefusedWithoutClosing) {
    RawConnection raw(hv_);
    // count 0
    raw.send_request(Op::grant_map, batch(0, sizeof(wire::GrantMapOp), 0));
    EXPECT_EQ(raw.receive().header.result, -EINVAL);
    // count says 3, 2 ops follow
    raw.send_request(Op::grant_map, batch(3, sizeof(wire::GrantMapOp), 2));
    EXPECT_EQ(raw.receive().header.result, -EINVAL);
    // an absurd count
    raw.send_request(Op::grant_unmap, batch(1u << 31, sizeof(wire::GrantUnmapOp), 1));
    EXPECT_EQ(raw.receive().header.result, -E2BIG);
    // kMaxBatch + 1 ops, all present (still under kMaxPayload)
    raw.send_request(Op::grant_unmap,
                     batch(wire::kMaxBatch + 1, sizeof(wire::GrantUnmapOp), wire::kMaxBatch + 1));
    EXPECT_EQ(raw.receive().header.result, -E2BIG);
    // a fixed-size op with the wrong size
    raw.send_request(Op::evtchn_send, std::vector<std::byte>(3));
    EXPECT_EQ(raw.receive().header.result, -EINVAL);
    // The connection is still in step: the next request gets its own answer.
    wire::DomainInfoRequest info{xen::kDomidSelf, {}};
    raw.send_request(Op::domain_info, RawConnection::bytes_of(info));
    const auto reply = raw.receive();
    EXPECT_EQ(reply.header.op, static_cast<std::uint32_t>(Op::domain_info));
    EXPECT_EQ(reply.header.result, 0);
}

TEST_F(BadInputTest, AnOversizedMessageClosesThatConnectionOnly) {
    RawConnection raw(hv_);
    raw.send_request(static_cast<std::uint32_t>(Op::grant_map), wire::kMaxPayload + 1, {});
    EXPECT_TRUE(raw.receive().closed);
    expect_others_served();
}

TEST_F(BadInputTest, ATruncatedMessageThenHangUpReleasesTheConnection) {
    {
        RawConnection raw(hv_);
        raw.send_request(static_cast<std::uint32_t>(Op::grant_map), 200,
                         std::vector<std::byte>(20));
    }
    expect_others_served();
    // Half a header.
    {
        RawConnection raw(hv_);
        raw.send_bytes(std::vector<std::byte>(3));
    }
    expect_others_served();
}

TEST_F(BadInputTest, AClosedDom0ConnectionReleasesItsPortsAndMaps) {
    auto keeper = hv_.connect_dom0();
    const auto kept_port = guest_.ok_number("alloc-unbound 0");
    auto kept = keeper.bind_interdomain(guest_.domid(), static_cast<xen::EvtchnPort>(kept_port));
    const auto port = guest_.ok_number("alloc-unbound 0");
    const auto gfn = guest_.ok_number("alloc-page");
    const auto ref = guest_.ok_number("grant 0 " + std::to_string(gfn) + " rw");
    {
        RawConnection raw(hv_);
        wire::EvtchnBindInterdomain bind{guest_.domid(), 0, static_cast<xen::EvtchnPort>(port), 0,
                                         0};
        raw.send_request(Op::evtchn_bind_interdomain, RawConnection::bytes_of(bind));
        ASSERT_EQ(raw.receive().header.result, 0);
        auto map = batch(1, sizeof(wire::GrantMapOp), 1);
        wire::GrantMapOp op{};
        op.flags = xen::kGntmapHostMap;
        op.ref = static_cast<xen::GrantRef>(ref);
        op.dom = guest_.domid();
        std::memcpy(map.data() + sizeof(wire::BatchHeader), &op, sizeof op);
        raw.send_request(Op::grant_map, map);
        const auto reply = raw.receive();
        ASSERT_EQ(reply.header.result, 0);
        wire::GrantMapOp result{};
        std::memcpy(&result, reply.payload.data() + sizeof(wire::BatchHeader), sizeof result);
        ASSERT_EQ(result.status, 0);
        EXPECT_EQ(guest_.ok("end-access " + std::to_string(ref)), "pinned");
        EXPECT_EQ(keeper.evtchn_status(guest_.domid(), static_cast<xen::EvtchnPort>(port)).status,
                  xen::EvtchnStat::interdomain);
    }
    EXPECT_TRUE(
        eventually([&] { return guest_.ok("end-access " + std::to_string(ref)) == "ended"; }));
    EXPECT_EQ(keeper.evtchn_status(guest_.domid(), static_cast<xen::EvtchnPort>(port)).status,
              xen::EvtchnStat::unbound);
    // What the other connection holds is untouched.
    EXPECT_EQ(keeper.evtchn_status(xen::kDomidSelf, kept.port()).status,
              xen::EvtchnStat::interdomain);
}

TEST_F(BadInputTest, TheControlSocketRejectsBadRequestsClearly) {
    auto control = hv_.control();
    auto expect_error = [&](const nlohmann::json& request, const std::string& needle) {
        try {
            control.request(request);
            ADD_FAILURE() << "no error for " << request.dump();
        } catch (const hypervisor::ControlError& e) {
            EXPECT_NE(std::string(e.what()).find(needle), std::string::npos)
                << "'" << e.what() << "' does not mention '" << needle << "'";
        }
    };
    expect_error({{"op", "frobnicate"}}, "frobnicate");
    expect_error({{"op", "create"}, {"name", "a b"}, {"program", PVSIM_TEST_DOMAIN}}, "a b");
    expect_error({{"op", "create"}, {"name", "bystander"}, {"program", PVSIM_TEST_DOMAIN}},
                 "bystander");
    expect_error({{"op", "create"}, {"name", "x"}, {"program", "/nonexistent/program"}},
                 "/nonexistent/program");
    expect_error({{"op", "create"}, {"name", "x"}, {"memory", 1}, {"program", PVSIM_TEST_DOMAIN}},
                 "memory");
    expect_error({{"op", "destroy"}, {"domid", 0}}, "0");
    expect_error({{"op", "destroy"}, {"name", "nobody"}}, "nobody");
    expect_error({{"op", "info"}, {"domid", 4000}}, "4000");
    // The same connection is still usable, and nothing was created.
    EXPECT_EQ(control.list().size(), 2u);
    expect_others_served();
}

}  // namespace
}  // namespace pvsim::test
