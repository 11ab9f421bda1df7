// Domains come and go (DESIGN.md §3): create spawns the domain's process,
// destroy and death release everything it held, a dead domain stays "dying"
// while another domain still maps its memory, and nothing of it (shared
// memory, fds) outlives it.
#include <gtest/gtest.h>

#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "common/os/shared_memory.hpp"
#include "tests/support/hypervisor_process.hpp"

namespace pvsim::test {
namespace {

using hypervisor::GrantMapRequest;
using xen::EvtchnStat;
using xen::GntSt;

class DomainLifecycleTest : public ::testing::Test {
  protected:
    HypervisorProcess hv_;

    std::vector<std::string> shm_objects() const {
        return os::list_run_shm(hv_.run_dir().shm_tag());
    }
    std::size_t shm_objects_of(xen::DomId domid) const {
        const std::string marker = ".dom" + std::to_string(domid) + ".";
        const auto names = shm_objects();
        return std::count_if(names.begin(), names.end(), [&](const std::string& name) {
            return name.find(marker) != std::string::npos;
        });
    }
    // The domain's entry in `list`, or null when it is gone.
    nlohmann::json find(xen::DomId domid) const {
        for (const auto& domain : hv_.control().list()) {
            if (domain.at("domid") == domid) {
                return domain;
            }
        }
        return nullptr;
    }
};

TEST_F(DomainLifecycleTest, Dom0ExistsFromTheStartAndGuestsGetDomidsFromOne) {
    const auto domains = hv_.control().list();
    ASSERT_EQ(domains.size(), 1u);
    EXPECT_EQ(domains[0]["domid"], 0);
    EXPECT_EQ(domains[0]["name"], "Domain-0");

    TestGuest first(hv_, "first", 8ull << 20);
    TestGuest second(hv_, "second");
    EXPECT_EQ(first.domid(), 1);
    EXPECT_EQ(second.domid(), 2);
    EXPECT_EQ(first.ok("info"), "1 8388608");
    const auto info = hv_.control().info(1);
    EXPECT_EQ(info["name"], "first");
    EXPECT_EQ(info["state"], "running");
    EXPECT_EQ(info["memory"], 8ull << 20);
    EXPECT_GT(info["pid"].get<int>(), 0);
    // Each domain's memory, grant table, shared info and active grants.
    EXPECT_EQ(shm_objects_of(1), 4u);

    // The domain learns who it is from its connection alone.
    auto dom0 = hv_.connect_dom0();
    EXPECT_EQ(dom0.domid(), 0);
    EXPECT_TRUE(dom0.privileged());
    EXPECT_EQ(dom0.domain_info(1).name, "first");
}

TEST_F(DomainLifecycleTest, DestroyLeavesNoProcessSharedMemoryOrFdBehind) {
    const auto objects_before = shm_objects();
    const int fds_before = count_open_fds(hv_.process().pid());
    {
        TestGuest guest(hv_, "guest");
        auto dom0 = hv_.connect_dom0();
        // Give the guest some state to release: a port bound to dom0, a
        // mapping by dom0 that is unmapped before the destroy.
        const auto port = guest.ok_number("alloc-unbound 0");
        auto channel = dom0.bind_interdomain(guest.domid(), static_cast<xen::EvtchnPort>(port));
        const auto gfn = guest.ok_number("alloc-page");
        const auto ref = guest.ok_number("grant 0 " + std::to_string(gfn) + " rw");
        const GrantMapRequest request{guest.domid(), static_cast<xen::GrantRef>(ref), false};
        const auto mapped = dom0.map_grant_refs({&request, 1});
        ASSERT_EQ(mapped[0].status, GntSt::okay);
        dom0.unmap_grant_refs({&mapped[0].handle, 1});
        const pid_t pid = hv_.control().info(guest.domid())["pid"];

        EXPECT_EQ(hv_.control().destroy("guest"), "destroyed");
        EXPECT_EQ(find(guest.domid()), nullptr);
        EXPECT_EQ(::kill(pid, 0), -1) << "the guest process still exists";
        EXPECT_EQ(dom0.evtchn_status(xen::kDomidSelf, channel.port()).status, EvtchnStat::unbound);
    }
    EXPECT_EQ(shm_objects(), objects_before);
    // The dom0 connection above is closed too; give the hypervisor the
    // moment it needs to notice.
    EXPECT_TRUE(eventually([&] { return count_open_fds(hv_.process().pid()) == fds_before; }))
        << count_open_fds(hv_.process().pid()) << " fds, " << fds_before << " before";
}

TEST_F(DomainLifecycleTest, AKilledDomainUnbindsItsPeersAndStaysDyingWhileMapped) {
    TestGuest guest(hv_, "victim");
    auto dom0 = hv_.connect_dom0();
    const auto gfn = guest.ok_number("alloc-page");
    guest.ok("write " + std::to_string(gfn) + " 0 still-here");
    const auto ref = guest.ok_number("grant 0 " + std::to_string(gfn) + " rw");
    const GrantMapRequest request{guest.domid(), static_cast<xen::GrantRef>(ref), false};
    const auto mapped = dom0.map_grant_refs({&request, 1});
    ASSERT_EQ(mapped[0].status, GntSt::okay);
    auto channel = dom0.bind_interdomain(
        guest.domid(), static_cast<xen::EvtchnPort>(guest.ok_number("alloc-unbound 0")));

    guest.send("crash");
    ASSERT_TRUE(eventually([&] {
        return dom0.evtchn_status(xen::kDomidSelf, channel.port()).status == EvtchnStat::unbound;
    }));
    ASSERT_TRUE(eventually([&] {
        const auto entry = find(guest.domid());
        return entry != nullptr && entry["state"] == "dying";
    }));
    // Its memory is still there for the domain that maps it.
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(mapped[0].page), 10), "still-here");
    EXPECT_EQ(shm_objects_of(guest.domid()), 4u);
    // A dying domain cannot be mapped again.
    EXPECT_EQ(dom0.map_grant_refs({&request, 1})[0].status, GntSt::bad_domain);
    channel.notify();  // dropped, not an error

    EXPECT_EQ(dom0.unmap_grant_refs({&mapped[0].handle, 1})[0], GntSt::okay);
    EXPECT_EQ(find(guest.domid()), nullptr);
    EXPECT_EQ(shm_objects_of(guest.domid()), 0u);
}

TEST_F(DomainLifecycleTest, AGuestsMappingsOfOthersAreReleasedWhenItDies) {
    TestGuest granter(hv_, "granter");
    TestGuest mapper(hv_, "mapper");
    const auto gfn = granter.ok_number("alloc-page");
    const auto ref = granter.ok_number("grant " + std::to_string(mapper.domid()) + " " +
                                       std::to_string(gfn) + " rw");
    mapper.ok("map " + std::to_string(granter.domid()) + " " + std::to_string(ref) + " rw");
    EXPECT_EQ(granter.ok("end-access " + std::to_string(ref)), "pinned");
    mapper.send("crash");
    EXPECT_TRUE(eventually([&] { return find(mapper.domid()) == nullptr; }));
    EXPECT_EQ(granter.ok("end-access " + std::to_string(ref)), "ended");
}

TEST_F(DomainLifecycleTest, ADomainThatExitsIsNoticedAtOnce) {
    TestGuest guest(hv_, "leaver");
    guest.send("exit 0");
    EXPECT_TRUE(eventually([&] { return find(guest.domid()) == nullptr; }));
    EXPECT_EQ(shm_objects_of(guest.domid()), 0u);
}

TEST_F(DomainLifecycleTest, StoppingTheHypervisorTakesEveryDomainAndObjectWithIt) {
    TestGuest guest(hv_, "guest");
    const pid_t pid = hv_.control().info(guest.domid())["pid"];
    EXPECT_EQ(hv_.stop().describe(), "exited with status 0");
    EXPECT_EQ(::kill(pid, 0), -1) << "the guest process outlived the hypervisor";
    EXPECT_EQ(shm_objects(), std::vector<std::string>{});
    EXPECT_FALSE(std::filesystem::exists(hv_.run_dir().hypervisor_socket()));
}

TEST_F(DomainLifecycleTest, AGuestComesWithAStorePortThatDom0Binds) {
    // What libxl does before a guest runs: a port of the guest's, unbound
    // with remote dom0, named in the create reply for XS_INTRODUCE.
    TestGuest guest(hv_, "guest");
    const auto info = hv_.control().info(guest.domid());
    const auto store_port = info.at("store_port").get<xen::EvtchnPort>();
    EXPECT_EQ(info.at("store_gfn"), 0);
    ASSERT_NE(store_port, xen::kInvalidEvtchnPort);
    EXPECT_EQ(guest.ok_number("store-port"), store_port);

    auto dom0 = hv_.connect_dom0();
    const auto status = dom0.evtchn_status(guest.domid(), store_port);
    EXPECT_EQ(status.status, EvtchnStat::unbound);
    EXPECT_EQ(status.remote_domid, 0);
    auto channel = dom0.bind_interdomain(guest.domid(), store_port);
    channel.notify();
    guest.ok("wait " + std::to_string(store_port));
}

TEST_F(DomainLifecycleTest, Dom0HearsOfEveryDeathThroughVirqDomExc) {
    auto dom0 = hv_.connect_dom0();
    auto virq = dom0.bind_virq(xen::kVirqDomExc);
    EXPECT_EQ(dom0.evtchn_status(xen::kDomidSelf, virq.port()).status, EvtchnStat::virq);
    try {
        auto again = dom0.bind_virq(xen::kVirqDomExc);
        ADD_FAILURE() << "bound VIRQ_DOM_EXC twice";
    } catch (const hypervisor::HypercallError& e) {
        EXPECT_EQ(e.error(), EEXIST) << e.what();
    }
    {
        TestGuest guest(hv_, "guest");
        EXPECT_FALSE(virq.poll());
        guest.send("crash");
        EXPECT_TRUE(eventually([&] { return virq.poll(); }));
    }
    TestGuest other(hv_, "other");
    EXPECT_EQ(hv_.control().destroy("other"), "destroyed");
    EXPECT_TRUE(eventually([&] { return virq.poll(); }));
}

}  // namespace
}  // namespace pvsim::test
