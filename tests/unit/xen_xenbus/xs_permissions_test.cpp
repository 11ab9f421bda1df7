// Permission strings as XS_GET_PERMS and XS_SET_PERMS carry them
// (docs/misc/xenstore.txt; libxenstore's xs_perm_to_string and
// xs_strings_to_perms).
#include <gtest/gtest.h>

#include <string>

#include "common/xen/xs_permissions.hpp"

namespace {

namespace xs = pvsim::xen::xs;
using namespace std::string_literals;

TEST(XsPermissions, LettersAndDomids) {
    EXPECT_EQ(xs::parse_permission("n0"), (xs::Permission{xs::Access::none, 0}));
    EXPECT_EQ(xs::parse_permission("r1"), (xs::Permission{xs::Access::read, 1}));
    EXPECT_EQ(xs::parse_permission("w32"), (xs::Permission{xs::Access::write, 32}));
    EXPECT_EQ(xs::parse_permission("b65535"), (xs::Permission{xs::Access::both, 65535}));
    EXPECT_EQ(xs::parse_permission("r007"), (xs::Permission{xs::Access::read, 7}));
}

TEST(XsPermissions, MalformedEntriesAreRefused) {
    for (const std::string& bad : {""s, "r"s, "1"s, "x1"s, "R1"s, "r-1"s, "r+1"s, "r 1"s, "r1 "s,
                                   "r1x"s, "r0x10"s, "r65536"s, "r99999999999999999999"s, "rr1"s}) {
        EXPECT_EQ(xs::parse_permission(bad), std::nullopt) << bad;
    }
}

TEST(XsPermissions, AccessLetters) {
    EXPECT_FALSE(xs::allows_read(xs::Access::none));
    EXPECT_FALSE(xs::allows_write(xs::Access::none));
    EXPECT_TRUE(xs::allows_read(xs::Access::read));
    EXPECT_FALSE(xs::allows_write(xs::Access::read));
    EXPECT_FALSE(xs::allows_read(xs::Access::write));
    EXPECT_TRUE(xs::allows_write(xs::Access::write));
    EXPECT_TRUE(xs::allows_read(xs::Access::both));
    EXPECT_TRUE(xs::allows_write(xs::Access::both));
}

TEST(XsPermissions, ListsRoundTripWithEveryEntryNulTerminated) {
    const xs::Permissions perms{
        {xs::Access::write, 0}, {xs::Access::read, 1}, {xs::Access::both, 9}};
    EXPECT_EQ(xs::format_permissions(perms), "w0\0r1\0b9\0"s);
    EXPECT_EQ(xs::format_permission(perms[2]), "b9");
    EXPECT_EQ(xs::parse_permissions("w0\0r1\0b9\0"s), perms);
    // The last entry's nul may be missing, as in a hand-made string.
    EXPECT_EQ(xs::parse_permissions("w0\0r1\0b9"s), perms);
    EXPECT_EQ(xs::format_permissions({}), "");
}

TEST(XsPermissions, MalformedListsAreRefused) {
    for (const std::string& bad : {""s, "\0"s, "w0\0\0"s, "w0\0x1\0"s, "w0\0r1\0\0"s, "n"s}) {
        EXPECT_EQ(xs::parse_permissions(bad), std::nullopt) << bad;
    }
}

}  // namespace
