// Watches as C xenstored fires them (watch.c): once on registration, then on
// changes of the node or below, with the path as the watcher set it, only to
// connections that may read the node (or its parent).
#include "store_fixture.hpp"

namespace pvsim::xenstore::store::test {
namespace {

using Watches = StoreTest;

TEST_F(Watches, RegistrationFiresOnceRightAfterTheReply) {
    store();
    const std::size_t before = outbox_.messages.size();
    store().handle(kDom0, {static_cast<std::uint32_t>(MessageType::watch), 5, 0, 9}, "/nothing\0"s);
    // The payload above lacks a token: EINVAL, and no event.
    ASSERT_EQ(outbox_.messages.size(), before + 1);
    EXPECT_EQ(outbox_.messages.back().header.type, static_cast<std::uint32_t>(MessageType::error));
    outbox_.messages.clear();

    const std::string payload = "/nothing\0tok\0"s;
    store().handle(kDom0,
                   {static_cast<std::uint32_t>(MessageType::watch), 6, 0,
                    static_cast<std::uint32_t>(payload.size())},
                   payload);
    ASSERT_EQ(outbox_.messages.size(), 2u);
    EXPECT_EQ(outbox_.messages[0].header.type, static_cast<std::uint32_t>(MessageType::watch));
    EXPECT_EQ(outbox_.messages[0].header.req_id, 6u);
    EXPECT_EQ(outbox_.messages[0].payload, "OK\0"s);
    outbox_.messages.erase(outbox_.messages.begin());
    EXPECT_EQ(take_events(kDom0), (std::vector<Event>{{"/nothing", "tok"}}));
}

TEST_F(Watches, ChangesOfTheNodeOrBelowFireEventsNamingTheChangedNode) {
    watch(kDom0, "/a", "t");
    take_events(kDom0);
    write(kDom0, "/a/b/c", "1");
    EXPECT_EQ(take_events(kDom0), (std::vector<Event>{{"/a/b/c", "t"}}));
    write(kDom0, "/a", "2");
    EXPECT_EQ(take_events(kDom0), (std::vector<Event>{{"/a", "t"}}));
    EXPECT_TRUE(request(kDom0, MessageType::mkdir, "/a/m\0"s).is_ok());
    EXPECT_EQ(take_events(kDom0), (std::vector<Event>{{"/a/m", "t"}}));
    set_perms(kDom0, "/a/m", "r0\0"s);
    EXPECT_EQ(take_events(kDom0), (std::vector<Event>{{"/a/m", "t"}}));
    // Not: siblings, a parent, an existing node's mkdir, a name sharing a prefix.
    write(kDom0, "/ab", "");
    write(kDom0, "/other", "");
    EXPECT_TRUE(request(kDom0, MessageType::mkdir, "/a/m\0"s).is_ok());
    EXPECT_EQ(take_events(kDom0), std::vector<Event>{});
}

TEST_F(Watches, WatchBelowIsNotFiredByAParentChange) {
    write(kDom0, "/p/c", "");
    watch(kDom0, "/p/c", "t");
    take_events(kDom0);
    write(kDom0, "/p", "x");
    write(kDom0, "/p/sibling", "x");
    EXPECT_EQ(take_events(kDom0), std::vector<Event>{});
}

TEST_F(Watches, RemovingAParentFiresTheWatchesSetBelowIt) {
    write(kDom0, "/r/a/b/c", "");
    write(kDom0, "/r/a/d", "");
    for (const char* path : {"/r", "/r/a", "/r/a/b", "/r/a/b/c", "/r/a/d", "/r/a/b/c/missing"}) {
        watch(kDom0, path, path);
    }
    take_events(kDom0);
    EXPECT_TRUE(request(kDom0, MessageType::rm, "/r/a\0"s).is_ok());
    // Children before parents; each removed node fires the watches set on it,
    // and the removed root also those on its ancestors.
    EXPECT_EQ(take_events(kDom0), (std::vector<Event>{{"/r/a/b/c", "/r/a/b/c"},
                                                      {"/r/a/b", "/r/a/b"},
                                                      {"/r/a/d", "/r/a/d"},
                                                      {"/r/a", "/r"},
                                                      {"/r/a", "/r/a"}}));
}

TEST_F(Watches, EventsComeBeforeTheReplyOfTheRequestCausingThem) {
    const ConnectionId other = add_dom0_connection();
    watch(other, "/w", "t");
    watch(kDom0, "/w", "mine");
    take_events(other);
    take_events(kDom0);
    outbox_.messages.clear();
    const std::string payload = "/w\0v"s;
    store().handle(kDom0,
                   {static_cast<std::uint32_t>(MessageType::write), 9, 0,
                    static_cast<std::uint32_t>(payload.size())},
                   payload);
    ASSERT_EQ(outbox_.messages.size(), 3u);
    for (std::size_t i = 0; i < 2; ++i) {
        EXPECT_EQ(outbox_.messages[i].header.type,
                  static_cast<std::uint32_t>(MessageType::watch_event));
    }
    EXPECT_NE(outbox_.messages[0].to, outbox_.messages[1].to);
    EXPECT_EQ(outbox_.messages[2].to, kDom0);
    EXPECT_EQ(outbox_.messages[2].header.type, static_cast<std::uint32_t>(MessageType::write));
}

TEST_F(Watches, RelativeWatchesReportRelativePaths) {
    const ConnectionId guest = add_guest(1);
    watch(guest, "device", "dev");
    EXPECT_EQ(take_events(guest), (std::vector<Event>{{"device", "dev"}}));
    write(kDom0, "/local/domain/1/device/vbd/51712", "");
    EXPECT_EQ(take_events(guest), (std::vector<Event>{{"device/vbd/51712", "dev"}}));
    // The same node watched absolutely reports absolute paths.
    watch(guest, "/local/domain/1/device", "abs");
    take_events(guest);
    write(guest, "device/x", "");
    EXPECT_EQ(take_events(guest),
              (std::vector<Event>{{"device/x", "dev"}, {"/local/domain/1/device/x", "abs"}}));
    EXPECT_TRUE(request(guest, MessageType::unwatch, "device\0dev\0"s).is_ok());
    EXPECT_TRUE(request(guest, MessageType::unwatch, "/local/domain/1/device\0abs\0"s).is_ok());
    write(guest, "device/y", "");
    EXPECT_EQ(take_events(guest), std::vector<Event>{});
}

TEST_F(Watches, GuestsHearOnlyOfNodesTheyMayReadOrWhoseParentTheyMayRead) {
    const ConnectionId guest = add_guest(1);
    watch(guest, "/", "root");
    EXPECT_EQ(take_events(guest), (std::vector<Event>{{"/", "root"}}));
    write(kDom0, "/tool/secret", "");  // "n0", parent "n0"
    EXPECT_EQ(take_events(guest), std::vector<Event>{});

    write(kDom0, "/open", "");
    set_perms(kDom0, "/open", "n0\0r1\0"s);
    EXPECT_EQ(take_events(guest), (std::vector<Event>{{"/open", "root"}}));
    write(kDom0, "/open/child", "");  // "n0\0r1": readable itself
    set_perms(kDom0, "/open/child", "n0\0"s);
    write(kDom0, "/open/child", "x");  // unreadable, but the parent is
    EXPECT_EQ(take_events(guest),
              (std::vector<Event>{
                  {"/open/child", "root"}, {"/open/child", "root"}, {"/open/child", "root"}}));
    write(kDom0, "/open/child/deeper", "");  // neither it nor its parent
    EXPECT_EQ(take_events(guest), std::vector<Event>{});
    // In its own home, everything.
    write(kDom0, "/local/domain/1/x", "");
    EXPECT_EQ(take_events(guest), (std::vector<Event>{{"/local/domain/1/x", "root"}}));
}

TEST_F(Watches, LosingReadAccessIsStillAnnounced) {
    const ConnectionId guest = add_guest(1);
    write(kDom0, "/visible", "");
    set_perms(kDom0, "/visible", "r0\0"s);
    watch(guest, "/visible", "v");
    take_events(guest);
    set_perms(kDom0, "/visible", "n0\0"s);
    EXPECT_EQ(take_events(guest), (std::vector<Event>{{"/visible", "v"}}));
    write(kDom0, "/visible", "now secret");
    EXPECT_EQ(take_events(guest), std::vector<Event>{});
}

TEST_F(Watches, SpecialPathsFireOnIntroduceAndRelease) {
    watch(kDom0, "@introduceDomain", "in");
    watch(kDom0, "@releaseDomain", "out");
    watch(kDom0, "/", "everything");
    EXPECT_EQ(take_events(kDom0),
              (std::vector<Event>{
                  {"@introduceDomain", "in"}, {"@releaseDomain", "out"}, {"/", "everything"}}));
    EXPECT_TRUE(request(kDom0, MessageType::introduce, nul_args({"4", "9", "3"})).is_ok());
    EXPECT_EQ(take_events(kDom0), (std::vector<Event>{{"@introduceDomain", "in"}}));
    EXPECT_TRUE(request(kDom0, MessageType::release, "4\0"s).is_ok());
    EXPECT_EQ(take_events(kDom0), (std::vector<Event>{{"@releaseDomain", "out"}}));
}

TEST_F(Watches, GuestsHearSpecialPathsOnlyWhenDom0LetsThem) {
    const ConnectionId guest = add_guest(1);
    watch(guest, "@introduceDomain", "in");
    watch(guest, "@releaseDomain", "out");
    take_events(guest);
    add_guest(2);
    EXPECT_EQ(take_events(guest), std::vector<Event>{});
    // Changing the special node's permissions is itself a change of it.
    set_perms(kDom0, "@releaseDomain", "n0\0r1\0"s);
    EXPECT_EQ(take_events(guest), (std::vector<Event>{{"@releaseDomain", "out"}}));
    EXPECT_TRUE(request(kDom0, MessageType::release, "2\0"s).is_ok());
    EXPECT_EQ(take_events(guest), (std::vector<Event>{{"@releaseDomain", "out"}}));
}

TEST_F(Watches, DuplicatesAreEexistUnwatchOfUnknownIsEnoent) {
    watch(kDom0, "/d", "t");
    EXPECT_EQ(request(kDom0, MessageType::watch, "/d\0t\0"s).error(), "EEXIST");
    // Relative and absolute spellings of one node are the same watch.
    EXPECT_EQ(request(kDom0, MessageType::watch, "/local/domain/0/rel\0t\0"s).error(), "");
    EXPECT_EQ(request(kDom0, MessageType::watch, "rel\0t\0"s).error(), "EEXIST");
    watch(kDom0, "/d", "other token");
    take_events(kDom0);
    write(kDom0, "/d", "");
    EXPECT_EQ(take_events(kDom0), (std::vector<Event>{{"/d", "t"}, {"/d", "other token"}}));
    EXPECT_TRUE(request(kDom0, MessageType::unwatch, "/d\0t\0"s).is_ok());
    EXPECT_EQ(request(kDom0, MessageType::unwatch, "/d\0t\0"s).error(), "ENOENT");
    EXPECT_EQ(request(kDom0, MessageType::unwatch, "/never\0t\0"s).error(), "ENOENT");
    write(kDom0, "/d", "");
    EXPECT_EQ(take_events(kDom0), (std::vector<Event>{{"/d", "other token"}}));
}

TEST_F(Watches, ResetWatchesDropsWatchesAndTransactions) {
    const ConnectionId guest = add_guest(1);
    watch(guest, "x", "t");
    const std::uint32_t tx = start_transaction(guest);
    take_events(guest);
    EXPECT_TRUE(request(guest, MessageType::reset_watches, ""s).is_ok());
    write(guest, "x", "");
    EXPECT_EQ(take_events(guest), std::vector<Event>{});
    EXPECT_EQ(request(guest, MessageType::read, "x\0"s, tx).error(), "ENOENT");
}

TEST_F(Watches, DisconnectDropsTheConnectionsWatches) {
    const ConnectionId other = add_dom0_connection();
    watch(other, "/gone", "t");
    take_events(other);
    store().disconnect(other);
    store().disconnect(other);  // twice: harmless
    write(kDom0, "/gone", "");
    EXPECT_EQ(take_events(other), std::vector<Event>{});
}

}  // namespace
}  // namespace pvsim::xenstore::store::test
