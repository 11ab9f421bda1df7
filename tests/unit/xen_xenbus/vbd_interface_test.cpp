// Virtual-device numbers and names both ways, per Xen's
// docs/misc/vbd-interface.txt (common/xen/vbd_interface.hpp).
#include <gtest/gtest.h>

#include "common/units.hpp"
#include "common/xen/vbd_interface.hpp"

namespace pvsim::xen {
namespace {

TEST(VdevNumber, XvdDisksAndPartitionsUpTo15) {
    EXPECT_EQ(vdev_number("xvda"), 51712u);
    EXPECT_EQ(vdev_number("xvdb"), 51728u);
    EXPECT_EQ(vdev_number("xvda1"), 51713u);
    EXPECT_EQ(vdev_number("xvdb3"), 51731u);
    EXPECT_EQ(vdev_number("xvdp15"), (202u << 8) | (15u << 4) | 15u);
}

TEST(VdevNumber, XvdBeyond15UsesTheExtendedForm) {
    EXPECT_EQ(vdev_number("xvdq"), (1u << 28) | (16u << 8));
    EXPECT_EQ(vdev_number("xvda16"), (1u << 28) | 16u);
    EXPECT_EQ(vdev_number("xvdaa"), (1u << 28) | (26u << 8));
    // The document's own example: disk 536 partition 37.
    EXPECT_EQ(vdev_number("xvdtq37"), (1u << 28) | (536u << 8) | 37u);
    EXPECT_EQ(vdev_number("d536p37"), vdev_number("xvdtq37"));
}

TEST(VdevNumber, DFormScsiAndIde) {
    EXPECT_EQ(vdev_number("d0"), 51712u);
    EXPECT_EQ(vdev_number("d0p0"), 51712u);
    EXPECT_EQ(vdev_number("d1p2"), vdev_number("xvdb2"));
    EXPECT_EQ(vdev_number("sdb3"), (8u << 8) | (1u << 4) | 3u);
    EXPECT_EQ(vdev_number("hda"), 3u << 8);
    EXPECT_EQ(vdev_number("hdb1"), (3u << 8) | (1u << 6) | 1u);
    EXPECT_EQ(vdev_number("hdc2"), (22u << 8) | 2u);
    EXPECT_EQ(vdev_number("hdd63"), (22u << 8) | (1u << 6) | 63u);
}

TEST(VdevNumber, PlainNumbersAreTakenAsWritten) {
    EXPECT_EQ(vdev_number("51712"), 51712u);
    EXPECT_EQ(vdev_number("0xca00"), 51712u);
    EXPECT_EQ(vdev_number("0145000"), 51712u);
}

TEST(VdevNumber, AnythingElseIsAParseErrorNamingIt) {
    for (const char* bad :
         {"", "xvd", "xvdA", "xvda0", "xvda01", "xvda256", "sdq", "sda16", "hde", "hda64", "d",
          "dp1", "d1p", "d01", "vda", "xvda-1", "0x", "99999999999", "xvda 1"}) {
        try {
            (void)vdev_number(bad);
            ADD_FAILURE() << "accepted '" << bad << "'";
        } catch (const ParseError& e) {
            EXPECT_NE(std::string(e.what()).find(std::string("\"") + bad + "\""), std::string::npos)
                << e.what();
        }
    }
}

TEST(VdevName, NamesFollowVbdInterface) {
    EXPECT_EQ(vdev_name(51712), "xvda");
    EXPECT_EQ(vdev_name(51728), "xvdb");
    EXPECT_EQ(vdev_name(51731), "xvdb3");
    EXPECT_EQ(vdev_name((1u << 28) | (26u << 8)), "xvdaa");
    EXPECT_EQ(vdev_name((1u << 28) | (536u << 8) | 37), "xvdtq37");
    EXPECT_EQ(vdev_name((8u << 8) | (1u << 4) | 3), "sdb3");
    EXPECT_EQ(vdev_name((22u << 8) | 2), "hdc2");
    EXPECT_EQ(vdev_name(12345), "");
    EXPECT_EQ(describe_devid(51712), "51712 (xvda)");
    EXPECT_EQ(describe_devid(12345), "12345");
}

}  // namespace
}  // namespace pvsim::xen
