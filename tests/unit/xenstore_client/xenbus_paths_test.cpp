// Where split devices live in xenstore (xenstore/client/xenbus_paths.hpp):
// the paths libxl builds and the error node Linux's xenbus_dev_error
// writes.
#include <gtest/gtest.h>

#include "xenstore/client/xenbus_paths.hpp"

namespace pvsim::xenstore::client {
namespace {

TEST(XenbusPathsTest, DeviceDirectoriesAreLibxlsPaths) {
    EXPECT_EQ(domain_path(7), "/local/domain/7");
    EXPECT_EQ(backend_directory(0, "vbd"), "/local/domain/0/backend/vbd");
    EXPECT_EQ(backend_path(0, "vbd", 3, 51712), "/local/domain/0/backend/vbd/3/51712");
    EXPECT_EQ(frontend_directory(3, "vhost-user-blk"), "/local/domain/3/device/vhost-user-blk");
    EXPECT_EQ(frontend_path(3, "vbd", 51712), "/local/domain/3/device/vbd/51712");
}

TEST(XenbusPathsTest, ErrorNodeIsErrorSlashNodenameUnderTheDevicesDomain) {
    EXPECT_EQ(error_node("/local/domain/0/backend/vbd/3/51712"),
              "/local/domain/0/error/backend/vbd/3/51712/error");
    EXPECT_EQ(error_node("/local/domain/3/device/vbd/51712"),
              "/local/domain/3/error/device/vbd/51712/error");
}

TEST(XenbusPathsTest, PathsOutsideADomainHaveNoErrorNode) {
    EXPECT_FALSE(error_node("/tool/xenstored"));
    EXPECT_FALSE(error_node("/local/domain/3"));
    EXPECT_FALSE(error_node("/local/domain//device"));
    EXPECT_FALSE(split_domain_path("local/domain/3/device"));
}

TEST(XenbusPathsTest, SplitGivesTheDomainPathAndTheRest) {
    const auto parts = split_domain_path("/local/domain/12/device/vbd/768");
    ASSERT_TRUE(parts);
    EXPECT_EQ(parts->domain, "/local/domain/12");
    EXPECT_EQ(parts->rest, "device/vbd/768");
}

}  // namespace
}  // namespace pvsim::xenstore::client
