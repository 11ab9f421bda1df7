// Node permissions as C xenstored applies them (perm_for_conn(),
// errno_from_parents(), construct_node(), do_set_perms()).
#include "store_fixture.hpp"

namespace pvsim::xenstore::store::test {
namespace {

using Permissions = StoreTest;

TEST_F(Permissions, GuestIsConfinedToWhatItsPermsAllow) {
    const ConnectionId guest = add_guest(1);
    EXPECT_EQ(request(guest, MessageType::read, "/tool/xenstored\0"s).error(), "EACCES");
    EXPECT_EQ(request(guest, MessageType::directory, "/\0"s).error(), "EACCES");
    EXPECT_EQ(request(guest, MessageType::get_perms, "/local\0"s).error(), "EACCES");
    EXPECT_EQ(request(guest, MessageType::write, "/tool/x\0v"s).error(), "EACCES");
    EXPECT_EQ(request(guest, MessageType::mkdir, "/guest-dir\0"s).error(), "EACCES");
    EXPECT_EQ(request(guest, MessageType::rm, "/tool\0"s).error(), "EACCES");
    EXPECT_EQ(request(guest, MessageType::rm, "/\0"s).error(), "EACCES");
    EXPECT_EQ(request(guest, MessageType::set_perms, "/tool\0n1\0"s).error(), "EACCES");
    // Another guest's home is as closed.
    add_guest(2);
    EXPECT_EQ(request(guest, MessageType::read, "/local/domain/2\0"s).error(), "EACCES");
    EXPECT_EQ(request(guest, MessageType::write, "/local/domain/2/x\0v"s).error(), "EACCES");
}

TEST_F(Permissions, MissingNodesAreEnoentOnlyWhereTheGuestMayLook) {
    const ConnectionId guest = add_guest(1);
    EXPECT_EQ(request(guest, MessageType::read, "missing\0"s).error(), "ENOENT");
    EXPECT_EQ(request(guest, MessageType::read, "missing/deeper\0"s).error(), "ENOENT");
    // The nearest existing ancestor is "/", which the guest may not read.
    EXPECT_EQ(request(guest, MessageType::read, "/missing\0"s).error(), "EACCES");
    EXPECT_EQ(request(guest, MessageType::rm, "/missing/x\0"s).error(), "EACCES");
}

TEST_F(Permissions, OwnerMayDoEverythingWhateverItsLetter) {
    const ConnectionId guest = add_guest(1);  // home "n1"
    write(guest, "x", "mine");
    EXPECT_EQ(read(guest, "x"), "mine");
    EXPECT_EQ(request(guest, MessageType::get_perms, "x\0"s).payload, "n1\0"s);
    EXPECT_TRUE(request(guest, MessageType::rm, "x\0"s).is_ok());
}

TEST_F(Permissions, FirstEntryIsTheDefaultLaterEntriesNameDomains) {
    const ConnectionId guest1 = add_guest(1);
    const ConnectionId guest2 = add_guest(2);
    const ConnectionId guest3 = add_guest(3);
    write(kDom0, "/shared", "s");
    set_perms(kDom0, "/shared", "r0\0w1\0n2\0"s);
    // Domain 1: write only.
    EXPECT_EQ(request(guest1, MessageType::read, "/shared\0"s).error(), "EACCES");
    write(guest1, "/shared", "from 1");
    // Domain 2: named with no access.
    EXPECT_EQ(request(guest2, MessageType::read, "/shared\0"s).error(), "EACCES");
    EXPECT_EQ(request(guest2, MessageType::write, "/shared\0v"s).error(), "EACCES");
    // Domain 3: the default, read.
    EXPECT_EQ(read(guest3, "/shared"), "from 1");
    EXPECT_EQ(request(guest3, MessageType::write, "/shared\0v"s).error(), "EACCES");
}

TEST_F(Permissions, NewNodesInheritTheParentsPermsWithTheCreatorAsOwner) {
    const ConnectionId guest = add_guest(1, "n0\0r1\0"s);
    write(kDom0, "/local/domain/1/device", "");
    set_perms(kDom0, "/local/domain/1/device", "n0\0b1\0r2\0"s);
    write(guest, "device/vbd/51712/state", "1");
    for (const char* path : {"device/vbd", "device/vbd/51712", "device/vbd/51712/state"}) {
        EXPECT_EQ(request(guest, MessageType::get_perms, arg(path)).payload, "n1\0b1\0r2\0"s)
            << path;
    }
    // dom0 creating keeps the parent's owner.
    write(kDom0, "/local/domain/1/device/by-dom0/x", "");
    EXPECT_EQ(request(kDom0, MessageType::get_perms, "/local/domain/1/device/by-dom0/x\0"s).payload,
              "n0\0b1\0r2\0"s);
    EXPECT_TRUE(request(guest, MessageType::mkdir, "device/made\0"s).is_ok());
    EXPECT_EQ(request(guest, MessageType::get_perms, "device/made\0"s).payload, "n1\0b1\0r2\0"s);
}

TEST_F(Permissions, Dom0BypassesEveryPermission) {
    const ConnectionId guest = add_guest(1);
    write(guest, "private", "p");
    EXPECT_EQ(request(guest, MessageType::get_perms, "private\0"s).payload, "n1\0"s);
    EXPECT_EQ(read(kDom0, "/local/domain/1/private"), "p");
    write(kDom0, "/local/domain/1/private", "q");
    set_perms(kDom0, "/local/domain/1/private", "n0\0"s);
    EXPECT_EQ(request(guest, MessageType::read, "private\0"s).error(), "EACCES");
    EXPECT_TRUE(request(kDom0, MessageType::rm, "/local/domain/1/private\0"s).is_ok());
}

TEST_F(Permissions, OnlyTheOwnerSetsPermsAndOnlyDom0GivesNodesAway) {
    const ConnectionId guest1 = add_guest(1);
    const ConnectionId guest2 = add_guest(2);
    write(guest1, "x", "");
    set_perms(guest1, "x", "n1\0b2\0"s);
    EXPECT_EQ(request(guest1, MessageType::get_perms, "x\0"s).payload, "n1\0b2\0"s);
    // Domain 2 may read and write, but is not the owner.
    write(guest2, "/local/domain/1/x", "from 2");
    EXPECT_EQ(request(guest2, MessageType::set_perms, "/local/domain/1/x\0n2\0"s).error(),
              "EACCES");
    // The owner may not hand it over.
    EXPECT_EQ(request(guest1, MessageType::set_perms, "x\0n2\0"s).error(), "EPERM");
    set_perms(kDom0, "/local/domain/1/x", "n2\0"s);
    EXPECT_EQ(request(guest1, MessageType::read, "x\0"s).error(), "EACCES");
    EXPECT_EQ(read(guest2, "/local/domain/1/x"), "from 2");
}

TEST_F(Permissions, WriteAccessToANodeIsEnoughToRemoveItsSubtree) {
    const ConnectionId guest = add_guest(1);
    write(kDom0, "/local/domain/1/tree/locked", "");
    set_perms(kDom0, "/local/domain/1/tree", "n0\0b1\0"s);
    set_perms(kDom0, "/local/domain/1/tree/locked", "n0\0"s);
    EXPECT_EQ(request(guest, MessageType::rm, "tree/locked\0"s).error(), "EACCES");
    EXPECT_TRUE(request(guest, MessageType::rm, "tree\0"s).is_ok());
    EXPECT_EQ(request(kDom0, MessageType::read, "/local/domain/1/tree/locked\0"s).error(),
              "ENOENT");
}

}  // namespace
}  // namespace pvsim::xenstore::store::test
