// The physical-device node (common/xen/physical_device.hpp): written as
// Xen's block script writes it (stat -L -c %t:%T, lowercase hex without a
// prefix) and read as Linux's backend_changed reads it (%x:%x), strictly.
#include <gtest/gtest.h>

#include <sys/sysmacros.h>

#include "common/xen/physical_device.hpp"

namespace pvsim::xen {
namespace physical_device_test {

TEST(PhysicalDevice, IsMajorColonMinorInLowercaseHex) {
    EXPECT_EQ(to_node(PhysicalDevice{8, 26}), "8:1a");
    EXPECT_EQ(to_node(PhysicalDevice{259, 0}), "103:0");
    EXPECT_EQ(to_node(PhysicalDevice::of(::makedev(7, 12))), "7:c");
    EXPECT_EQ(PhysicalDevice::of(PhysicalDevice{7, 12}.rdev()), (PhysicalDevice{7, 12}));
}

TEST(PhysicalDevice, ReadsWhatPercentXColonPercentXReadsAndNothingLooser) {
    EXPECT_EQ(parse_physical_device("8:1a"), (PhysicalDevice{8, 26}));
    EXPECT_EQ(parse_physical_device("0x8:0X1A"), (PhysicalDevice{8, 26}));
    for (const char* bad : {"", "8", "8:", ":1", "g:1", "8:1:2", "8 :1", "-1:2", "8:1 "}) {
        EXPECT_FALSE(parse_physical_device(bad)) << bad;
    }
}

}  // namespace physical_device_test
}  // namespace pvsim::xen
