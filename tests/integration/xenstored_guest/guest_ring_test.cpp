// A guest speaks to pvsim-xenstored the Xen way (DESIGN.md §4): over the
// xenstore ring page in its own memory and its store event channel, after
// the toolstack's XS_INTRODUCE. Real processes throughout: the hypervisor,
// the daemon, and a guest the hypervisor spawns, which runs the same client
// library as a frontend does.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>

#include "tests/support/hypervisor_process.hpp"
#include "tests/support/xenstored_process.hpp"
#include "xenstore/client/client.hpp"

namespace pvsim::test {
namespace {

using xenstore::client::Client;
using xenstore::client::WatchEvent;

class GuestRingTest : public ::testing::Test {
  protected:
    // What libxl does for a new domain: its home readable by it, a data/
    // directory it owns, then XS_INTRODUCE with the frame and port the
    // hypervisor reported.
    void introduce(TestGuest& guest) {
        const auto info = hv_.control().info(guest.domid());
        const std::string home = "/local/domain/" + std::to_string(guest.domid());
        dom0_.mkdir(home);
        dom0_.set_perms(home, {{xen::xs::Access::none, 0}, {xen::xs::Access::read, guest.domid()}});
        dom0_.mkdir(home + "/data");
        dom0_.set_perms(home + "/data", {{xen::xs::Access::none, guest.domid()}});
        dom0_.introduce(guest.domid(), info.at("store_gfn").get<std::uint64_t>(),
                        info.at("store_port").get<xen::EvtchnPort>());
        guest.ok("xs-connect");
    }
    std::string home(const TestGuest& guest) const {
        return "/local/domain/" + std::to_string(guest.domid());
    }

    HypervisorProcess hv_;
    XenstoredProcess xenstored_{hv_, {"--entry-nb", "40"}};
    Client dom0_ = Client::connect(xenstored_.socket_path());
};

TEST_F(GuestRingTest, AGuestReadsWritesListsAndRemovesOverItsRing) {
    TestGuest guest(hv_, "guest");
    introduce(guest);
    EXPECT_TRUE(dom0_.is_domain_introduced(guest.domid()));
    EXPECT_EQ(guest.ok("xs-domain-path"), home(guest));

    // Relative paths resolve under the guest's home.
    guest.ok("xs-write data/name a value with spaces");
    EXPECT_EQ(dom0_.read(home(guest) + "/data/name"), "a value with spaces");
    EXPECT_EQ(guest.ok("xs-read data/name"), "a value with spaces");
    guest.ok("xs-mkdir data/dir");
    guest.ok("xs-write " + home(guest) + "/data/dir/leaf 1");
    EXPECT_EQ(guest.ok("xs-ls data"), "name dir");
    // A new node is the creator's, with its parent's other entries.
    EXPECT_EQ(guest.ok("xs-perms data/dir/leaf"), "n" + std::to_string(guest.domid()));
    guest.ok("xs-rm data/dir");
    EXPECT_EQ(dom0_.try_read(home(guest) + "/data/dir/leaf"), std::nullopt);
    EXPECT_EQ(guest.ok("xs-ls data"), "name");

    // dom0 writes, the guest reads what its permissions let it.
    dom0_.write(home(guest) + "/data/from-dom0", "hello");
    EXPECT_EQ(guest.ok("xs-read data/from-dom0"), "hello");
}

TEST_F(GuestRingTest, AGuestIsConfinedToWhatItsPermissionsAllow) {
    TestGuest guest(hv_, "guest");
    introduce(guest);
    dom0_.write("/tool/secret", "s");
    EXPECT_NE(guest.command("xs-read /tool/secret").find("EACCES"), std::string::npos);
    EXPECT_NE(guest.command("xs-write /tool/secret x").find("EACCES"), std::string::npos);
    EXPECT_NE(guest.command("xs-write /local/domain/0/x y").find("EACCES"), std::string::npos);
    // Its home is readable, not writable: libxl's roperm.
    EXPECT_NE(guest.command("xs-write name x").find("EACCES"), std::string::npos);

    dom0_.write("/shared", "r");
    dom0_.set_perms("/shared",
                    {{xen::xs::Access::none, 0}, {xen::xs::Access::read, guest.domid()}});
    EXPECT_EQ(guest.ok("xs-read /shared"), "r");
    EXPECT_NE(guest.command("xs-write /shared w").find("EACCES"), std::string::npos);
    EXPECT_NE(
        guest.command("xs-set-perms /shared b" + std::to_string(guest.domid())).find("EACCES"),
        std::string::npos);
    EXPECT_EQ(dom0_.read("/shared"), "r");
    EXPECT_EQ(dom0_.read("/tool/secret"), "s");
}

TEST_F(GuestRingTest, AGuestIsStoppedByItsNodeQuotaAndLosesNothing) {
    TestGuest guest(hv_, "guest");
    introduce(guest);
    // 40 nodes per domain (--entry-nb): data/ and some of these fit.
    const std::string reply = guest.command("xs-write-many 60 data/q");
    EXPECT_EQ(reply.rfind("error", 0), 0u) << reply;
    // C xenstored's answer to a node quota: ENOSPC (EQUOTA is oxenstored's
    // and not in xsd_errors).
    EXPECT_NE(reply.find("ENOSPC"), std::string::npos) << reply;
    EXPECT_EQ(guest.ok("xs-read data/q/0"), "x");
    // dom0 is not subject to quotas; removing frees the guest's nodes.
    dom0_.write(home(guest) + "/data/by-dom0", "fine");
    guest.ok("xs-rm data/q");
    guest.ok("xs-write data/after small");
    EXPECT_EQ(dom0_.read(home(guest) + "/data/after"), "small");
}

TEST_F(GuestRingTest, AGuestsWatchesFireForWhatItMayRead) {
    TestGuest guest(hv_, "guest");
    introduce(guest);
    guest.ok("xs-watch data/w tok");
    EXPECT_EQ(guest.ok("xs-event"), "data/w tok");  // on registration
    dom0_.write(home(guest) + "/data/w/child", "1");
    EXPECT_EQ(guest.ok("xs-event"), "data/w/child tok");
    guest.ok("xs-watch /tool/hidden t2");
    EXPECT_EQ(guest.ok("xs-event"), "/tool/hidden t2");
    // A node the guest may not read changes: it is not told; the next
    // event it gets is for the node it can read.
    dom0_.write("/tool/hidden", "secret");
    dom0_.write(home(guest) + "/data/w", "2");
    EXPECT_EQ(guest.ok("xs-event"), "data/w tok");
}

TEST_F(GuestRingTest, ADeadGuestIsReleasedAndReleaseDomainFires) {
    std::mutex mutex;
    std::condition_variable changed;
    int released = 0;
    auto watch = dom0_.watch("@releaseDomain", "rel", [&](const WatchEvent&) {
        std::lock_guard lock(mutex);
        ++released;
        changed.notify_all();
    });
    auto wait_for = [&](int count) {
        std::unique_lock lock(mutex);
        return changed.wait_for(lock, std::chrono::seconds(10), [&] { return released >= count; });
    };
    ASSERT_TRUE(wait_for(1));  // on registration
    xen::DomId domid = 0;
    {
        TestGuest guest(hv_, "guest");
        domid = guest.domid();
        introduce(guest);
        guest.send("crash");
        EXPECT_TRUE(wait_for(2));
    }
    EXPECT_TRUE(eventually([&] { return !dom0_.is_domain_introduced(domid); }));

    // XS_RELEASE from the toolstack does the same for a live guest.
    TestGuest other(hv_, "other");
    introduce(other);
    dom0_.release(other.domid());
    EXPECT_TRUE(wait_for(3));
    EXPECT_FALSE(dom0_.is_domain_introduced(other.domid()));
}

TEST_F(GuestRingTest, GarbageOnARingEndsThatRingOnly) {
    TestGuest guest(hv_, "guest");
    const auto info = hv_.control().info(guest.domid());
    dom0_.introduce(guest.domid(), info.at("store_gfn").get<std::uint64_t>(),
                    info.at("store_port").get<xen::EvtchnPort>());
    TestGuest good(hv_, "good");
    introduce(good);
    good.ok("xs-write data/kept yes");

    // 0xff... reads as a header with a type and length no request has:
    // broken framing, so xenstored drops that ring and marks the page.
    guest.ok("xs-raw-garbage 64");
    EXPECT_TRUE(eventually([&] { return guest.ok("xs-ring-error") != "0"; }));
    EXPECT_EQ(good.ok("xs-read data/kept"), "yes");
    good.ok("xs-write data/more still-served");
    EXPECT_EQ(dom0_.read(home(good) + "/data/more"), "still-served");
}

}  // namespace
}  // namespace pvsim::test
