#include <gtest/gtest.h>

#include "common/xen/xenbus.hpp"

namespace {

using pvsim::xen::xenbus_state_from_name;
using pvsim::xen::xenbus_state_from_node;
using pvsim::xen::XenbusState;

TEST(XenbusState, NodeValueIsAStrictDecimalNumber) {
    EXPECT_EQ(xenbus_state_from_node("4"), XenbusState::connected);
    EXPECT_EQ(xenbus_state_from_node("0"), XenbusState::unknown);
    EXPECT_EQ(xenbus_state_from_node("8"), XenbusState::reconfigured);
    for (const char* bad : {"", "9", "-1", "4 ", " 4", "4x", "Connected", "0x4", "99999999999"}) {
        EXPECT_EQ(xenbus_state_from_node(bad), std::nullopt) << '"' << bad << '"';
    }
}

TEST(XenbusState, NamesAreLinuxsAndParseBackCaseInsensitively) {
    EXPECT_EQ(pvsim::xen::name(XenbusState::init_wait), "InitWait");
    EXPECT_EQ(pvsim::xen::name(static_cast<XenbusState>(42)), "Invalid");
    EXPECT_EQ(xenbus_state_from_name("initwait"), XenbusState::init_wait);
    EXPECT_EQ(xenbus_state_from_name("CLOSED"), XenbusState::closed);
    EXPECT_EQ(xenbus_state_from_name("5"), XenbusState::closing);
    EXPECT_EQ(xenbus_state_from_name("Connecte"), std::nullopt);
    EXPECT_EQ(xenbus_state_from_name("Connectedd"), std::nullopt);
    for (std::uint32_t i = 0; i <= 8; ++i) {
        auto state = static_cast<XenbusState>(i);
        EXPECT_EQ(xenbus_state_from_name(pvsim::xen::name(state)), state);
    }
}

}  // namespace
