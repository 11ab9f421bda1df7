#include <gtest/gtest.h>

#include <cerrno>

#include "common/xen/xs_wire.hpp"

namespace {

namespace xs = pvsim::xen::xs;

TEST(XsWire, ErrnoWithoutANameIsSentAsEinvalLikeTheCDaemon) {
    EXPECT_EQ(xs::error_name(ENOENT), "ENOENT");
    EXPECT_EQ(xs::error_name(EXDEV), "EINVAL");
}

TEST(XsWire, UnknownErrorStringsAreNotInvented) {
    EXPECT_EQ(xs::error_number("E2BIG"), E2BIG);
    EXPECT_EQ(xs::error_number("EQUOTA"), std::nullopt);
    EXPECT_EQ(xs::error_number("enoent"), std::nullopt);  // names are case-sensitive on the wire
}

TEST(XsWire, IndexesMoreThanARingApartAreInvalid) {
    EXPECT_TRUE(xs::indexes_valid(0, 0));
    EXPECT_TRUE(xs::indexes_valid(0, 1024));
    EXPECT_FALSE(xs::indexes_valid(0, 1025));
    EXPECT_FALSE(xs::indexes_valid(1, 0));                // consumer ahead of producer
    EXPECT_TRUE(xs::indexes_valid(0xfffffe00u, 0x100u));  // across the 2^32 wrap
    EXPECT_FALSE(xs::indexes_valid(0xfffffb00u, 0x100u));
}

TEST(XsWire, TypeNamesForLogs) {
    EXPECT_EQ(xs::name(xs::MessageType::transaction_end), "XS_TRANSACTION_END");
    EXPECT_EQ(xs::name(xs::MessageType::invalid), "XS_UNKNOWN");
    EXPECT_EQ(xs::name(static_cast<xs::MessageType>(999)), "XS_UNKNOWN");
}

}  // namespace
