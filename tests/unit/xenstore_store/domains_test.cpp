// XS_INTRODUCE, XS_RELEASE, XS_RESUME, XS_SET_TARGET, XS_GET_DOMAIN_PATH,
// XS_IS_DOMAIN_INTRODUCED and a domain dying, as C xenstored's domain.c.
#include "store_fixture.hpp"

namespace pvsim::xenstore::store::test {
namespace {

using Domains = StoreTest;

TEST_F(Domains, IntroduceAsksTheDaemonAndAnnouncesTheDomain) {
    watch(kDom0, "@introduceDomain", "in");
    take_events(kDom0);
    const Reply reply = request(kDom0, MessageType::introduce, nul_args({"5", "123456", "9"}));
    EXPECT_EQ(reply.type, MessageType::introduce);
    EXPECT_EQ(reply.payload, "OK\0"s);
    ASSERT_EQ(hooks_.introductions.size(), 1u);
    EXPECT_EQ(hooks_.introductions[0].domid, 5);
    EXPECT_EQ(hooks_.introductions[0].gfn, 123456u);
    EXPECT_EQ(hooks_.introductions[0].port, 9u);
    EXPECT_TRUE(store().introduced(5));
    EXPECT_EQ(request(kDom0, MessageType::is_domain_introduced, "5\0"s).payload, "T\0"s);
    EXPECT_EQ(take_events(kDom0), (std::vector<Event>{{"@introduceDomain", "in"}}));
}

TEST_F(Domains, IntroduceRefusesBadArgumentsAndGuests) {
    const ConnectionId guest = add_guest(1);
    EXPECT_EQ(request(guest, MessageType::introduce, nul_args({"5", "1", "9"})).error(), "EACCES");
    for (const std::string& bad :
         {nul_args({"5", "1"}), nul_args({"5", "1", "0"}), nul_args({"0", "1", "9"}),
          nul_args({"32752", "1", "9"}), nul_args({"x", "1", "9"}), nul_args({"5", "-1", "9"}),
          nul_args({"5", "1", "4294967296"}), ""s}) {
        EXPECT_EQ(request(kDom0, MessageType::introduce, bad).error(), "EINVAL");
    }
    EXPECT_EQ(hooks_.introductions.size(), 1u);  // add_guest's
}

TEST_F(Domains, AFailedIntroductionChangesNothing) {
    watch(kDom0, "@introduceDomain", "in");
    take_events(kDom0);
    hooks_.introduce_result = ENOMEM;
    EXPECT_EQ(request(kDom0, MessageType::introduce, nul_args({"5", "1", "9"})).error(), "ENOMEM");
    EXPECT_FALSE(store().introduced(5));
    EXPECT_EQ(take_events(kDom0), std::vector<Event>{});
    hooks_.introduce_result = EXDEV;  // no name in xsd_errors: sent as EINVAL
    EXPECT_EQ(request(kDom0, MessageType::introduce, nul_args({"5", "1", "9"})).error(), "EINVAL");
}

TEST_F(Domains, ReintroductionResetsTheConnectionQuietly) {
    const ConnectionId guest = add_guest(1);
    watch(guest, "x", "t");
    const std::uint32_t tx = start_transaction(guest);
    watch(kDom0, "@introduceDomain", "in");
    take_events(kDom0);
    take_events(guest);
    EXPECT_TRUE(request(kDom0, MessageType::introduce, nul_args({"1", "100", "11"})).is_ok());
    ASSERT_EQ(hooks_.reintroductions.size(), 1u);
    EXPECT_EQ(hooks_.reintroductions[0].domid, 1);
    EXPECT_EQ(hooks_.reintroductions[0].port, 11u);
    EXPECT_EQ(hooks_.introductions.size(), 1u);
    EXPECT_EQ(take_events(kDom0), std::vector<Event>{});
    EXPECT_EQ(request(guest, MessageType::read, "x\0"s, tx).error(), "ENOENT");
    write(guest, "x", "");
    EXPECT_EQ(take_events(guest), std::vector<Event>{});
}

TEST_F(Domains, ReleaseForgetsTheDomainAndWhatItOwns) {
    const ConnectionId guest = add_guest(1, "n0\0r1\0"s);  // home stays dom0's
    write(kDom0, "/local/domain/1/device/vbd", "");
    set_perms(kDom0, "/local/domain/1/device", "n1\0"s);  // the guest's subtree
    write(kDom0, "/local/domain/1/name", "guest");
    watch(guest, "name", "t");
    watch(kDom0, "/local/domain/1", "home");
    watch(kDom0, "@releaseDomain", "out");
    take_events(kDom0);
    take_events(guest);

    EXPECT_TRUE(request(kDom0, MessageType::release, "1\0"s).is_ok());
    EXPECT_EQ(hooks_.releases, std::vector<xen::DomId>{1});
    EXPECT_FALSE(store().introduced(1));
    EXPECT_EQ(request(kDom0, MessageType::is_domain_introduced, "1\0"s).payload, "F\0"s);
    // Its subtrees went, announced like any removal; dom0's nodes stayed.
    EXPECT_EQ(take_events(kDom0),
              (std::vector<Event>{{"/local/domain/1/device", "home"}, {"@releaseDomain", "out"}}));
    EXPECT_EQ(request(kDom0, MessageType::read, "/local/domain/1/device\0"s).error(), "ENOENT");
    EXPECT_EQ(read(kDom0, "/local/domain/1/name"), "guest");
    // Its connection is gone: no events, and requests are dropped unanswered.
    write(kDom0, "/local/domain/1/name", "x");
    take_events(kDom0);
    EXPECT_EQ(take_events(guest), std::vector<Event>{});
    const std::size_t before = outbox_.messages.size();
    store().handle(guest, {static_cast<std::uint32_t>(MessageType::read), 1, 0, 5}, "name\0"s);
    EXPECT_EQ(outbox_.messages.size(), before);
    store().disconnect(guest);  // the daemon closing it later is harmless
}

TEST_F(Domains, ReleaseRefusals) {
    const ConnectionId guest = add_guest(1);
    EXPECT_EQ(request(guest, MessageType::release, "1\0"s).error(), "EACCES");
    EXPECT_EQ(request(kDom0, MessageType::release, "0\0"s).error(), "EINVAL");
    EXPECT_EQ(request(kDom0, MessageType::release, "1"s).error(), "EINVAL");
    EXPECT_EQ(request(kDom0, MessageType::release, "2\0"s).error(), "ENOENT");
    EXPECT_TRUE(hooks_.releases.empty());
}

TEST_F(Domains, ADeadDomainIsForgottenAsIfReleased) {
    const ConnectionId guest = add_guest(1);
    write(guest, "data", "d");
    watch(kDom0, "@releaseDomain", "out");
    watch(kDom0, "/local/domain", "all");
    take_events(kDom0);
    store().domain_gone(1);
    EXPECT_EQ(hooks_.releases, std::vector<xen::DomId>{1});
    EXPECT_FALSE(store().introduced(1));
    EXPECT_EQ(take_events(kDom0),
              (std::vector<Event>{{"/local/domain/1", "all"}, {"@releaseDomain", "out"}}));
    EXPECT_EQ(request(kDom0, MessageType::directory, "/local/domain\0"s).payload, "");
    const std::size_t before = outbox_.messages.size();
    store().handle(guest, {static_cast<std::uint32_t>(MessageType::read), 1, 0, 5}, "data\0"s);
    EXPECT_EQ(outbox_.messages.size(), before);
}

TEST_F(Domains, ANeverIntroducedDomainDyingLosesItsNodesWithoutAnEvent) {
    write(kDom0, "/local/domain/7/x", "");
    set_perms(kDom0, "/local/domain/7", "n7\0"s);
    watch(kDom0, "@releaseDomain", "out");
    take_events(kDom0);
    store().domain_gone(7);
    EXPECT_TRUE(hooks_.releases.empty());
    EXPECT_EQ(take_events(kDom0), std::vector<Event>{});
    EXPECT_EQ(request(kDom0, MessageType::read, "/local/domain/7\0"s).error(), "ENOENT");
}

TEST_F(Domains, GetDomainPath) {
    const Reply reply = request(kDom0, MessageType::get_domain_path, "7\0"s);
    EXPECT_EQ(reply.type, MessageType::get_domain_path);
    EXPECT_EQ(reply.payload, "/local/domain/7\0"s);
    const ConnectionId guest = add_guest(1);
    EXPECT_EQ(request(guest, MessageType::get_domain_path, "1\0"s).payload, "/local/domain/1\0"s);
    EXPECT_EQ(request(kDom0, MessageType::get_domain_path, "seven\0"s).error(), "EINVAL");
    EXPECT_EQ(request(kDom0, MessageType::get_domain_path, "7"s).error(), "EINVAL");
}

TEST_F(Domains, IsDomainIntroduced) {
    EXPECT_EQ(request(kDom0, MessageType::is_domain_introduced, "0\0"s).payload, "T\0"s);
    EXPECT_EQ(request(kDom0, MessageType::is_domain_introduced, "32752\0"s).payload, "T\0"s);
    EXPECT_EQ(request(kDom0, MessageType::is_domain_introduced, "9\0"s).payload, "F\0"s);
    EXPECT_TRUE(store().introduced(0));
    EXPECT_FALSE(store().introduced(9));
    const ConnectionId guest = add_guest(1);
    EXPECT_EQ(request(guest, MessageType::is_domain_introduced, "1\0"s).error(), "EACCES");
}

TEST_F(Domains, Resume) {
    add_guest(1);
    EXPECT_TRUE(request(kDom0, MessageType::resume, "1\0"s).is_ok());
    EXPECT_EQ(request(kDom0, MessageType::resume, "2\0"s).error(), "ENOENT");
    EXPECT_EQ(request(kDom0, MessageType::resume, "0\0"s).error(), "EINVAL");
}

TEST_F(Domains, ATargetingDomainActsAsItsTarget) {
    const ConnectionId guest = add_guest(1);
    const ConnectionId stubdom = add_guest(2);
    write(guest, "secret", "s");
    EXPECT_EQ(request(stubdom, MessageType::read, "/local/domain/1/secret\0"s).error(), "EACCES");
    EXPECT_EQ(request(stubdom, MessageType::set_target, nul_args({"2", "1"})).error(), "EACCES");
    EXPECT_EQ(request(kDom0, MessageType::set_target, nul_args({"2", "9"})).error(), "ENOENT");
    EXPECT_TRUE(request(kDom0, MessageType::set_target, nul_args({"2", "1"})).is_ok());
    EXPECT_EQ(read(stubdom, "/local/domain/1/secret"), "s");
    write(stubdom, "/local/domain/1/secret", "t");
    EXPECT_EQ(request(guest, MessageType::read, "/local/domain/2\0"s).error(), "EACCES");
}

}  // namespace
}  // namespace pvsim::xenstore::store::test
